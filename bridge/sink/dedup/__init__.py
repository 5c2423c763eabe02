"""The dedup window (`bridge.sink.dedup.*`): records applied recently, by (topic, key, source LSN
or else partition/offset), so that a record delivered again within the window is skipped.

It covers what the LSN guard with offsets in the target does not: at-least-once redelivery with
`bridge.sink.offsets=kafka`, and the source's own duplicates with `bridge.sink.ordering.guard=none`.
`settings` reads the keys, `memory` is the per-worker LRU, `redis_store` the shared window in Redis,
`window` decides what a batch skips and records what it applied."""
