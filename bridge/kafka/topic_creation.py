"""Kafka Connect's topic creation for source connectors (KIP-158): `topic.creation.*`.

What Kafka Connect does (`SourceConnectorConfig`, `TopicCreationConfig`, `TopicCreationGroup`,
`TopicCreation`, `AbstractWorkerSourceTask.maybeCreateTopic`, `TopicAdmin`), reproduced here:
- The worker setting `topic.creation.enable` (default true) allows it; pgbridge has no worker,
  so it is `bridge.topic.creation.enable`. When it is false, every `topic.creation.*` key of the
  connector has no effect.
- A connector uses topic creation as soon as any of its keys starts with `topic.creation.`;
  `topic.creation.default.replication.factor` and `topic.creation.default.partitions` are then
  required (Connect refuses the connector without them). Each is -1 (the broker's default) or
  at least 1.
- `topic.creation.groups` lists named groups (comma separated, no duplicates; `default` is
  always there and dropped from the list with a warning). A named group has `include` and
  `exclude` (lists of regular expressions), `replication.factor` and `partitions` (the default
  group's when unset); every other key of a group is a topic config (`cleanup.policy`,
  `compression.type`, `retention.ms`, ...) handed to the broker as it is. A group's other keys
  are its own: a named group does not inherit the default group's topic configs.
- A topic belongs to the first named group, in listed order, whose include list matches it in
  full and whose exclude list does not; else to `default` (whose own include/exclude Connect
  ignores). A list is matched as its expressions joined by "|", as Connect joins them.
- Before the first record to a topic the task asks whether it exists; an existing topic is left
  as it is; a missing one is created with its group's settings, and a concurrent creation
  ("already exists") counts as existing. Any other failure stops the task. Each topic is
  checked once per task.

Debezium Server has no topic creation (its Kafka sink only produces): in its file the keys
(`debezium.source.topic.creation.*`) are inert there. pgbridge honours them in either form,
with Connect's meaning, so that one configuration format can ask for them.

Regular expressions are Python's (`re`), which read the usual Java patterns the same way.
"""

from __future__ import annotations

import logging
import re
import time
from dataclasses import dataclass
from typing import Callable

from confluent_kafka import KafkaError, KafkaException, TopicCollection
from confluent_kafka.admin import AdminClient, NewTopic

from bridge.errors import ConfigError, ConnectionFailed, DeliveryError
from bridge.properties import PropertyReader

log = logging.getLogger(__name__)

ENABLE = "bridge.topic.creation.enable"
# Where the keys are: a Kafka Connect file's connector-level keys, or a Debezium Server file's
# connector properties (`bridge.config.files`).
PREFIXES = ("connect.topic.creation.", "debezium.source.topic.creation.")
DEFAULT = "default"
_GROUP_KEYS = frozenset({"include", "exclude", "replication.factor", "partitions"})
_LIST_SPLIT = re.compile(r"\s*,\s*")  # Connect's LIST type: items split at commas, spaces trimmed
_SHORT_MAX = 2**15 - 1
_INT_MAX = 2**31 - 1


@dataclass(frozen=True, slots=True)
class TopicGroup:
    """One topic creation group: which topics (named groups only) and how they are created."""

    name: str
    partitions: int  # -1: the broker's default
    replication_factor: int  # -1: the broker's default
    configs: tuple[tuple[str, str], ...] = ()  # topic configs, in the file's order
    include: re.Pattern[str] | None = None  # None for the default group: it takes what is left
    exclude: re.Pattern[str] | None = None

    def matches(self, topic: str) -> bool:
        """Connect's `TopicCreationGroup.matches`: the include list matches in full and the exclude
        list does not (an empty list is the empty expression, which matches only "")."""
        return (self.include is not None and self.include.fullmatch(topic) is not None
                and (self.exclude is None or self.exclude.fullmatch(topic) is None))

    def describe(self) -> str:
        configs = "".join(f", {k}={v}" for k, v in self.configs)
        return (f"group {self.name}: partitions {self.partitions}, "
                f"replication factor {self.replication_factor}{configs}")


@dataclass(frozen=True, slots=True)
class TopicCreation:
    """The connector's topic creation groups: the named ones in listed order, then the default."""

    default: TopicGroup
    groups: tuple[TopicGroup, ...] = ()

    def group_for(self, topic: str) -> TopicGroup:
        for group in self.groups:
            if group.matches(topic):
                return group
        return self.default


def read_topic_creation(r: PropertyReader) -> TopicCreation | None:
    """`topic.creation.*` of either file form and `bridge.topic.creation.enable`; None when no
    topic is to be created (no key, or creation off)."""
    enabled = r.bool(ENABLE, True)
    found = [(prefix, keys) for prefix in PREFIXES if (keys := r.present(prefix))]
    if not found:
        return None
    if len(found) > 1:
        raise ConfigError(f"topic creation is set both as {r.label(found[0][1][0])} and as {r.label(found[1][1][0])}: set "
                          "topic.creation.* once, in the form of the file")
    prefix, _ = found[0]
    if not enabled:
        r.with_prefix(prefix)  # Connect with topic.creation.enable=false: the keys do nothing
        log.info("%s=false: the topic.creation.* keys have no effect, as in Kafka Connect with "
                 "topic.creation.enable=false", ENABLE)
        return None
    section = _Section(r, prefix)
    default = TopicGroup(DEFAULT, section.partitions(DEFAULT, None), section.replication_factor(DEFAULT, None),
                         section.configs(DEFAULT))
    groups = []
    for name in section.group_names():
        groups.append(TopicGroup(name, section.partitions(name, default.partitions),
                                 section.replication_factor(name, default.replication_factor), section.configs(name),
                                 section.patterns(name, "include"), section.patterns(name, "exclude")))
    return TopicCreation(default, tuple(groups))


