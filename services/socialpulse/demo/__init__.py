"""demo: the quick start's invented brands, their text, a traffic generator and its Kafka driver."""
