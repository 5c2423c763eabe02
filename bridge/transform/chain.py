"""The transform chain, run in the producers as Kafka Connect runs it.

Steps apply in order; a step whose predicate does not hold (or holds, with `negate`) passes the
record on unchanged; a step returning None drops the record. A table with a chain builds its
events as Connect values (`capturing`: the event builder's writers hand back the values and
keep the schemas) rather than through the JSON templates and fast path; the chain runs on
them, then the configured converters write what comes out (`Chain.write`), their writers
prepared once per (topic, schema). Tables without a chain never reach this module.
"""

from __future__ import annotations

from collections.abc import Callable

from bridge.convert.schema import Schema
from bridge.errors import ConfigError
from bridge.format.converter import KEY, VALUE, Converters, RecordWriter
from bridge.format.headers import Headers
from bridge.format.json import JsonConverter
from bridge.format.settings import HeaderFormat
from bridge.transform.predicates import compile_predicate
from bridge.transform.record import ConnectRecord
from bridge.transform.router import RegexRouter
from bridge.transform.smt_settings import REGEX_ROUTER, UNWRAP, ChainSpec, TransformSpec
from bridge.transform.unwrap import ExtractNewRecordState

Step = Callable[[ConnectRecord], "ConnectRecord | None"]


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


# class -> the step it compiles to (smt_settings.py lists the options each class honours)
_STEPS: dict[str, Callable[[TransformSpec, HeaderFormat], Step]] = {
    UNWRAP: ExtractNewRecordState,
    REGEX_ROUTER: lambda spec, _headers: RegexRouter(spec.alias, spec.option("regex", ""),
                                                     spec.option("replacement", "")),
}


def _step(spec: TransformSpec, headers: HeaderFormat) -> Step:
    make = _STEPS.get(spec.type)
    if make is None:
        raise ConfigError(f"transform {spec.alias!r}: {spec.type} is not supported")
    return make(spec, headers)


def _gated(step: Step, spec: TransformSpec) -> Step:
    if spec.predicate is None:
        return step
    test, negate = compile_predicate(spec.predicate), spec.negate
    return lambda record: step(record) if test(record) != negate else record


class Chain:
    """A compiled chain and the converters that write its output."""

    def __init__(self, spec: ChainSpec, converters: Converters, headers: HeaderFormat) -> None:
        if not _writes_chains(converters.key) or not _writes_chains(converters.value):
            raise ConfigError("transforms with a key or value converter other than JsonConverter or AvroConverter "
                              "are not supported by pgbridge yet: use org.apache.kafka.connect.json.JsonConverter")
        self._steps = tuple(_gated(_step(s, headers), s) for s in spec.steps)
        self._converters = converters
        self._writers: dict[tuple[str, str, int], tuple[Schema | None, RecordWriter]] = {}

    def run(self, record: ConnectRecord) -> ConnectRecord | None:
        """The record through every step. Headers are mutable lists, as Connect's are: a
        step adding headers in place (ExtractNewRecordState) changes the list the record came
        with, which Debezium shares between a delete and its tombstone (`EventBuilder` gives
        both one list); a step making a new record copies them."""
        for step in self._steps:
            record = step(record)
            if record is None:
                return None
        return record

    def side(self, topic: str, key: bytes | None, value: bytes | None,
             headers: Headers | None) -> tuple[str, bytes | None, bytes | None, Headers | None] | None:
        """A record written beside the change events (logical decoding message, transaction
        metadata, heartbeat), already in bytes, through the chain: no step pgbridge runs
        changes such a record's key or value (ExtractNewRecordState passes on what is not a
        change event, `schema` None here), only its topic and headers. None: dropped."""
        record = self.run(ConnectRecord(topic, None, key, None, value, list(headers or ())))
        return None if record is None else (record.topic, record.key, record.value, record.headers or None)

    def write(self, record: ConnectRecord) -> tuple[str, bytes | None, bytes | None, Headers]:
        """(topic, key, value, headers) of a record out of the chain, in the converters' bytes
        (a null value with no schema is a tombstone; with one, JsonConverter writes the schema)."""
        topic = record.topic
        key = None if record.key is None and record.key_schema is None else \
            self._writer(topic, KEY, record.key_schema).write(record.key)
        value = None if record.value is None and record.value_schema is None else \
            self._writer(topic, VALUE, record.value_schema).write(record.value)
        return topic, key, value, record.headers

    def _writer(self, topic: str, field: str, schema: Schema | None) -> RecordWriter:
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


def compile_chain(spec: ChainSpec, converters: Converters, headers: HeaderFormat) -> Chain | None:
    return Chain(spec, converters, headers) if spec else None
