"""The transform chain's keys (Kafka Connect's `transforms` and `predicates`).

Connect JSON `transforms*` / `predicates*` arrive as `debezium.transforms*` /
`debezium.predicates*` (`bridge.config.files`). `transforms` lists the aliases in order; each
alias has `.type` (its class), optionally `.predicate` (a predicate alias) and `.negate`, and
its own options; `predicates` lists predicate aliases, each with `.type` and options.

A class pgbridge does not run, an option it does not honour, or an option Debezium 3.x no
longer has (ExtractNewRecordState's `drop.tombstones` and `delete.handling.mode`, removed in
3.0: Debezium ignores them silently, which changes the output a file expects) is refused at
start with one line naming the key — except `drop.tombstones=false`, which asks for what
Debezium 3 does anyway (tombstones kept), so the output is the same.
"""

from __future__ import annotations

from dataclasses import dataclass

from bridge.errors import ConfigError
from bridge.properties import PropertyReader
from bridge.transform.kafka.names import CHECKS as KAFKA_CHECKS
from bridge.transform.kafka.names import OPTIONS as KAFKA_OPTIONS
from bridge.transform import header_to_value, schema_change_filter, scripting

TRANSFORMS = "debezium.transforms"
OUTBOX_PREFIX = "bridge.outbox.message.prefix"  # a table-less outbox (bridge.transform.outbox.messages)
PREDICATES = "debezium.predicates"

UNWRAP = "io.debezium.transforms.ExtractNewRecordState"
REGEX_ROUTER = "org.apache.kafka.connect.transforms.RegexRouter"
TOPIC_NAME_MATCHES = "org.apache.kafka.connect.transforms.predicates.TopicNameMatches"
RECORD_IS_TOMBSTONE = "org.apache.kafka.connect.transforms.predicates.RecordIsTombstone"
HAS_HEADER_KEY = "org.apache.kafka.connect.transforms.predicates.HasHeaderKey"
BY_LOGICAL_TABLE = "io.debezium.transforms.ByLogicalTableRouter"
TO_LOGICAL_TOPIC = "io.debezium.transforms.ToLogicalTopicRouter"
EVENT_ROUTER = "io.debezium.transforms.outbox.EventRouter"
PARTITION_ROUTING = "io.debezium.transforms.partitions.PartitionRouting"
EXTRACT_CHANGED = "io.debezium.transforms.ExtractChangedRecordState"
TIMEZONE_CONVERTER = "io.debezium.transforms.TimezoneConverter"
_CHOICES = {  # option -> its values (Debezium's enums, matched ignoring case)
    "table.op.invalid.behavior": ("warn", "error", "fatal"),
    "table.field.additional.missing": ("error", "ignore"),
    "table.json.payload.null.behavior": ("ignore", "optional_bytes"),
    "table.json.payload.empty.array.behavior": ("ignore", "optional_string"),
}
_LOGICAL_OPTIONS = ("topic.regex", "topic.replacement", "key.enforce.uniqueness", "key.field.name", "key.field.regex",
                    "key.field.replacement", "schema.name.adjustment.mode")

