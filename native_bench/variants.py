"""Benchmark systems beyond the defaults (registered in `systems.make` under these names):

    pgbridge-2-unwrap / debezium-json-unwrap
        the same transform chain in both, JSON without schemas: ExtractNewRecordState with
        delete.tombstone.handling.mode=rewrite (a delete becomes the row with `__deleted`,
        no tombstone) and add.fields=op,table,lsn, then a RegexRouter renaming
        `<prefix>.<schema>.<table>` to `<prefix>.<schema>.<table>.events.v1` (the run's schema
        stays in the name: concurrent runs in the same database have tables of the same names)
    pgbridge-2-avro-unwrap
        the same chain with Avro keys and values (as pgbridge-2-avro)
    pgbridge-2-outbox / debezium-json-outbox
        the outbox EventRouter in both, JSON without schemas, over W5's outbox table: the
        payload expanded from its jsonb (`table.expand.json.payload`), `type` placed in the
        header `eventType`, routed by aggregatetype to `<prefix>.outbox.<aggregatetype>`
    pgbridge-2-noschemas / pgbridge-2-avro
        pgbridge with 2 producers writing JSON without schemas, or Avro (Confluent's converter,
        registering with the schema registry of deploy/local/registry/up); its subjects are
        deleted afterwards. `formats` runs them beside pgbridge-2 (JSON with schemas) and
        debezium-avro
    pgbridge-2-uncompressed / pgbridge-2-avro-uncompressed (both: `uncompressed`)
        pgbridge-2 and pgbridge-2-avro with compression.type=none, the Kafka producer's default
        and so what a Debezium deployment writes unless it sets one: the Kafka bytes per row on
        the broker's disk are then the records' own bytes
    debezium-avro
        Debezium 3.4.1 with Apicurio's AvroConverter 2.6.13 on keys and values, in its
        Confluent-compatible mode (5-byte header with the registry's contentId), registering
        with the schema registry of deploy/local/registry/up ($BRIDGE_REGISTRY_URL); its subjects
        are deleted afterwards

None of them is in W2's latency phase: it reads `source.ts_ms` from JSON envelopes, which
these records do not carry.
"""

from __future__ import annotations

import os
import re
import subprocess
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass

from native_bench.services import REPO
from native_bench.systems import Context, Debezium, PgBridge
from native_bench.workloads import Counts, Outbox

REGISTRY_UP = REPO / "deploy" / "local" / "registry" / "up"

# Java regexes both sides read alike ([.] rather than \. : Connect loads the connector's
# properties file, where a backslash is an escape)
UNWRAP_CHAIN = {
    "transforms": "unwrap,route",
    "transforms.unwrap.type": "io.debezium.transforms.ExtractNewRecordState",
    "transforms.unwrap.delete.tombstone.handling.mode": "rewrite",
    "transforms.unwrap.add.fields": "op,table,lsn",
    "transforms.route.type": "org.apache.kafka.connect.transforms.RegexRouter",
    "transforms.route.regex": "([^.]+)[.]([^.]+)[.]([^.]+)",
    "transforms.route.replacement": "$1.$2.$3.events.v1",
}


def unwrapped_topics(ctx: Context, prefix: str) -> list[str]:
    """The chain's topic names, as its RegexRouter renames the connector's."""
    return [f"{topic}.events.v1" for topic in ctx.topics(prefix)]


def outbox_chain(prefix: str) -> dict[str, str]:
    return {
        "transforms": "outbox",
        "transforms.outbox.type": "io.debezium.transforms.outbox.EventRouter",
        "transforms.outbox.table.expand.json.payload": "true",
        "transforms.outbox.table.fields.additional.placement": "type:header:eventType",
        "transforms.outbox.route.topic.replacement": prefix + ".outbox.${routedByValue}",
    }


def outbox_topics(_ctx: Context, prefix: str) -> list[str]:
    """EventRouter's topics: one per aggregate type of W5."""
    return [f"{prefix}.outbox.{kind}" for kind in Outbox.AGGREGATE_TYPES]


@dataclass(frozen=True)
class Chain:
    """A transform chain both sides of a variant pair run, JSON without schemas."""

    name: str  # the systems' suffix
    keys: Callable[[str], dict[str, str]]  # the connector's `transforms*` keys, by topic prefix
    topics: Callable[[Context, str], list[str]]  # where its records land, by topic prefix
    records: Callable[[Counts], int]  # how many records a workload gives


UNWRAP = Chain("unwrap", lambda _prefix: UNWRAP_CHAIN, unwrapped_topics,
               lambda counts: counts.rows)  # rewrite: one record per row change, tombstones dropped
OUTBOX = Chain("outbox", outbox_chain, outbox_topics, lambda counts: counts.inserts)  # an event per inserted row


