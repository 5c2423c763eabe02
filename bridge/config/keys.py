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


# Keys the Debezium PostgreSQL connector itself ignores (facts from Debezium 3.x's source):
# pgbridge ignores them too, with a warning naming why.
_DEBEZIUM_IGNORES = (
    _rule(IGNORED, "schema history is kept by the MySQL-family, Oracle and SQL Server connectors; the PostgreSQL "
          "connector keeps none", *_src(r"schema\.history\.internal(\..*)?"))
    + _rule(IGNORED, "removed in Debezium 2.0 (schema history, never used by PostgreSQL)",
            *_src(r"database\.history(\..*)?"))
    + _rule(IGNORED, "removed in Debezium 2.0; topic.prefix names the topics", *_src(r"database\.server\.name"))
    + _rule(IGNORED, "a MySQL/MariaDB setting; the PostgreSQL connector ignores it",
            *_src(r"database\.server\.id(\.offset)?", r"database\.ssl\.(keystore|truststore)(\.password)?",
                  r"binlog\..*", r"gtid\..*", r"bigint\.unsigned\.handling\.mode", r"include\.query",
                  r"min\.row\.count\.to\.stream\.results", r"event\.deserialization\.failure\.handling\.mode",
                  r"inconsistent\.schema\.handling\.mode", r"enable\.time\.adjuster", r"connect\.keep\.alive.*",
                  r"connect\.timeout\.ms", r"use\.nongraceful\.disconnect", r"resolve\.create\.table\.like\.schema"))
    + _rule(IGNORED, "the PostgreSQL connector writes no schema change events",
            *_src(r"include\.schema\.changes", r"include\.schema\.comments"))
    + _rule(IGNORED, "read by the Oracle connector only", *_src(r"query\.fetch\.size"))
    + _rule(IGNORED, "only the MySQL-family and SQL Server connectors allow schema changes in incremental snapshots",
            *_src(r"incremental\.snapshot\.allow\.schema\.changes"))
    + _rule(IGNORED, "legacy name with no effect on PostgreSQL's heartbeat topic (topic.heartbeat.prefix names it)",
            *_src(r"heartbeat\.topics\.prefix"))
    + _rule(IGNORED, "Debezium's PostgreSQL connector matches it against a catalog its table ids lack: no effect",
            *_src(r"database\.exclude\.list"))
    + _rule(IGNORED, "read only with a *RegexTopicNamingStrategy, which pgbridge refuses",
            *_src(r"topic\.regex", r"topic\.replacement", r"topic\.key\..*"))
    + _rule(IGNORED, "read only with the matching =custom mode, which pgbridge refuses",
            *_src(r"snapshot\.(mode|locking\.mode|query\.mode)\.custom\.name"))
    + _rule(IGNORED, "read only with openlineage.integration.enabled=true, which pgbridge refuses",
            *_src(r"openlineage\.integration\.(?!enabled$).*"))
    + _rule(IGNORED, "read only with guardrail.collections.max above 0, which pgbridge refuses",
            *_src(r"guardrail\.collections\.limit\.action"))
    + _rule(IGNORED, "Debezium Server overwrites the connector name with the sink type", *_src(r"name"))
    + _rule(IGNORED, "dead letter queues are for sink connectors; Kafka Connect ignores them for a source",
            r"connect\.errors\.deadletterqueue\..*")
    + _rule(IGNORED, "Debezium Server's Kafka sink reads only producer.* and wait.message.delivery.timeout.ms",
            r"debezium\.sink\.kafka\.(?!producer\.).*")
    # topic.creation.* keys the section (`bridge.kafka.topic_creation`) did not read
    + _rule(IGNORED, "a Kafka Connect worker setting, which a connector configuration cannot change: Connect "
            "ignores it here; pgbridge's is bridge.topic.creation.enable",
            r"connect\.topic\.creation\.enable", *_src(r"topic\.creation\.enable"))
    + _rule(IGNORED, "Kafka Connect ignores include/exclude of the default topic creation group: it takes "
            "every topic no group of topic.creation.groups matches",
            r"connect\.topic\.creation\.default\.(include|exclude)", *_src(r"topic\.creation\.default\.(include|exclude)"))
    + _rule(IGNORED, "not a group listed in topic.creation.groups: Kafka Connect ignores it",
            r"connect\.topic\.creation\..*", *_src(r"topic\.creation\..*"))
    + _rule(IGNORED, "Debezium Server reads only debezium.* and quarkus.* keys from application.properties",
            r"(?!debezium\.|quarkus\.|bridge\.|connect\.)[^.].*")
)

