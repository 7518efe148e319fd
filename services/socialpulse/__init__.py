"""socialpulse: social-listening stream processor (Kafka in, brand KPIs, Prometheus out)."""

__version__ = "0.1.0"
