"""Debezium's value conversion: PostgreSQL column values (pgoutput text or binary, snapshot
COPY text) into Connect values and the Connect schemas that describe them, by type and mode."""
