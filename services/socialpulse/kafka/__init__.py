"""kafka: the Kafka shell: client options, topics, embedded broker, worker, changelog, DLQ."""
