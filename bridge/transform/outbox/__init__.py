"""Debezium's outbox EventRouter (`event_router`) and its expansion of JSON payloads into
Connect structs (`json_payload`)."""
