"""Kafka Connect's topic creation (`topic.creation.*`): reading the groups as Connect reads them,
matching topics to groups, and creating each missing topic once with its group's settings."""

from __future__ import annotations

import json
import logging
import re

import pytest
from confluent_kafka import KafkaError, KafkaException

from bridge.config import config_from_properties, load_config
from bridge.errors import ConfigError, DeliveryError
from bridge.kafka.topic_creation import TopicCreation, TopicCreator, TopicGroup
from tests.unit.builders import MINIMAL

DEFAULTS = {"topic.creation.default.replication.factor": "1", "topic.creation.default.partitions": "3"}


def connect(tmp_path, settings: dict[str, str]):
    """The configuration of a Kafka Connect JSON with the minimal connector settings and `settings`."""
    config = {k.removeprefix("debezium.source."): v for k, v in MINIMAL.items() if k.startswith("debezium.source.")}
    path = tmp_path / "connector.json"
    path.write_text(json.dumps({"name": "shop", "config": {**config, **settings}}))
    return load_config(path, "127.0.0.1:9092", refuse=False)


def server(**settings: str):
    """The configuration of a Debezium Server file with `settings` under debezium.source."""
    return config_from_properties({**MINIMAL, **{f"debezium.source.{k}": v for k, v in settings.items()}},
                                  refuse=False)


def test_no_topic_creation_key_means_no_creation(tmp_path):
    assert connect(tmp_path, {}).topic_creation is None


def test_the_default_group_alone(tmp_path):
    cfg = connect(tmp_path, {**DEFAULTS, "topic.creation.default.cleanup.policy": "compact",
                             "topic.creation.default.compression.type": "lz4"})
    creation = cfg.topic_creation
    assert creation.groups == ()
    assert creation.default == TopicGroup("default", 3, 1, (("cleanup.policy", "compact"), ("compression.type", "lz4")))
    assert creation.group_for("shop.public.orders") is creation.default
    assert not cfg.keys.refused and not cfg.keys.ignored


@pytest.mark.parametrize("missing", sorted(DEFAULTS))
def test_the_default_partitions_and_replication_factor_are_required_as_in_connect(tmp_path, missing):
    # GIVEN a connector with topic.creation keys but one of the two required default settings
    settings = {**DEFAULTS, "topic.creation.groups": "g", "topic.creation.g.include": "x"}
    del settings[missing]
    # THEN it is refused, naming the key as the file writes it
    with pytest.raises(ConfigError, match=rf"^{missing.replace('.', '[.]')} is required when any topic.creation"):
        connect(tmp_path, settings)


def test_topic_creation_enable_in_a_connector_config_is_ignored_yet_asks_for_the_defaults(tmp_path):
    # Connect reads topic.creation.enable from the worker only; in the connector config it is
    # just a topic.creation.* key, so the connector uses topic creation and needs the defaults
    with pytest.raises(ConfigError, match="topic.creation.default"):
        connect(tmp_path, {"topic.creation.enable": "false"})
    cfg = connect(tmp_path, {**DEFAULTS, "topic.creation.enable": "true"})
    assert cfg.topic_creation is not None
    (ignored,) = cfg.keys.ignored
    assert ignored.key == "topic.creation.enable" and "bridge.topic.creation.enable" in ignored.why


@pytest.mark.parametrize(("key", "value"), [
    ("topic.creation.default.partitions", "0"), ("topic.creation.default.partitions", "-2"),
    ("topic.creation.default.replication.factor", "0"), ("topic.creation.default.replication.factor", "32768"),
    ("topic.creation.default.partitions", "three"),
])
def test_numbers_are_positive_or_minus_one(tmp_path, key, value):
    with pytest.raises(ConfigError, match=rf"^{key.replace('.', '[.]')}='{value}' is"):
        connect(tmp_path, {**DEFAULTS, key: value})


def test_minus_one_is_the_brokers_default(tmp_path):
    cfg = connect(tmp_path, {"topic.creation.default.replication.factor": "-1",
                             "topic.creation.default.partitions": "-1"})
    assert cfg.topic_creation.default == TopicGroup("default", -1, -1)