# the options each class honours (those every transform has, `predicate` and `negate`, aside)
_TRANSFORM_OPTIONS = {
    **KAFKA_OPTIONS,  # Kafka's transforms (bridge.transform.kafka.names)
    UNWRAP: ("delete.tombstone.handling.mode", "add.fields", "add.fields.prefix", "add.headers",
             "add.headers.prefix", "route.by.field", "drop.fields.header.name", "drop.fields.from.key",
             "drop.fields.keep.schema.compatible", "replace.null.with.default"),
    REGEX_ROUTER: ("regex", "replacement"),
    BY_LOGICAL_TABLE: (*_LOGICAL_OPTIONS, "logical.table.cache.size", "logical.destination.cache.size"),
    TO_LOGICAL_TOPIC: (*_LOGICAL_OPTIONS, "logical.destination.cache.size"),
    EVENT_ROUTER: ("table.field.event.id", "table.field.event.key", "table.field.event.type",
                   "table.field.event.payload", "table.fields.additional.placement",
                   "table.field.additional.missing", "table.field.event.schema.version", "route.by.field",
                   "route.topic.regex", "route.topic.replacement", "route.tombstone.on.empty.payload",
                   "table.op.invalid.behavior", "table.expand.json.payload", "table.json.payload.null.behavior",
                   "table.json.payload.empty.array.behavior", "tracing.span.context.field", "tracing.operation.name",
                   "tracing.with.context.field.only"),
    PARTITION_ROUTING: ("partition.payload.fields", "partition.topic.num", "partition.hash.function"),
    EXTRACT_CHANGED: ("header.changed.name", "header.unchanged.name"),
    TIMEZONE_CONVERTER: ("converted.timezone", "include.list", "exclude.list"),
    header_to_value.HEADER_TO_VALUE: header_to_value.OPTIONS,
    schema_change_filter.SCHEMA_CHANGE_FILTER: schema_change_filter.OPTIONS,
    **scripting.OPTIONS,  # Filter and ContentBasedRouter, language=python (bridge.transform.scripting)
}
_PREDICATE_OPTIONS = {TOPIC_NAME_MATCHES: ("pattern",), RECORD_IS_TOMBSTONE: (), HAS_HEADER_KEY: ("name",)}
_REMOVED = {
    (UNWRAP, "drop.tombstones"): "removed in Debezium 3.0 (which ignores it): use delete.tombstone.handling.mode",
    (UNWRAP, "delete.handling.mode"): "removed in Debezium 3.0 (which ignores it): use "
                                      "delete.tombstone.handling.mode (rewrite, drop, tombstone, ...)",
}
DELETE_MODES = ("drop", "tombstone", "rewrite", "rewrite-with-tombstone", "delete-to-tombstone")


@dataclass(frozen=True, slots=True)
class PredicateSpec:
    alias: str
    type: str
    options: tuple[tuple[str, str], ...]


@dataclass(frozen=True, slots=True)
class TransformSpec:
    """One step: its class, its options (as read), and the predicate that gates it."""

    alias: str
    type: str
    options: tuple[tuple[str, str], ...]
    predicate: PredicateSpec | None = None
    negate: bool = False

    def option(self, name: str, default: str) -> str:
        return dict(self.options).get(name, default)


@dataclass(frozen=True, slots=True)
class ChainSpec:
    """The chain, in order; empty when no `transforms` is set. `outbox_prefix`: the logical
    decoding messages of that prefix are outbox rows for the chain's EventRouter."""

    steps: tuple[TransformSpec, ...] = ()
    outbox_prefix: str | None = None

    def __bool__(self) -> bool:
        return bool(self.steps)

    def outbox_fields(self) -> tuple[str, str, str]:
        """The EventRouter's event id, key and payload columns (the members an outbox message's
        JSON names them by)."""
        step = next(s for s in self.steps if s.type == EVENT_ROUTER)
        return (step.option("table.field.event.id", "id"), step.option("table.field.event.key", "aggregateid"),
                step.option("table.field.event.payload", "payload"))


NO_CHAIN = ChainSpec()


def _aliases(r: PropertyReader, key: str) -> list[str]:
    raw = r.raw(key) or ""
    return [a.strip() for a in raw.split(",") if a.strip()]


