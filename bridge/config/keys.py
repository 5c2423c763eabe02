"""Every configuration key gets a verdict: honoured, refused or ignored.

A key a section read is honoured: it does what it does in Debezium. A key no section read is
judged by the rules below, first match wins: refused (start stops with one line per key naming
it, why, and what to use instead) or ignored with a warning, which is allowed only where
Debezium itself ignores the key for the PostgreSQL connector. A key no rule names is refused:
a setting dropped in silence can leak data a masking rule should hide or empty a topic a router
should fill.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Iterable, Mapping

from bridge.source.settings import SOURCE

HONOURED, REFUSED, IGNORED = "honoured", "refused", "ignored"


@dataclass(frozen=True, slots=True)
class Rule:
    pattern: re.Pattern[str]  # matched in full against the Debezium Server key
    verdict: str
    why: str


@dataclass(frozen=True, slots=True)
class Verdict:
    key: str  # as the file wrote it
    verdict: str
    why: str = ""

    def line(self) -> str:
        return f"{self.key}: {self.why}" if self.why else self.key


@dataclass(frozen=True, slots=True)
class KeyReport:
    honoured: tuple[Verdict, ...] = ()
    refused: tuple[Verdict, ...] = ()
    ignored: tuple[Verdict, ...] = ()

    def refusal(self) -> str:
        """The message that stops the start: one line per refused key."""
        return "\n".join(f"{v.key} is refused: {v.why}" for v in self.refused)


def _rule(verdict: str, why: str, *patterns: str) -> list[Rule]:
    return [Rule(re.compile(p), verdict, why) for p in patterns]


def _src(*names: str) -> tuple[str, ...]:
    """Connector keys as Debezium Server spells them (regex tails after `debezium.source.`)."""
    return tuple(re.escape(SOURCE) + n for n in names)


# Families that change the output and that pgbridge does not implement yet: refused by name.
_NOT_YET = (
    _rule(REFUSED, "transforms (SMTs) are not implemented yet (issue #12): remove them and transform "
          "downstream, or keep Debezium for this connector",
          r"debezium\.transforms(\..*)?", r"debezium\.predicates(\..*)?")
    + _rule(REFUSED, "column masking, hashing and truncation are not implemented yet: keep Debezium for "
            "this connector, or exclude the column with column.exclude.list",
            *_src(r"column\.mask\..*", r"column\.truncate\..*"))
    + _rule(REFUSED, "errors.tolerance is not implemented yet: pgbridge stops on an event it cannot convert "
            "(errors.tolerance=none); remove the key", r"connect\.errors\.tolerance")
    + _rule(REFUSED, "topic creation settings are not implemented yet: create the topics beforehand "
            "(kafka-topics.sh) or let the broker auto-create them, and remove the keys",
            r"connect\.topic\.creation\..*")
    + _rule(REFUSED, "the kafka signal channel is not implemented yet: send signals through the signal "
            "table (signal.data.collection) and remove the keys",
            *_src(r"signal\.kafka\..*", r"signal\.consumer\..*"))
    + _rule(REFUSED, "notification channels are not implemented yet: remove the notification.* keys",
            *_src(r"notification\..*"))
)

# Keys Debezium reads for other connectors or for sink connectors only: the PostgreSQL source
# connector ignores them, and so does pgbridge, with a warning.
_DEBEZIUM_IGNORES = (
    _rule(IGNORED, "schema history is for MySQL-family and Oracle connectors; the PostgreSQL connector keeps none",
          *_src(r"schema\.history\.internal(\..*)?", r"database\.history(\..*)?"))
    + _rule(IGNORED, "a MySQL setting; the PostgreSQL connector ignores it", *_src(r"database\.server\.id"))
    + _rule(IGNORED, "dead letter queues are for sink connectors; a source connector ignores them",
            r"connect\.errors\.deadletterqueue\..*")
    + _rule(IGNORED, "Debezium Server reads only debezium.* and quarkus.* keys from application.properties",
            r"(?!debezium\.|quarkus\.|bridge\.|connect\.)[^.].*")
)

RULES: tuple[Rule, ...] = tuple(_NOT_YET + _DEBEZIUM_IGNORES)
UNKNOWN = ("not a setting pgbridge knows: Debezium honours it or it is misspelt; pgbridge refuses what it "
           "cannot honour. Remove it, or see README 'Configuration' for the supported keys")


def judge(key: str, rules: Iterable[Rule] = RULES) -> tuple[str, str]:
    """(verdict, why) of a key no section read."""
    for rule in rules:
        if rule.pattern.fullmatch(key):
            return rule.verdict, rule.why
    return REFUSED, UNKNOWN


def classify(props: Mapping[str, str], used: set[str], labels: Mapping[str, str]) -> KeyReport:
    """The report over every key of the file, in the file's order."""
    honoured, refused, ignored = [], [], []
    for key in props:
        label = labels.get(key, key)
        if key in used:
            honoured.append(Verdict(label, HONOURED))
            continue
        verdict, why = judge(key)
        (refused if verdict == REFUSED else ignored).append(Verdict(label, verdict, why))
    return KeyReport(tuple(honoured), tuple(refused), tuple(ignored))
