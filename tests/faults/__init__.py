"""Fault tests: kill, restart, rebalance, broker outage, duplicates, lateness; with an oracle."""
