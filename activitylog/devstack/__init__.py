"""The local development stack: a single-node Apache Kafka started from Maven Central jars."""