class PgBridgeChain(PgBridge):
    measures_latency = False

    def __init__(self, producers: int, chain: Chain, avro: bool = False) -> None:
        super().__init__(producers)
        self.chain, self.avro = chain, avro
        self.name = f"pgbridge-{producers}-{'avro-' if avro else ''}{chain.name}"
        self.ident = f"pgbridge{producers}{'avro' if avro else ''}{chain.name}"

    def topics(self, ctx, prefix):
        return self.chain.topics(ctx, prefix)

    def expected_records(self, counts: Counts) -> int:
        return self.chain.records(counts)

    def properties(self, prefix):
        formats = ({"debezium.format.key": "avro", "debezium.format.value": "avro",
                    "debezium.format.schema.registry.url": registry_url()} if self.avro else
                   {"debezium.format.key.schemas.enable": "false", "debezium.format.value.schemas.enable": "false"})
        return {**formats,
                # Connect's header converter, as the Debezium it is compared with writes headers
                # (Debezium Server's default, JSON with schemas, writes twice the bytes)
                "debezium.format.header": "org.apache.kafka.connect.storage.SimpleHeaderConverter",
                # a Debezium Server file expands `${...}`: `$${` writes the `${` EventRouter reads
                **{f"debezium.{k}": v.replace("${", "$${") for k, v in self.chain.keys(prefix).items()}}

    def run(self, ctx, run):
        try:
            return super().run(ctx, run)
        finally:
            if self.avro:
                delete_subjects([f"{t}-{side}" for t in self.topics(ctx, ctx.prefix(self)) for side in ("key", "value")])


class DebeziumChain(Debezium):
    measures_latency = False

    def __init__(self, chain: Chain) -> None:
        super().__init__(schemas=False)
        self.chain = chain
        self.name, self.ident = f"debezium-json-{chain.name}", f"dbz{chain.name}"

    def topics(self, ctx, prefix):
        return self.chain.topics(ctx, prefix)

    def expected_records(self, counts: Counts) -> int:
        return self.chain.records(counts)

    def options(self, ctx):
        return [f"{k}={v}" for k, v in self.chain.keys(ctx.prefix(self)).items()]


class PgBridgeFormat(PgBridge):
    """pgbridge-2 with a record format (`schemas`: JSON with schemas, pgbridge's default;
    `noschemas`; `avro`) and, with `uncompressed`, the Kafka producer's default compression
    (none: what Kafka Connect and Debezium Server write unless told otherwise) instead of
    pgbridge's lz4."""

    def __init__(self, producers: int, fmt: str, uncompressed: bool = False) -> None:
        super().__init__(producers)
        self.fmt, self.uncompressed = fmt, uncompressed
        self.measures_latency = fmt != "avro"
        tail = "-uncompressed" if uncompressed else ""
        self.name = f"pgbridge-{producers}" + ("" if fmt == "schemas" else f"-{fmt}") + tail
        self.ident = f"pgbridge{producers}{fmt}{'raw' if uncompressed else ''}"

    def properties(self, prefix):
        props = {"debezium.sink.kafka.producer.compression.type": "none"} if self.uncompressed else {}
        if self.fmt == "noschemas":
            props.update({"debezium.format.key.schemas.enable": "false",
                          "debezium.format.value.schemas.enable": "false"})
        elif self.fmt == "avro":
            props.update({"debezium.format.key": "avro", "debezium.format.value": "avro",
                          "debezium.format.schema.registry.url": registry_url()})
        return props

    def run(self, ctx, run):
        try:
            return super().run(ctx, run)
        finally:
            if self.fmt == "avro":
                delete_subjects([f"{t}-{side}" for t in self.topics(ctx, ctx.prefix(self)) for side in ("key", "value")])


class DebeziumAvro(Debezium):
    measures_latency = False

    def __init__(self) -> None:
        super().__init__(schemas=False)
        self.name, self.ident = "debezium-avro", "dbzavro"

    def options(self, ctx):
        per_side = {
            "": "io.apicurio.registry.utils.converter.AvroConverter",
            ".apicurio.registry.url": registry_url().replace("/apis/ccompat/v7", "/apis/registry/v2"),
            ".apicurio.registry.as-confluent": "true",  # Confluent framing: 00 <contentId:4> <avro>
            ".apicurio.registry.headers.enabled": "false",
            ".apicurio.registry.use-id": "contentId",
            ".apicurio.registry.auto-register": "true",
            ".apicurio.registry.find-latest": "true",
        }
        return ["plugins=avro", *(f"worker.{side}.converter{k}={v}" for side in ("key", "value")
                                  for k, v in per_side.items())]

    def run(self, ctx, run):
        try:
            return super().run(ctx, run)
        finally:
            delete_subjects([f"{t}-{side}" for t in self.topics(ctx, ctx.prefix(self)) for side in ("key", "value")])


