"""Reading a sink configuration file: a Kafka Connect connector JSON (wrapped `{"name", "config"}`
or flat) or a Connect standalone `.properties`, its keys kept as written (a sink's keys are its
own, not the source's `debezium.source.*`), config-provider references resolved."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from bridge.config.files import connect_document, connect_value
from bridge.config.keys import KeyReport
from bridge.config.providers import provider_keys, resolve_secrets
from bridge.errors import ConfigError
from bridge.properties import PropertyReader, parse_properties
from bridge.sink.keys import classify
from bridge.sink.settings import BOOTSTRAP, SinkConfig, read_sink


@dataclass(frozen=True, slots=True)
class SinkFile:
    props: dict[str, str]
    labels: dict[str, str] = field(default_factory=dict)
    secrets: frozenset[str] = frozenset()

    def reader(self) -> PropertyReader:
        return PropertyReader(self.props, self.labels, self.secrets)


def read_sink_file(path: str | os.PathLike[str], bootstrap_servers: str | None = None) -> SinkFile:
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"configuration file {str(file)!r} does not exist") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"configuration file {str(file)!r} cannot be read: {exc}") from None
    if text.lstrip().startswith("{"):
        config, name = connect_document(text, str(file))
        props = {key: connect_value(key, value, str(file)) for key, value in config.items()}
        if name is not None:
            props["name"] = connect_value("name", name, str(file))
    else:
        try:
            props = parse_properties(text, str(file))
        except ValueError as exc:
            raise ConfigError(str(exc)) from None
    labels = {key: key for key in props}
    secrets = resolve_secrets(props, labels, connect=True)
    if bootstrap_servers:
        props[BOOTSTRAP] = bootstrap_servers
        labels[BOOTSTRAP] = "--bootstrap-servers"
    return SinkFile(props, labels, secrets)


def sink_config(file: SinkFile, workers: int | None = None, *, refuse: bool = True) -> tuple[SinkConfig, KeyReport]:
    """The configuration and the verdict on every key; a refused key raises `ConfigError` unless
    `refuse` is false."""
    r = file.reader()
    config = read_sink(r, workers)
    r.used.update(provider_keys(file.props))
    keys = classify(file.props, r.used, file.labels)
    if refuse and keys.refused:
        raise ConfigError(keys.refusal())
    return config, keys


def load_sink_config(path: str | os.PathLike[str], bootstrap_servers: str | None = None,
                     workers: int | None = None) -> tuple[SinkConfig, KeyReport]:
    return sink_config(read_sink_file(path, bootstrap_servers), workers)