def test_named_groups_in_order_inherit_only_partitions_and_replication_factor(tmp_path):
    cfg = connect(tmp_path, {
        **DEFAULTS, "topic.creation.default.retention.ms": "1000",
        "topic.creation.groups": "compacted, inventory",
        "topic.creation.compacted.include": r"shop\.public\.customers, shop\.public\.orders",
        "topic.creation.compacted.cleanup.policy": "compact",
        "topic.creation.inventory.include": r"shop\.public\..*",
        "topic.creation.inventory.exclude": r".*\.orders",
        "topic.creation.inventory.partitions": "-1",
        "topic.creation.inventory.replication.factor": "2",
    })
    creation = cfg.topic_creation
    compacted, inventory = creation.groups
    assert (compacted.name, compacted.partitions, compacted.replication_factor, compacted.configs) == (
        "compacted", 3, 1, (("cleanup.policy", "compact"),))  # no retention.ms: not inherited
    assert (inventory.partitions, inventory.replication_factor, inventory.configs) == (-1, 2, ())
    # the first listed group that matches wins, even if a later one matches too
    assert creation.group_for("shop.public.customers") is compacted
    assert creation.group_for("shop.public.orders") is compacted
    assert creation.group_for("shop.public.items") is inventory
    # exclude takes precedence over include
    assert creation.group_for("shop.other.orders") is creation.default
    assert creation.group_for("shop.public.items.orders") is creation.default
    assert creation.group_for("__debezium-heartbeat.shop") is creation.default
    assert not cfg.keys.refused and not cfg.keys.ignored


def test_include_matches_the_whole_name():
    group = TopicGroup("g", 1, 1, include=re.compile("shop"), exclude=re.compile(""))
    assert group.matches("shop") and not group.matches("shop.public.t") and not group.matches("myshop")


def test_a_named_group_without_include_matches_no_topic(tmp_path):
    cfg = connect(tmp_path, {**DEFAULTS, "topic.creation.groups": "g", "topic.creation.g.partitions": "9"})
    assert cfg.topic_creation.group_for("shop.public.t") is cfg.topic_creation.default


def test_default_in_the_group_list_is_dropped_with_a_warning(tmp_path, caplog):
    with caplog.at_level(logging.WARNING, logger="bridge.kafka.topic_creation"):
        cfg = connect(tmp_path, {**DEFAULTS, "topic.creation.groups": "default,g", "topic.creation.g.include": "x"})
    assert [g.name for g in cfg.topic_creation.groups] == ["g"]
    assert "always exists" in caplog.text


def test_a_group_listed_twice_is_refused(tmp_path):
    with pytest.raises(ConfigError, match="topic.creation.groups='a, b, a' is invalid: a group is listed twice"):
        connect(tmp_path, {**DEFAULTS, "topic.creation.groups": "a,b , a"})


def test_a_bad_regular_expression_is_refused(tmp_path):
    with pytest.raises(ConfigError, match=r"^topic.creation.g.include is invalid: syntax error"):
        connect(tmp_path, {**DEFAULTS, "topic.creation.groups": "g", "topic.creation.g.include": "shop.(public"})


def test_keys_connect_ignores_are_ignored_with_their_reason(tmp_path):
    cfg = connect(tmp_path, {**DEFAULTS, "topic.creation.default.include": "x.*", "topic.creation.groups": "g",
                             "topic.creation.g.include": "y", "topic.creation.unlisted.partitions": "5"})
    ignored = {v.key: v.why for v in cfg.keys.ignored}
    assert set(ignored) == {"topic.creation.default.include", "topic.creation.unlisted.partitions"}
    assert "default topic creation group" in ignored["topic.creation.default.include"]
    assert "not a group listed" in ignored["topic.creation.unlisted.partitions"]
    assert cfg.topic_creation.default.configs == ()
    assert not cfg.keys.refused


def test_bridge_topic_creation_enable_false_turns_it_off_as_the_connect_worker_setting_does(tmp_path):
    cfg = connect(tmp_path, {"topic.creation.groups": "g", "topic.creation.g.include": "x",
                             "bridge.topic.creation.enable": "false"})
    assert cfg.topic_creation is None
    assert not cfg.keys.refused and not cfg.keys.ignored


