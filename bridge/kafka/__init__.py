"""Kafka clients: the connection settings every client shares, and the one place clients are built.

`settings` reads `debezium.sink.kafka.producer.*` into a `KafkaConnection` (where the brokers
are and how to reach and authenticate to them) and the data producers' `ProducerTuning`;
`clients` builds every librdkafka producer, consumer and admin client pgbridge opens, each
with the same connection settings.
"""
