"""Reading a configuration file into Debezium Server properties and the labels users wrote.

Three forms: a Debezium Server `application.properties`; a Kafka Connect connector JSON (told
apart by its first character) in any form people POST or PUT: wrapped `{"name", "config"}`, the
flat body of `PUT /connectors/<name>/config`, values as JSON strings, numbers or booleans; and a
Kafka Connect standalone connector `.properties` (its keys unprefixed, `connector.class` among them).
Connect keys become Debezium Server keys (`database.port` → `debezium.source.database.port`);
the label of each key keeps the name as the file wrote it, so every message names it that way.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

from bridge.config.providers import resolve_secrets
from bridge.errors import ConfigError
from bridge.kafka.settings import PREFIX as PRODUCER
from bridge.properties import PropertyReader, parse_properties
from bridge.source.settings import SOURCE

CONNECTOR_NAME = "bridge.connector.name"


@dataclass(frozen=True, slots=True)
class ConfigFile:
    """A configuration file's keys as Debezium Server properties, the labels that name each key
    as the file wrote it, the keys whose values are secrets (`bridge.config.providers`), and
    whether it was a Kafka Connect file (whose worker defaults differ: the header converter)."""

    props: dict[str, str]
    labels: dict[str, str]
    secrets: frozenset[str] = frozenset()
    connect: bool = False

    def reader(self) -> PropertyReader:
        """What a command that needs only some sections reads them with (the sections' `read_*`)."""
        return PropertyReader(self.props, self.labels, self.secrets)


def read_config_file(path: str | os.PathLike[str], bootstrap_servers: str | None = None) -> ConfigFile:
    """Read any of the three forms, with its secrets put in place. `bootstrap_servers` overrides
    the Kafka brokers of every form."""
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"configuration file {str(file)!r} does not exist") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"configuration file {str(file)!r} cannot be read: {exc}") from None
    labels: dict[str, str] = {}
    connect = text.lstrip().startswith("{")
    if connect:
        props, labels = connect_json_to_properties(text, str(file))
    else:
        try:
            props = parse_properties(text, str(file))
        except ValueError as exc:
            raise ConfigError(str(exc)) from None
        if "connector.class" in props and SOURCE + "connector.class" not in props:
            # a Kafka Connect standalone connector file (`connect-standalone worker.properties connector.properties`)
            props, labels = connect_settings_to_properties(props, props.get("name"), str(file))
            connect = True
    secrets = resolve_secrets(props, labels, connect=connect)
    if bootstrap_servers:
        props[PRODUCER + "bootstrap.servers"] = bootstrap_servers
        labels[PRODUCER + "bootstrap.servers"] = "--bootstrap-servers"
    return ConfigFile(props, labels, secrets, connect)


# Kafka Connect names → Debezium Server names, for the keys that are not connector properties.
_CONNECT_KEYS = {
    # Connect names a converter class where Debezium Server names a format: `bridge.format.settings`
    # reads either
    "key.converter": "debezium.format.key",
    "value.converter": "debezium.format.value",
    "header.converter": "debezium.format.header",
    "bridge.kafka.bootstrap.servers": PRODUCER + "bootstrap.servers",
}
# Connect key prefix → Debezium Server prefix (the converters' own options keep their tail).
_CONNECT_PREFIXES = (
    ("key.converter.", "debezium.format.key."),
    ("value.converter.", "debezium.format.value."),
    ("header.converter.", "debezium.format.header."),
    ("producer.override.", PRODUCER),
    ("transforms", "debezium.transforms"),
    ("predicates", "debezium.predicates"),
    ("bridge.", "bridge."),
)
# Connect's own connector-level keys: kept under `connect.` so that the key catalog judges them
# as Connect keys, not as PostgreSQL connector properties.
# (`exactly.once.support` is read as a connector key: Debezium Server spells it so.)
_CONNECT_LEVEL = ("tasks.max", "tasks.max.enforce", "config.action.reload", "errors.", "topic.creation.",
                  "transaction.boundary", "offsets.storage.topic",
                  "consumer.override.", "admin.override.")
CONNECT = "connect."


def connect_value(key: str, value: object, source: str) -> str:
    """A Kafka Connect JSON value as the string Connect reads (numbers and booleans allowed)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float, str)):
        return str(value)
    if value is None:
        return ""
    raise ConfigError(f"{source}: {key} is a JSON {type(value).__name__}: Kafka Connect takes strings, numbers "
                      "or booleans as values")


def _internal_key(key: str) -> str:
    if key in _CONNECT_KEYS:
        return _CONNECT_KEYS[key]
    for prefix, internal in _CONNECT_PREFIXES:
        if key.startswith(prefix):
            return internal + key[len(prefix):]
    if key.startswith(_CONNECT_LEVEL) or key in _CONNECT_LEVEL:
        return CONNECT + key
    return SOURCE + key


def connect_json_to_properties(text: str, source: str) -> tuple[dict[str, str], dict[str, str]]:
    """A Kafka Connect connector JSON (wrapped or flat) as Debezium Server properties, and the
    labels that name each key as the JSON wrote it."""
    config, name = connect_document(text, source)
    return connect_settings_to_properties(config, name, source)


def connect_document(text: str, source: str) -> tuple[dict[str, object], object]:
    """A Kafka Connect connector JSON (wrapped or flat): its settings as written and its name."""
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{source}: not valid JSON: {exc}") from None
    if not isinstance(doc, dict):
        raise ConfigError(f"{source}: a Kafka Connect connector JSON is an object")
    name = doc.get("name")
    if "config" in doc:  # POST /connectors: {"name": ..., "config": {...}}
        config = doc["config"]
        if not isinstance(config, dict):
            raise ConfigError(f'{source}: "config" must be an object of connector settings')
        extra = sorted(set(doc) - {"name", "config", "tasks", "type"})
        if extra:
            raise ConfigError(f"{source}: unexpected top-level key(s) {', '.join(extra)} beside \"config\": "
                              "put connector settings inside \"config\"")
        inner = config.get("name")
        if name is not None and inner is not None and inner != name:
            raise ConfigError(f'{source}: "name" is {name!r} but config.name is {inner!r}: Kafka Connect '
                              "refuses a connector whose two names differ")
        name = name if name is not None else inner
    else:  # PUT /connectors/<name>/config: the settings alone, "name" among them or absent
        config = doc
    return config, name


def connect_settings_to_properties(config: Mapping[str, object], name: object, source: str
                                   ) -> tuple[dict[str, str], dict[str, str]]:
    """A connector's Kafka Connect settings as Debezium Server properties, with their labels."""
    props: dict[str, str] = {}
    labels: dict[str, str] = {}
    for key, value in config.items():
        if key == "name":
            continue
        internal = _internal_key(key)
        props[internal] = connect_value(key, value, source)
        labels[internal] = key
    # Connect keeps the brokers in the worker config: say where pgbridge takes them from.
    labels.setdefault(PRODUCER + "bootstrap.servers", "bridge.kafka.bootstrap.servers (or --bootstrap-servers)")
    if name is not None:
        props[CONNECTOR_NAME] = connect_value("name", name, source)
        labels[CONNECTOR_NAME] = "name"
    return props, labels
