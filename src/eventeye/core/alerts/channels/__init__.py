"""Where alert deliveries go: the log, a Kafka topic, webhooks. Each is a ``Channel``."""
