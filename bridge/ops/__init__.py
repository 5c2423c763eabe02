"""Operators' tools over a bridge's configuration: the slot tools (`bridge slot`) and the
preflight doctor (`bridge doctor`). They read and change the servers through `bridge.source`
and `bridge.kafka`; nothing here runs in the pipeline."""
