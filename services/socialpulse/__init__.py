"""socialpulse: a social-listening stream processor (Kafka in, sentiment and brand KPIs, Prometheus out)."""

__version__ = "0.1.0"
