"""pgbridge: PostgreSQL logical replication (pgoutput) into Apache Kafka, Debezium-compatible."""

__version__ = "0.1.0"
