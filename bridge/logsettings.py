"""Debezium Server's logging keys: `quarkus.log.level` sets pgbridge's level (the command
line's `--log-level` wins), `quarkus.log.console.json=false` is what pgbridge writes anyway.
JSON log lines and Java logger categories have no equivalent here and are refused."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from bridge.errors import ConfigError
from bridge.properties import PropertyReader

# Quarkus (JBoss) and java.util.logging level names → Python's.
_LEVELS = {"ALL": "DEBUG", "TRACE": "DEBUG", "FINEST": "DEBUG", "FINER": "DEBUG", "FINE": "DEBUG",
           "DEBUG": "DEBUG", "CONFIG": "INFO", "INFO": "INFO", "WARN": "WARNING", "WARNING": "WARNING",
           "ERROR": "ERROR", "SEVERE": "ERROR", "FATAL": "CRITICAL", "OFF": "CRITICAL"}


@dataclass(frozen=True, slots=True)
class LogConfig:
    level: str | None = None  # a Python level name; None: the command line's


def read_logging(r: PropertyReader) -> LogConfig:
    if r.bool("quarkus.log.console.json", False):
        raise ConfigError(f"{r.label('quarkus.log.console.json')}=true is refused: pgbridge writes plain log "
                          "lines to stderr; set it to false or remove it")
    value = r.raw("quarkus.log.level")
    if not value:
        return LogConfig()
    level = _LEVELS.get(value.upper())
    if level is None:
        raise ConfigError(f"{r.shown('quarkus.log.level', value)} is invalid: allowed values are "
                          f"{', '.join(_LEVELS)}")
    return LogConfig(level)


def apply_logging(config: LogConfig, command_line: str | None) -> None:
    """The level the command line gave, else the file's, else what is set already."""
    level = command_line or config.level
    if level:
        logging.getLogger().setLevel(level)
