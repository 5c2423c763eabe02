"""Debezium's notifications: what the connector reports about its snapshots, and where.

`notification` builds them as Debezium 3.7 does (initial and incremental snapshots, key order
of `additional_data` included, `java_order`); `channels` sends them to the channels
`notification.enabled.channels` names (`settings`): `log`, and `sink`, records on
`notification.sink.topic.name` (`record`). The snapshot code decides when
(`bridge.snapshot.initial`, `bridge.snapshot.incremental.machine`).
"""