class _Section:
    """The keys of one prefix, read as Connect's `ConfigDef` types and validators read them."""

    def __init__(self, r: PropertyReader, prefix: str) -> None:
        self.r, self.prefix = r, prefix
        # the name a missing key would have in the user's file (`topic.creation...` in a Connect file)
        self.written = prefix.removeprefix("connect.")

    def key(self, tail: str) -> str:
        return self.prefix + tail

    def name(self, tail: str) -> str:
        key = self.key(tail)
        label = self.r.label(key)
        return self.written + tail if label == key else label

    def group_names(self) -> list[str]:
        names = _connect_list(self.r.raw(self.key("groups")) or "")
        if len(names) != len(set(names)):
            raise ConfigError(f"{self.name('groups')}={', '.join(names)!r} is invalid: a group is listed twice")
        if DEFAULT in names:
            log.warning("%s lists %r: the default topic creation group always exists and need not be listed",
                        self.name("groups"), DEFAULT)
            names = [n for n in names if n != DEFAULT]
        return names

    def _number(self, group: str, what: str, default: int | None, maximum: int) -> int:
        tail = f"{group}.{what}"
        value = self.r.raw(self.key(tail))
        if value is None or value == "":
            if default is None:
                raise ConfigError(f"{self.name(tail)} is required when any topic.creation.* key is set (Kafka "
                                  "Connect refuses such a connector without it): set it, -1 for the broker's default")
            return default
        try:
            number = int(value)
        except ValueError:
            raise ConfigError(f"{self.name(tail)}={value!r} is not an integer") from None
        if number != -1 and not 1 <= number <= maximum:
            raise ConfigError(f"{self.name(tail)}={value!r} is invalid: a positive number, or -1 for the "
                              "broker's default")
        return number

    def partitions(self, group: str, default: int | None) -> int:
        return self._number(group, "partitions", default, _INT_MAX)

    def replication_factor(self, group: str, default: int | None) -> int:
        return self._number(group, "replication.factor", default, _SHORT_MAX)

    def patterns(self, group: str, what: str) -> re.Pattern[str]:
        tail = f"{group}.{what}"
        expressions = _connect_list(self.r.raw(self.key(tail)) or "")
        try:
            return re.compile("|".join(expressions))
        except re.error as exc:
            raise ConfigError(f"{self.name(tail)} is invalid: syntax error in regular expression: {exc}") from None

    def configs(self, group: str) -> tuple[tuple[str, str], ...]:
        start = self.key(f"{group}.")
        tails = [key[len(start):] for key in self.r.present(start)]
        # the default group's include/exclude are not read: Connect ignores them (`bridge.config.keys`)
        return tuple((tail, self.r.raw(start + tail) or "") for tail in tails if tail and tail not in _GROUP_KEYS)


def _connect_list(value: str) -> list[str]:
    value = value.strip()
    return _LIST_SPLIT.split(value) if value else []


class TopicCreator:
    """Creates each topic the bridge writes, once, before its first record, as `creation` says.

    The admin client (`bridge.kafka.clients.admin`) is opened on first need."""

    def __init__(self, creation: TopicCreation, admin: Callable[[], AdminClient], timeout_s: float = 30.0) -> None:
        """`admin`: builds the admin client (called at most once)."""
        self.creation = creation
        self._admin_factory = admin
        self._admin: AdminClient | None = None
        self._timeout_s = timeout_s
        self._known: set[str] = set()

    def ensure(self, topic: str) -> None:
        """`topic` exists once this returns: it did, or it is created with its group's settings.
        Raises `DeliveryError` naming the topic and the broker's reason when it cannot be."""
        if topic in self._known:
            return
        if self._admin is None:
            self._admin = self._admin_factory()
        if self._exists(topic):
            log.info("topic %s exists: left as it is", topic)
        else:
            self._create(topic, self.creation.group_for(topic))
        self._known.add(topic)

    def _exists(self, topic: str) -> bool:
        deadline = time.monotonic() + self._timeout_s
        while True:
            future = self._admin.describe_topics(TopicCollection([topic]), request_timeout=10)[topic]
            try:
                future.result()
                return True
            except KafkaException as exc:
                err = exc.args[0]
                if err.code() == KafkaError.UNKNOWN_TOPIC_OR_PART:
                    return False
                if err.code() not in _TRANSIENT or time.monotonic() >= deadline:
                    raise _failure(topic, "cannot check whether topic", "exists", err) from None
            time.sleep(0.2)

    def _create(self, topic: str, group: TopicGroup) -> None:
        new = NewTopic(topic, num_partitions=group.partitions, replication_factor=group.replication_factor,
                       config=dict(group.configs))
        future = self._admin.create_topics([new], request_timeout=self._timeout_s)[topic]
        try:
            future.result()
        except KafkaException as exc:
            err = exc.args[0]
            if err.code() == KafkaError.TOPIC_ALREADY_EXISTS:  # another producer was first
                log.info("topic %s exists: left as it is", topic)
                return
            raise DeliveryError(f"cannot create topic {topic!r} ({group.describe()}): {err.str()}") from None
        log.info("created topic %s (%s)", topic, group.describe())


_TRANSIENT = frozenset({KafkaError._TIMED_OUT, KafkaError.REQUEST_TIMED_OUT, KafkaError._TRANSPORT,
                        KafkaError.LEADER_NOT_AVAILABLE, KafkaError.NOT_CONTROLLER, KafkaError._ALL_BROKERS_DOWN})


def _failure(topic: str, before: str, after: str, err: KafkaError) -> Exception:
    message = f"{before} {topic!r} {after}: {err.str()}"
    if err.code() in _TRANSIENT:
        return ConnectionFailed(message)
    return DeliveryError(message)
