"""The transform chain, run in the producers as Kafka Connect runs it.

Steps apply in order; a step whose predicate does not hold (or holds, with `negate`) passes the
record on unchanged; a step returning None drops the record. A table with a chain builds its
events as Connect values (`capturing`: the event builder's writers hand back the values and
keep the schemas) rather than through the JSON templates and fast path; the chain runs on
them, then the configured converters write what comes out (`Chain.write`), their writers
prepared once per (topic, schema). Tables without a chain never reach this module; neither do
the creates and updates of a table whose chain only unwraps them (`Chain.unwrap_only`,
`bridge.produce.unwrapped`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import NamedTuple

from bridge.convert.schema import Schema
from bridge.errors import ConfigError
from bridge.format.converter import KEY, VALUE, Converters, RecordWriter
from bridge.format.headers import Headers
from bridge.format.json import JsonConverter
from bridge.format.settings import HeaderFormat
from bridge.transform.by_logical_table import ByLogicalTableRouter, ToLogicalTopicRouter
from bridge.transform.extract_changed import ExtractChangedRecordState
from bridge.transform.header_to_value import HEADER_TO_VALUE, HeaderToValue
from bridge.transform.kafka.steps import STEPS as KAFKA_STEPS
from bridge.transform.kafka.structs import TransformFailed
from bridge.transform.outbox.event_router import EventRouter
from bridge.transform.partition_routing import PartitionRouting
from bridge.transform.predicates import Predicate, compile_predicate
from bridge.transform.record import ConnectRecord
from bridge.transform.router import RegexRouter
from bridge.transform.schema_change_filter import SCHEMA_CHANGE_FILTER, schema_change_filter
from bridge.transform.scripting import OPTIONS as SCRIPTED, Scripted
from bridge.transform.timezone import TimezoneConverter
from bridge.transform.smt_settings import (BY_LOGICAL_TABLE, EVENT_ROUTER, EXTRACT_CHANGED, PARTITION_ROUTING,
                                          REGEX_ROUTER, TIMEZONE_CONVERTER, TO_LOGICAL_TOPIC, UNWRAP, ChainSpec,
                                          TransformSpec)
from bridge.transform.unwrap import ExtractNewRecordState

log = logging.getLogger(__name__)

Step = Callable[[ConnectRecord], "ConnectRecord | None"]


class _Record(NamedTuple):
    topic: str
    key: bytes | None
    value: bytes | None
    headers: Headers


class Written(_Record):
    """A record the chain wrote, (topic, key, value, headers) as every record is, and the
    partition a step chose (None: the producer's own choice)."""

    partition: int | None = None  # set on the instance when a step chose one


class _Capture:
    """A writer that keeps its schema and hands back the Connect value it is given."""

    __slots__ = ("topic", "field", "schema")
    templates = False

    def __init__(self, schema: Schema | None, topic: str, field: str) -> None:
        self.schema, self.topic, self.field = schema, topic, field

    def write(self, value: object) -> object:
        return value


class _CaptureConverter:
    __slots__ = ("null_is_default",)

    def __init__(self, null_is_default: bool) -> None:
        self.null_is_default = null_is_default

    def prepare(self, schema: Schema | None, topic: str, field: str) -> _Capture:
        return _Capture(schema, topic, field)


def capturing(converters: Converters) -> Converters:
    """Converters whose writers give the Connect values back (what `Chain.run` takes)."""
    return Converters(_CaptureConverter(converters.key.null_is_default),
                      _CaptureConverter(converters.value.null_is_default))


class Captured(NamedTuple):
    """A side record's key or value as its builder made it: the Connect schema and value."""

    schema: Schema | None
    value: object


class _SideCapture(_Capture):
    __slots__ = ()

    def write(self, value: object) -> Captured:
        return Captured(self.schema, value)


class _SideCaptureConverter(_CaptureConverter):
    __slots__ = ()

    def prepare(self, schema: Schema | None, topic: str, field: str) -> _SideCapture:
        return _SideCapture(schema, topic, field)


def side_capturing(converters: Converters) -> Converters:
    """Converters whose writers give (schema, value) pairs back: what the builders of the side
    records (messages, transaction metadata, heartbeats) write with a chain (`Chain.side`)."""
    return Converters(_SideCaptureConverter(converters.key.null_is_default),
                      _SideCaptureConverter(converters.value.null_is_default))


# class -> the step it compiles to (smt_settings.py lists the options each class honours)
_STEPS: dict[str, Callable[[TransformSpec, HeaderFormat], Step]] = {
    **KAFKA_STEPS,  # Kafka's transforms (bridge.transform.kafka.steps)
    UNWRAP: ExtractNewRecordState,
    REGEX_ROUTER: lambda spec, _headers: RegexRouter(spec.alias, spec.option("regex", ""),
                                                     spec.option("replacement", "")),
    BY_LOGICAL_TABLE: ByLogicalTableRouter,
    TO_LOGICAL_TOPIC: ToLogicalTopicRouter,
    EVENT_ROUTER: EventRouter,
    PARTITION_ROUTING: PartitionRouting,
    EXTRACT_CHANGED: ExtractChangedRecordState,
    TIMEZONE_CONVERTER: TimezoneConverter,
    HEADER_TO_VALUE: HeaderToValue,
    SCHEMA_CHANGE_FILTER: schema_change_filter,
    **dict.fromkeys(SCRIPTED, Scripted),  # Filter, ContentBasedRouter (language=python)
}


def changes_routing(spec: ChainSpec) -> bool:
    """Whether a step of the chain makes the Kafka key or partition from something other than
    the table's key (the step says so with `changes_routing`, a class attribute or, for a
    `$Key` / `$Value` transform, an instance one): such a chain's tables are routed to the
    producers by table (`bridge.route.router`), so that one Kafka key, or one partition a step
    picks, is written by one producer in WAL order."""
    return any(getattr(_step(s, HeaderFormat()), "changes_routing", False) for s in spec.steps)


def _step(spec: TransformSpec, headers: HeaderFormat) -> Step:
    make = _STEPS.get(spec.type)
    if make is None:
        raise ConfigError(f"transform {spec.alias!r}: {spec.type} is not supported")
    return make(spec, headers)


def _gated(step: Step, test: Predicate | None, negate: bool) -> Step:
    if test is None:
        return step
    return lambda record: step(record) if test(record) != negate else record


# what a create or update is to the predicates before the chain runs (`Chain.unwrap_only`): not a tombstone
_NOT_NULL = object()


class Chain:
    """A compiled chain and the converters that write its output."""

    def __init__(self, spec: ChainSpec, converters: Converters, headers: HeaderFormat, tolerate: bool = False) -> None:
        """`tolerate`: errors.tolerance=all, a record a step fails on is skipped (logged), as
        Connect skips it; else the failure stops pgbridge, as it fails Connect's task."""
        if not _writes_chains(converters.key) or not _writes_chains(converters.value):
            raise ConfigError("transforms with a key or value converter other than JsonConverter or AvroConverter "
                              "are not supported by pgbridge yet: use org.apache.kafka.connect.json.JsonConverter")
        # (step, its predicate or None, negate), in order
        self._gates = tuple((_step(s, headers), None if s.predicate is None else compile_predicate(s.predicate),
                             s.negate) for s in spec.steps)
        self._steps = tuple(_gated(*step) for step in self._gates)
        self._tolerate = tolerate
        self._converters = converters
        self._writers: dict[tuple[str, str, int], tuple[Schema | None, RecordWriter]] = {}

    def run(self, record: ConnectRecord) -> ConnectRecord | None:
        """The record through every step. Headers are mutable lists, as Connect's are: a
        step adding headers in place (ExtractNewRecordState) changes the list the record came
        with, which Debezium shares between a delete and its tombstone (`EventBuilder` gives
        both one list); a step making a new record copies them."""
        try:
            for step in self._steps:
                record = step(record)
                if record is None:
                    return None
        except TransformFailed as exc:
            if not self._tolerate:
                raise
            log.warning("record for %s skipped (errors.tolerance=all): a transform failed: %s", record.topic, exc)
            return None
        return record

    def unwrap_only(self, topic: str, envelope: Schema,
                    headers: Headers) -> tuple[str, ExtractNewRecordState | None] | None:
        """What the chain does to a create or update (a key change aside) of the table whose
        change events go to `topic` with `envelope` as value schema and `headers`, when only
        RegexRouter and one ExtractNewRecordState apply to it: (the topic it ends in, the
        unwrapping step, or None when none applies). Every predicate is then decided by the
        table alone (the topic, a value that is not null, the headers' names), so this holds
        for all its creates and updates: `bridge.produce.unwrapped` writes them without the
        chain. None when another step applies, or when any step, applied or not, makes the
        key or partition (their records are partitioned by the chain's key)."""
        if any(getattr(step, "changes_routing", False) for step, _, _ in self._gates):
            return None
        record, unwrap = ConnectRecord(topic, None, None, None, _NOT_NULL, list(headers)), None
        for step, test, negate in self._gates:
            if test is not None and test(record) == negate:
                continue
            if type(step) is RegexRouter:
                record = step(record)
            elif type(step) is ExtractNewRecordState and unwrap is None:
                unwrap = step
                record.headers.extend((name, b"") for name in step.header_names(envelope))
            else:
                return None
        return record.topic, unwrap

    def side(self, topic: str, key: Captured | None, value: Captured | None,
             headers: Headers | None) -> tuple[str, bytes | None, bytes | None, Headers | None] | None:
        """A record written beside the change events (logical decoding message, transaction
        metadata, heartbeat), built as Connect values (`side_capturing`), through the chain and
        written as the change events are. None: dropped."""
        record = self.run(ConnectRecord(topic, None if key is None else key.schema, None if key is None else key.value,
                                        None if value is None else value.schema,
                                        None if value is None else value.value, list(headers or ())))
        if record is None:
            return None
        topic, key_bytes, value_bytes, out_headers = self.write(record)
        return topic, key_bytes, value_bytes, out_headers or None

    def write(self, record: ConnectRecord) -> Written:
        """A record out of the chain in the converters' bytes (a null value with no schema is a
        tombstone; with one, JsonConverter writes the schema), with the partition a step set."""
        topic = record.topic
        key = None if record.key is None and record.key_schema is None else \
            self.writer(topic, KEY, record.key_schema).write(record.key)
        value = None if record.value is None and record.value_schema is None else \
            self.writer(topic, VALUE, record.value_schema).write(record.value)
        out = Written(topic, key, value, record.headers)
        if record.partition is not None:
            out.partition = record.partition
        return out

    def writer(self, topic: str, field: str, schema: Schema | None) -> RecordWriter:
        """The writer of the records of `topic` whose key or value (`field`) has `schema`,
        prepared once (the unwrap fast path writes with it too: `bridge.produce.avro_unwrapped`)."""
        slot = (topic, field, id(schema))
        found = self._writers.get(slot)
        if found is None or found[0] is not schema:
            converter = self._converters.key if field == KEY else self._converters.value
            found = self._writers[slot] = (schema, converter.prepare(schema, topic, field))
        return found[1]


def _writes_chains(converter: object) -> bool:
    """JsonConverter and the Avro converters write whatever schema a step makes."""
    if isinstance(converter, JsonConverter):
        return True
    try:  # the avro extra (the Avro converter exists only with it)
        from bridge.format.avro.converter import AvroConverter
    except ImportError:
        return False
    return isinstance(converter, AvroConverter)


def compile_chain(spec: ChainSpec, converters: Converters, headers: HeaderFormat,
                  tolerate: bool = False) -> Chain | None:
    return Chain(spec, converters, headers, tolerate) if spec else None
