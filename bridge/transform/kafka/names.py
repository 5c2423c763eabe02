"""The Kafka transforms pgbridge runs: their classes, the options each honours, and the checks
of the option values, refused at start with the key named as Connect refuses them when it
configures the transform (or, where Connect would fail every record or silently ignore an
option, with the reason). `bridge.transform.smt_settings` adds these to its tables.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from bridge.errors import ConfigError
from bridge.properties import PropertyReader
from bridge.transform.kafka.cast import parse_spec
from bridge.transform.kafka.dateformat import compile_pattern
from bridge.transform.kafka.extract import field_path
from bridge.transform.kafka.fields import INSERTIONS, insertion, renames
from bridge.transform.kafka.headers import literal
from bridge.transform.kafka.structs import read_bool, read_list
from bridge.transform.kafka.timestamps import PRECISIONS, TARGETS

if TYPE_CHECKING:
    from bridge.transform.smt_settings import TransformSpec

K = "org.apache.kafka.connect.transforms."
INSERT_HEADER, DROP_HEADERS, FILTER, VALUE_TO_KEY = (K + "InsertHeader", K + "DropHeaders", K + "Filter",
                                                     K + "ValueToKey")
TIMESTAMP_ROUTER = K + "TimestampRouter"
_NULL_DEFAULT = ("replace.null.with.default",)
# the families with a $Key and a $Value class, and their options
_SIDED = {
    "HeaderFrom": ("fields", "headers", "operation", *_NULL_DEFAULT),
    "InsertField": (*INSERTIONS, "offset.field", "static.value", *_NULL_DEFAULT),
    "ReplaceField": ("exclude", "include", "renames", "whitelist", "blacklist", *_NULL_DEFAULT),
    "MaskField": ("fields", "replacement", *_NULL_DEFAULT),
    "ExtractField": ("field", "field.syntax.version", *_NULL_DEFAULT),
    "HoistField": ("field",),
    "Cast": ("spec", *_NULL_DEFAULT),
    "TimestampConverter": ("field", "target.type", "format", "unix.precision", *_NULL_DEFAULT),
    "Flatten": ("delimiter",),
    "SetSchemaMetadata": ("schema.name", "schema.version", *_NULL_DEFAULT),
}
OPTIONS: dict[str, tuple[str, ...]] = {
    INSERT_HEADER: ("header", "value.literal"),
    DROP_HEADERS: ("headers",),
    FILTER: (),
    VALUE_TO_KEY: ("fields", *_NULL_DEFAULT),
    TIMESTAMP_ROUTER: ("topic.format", "timestamp.format"),
    **{f"{K}{family}${side}": options for family, options in _SIDED.items() for side in ("Key", "Value")},
}

Check = Callable[[PropertyReader, str, "TransformSpec"], None]


def family(cls: str) -> str:
    """`ReplaceField` of `org.apache.kafka.connect.transforms.ReplaceField$Value`."""
    return cls[len(K):].split("$")[0]


def _given(step: TransformSpec, name: str) -> str | None:
    return dict(step.options).get(name)


def _required(r: PropertyReader, prefix: str, step: TransformSpec, *names: str) -> None:
    for name in names:
        if _given(step, name) is None:
            raise ConfigError(f"{r.label(prefix + '.' + name)} is missing: {family(step.type)} needs it")


def _non_empty_list(r: PropertyReader, prefix: str, step: TransformSpec, name: str) -> list[str]:
    _required(r, prefix, step, name)
    items = read_list(_given(step, name) or "")
    if not items:
        raise ConfigError(f"{r.label(prefix + '.' + name)} is empty: {family(step.type)} needs at least one entry")
    return items


def _booleans(r: PropertyReader, prefix: str, step: TransformSpec) -> None:
    value = _given(step, "replace.null.with.default")
    if value is not None and read_bool(value) is None:
        raise ConfigError(f"{r.label(prefix + '.replace.null.with.default')}={value} is invalid: use true or false")


def _one_of(r: PropertyReader, prefix: str, step: TransformSpec, name: str, allowed: tuple[str, ...],
            default: str | None = None, any_case: bool = False) -> None:
    value = _given(step, name)
    value = default if value is None else value.strip()
    if value is None:
        raise ConfigError(f"{r.label(prefix + '.' + name)} is missing: {family(step.type)} needs it")
    if (value.lower() if any_case else value) not in allowed:
        raise ConfigError(f"{r.label(prefix + '.' + name)}={value} is invalid: use one of {', '.join(allowed)}")


def check_insert_header(r: PropertyReader, prefix: str, step: TransformSpec) -> None:
    _required(r, prefix, step, "header", "value.literal")
    why = literal(_given(step, "value.literal") or "")
    if isinstance(why, str):
        raise ConfigError(f"{r.label(prefix + '.value.literal')} is not supported by pgbridge: {why} "
                          "(pgbridge writes strings, booleans, whole numbers and null); use a plain string")


def check_drop_headers(r: PropertyReader, prefix: str, step: TransformSpec) -> None:
    _non_empty_list(r, prefix, step, "headers")


def check_header_from(r: PropertyReader, prefix: str, step: TransformSpec) -> None:
    fields = _non_empty_list(r, prefix, step, "fields")
    headers = _non_empty_list(r, prefix, step, "headers")
    if len(fields) != len(headers):
        raise ConfigError(f"{r.label(prefix + '.fields')} and {r.label(prefix + '.headers')} must have as many "
                          "entries")
    _one_of(r, prefix, step, "operation", ("move", "copy"))
    _booleans(r, prefix, step)


def check_insert_field(r: PropertyReader, prefix: str, step: TransformSpec) -> None:
    if _given(step, "offset.field"):
        raise ConfigError(f"{r.label(prefix + '.offset.field')} is refused: the offset is a sink record's (Kafka "
                          "Connect fails each source record with it); remove it")
    if not any(_given(step, option) for option in INSERTIONS):
        raise ConfigError(f"{r.label(prefix + '.type')}: InsertField needs a field to insert (topic.field, "
                          "partition.field, timestamp.field or static.field)")
    if _given(step, "static.field") and _given(step, "static.value") is None:
        raise ConfigError(f"{r.label(prefix + '.static.value')} is missing: static.field needs it")
    for option in ("partition.field", "timestamp.field"):
        value = _given(step, option)
        if value and not insertion(value)[1]:
            raise ConfigError(f"{r.label(prefix + '.' + option)}={value} is refused: Debezium's records carry no "
                              f"{option.split('.')[0]}, and Kafka Connect fails each record on a required null "
                              "field; drop the '!' (the field is then null)")
    _booleans(r, prefix, step)


def check_replace_field(r: PropertyReader, prefix: str, step: TransformSpec) -> None:
    for legacy, new in (("whitelist", "include"), ("blacklist", "exclude")):
        if _given(step, legacy) is not None:
            raise ConfigError(f"{r.label(prefix + '.' + legacy)} is refused: removed in Kafka 4.0 (Kafka Connect "
                              f"ignores it, which changes the output a file expects); use {new}")
    if renames(_given(step, "renames") or "") is None:
        raise ConfigError(f"{r.label(prefix + '.renames')} is invalid: use colon-delimited pairs, e.g. foo:bar,abc:xyz")
    _booleans(r, prefix, step)


def check_mask_field(r: PropertyReader, prefix: str, step: TransformSpec) -> None:
    _non_empty_list(r, prefix, step, "fields")
    if _given(step, "replacement") is not None and not (_given(step, "replacement") or "").strip():
        raise ConfigError(f"{r.label(prefix + '.replacement')} is empty: give a non-empty replacement or remove it")
    _booleans(r, prefix, step)


def check_value_to_key(r: PropertyReader, prefix: str, step: TransformSpec) -> None:
    _non_empty_list(r, prefix, step, "fields")
    _booleans(r, prefix, step)


def check_extract_field(r: PropertyReader, prefix: str, step: TransformSpec) -> None:
    _required(r, prefix, step, "field")
    _one_of(r, prefix, step, "field.syntax.version", ("v1", "v2"), "V1", any_case=True)
    field_path(_given(step, "field") or "", step.option("field.syntax.version", "V1").strip())
    _booleans(r, prefix, step)


def check_hoist_field(r: PropertyReader, prefix: str, step: TransformSpec) -> None:
    _required(r, prefix, step, "field")


def check_cast(r: PropertyReader, prefix: str, step: TransformSpec) -> None:
    _required(r, prefix, step, "spec")
    parsed = parse_spec(_given(step, "spec") or "")
    if isinstance(parsed, str):
        raise ConfigError(f"{r.label(prefix + '.spec')} is invalid: {parsed}")
    _booleans(r, prefix, step)


def check_timestamp_converter(r: PropertyReader, prefix: str, step: TransformSpec) -> None:
    _one_of(r, prefix, step, "target.type", TARGETS)
    _one_of(r, prefix, step, "unix.precision", tuple(PRECISIONS), "milliseconds")
    pattern = _given(step, "format") or ""
    if step.option("target.type", "").strip() == "string" and not pattern.strip():
        raise ConfigError(f"{r.label(prefix + '.format')} is missing: TimestampConverter needs it for string "
                          "timestamps")
    if pattern.strip():
        why = compile_pattern(pattern)
        if isinstance(why, str):
            raise ConfigError(f"{r.label(prefix + '.format')} is not supported: {why}")
    _booleans(r, prefix, step)


def check_set_schema_metadata(r: PropertyReader, prefix: str, step: TransformSpec) -> None:
    version = _given(step, "schema.version")
    if version is not None and version.strip():
        try:
            int(version)
        except ValueError:
            raise ConfigError(f"{r.label(prefix + '.schema.version')}={version} is invalid: use an integer") from None
    if _given(step, "schema.name") is None and not (version or "").strip():
        raise ConfigError(f"{r.label(prefix + '.type')}: SetSchemaMetadata needs schema.name or schema.version")
    _booleans(r, prefix, step)


def check_timestamp_router(r: PropertyReader, prefix: str, step: TransformSpec) -> None:
    raise ConfigError(f"{r.label(prefix + '.type')}={step.type} is refused: it names topics by the record's "
                      "timestamp, which Debezium's records do not carry (Kafka Connect fails each with 'Timestamp "
                      "missing on record'); use RegexRouter")


_FAMILY_CHECKS: dict[str, Check] = {
    "HeaderFrom": check_header_from, "InsertField": check_insert_field, "ReplaceField": check_replace_field,
    "MaskField": check_mask_field, "ExtractField": check_extract_field, "HoistField": check_hoist_field,
    "Cast": check_cast, "TimestampConverter": check_timestamp_converter,
    "SetSchemaMetadata": check_set_schema_metadata,
}
CHECKS: dict[str, Check] = {
    INSERT_HEADER: check_insert_header, DROP_HEADERS: check_drop_headers, VALUE_TO_KEY: check_value_to_key,
    TIMESTAMP_ROUTER: check_timestamp_router,
    **{f"{K}{name}${side}": check for name, check in _FAMILY_CHECKS.items() for side in ("Key", "Value")},
}
