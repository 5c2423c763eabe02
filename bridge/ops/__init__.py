"""Operators' tools over a bridge's configuration: the slot tools (`bridge slot`), the preflight
doctor (`bridge doctor`), the active/standby lock and lost-slot recovery. They read and change the
servers through `bridge.source` and `bridge.kafka`."""
