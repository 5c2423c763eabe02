"""Kafka Connect's predicates: which records a transform step applies to.

- TopicNameMatches (`pattern`): the whole topic name matches the Java regex (`Matcher.matches`).
- RecordIsTombstone: the value is null.
- HasHeaderKey (`name`): a header of that name is on the record.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from bridge.errors import ConfigError
from bridge.transform.record import ConnectRecord
from bridge.transform.smt_settings import HAS_HEADER_KEY, RECORD_IS_TOMBSTONE, TOPIC_NAME_MATCHES, PredicateSpec

Predicate = Callable[[ConnectRecord], bool]


def compile_predicate(spec: PredicateSpec) -> Predicate:
    options = dict(spec.options)
    if spec.type == TOPIC_NAME_MATCHES:
        try:
            pattern = re.compile(options.get("pattern", ""))
        except re.error as exc:
            raise ConfigError(f"predicate {spec.alias!r}: pattern {options.get('pattern')!r} is invalid: {exc}") from None
        if not options.get("pattern"):
            raise ConfigError(f"predicate {spec.alias!r} (TopicNameMatches) needs a pattern")
        return lambda record: pattern.fullmatch(record.topic) is not None
    if spec.type == RECORD_IS_TOMBSTONE:
        return lambda record: record.value is None
    if spec.type == HAS_HEADER_KEY:
        name = options.get("name", "")
        if not name:
            raise ConfigError(f"predicate {spec.alias!r} (HasHeaderKey) needs a name")
        return lambda record: any(h[0] == name for h in record.headers or ())
    raise ConfigError(f"predicate {spec.alias!r}: {spec.type} is not supported")
