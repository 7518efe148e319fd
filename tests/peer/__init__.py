"""The faust-streaming reference peer of the fault tests (run as its own process)."""
