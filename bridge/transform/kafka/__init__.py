"""Kafka Connect's built-in transforms (org.apache.kafka.connect.transforms, Kafka 4.x), one
module per family, each step a class taking the `TransformSpec` and the header format and
called on a `ConnectRecord`. `names` lists the classes, the options each honours and the
checks of their values (refused at start with the key named); `steps` maps each class to its
step. Facts are from Kafka's sources; the live comparison with Debezium 3.7 on Connect 4.3 is
tests/integration/test_live_transforms_kafka.py.
"""
