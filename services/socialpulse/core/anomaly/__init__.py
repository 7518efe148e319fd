"""Spike detection per brand and signal: seasonal baselines, robust bands, alert transitions."""
