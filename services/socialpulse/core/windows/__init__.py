"""windows: event-time buckets, the persisted bucket and codec, accumulation, the store."""
