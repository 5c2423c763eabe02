"""The quarantine topic (`bridge.sink.quarantine.topic`): records refused for a schema mismatch
(a field the target table cannot take) are set aside there instead of the dead-letter topic, so
that fixing the target's schema and replaying them is kept apart from the DLQ's poison records.

`settings` reads the keys, `mismatch` decides which refusals are schema mismatches, `topic`
produces them (`bridge sink replay --from-dlq <quarantine topic>` re-applies them)."""
