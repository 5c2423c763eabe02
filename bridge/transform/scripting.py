"""Debezium's scripting transforms, Filter and ContentBasedRouter, with Python as the language.

Debezium runs them with a JSR 223 engine (`language=jsr223.groovy`, `jsr223.graal.js`...) or a
WebAssembly one (`wasm.chicory`): pgbridge has no JVM, so those are refused at start, naming
the transform and its class. Beyond Debezium, `language=python` runs one Python expression per
record, compiled once (`compile(..., "eval")`) and evaluated with the record's `value`, `key`,
`valueSchema`, `keySchema`, `topic` and `headers` (also `header`, Debezium's name): values are
Connect values (dicts for structs), schemas Connect schemas as JsonConverter writes them
(dicts), `headers` maps each header's name to its `RecordHeader(schema, value)` (the last of a
name, as Debezium's map), the Connect schema and value of the headers pgbridge writes from one
(`bridge.format.headers.ConnectHeader`), else no schema and the header's bytes (a key change's
`__debezium.newkey`/`oldkey`). The expression is trusted code from the configuration file: it
runs with Python's builtins, in the producer processes.

- Filter (`condition`): the record is kept when the expression is True, dropped when False;
  anything else (None included) fails the record, as Debezium's Boolean check does.
- ContentBasedRouter (`topic.expression`): a string is the record's new topic; None keeps it.
- As Debezium's `ScriptingTransformation`: `topic.regex` (the whole topic must match) limits
  the records the step applies to; `null.handling.mode` says what a record with a null value
  (a tombstone) gets: `keep` (default) passes it, `drop` drops it, `evaluate` evaluates it.
- An exception in the expression, or a result of the wrong type, fails the record
  (`TransformFailed`): pgbridge stops, or with errors.tolerance=all skips it, as Connect does.
"""

from __future__ import annotations

import builtins
import re
from types import CodeType
from typing import TYPE_CHECKING, NamedTuple

from bridge.convert.schema import Schema
from bridge.errors import ConfigError
from bridge.format.settings import HeaderFormat
from bridge.properties import PropertyReader
from bridge.transform.kafka.structs import TransformFailed
from bridge.transform.record import ConnectRecord

if TYPE_CHECKING:
    from bridge.transform.smt_settings import TransformSpec

SCRIPTED_FILTER = "io.debezium.transforms.Filter"
CONTENT_ROUTER = "io.debezium.transforms.ContentBasedRouter"
EXPRESSIONS = {SCRIPTED_FILTER: "condition", CONTENT_ROUTER: "topic.expression"}
OPTIONS = {cls: ("topic.regex", "language", expression, "null.handling.mode") for cls, expression in EXPRESSIONS.items()}
PYTHON = "python"
_NULL_MODES = ("keep", "drop", "evaluate")
_HEADER_NAMES = frozenset(("header", "headers"))


class RecordHeader(NamedTuple):
    """A header as an expression sees it (Debezium's `RecordHeader`)."""

    schema: Schema | None
    value: object


def _class_name(cls: str) -> str:
    return cls.rsplit(".", 1)[1]


def _compiled(alias: str, cls: str, expression: str) -> CodeType:
    try:
        return compile(expression, f"<transform {alias} ({_class_name(cls)})>", "eval")
    except SyntaxError as exc:
        raise ConfigError(f"transform {alias!r} ({cls}): {EXPRESSIONS[cls]} is not a Python expression: "
                          f"{exc.msg}") from None


def check(r: PropertyReader, prefix: str, step: TransformSpec) -> None:
    """Debezium's validation of the options, and pgbridge's refusal of the JVM languages."""
    def label(name: str) -> str:
        return r.label(prefix + "." + name)

    language = step.option("language", "").strip()
    if not language:
        raise ConfigError(f"{label('language')} is missing: {_class_name(step.type)} needs it "
                          "(pgbridge runs language=python)")
    if language != PYTHON:
        why = ("runs on the JVM, which pgbridge has not" if language.startswith(("jsr223.", "wasm."))
               else "is not a language Debezium knows (it needs jsr223.<engine> or wasm.<engine>)")
        raise ConfigError(f"transform {step.alias!r} ({step.type}): {label('language')}={language} {why}: "
                          "use language=python (pgbridge) or keep Debezium")
    expression = EXPRESSIONS[step.type]
    if not step.option(expression, "").strip():
        raise ConfigError(f"{label(expression)} is missing: {_class_name(step.type)} needs it")
    _compiled(step.alias, step.type, step.option(expression, ""))
    mode = step.option("null.handling.mode", "keep")
    if mode.strip().lower() not in _NULL_MODES:
        raise ConfigError(f"{label('null.handling.mode')}={mode} is invalid: use one of {', '.join(_NULL_MODES)}")
    try:
        re.compile(step.option("topic.regex", ""))
    except re.error as exc:
        raise ConfigError(f"{label('topic.regex')} is not a valid regular expression: {exc}") from None


def _names(code: CodeType) -> set[str]:
    """Every global name the expression reads, in nested scopes (comprehensions) too."""
    names = set(code.co_names)
    for const in code.co_consts:
        if isinstance(const, CodeType):
            names |= _names(const)
    return names


class Scripted:
    """One scripting step: Filter or ContentBasedRouter over a Python expression."""

    changes_routing = False  # the key stays the table's; a router changes the topic only

    def __init__(self, spec: TransformSpec, _headers: HeaderFormat) -> None:
        self._alias, self._type = spec.alias, spec.type
        self._filter = spec.type == SCRIPTED_FILTER
        self._code = _compiled(spec.alias, spec.type, spec.option(EXPRESSIONS[spec.type], ""))
        self._wants_headers = bool(_names(self._code) & _HEADER_NAMES)  # else no per-record header map
        regex = spec.option("topic.regex", "")
        self._topics = re.compile(regex) if regex else None
        self._nulls = spec.option("null.handling.mode", "keep").strip().lower()

    def __call__(self, record: ConnectRecord) -> ConnectRecord | None:
        if self._topics is not None and self._topics.fullmatch(record.topic) is None:
            return record
        if record.value is None and self._nulls != "evaluate":
            return record if self._nulls == "keep" else None
        result = self._evaluate(record)
        if self._filter:
            if type(result) is not bool:
                raise TransformFailed(f"transform {self._alias!r} ({self._type}): the condition gave {result!r} "
                                      f"for a record of {record.topic}, not True or False")
            return record if result else None
        if result is None:
            return record
        if type(result) is not str:
            raise TransformFailed(f"transform {self._alias!r} ({self._type}): the topic expression gave {result!r} "
                                  f"for a record of {record.topic}, not a string")
        return record._replace(topic=result)  # Connect's newRecord with the same headers object

    def _evaluate(self, record: ConnectRecord) -> object:
        env = {"__builtins__": builtins, "key": record.key, "value": record.value, "keySchema": record.key_schema,
               "valueSchema": record.value_schema, "topic": record.topic}
        if self._wants_headers:
            env["headers"] = env["header"] = {
                h[0]: RecordHeader(h.schema, h.value) if hasattr(h, "schema") else RecordHeader(None, h[1])
                for h in record.headers}
        try:
            return eval(self._code, env)  # trusted code from the configuration file
        except Exception as exc:  # noqa: BLE001 - any failure of the expression fails the record
            raise TransformFailed(f"transform {self._alias!r} ({self._type}): the expression failed on a record "
                                  f"of {record.topic}: {exc!r}") from exc
