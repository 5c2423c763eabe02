"""The verdict on every key of a sink configuration that no section read (`bridge.sink.settings`
reads what it honours): refused with why and what to use instead, or ignored with a warning
where Debezium's JDBC sink ignores it for PostgreSQL. A key no rule names is refused."""

from __future__ import annotations

import re
from typing import Mapping

from bridge.config.keys import HONOURED, IGNORED, REFUSED, KeyReport, Rule, Verdict


def _rule(verdict: str, why: str, *patterns: str) -> list[Rule]:
    return [Rule(re.compile(p), verdict, why) for p in patterns]


RULES: tuple[Rule, ...] = tuple(
    _rule(IGNORED, "read only by the SQL Server and StarRocks dialects: Debezium ignores it for PostgreSQL",
          r"dialect\.sqlserver\..*", r"dialect\.starrocks\..*")
    + _rule(IGNORED, "read only with enable.sces=true (refused): Debezium ignores it otherwise",
            r"keyed\.message\.batch\.mode")
    + _rule(IGNORED, "bridge sink reads no headers (primary.key.mode=record_header is refused)",
            r"header\.converter(\..*)?")
    + _rule(REFUSED, "single message transforms on the sink side are not implemented: remove them",
            r"transforms(\..*)?", r"predicates(\..*)?")
    + _rule(REFUSED, "bridge sink connects with libpq, not Hibernate: remove it", r"hibernate\..*")
    + _rule(REFUSED, "converter option not implemented by bridge sink (JsonConverter: schemas.enable only; "
                     "AvroConverter: the registry's options, as `bridge sink` README lists)",
            r"(key|value)\.converter\..*")
)
UNKNOWN = ("not a setting bridge sink knows: Debezium's JDBC sink honours it or it is misspelt. Remove it, "
           "or see README 'bridge sink' for the supported keys")


def classify(props: Mapping[str, str], used: set[str], labels: Mapping[str, str]) -> KeyReport:
    """The report over every key of the file, in the file's order."""
    honoured, refused, ignored = [], [], []
    for key in props:
        label = labels.get(key, key)
        if key in used:
            honoured.append(Verdict(label, HONOURED))
            continue
        verdict, why = next(((rule.verdict, rule.why) for rule in RULES if rule.pattern.fullmatch(key)),
                            (REFUSED, UNKNOWN))
        (refused if verdict == REFUSED else ignored).append(Verdict(label, verdict, why))
    return KeyReport(tuple(honoured), tuple(refused), tuple(ignored))
