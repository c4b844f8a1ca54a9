"""Publishing activity events to Kafka: the library upstream systems import and its CLI."""