def _options(r: PropertyReader, prefix: str, kind: str, allowed: dict[str, tuple[str, ...]],
             reserved: tuple[str, ...]) -> tuple[str, tuple[tuple[str, str], ...]]:
    """(class, options) of one alias; refuses a class or an option pgbridge does not honour."""
    alias = prefix.rsplit(".", 1)[1]
    found = r.with_prefix(prefix + ".")
    cls = (found.get(prefix + ".type") or "").strip()
    if not cls:
        raise ConfigError(f"{r.label(prefix + '.type')} is missing: the {kind} {alias!r} needs a class")
    if cls not in allowed:
        raise ConfigError(f"{kind} {alias!r} ({r.label(prefix + '.type')}={cls}) is not supported by pgbridge: "
                          f"it runs {', '.join(sorted(allowed))}; remove it or keep Debezium for this connector")
    options = []
    for key, value in found.items():
        name = key[len(prefix) + 1:]
        if name == "type" or name in reserved:
            continue
        why = _REMOVED.get((cls, name))
        if why is not None:
            if (cls, name) == (UNWRAP, "drop.tombstones") and value.strip().lower() == "false":
                continue  # what Debezium 3 does anyway (it keeps tombstones): the same output
            raise ConfigError(f"{r.label(key)} is refused: {why}")
        if name not in allowed[cls]:
            raise ConfigError(f"{r.label(key)} is not an option pgbridge honours for {cls} "
                              f"(it honours: {', '.join(allowed[cls]) or 'none'})")
        options.append((name, value))
    return cls, tuple(options)


def read_chain(r: PropertyReader) -> ChainSpec:
    """The `transforms` chain and the `predicates` its steps name."""
    predicates = {}
    for alias in _aliases(r, PREDICATES):
        cls, options = _options(r, f"{PREDICATES}.{alias}", "predicate", _PREDICATE_OPTIONS, ())
        predicates[alias] = PredicateSpec(alias, cls, options)
    steps = []
    for alias in _aliases(r, TRANSFORMS):
        prefix = f"{TRANSFORMS}.{alias}"
        cls, options = _options(r, prefix, "transform", _TRANSFORM_OPTIONS, ("predicate", "negate"))
        predicate = None
        if (name := (r.raw(prefix + ".predicate") or "").strip()):
            predicate = predicates.get(name)
            if predicate is None:
                raise ConfigError(f"{r.label(prefix + '.predicate')}={name}: no such predicate in "
                                  f"{r.label(PREDICATES)}")
        negate = r.bool(prefix + ".negate", False)
        steps.append(TransformSpec(alias, cls, options, predicate, negate))
        _check(r, prefix, steps[-1])
    outbox = r.raw(OUTBOX_PREFIX)
    if outbox is not None:
        routers = sum(s.type == EVENT_ROUTER for s in steps)
        if not outbox or routers != 1:
            raise ConfigError(f"{r.label(OUTBOX_PREFIX)}={outbox!r}: a table-less outbox needs a message prefix and "
                              f"one {EVENT_ROUTER} in {r.label(TRANSFORMS)} (it has {routers})")
    return ChainSpec(tuple(steps), outbox or None)


def _check_unwrap(r: PropertyReader, prefix: str, step: TransformSpec) -> None:
    mode = step.option("delete.tombstone.handling.mode", "tombstone").strip().lower()
    if mode not in DELETE_MODES:
        raise ConfigError(f"{r.label(prefix + '.delete.tombstone.handling.mode')} is invalid: use one of "
                          f"{', '.join(DELETE_MODES)}")
    for name in ("drop.fields.from.key", "drop.fields.keep.schema.compatible", "replace.null.with.default"):
        r.bool(prefix + "." + name, True)


def _check_regex_router(r: PropertyReader, prefix: str, step: TransformSpec) -> None:
    for name in ("regex", "replacement"):
        if name not in dict(step.options):
            raise ConfigError(f"{r.label(prefix + '.' + name)} is missing: RegexRouter needs it")


