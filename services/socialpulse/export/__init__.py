"""export: what leaves the process: Prometheus collectors, the HTTP server, JSON, summary."""