def test_a_debezium_server_file_asks_for_it_under_debezium_source():
    cfg = server(**{"topic.creation.default.replication.factor": "1", "topic.creation.default.partitions": "2",
                    "topic.creation.groups": "g", "topic.creation.g.include": "a.*",
                    "topic.creation.g.cleanup.policy": "compact"})
    assert cfg.topic_creation.default == TopicGroup("default", 2, 1)
    assert cfg.topic_creation.group_for("ab").configs == (("cleanup.policy", "compact"),)
    assert not cfg.keys.refused and not cfg.keys.ignored
    with pytest.raises(ConfigError, match="^debezium.source.topic.creation.default.partitions is required"):
        server(**{"topic.creation.default.replication.factor": "1"})


def test_both_forms_at_once_are_refused():
    props = {**MINIMAL, "debezium.source.topic.creation.default.partitions": "1",
             "connect.topic.creation.default.partitions": "2"}
    with pytest.raises(ConfigError, match="set topic.creation.* once"):
        config_from_properties(props)


# --- creating topics ---------------------------------------------------------------------------


class _Future:
    def __init__(self, error: KafkaError | None = None) -> None:
        self._error = error

    def result(self):
        if self._error is not None:
            raise KafkaException(self._error)


class FakeAdmin:
    """describe_topics/create_topics of an AdminClient over a set of existing topics."""

    def __init__(self, existing=(), create_error: KafkaError | None = None) -> None:
        self.existing = set(existing)
        self.create_error = create_error
        self.described: list[str] = []
        self.created: list = []

    def describe_topics(self, topics, request_timeout):
        (name,) = topics.topic_names
        self.described.append(name)
        return {name: _Future(None if name in self.existing else KafkaError(KafkaError.UNKNOWN_TOPIC_OR_PART))}

    def create_topics(self, new_topics, request_timeout):
        (new,) = new_topics
        self.created.append(new)
        if self.create_error is None:
            self.existing.add(new.topic)
        return {new.topic: _Future(self.create_error)}


CREATION = TopicCreation(
    TopicGroup("default", 3, 1, (("retention.ms", "1000"),)),
    (TopicGroup("compacted", -1, -1, (("cleanup.policy", "compact"),), include=re.compile(r".*\.customers"),
                exclude=re.compile("")),))


def creator(admin: FakeAdmin) -> TopicCreator:
    return TopicCreator(CREATION, lambda: admin)


def test_a_missing_topic_is_created_with_its_groups_settings_once():
    admin = FakeAdmin()
    topics = creator(admin)
    for _ in range(3):
        topics.ensure("shop.public.customers")
        topics.ensure("shop.public.orders")
    customers, orders = admin.created
    assert (customers.topic, customers.num_partitions, customers.replication_factor, customers.config) == (
        "shop.public.customers", -1, -1, {"cleanup.policy": "compact"})
    assert (orders.topic, orders.num_partitions, orders.replication_factor, orders.config) == (
        "shop.public.orders", 3, 1, {"retention.ms": "1000"})
    assert admin.described == ["shop.public.customers", "shop.public.orders"]  # once per topic


def test_an_existing_topic_is_left_as_it_is():
    admin = FakeAdmin(existing={"shop.public.orders"})
    creator(admin).ensure("shop.public.orders")
    assert admin.created == []


def test_a_topic_another_producer_created_first_counts_as_existing():
    admin = FakeAdmin(create_error=KafkaError(KafkaError.TOPIC_ALREADY_EXISTS, "Topic already exists."))
    creator(admin).ensure("shop.public.orders")  # no error


def test_a_refused_creation_names_the_topic_its_group_and_the_brokers_reason():
    admin = FakeAdmin(create_error=KafkaError(KafkaError.INVALID_REPLICATION_FACTOR,
                                              "Unable to replicate the partition 3 time(s): only 1 broker"))
    with pytest.raises(DeliveryError, match=r"cannot create topic 'shop.public.orders' \(group default: partitions 3, "
                                            r"replication factor 1, retention.ms=1000\): Unable to replicate"):
        creator(admin).ensure("shop.public.orders")