def _check_logical_router(r: PropertyReader, prefix: str, step: TransformSpec) -> None:
    """ToLogicalTopicRouter's validation: the regexes and replacement present, the cache size
    an int, the boolean a boolean, the adjustment mode one of its names."""
    options = dict(step.options)
    for name in ("topic.regex", "topic.replacement"):
        if not options.get(name):
            raise ConfigError(f"{r.label(prefix + '.' + name)} is missing: {step.type.rsplit('.', 1)[1]} needs it")
    if options.get("key.field.regex", "").strip() and not options.get("key.field.replacement", "").strip():
        raise ConfigError(f"{r.label(prefix + '.key.field.replacement')} must be non-empty if key.field.regex is set")
    r.bool(prefix + ".key.enforce.uniqueness", True)
    for name in ("logical.table.cache.size", "logical.destination.cache.size"):
        if name in options:
            r.int(prefix + "." + name, 16)
    mode = options.get("schema.name.adjustment.mode", "none").strip().lower()
    if mode not in ("none", "avro", "avro_unicode"):
        raise ConfigError(f"{r.label(prefix + '.schema.name.adjustment.mode')}={mode} is invalid: "
                          "use none, avro or avro_unicode")


def _check_event_router(r: PropertyReader, prefix: str, step: TransformSpec) -> None:
    """EventRouter's validation: its enums, booleans and placements (the regex when compiled)."""
    options = dict(step.options)
    for name, values in _CHOICES.items():
        if name in options and options[name].strip().lower() not in values:
            raise ConfigError(f"{r.label(prefix + '.' + name)}={options[name]} is invalid: use one of {', '.join(values)}")
    for name in ("route.tombstone.on.empty.payload", "table.expand.json.payload", "tracing.with.context.field.only"):
        r.bool(prefix + "." + name, False)
    for entry in options.get("table.fields.additional.placement", "").split(","):
        if entry.strip() and (len(entry.split(":")) not in (2, 3)
                              or entry.split(":")[1].strip().lower() not in ("header", "envelope", "partition")):
            raise ConfigError(f"{r.label(prefix + '.table.fields.additional.placement')}: entry {entry!r} is "
                              "invalid: use column:header|envelope|partition[:alias]")


def _check_partition_routing(r: PropertyReader, prefix: str, step: TransformSpec) -> None:
    """PartitionRouting's validation: the fields listed without empty entries, a positive
    partition count (both required)."""
    fields = step.option("partition.payload.fields", "")
    if not fields.strip() or any(not f.strip() for f in fields.split(",")):
        raise ConfigError(f"{r.label(prefix + '.partition.payload.fields')} is missing or has an empty entry: "
                          "PartitionRouting needs a list of payload fields")
    if "partition.topic.num" not in dict(step.options):
        raise ConfigError(f"{r.label(prefix + '.partition.topic.num')} is missing: PartitionRouting needs it")
    r.int(prefix + ".partition.topic.num", 1, minimum=1, maximum=2**31 - 1)


def _check_timezone(r: PropertyReader, prefix: str, step: TransformSpec) -> None:
    options = dict(step.options)
    if not options.get("converted.timezone", "").strip():
        raise ConfigError(f"{r.label(prefix + '.converted.timezone')} is missing: TimezoneConverter needs it")
    if options.get("include.list", "").strip() and options.get("exclude.list", "").strip():
        raise ConfigError(f"{r.label(prefix + '.include.list')} and {r.label(prefix + '.exclude.list')} are both set: "
                          "TimezoneConverter takes one of them")


# class -> its check of option values, refused at start as Connect refuses them when it
# configures the transform
_CHECKS = {UNWRAP: _check_unwrap, REGEX_ROUTER: _check_regex_router,
           BY_LOGICAL_TABLE: _check_logical_router, TO_LOGICAL_TOPIC: _check_logical_router,
           EVENT_ROUTER: _check_event_router, PARTITION_ROUTING: _check_partition_routing,
           TIMEZONE_CONVERTER: _check_timezone, header_to_value.HEADER_TO_VALUE: header_to_value.check,
           schema_change_filter.SCHEMA_CHANGE_FILTER: schema_change_filter.check,
           **dict.fromkeys(scripting.OPTIONS, scripting.check)}


def _check(r: PropertyReader, prefix: str, step: TransformSpec) -> None:
    check = _CHECKS.get(step.type)
    if check is not None:
        check(r, prefix, step)


_CHECKS.update(KAFKA_CHECKS)  # Kafka's transforms (bridge.transform.kafka.names)