def registry_url() -> str:
    """The registry's Confluent API: $BRIDGE_REGISTRY_URL, else the registry
    deploy/local/registry/up starts or finds (Apicurio's own API is beside it)."""
    url = os.environ.get("BRIDGE_REGISTRY_URL")
    if url:
        return url
    proc = subprocess.run([str(REGISTRY_UP)], capture_output=True, text=True, timeout=300)
    found = re.search(r"^export BRIDGE_REGISTRY_URL='([^']*)'$", proc.stdout, re.M)
    if proc.returncode != 0 or found is None:
        raise RuntimeError(f"deploy/local/registry/up failed (exit {proc.returncode}): {proc.stderr[-1000:]}")
    os.environ["BRIDGE_REGISTRY_URL"] = found.group(1)
    return found.group(1)


def delete_subjects(subjects: list[str]) -> None:
    """Delete the subjects for good (soft, then permanent, as the Confluent API wants), so
    runs do not pile schemas up in the in-memory registry. Best effort: a subject never
    registered, or a registry that refuses, leaves the figures alone."""
    base = registry_url()
    for subject in subjects:
        for query in ("", "?permanent=true"):
            req = urllib.request.Request(f"{base}/subjects/{urllib.parse.quote(subject)}{query}", method="DELETE")
            try:
                urllib.request.urlopen(req, timeout=10).close()
            except OSError:  # HTTPError (404: never registered) and URLError are both OSErrors
                break


# a pgbridge variant -> the Debezium system that writes the same records (the ratios compare them)
SAME_CHAIN = {"pgbridge-2-unwrap": ("debezium-json-unwrap",), "pgbridge-2-outbox": ("debezium-json-outbox",)}

DESCRIPTIONS = {
    "pgbridge-2-unwrap": "pgbridge, 2 producers, JSON without schemas, transforms: ExtractNewRecordState "
                         "(delete.tombstone.handling.mode=rewrite, add.fields=op,table,lsn) then RegexRouter "
                         "(`<prefix>.<schema>.<table>` -> `<prefix>.<schema>.<table>.events.v1`); no tombstones.",
    "pgbridge-2-avro-unwrap": "pgbridge-2-unwrap's chain with Avro keys and values (registry as pgbridge-2-avro).",
    "debezium-json-unwrap": "Debezium with the same transforms and JsonConverter schemas.enable=false.",
    "pgbridge-2-outbox": "pgbridge, 2 producers, JSON without schemas, the outbox EventRouter (W5's table; "
                         "table.expand.json.payload=true, type as the header eventType, topics "
                         "`<prefix>.outbox.<aggregatetype>`).",
    "debezium-json-outbox": "Debezium with the same EventRouter and JsonConverter schemas.enable=false.",
    "pgbridge-2-noschemas": "pgbridge, 2 producers, JSON without schemas (keys and values).",
    "pgbridge-2-uncompressed": "pgbridge-2 (JSON with schemas) with compression.type=none, the Kafka "
                               "producer's default (Kafka Connect's and Debezium Server's unless set).",
    "pgbridge-2-avro-uncompressed": "pgbridge-2-avro with compression.type=none.",
    "pgbridge-2-avro": "pgbridge, 2 producers, Confluent's AvroConverter on keys and values, registering with "
                       "Apicurio Registry 3.0.9 on the same machine; the registry's CPU is not counted.",
    "debezium-avro": "Debezium 3.4.1 (not the version above) with Apicurio's AvroConverter 2.6.13 on keys and "
                     "values, Confluent framing (5-byte header, contentId), registering with Apicurio Registry "
                     "3.0.9 on the same machine; the registry's CPU is not counted.",
}

SYSTEMS = {
    "pgbridge-2-unwrap": [PgBridgeChain(2, UNWRAP)],
    "debezium-json-unwrap": [DebeziumChain(UNWRAP)],
    "debezium-avro": [DebeziumAvro()],
    "unwrap": [PgBridgeChain(2, UNWRAP), DebeziumChain(UNWRAP)],
    "pgbridge-2-avro-unwrap": [PgBridgeChain(2, UNWRAP, avro=True)],
    "pgbridge-2-outbox": [PgBridgeChain(2, OUTBOX)],
    "debezium-json-outbox": [DebeziumChain(OUTBOX)],
    "outbox": [PgBridgeChain(2, OUTBOX), DebeziumChain(OUTBOX)],
    "pgbridge-2-noschemas": [PgBridgeFormat(2, "noschemas")],
    "pgbridge-2-avro": [PgBridgeFormat(2, "avro")],
    "pgbridge-2-uncompressed": [PgBridgeFormat(2, "schemas", uncompressed=True)],
    "pgbridge-2-avro-uncompressed": [PgBridgeFormat(2, "avro", uncompressed=True)],
    "uncompressed": [PgBridgeFormat(2, "schemas", uncompressed=True), PgBridgeFormat(2, "avro", uncompressed=True)],
    "formats": [PgBridge(2), PgBridgeFormat(2, "noschemas"), PgBridgeFormat(2, "avro"), DebeziumAvro()],
}