# Debezium keys that change what Debezium does and that pgbridge does not do: refused, each
# with what to use instead.
_NOT_IMPLEMENTED = (
    _rule(REFUSED, "removed in Debezium 2.0 (Debezium 3 ignores it and captures everything): use the "
          "*.include.list / *.exclude.list keys",
          *_src(r"(table|schema|database|column)\.(whitelist|blacklist)"))
    + _rule(REFUSED, "removed in Debezium 2.0: use topic.transaction, unavailable.value.placeholder, "
            "skipped.operations or snapshot.mode=custom",
            *_src(r"transaction\.topic", r"toasted\.value\.placeholder", r"truncate\.handling\.mode",
                  r"snapshot\.custom\.class", r"source\.struct\.version", r"sanitize\.field\.names"))
    + _rule(REFUSED, "Debezium's PostgreSQL connector matches it against a catalog its table ids lack and so "
            "captures no table; remove it (database.dbname names the database)", *_src(r"database\.include\.list"))
    + _rule(REFUSED, "pgjdbc's SSL socket factories have no libpq equivalent: for NonValidatingFactory use "
            "database.sslmode=require; to verify the server use database.sslmode=verify-full with "
            "database.sslrootcert", *_src(r"database\.sslfactory"))
    + _rule(REFUSED, "not implemented: pgbridge runs no statements of yours on connect (set per-role defaults "
            "with ALTER ROLE ... SET instead)", *_src(r"database\.initial\.statements"))
    + _rule(REFUSED, "not implemented: set statement_timeout for the role with ALTER ROLE ... SET",
            *_src(r"database\.query\.timeout\.ms"))
    + _rule(REFUSED, "pgbridge connects with libpq, not pgjdbc: driver properties have no meaning here; "
            "see README 'Configuration' for the database.* keys pgbridge reads",
            *_src(r"driver\..*", r"database\.(?!history|server\.|ssl\.).*"))
    + _rule(REFUSED, "custom converters and post processors are Java classes pgbridge cannot load: remove them "
            "(message.key.columns, column.*.list and the masking keys cover common uses)",
            *_src(r"converters", r"post\.processors(\..*)?"))
    + _rule(REFUSED, "pgbridge sets the pgoutput options itself (proto_version, publication_names, messages)",
            *_src(r"slot\.stream\.params"))
    + _rule(REFUSED, "replica identities are not changed by pgbridge: ALTER TABLE ... REPLICA IDENTITY "
            "beforehand (bridge check reports tables that need it)", *_src(r"replica\.identity\.autoset\.values"))
    + _rule(REFUSED, "column.propagate.source.type / datatype.propagate.source.type are not implemented: remove "
            "them", *_src(r"(column|datatype)\.propagate\.source\.type"))
    + _rule(REFUSED, "pgbridge has no JMX; its metrics are on the Prometheus endpoint (bridge.http.*) without "
            "custom tags", *_src(r"custom\.metric\.tags", r"internal\.advanced\.metrics\.enable"))
    + _rule(REFUSED, "retries are pgbridge's own: use bridge.connect.attempts, bridge.connect.backoff.*, "
            "bridge.restart.policy and bridge.restart.backoff.ms",
            *_src(r"slot\.max\.retries", r"slot\.retry\.delay\.ms", r"errors\.max\.retries",
                  r"retriable\.restart\.connector\.wait\.ms"),
            r"connect\.errors\.max\.retries")  # Debezium's key, a Connect-level name in files.py's mapping
    + _rule(REFUSED, "an internal Debezium setting; pgbridge has no equivalent", *_src(r"internal\..*"))
    + _rule(REFUSED, "the signal channels file, jmx and in-process are not implemented", *_src(r"signal\.file"))
    + _rule(REFUSED, "signal retries are not implemented: pgbridge writes watermarks in the same transaction "
            "as it reads the chunk", *_src(r"signal\.emit\.failure\..*"))
    + _rule(REFUSED, "in-memory table storage is not configurable in pgbridge", *_src(r"memory\.management\..*"))
    + _rule(REFUSED, "Kafka Connect's per-connector consumer and admin clients: pgbridge's clients take their "
            "connection from debezium.sink.kafka.producer.* (producer.override.*)",
            r"connect\.(consumer|admin)\.override\..*")
    + _rule(REFUSED, "Quarkus settings of Debezium Server other than quarkus.http.port/host, quarkus.log.level "
            "and quarkus.log.console.json=false: pgbridge is not a Quarkus application", r"quarkus\..*")
    + _rule(REFUSED, "pgbridge writes to Kafka only (debezium.sink.type=kafka)", r"debezium\.sink\.(?!kafka\.).*")
)

RULES: tuple[Rule, ...] = tuple(_DEBEZIUM_IGNORES + _NOT_IMPLEMENTED)
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
