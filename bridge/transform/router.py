"""Kafka's RegexRouter: a topic the Java regex matches whole is renamed by the replacement.

The replacement is Java's (`Matcher.replaceFirst`): `$1`, `${name}` for groups, `\\x` for a
literal x. Only the topic changes, never the key: per-key order holds, as the decoder routes
each change to a producer by the table's key and that key is still the Kafka key.
"""

from __future__ import annotations

import re

from bridge.errors import ConfigError
from bridge.transform.record import ConnectRecord


def python_replacement(java: str) -> str:
    """A Java replacement string as a `re.Match.expand` template."""
    out, i = [], 0
    while i < len(java):
        c = java[i]
        if c == "\\" and i + 1 < len(java):
            out.append(java[i + 1].replace("\\", "\\\\"))
            i += 2
        elif c == "$":
            m = re.compile(r"\{([A-Za-z][A-Za-z0-9]*)\}|([0-9])").match(java, i + 1)
            if m is None:
                raise ValueError(f"illegal group reference at {i} in {java!r}")
            out.append(f"\\g<{m[1] or m[2]}>")
            i = m.end()
        else:
            out.append("\\\\" if c == "\\" else c)
            i += 1
    return "".join(out)


class RegexRouter:
    def __init__(self, alias: str, regex: str, replacement: str) -> None:
        try:
            self._regex = re.compile(regex)
            self._template = python_replacement(replacement)
        except (re.error, ValueError) as exc:
            raise ConfigError(f"transform {alias!r} (RegexRouter): {exc}") from None
        self._topics: dict[str, str] = {}  # topic -> renamed: the same few topics over and over

    def __call__(self, record: ConnectRecord) -> ConnectRecord:
        topic = self._topics.get(record.topic)
        if topic is None:
            m = self._regex.fullmatch(record.topic)
            topic = self._topics[record.topic] = record.topic if m is None else m.expand(self._template)
        # Connect's newRecord copies the headers (what a later step adds in place stays on this record)
        return record if topic == record.topic else record._replace(topic=topic, headers=list(record.headers))
