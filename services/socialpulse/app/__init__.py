"""app: everything built from the settings and started in order; the one place that wires layers."""
