"""Debezium's TimezoneConverter: the time-based fields of a change event shifted to
`converted.timezone`, as Debezium 3.7 computes them.

- `converted.timezone`: an IANA zone (`Europe/Paris`) or an offset `+hh:mm[:ss]`.
- Without lists every event's `before` and `after` fields of these logical types are converted
  (unless a list names its table or topic): ZonedTimestamp (the instant re-expressed at the
  offset the zone has at the value's *local* date-time, ISO written as Java's
  ISO_OFFSET_DATE_TIME), ZonedTime (at the zone's offset now), MicroTimestamp, NanoTimestamp,
  Timestamp and Kafka's Timestamp (the UTC wall-clock value read as local time in the zone:
  the value minus the zone's offset at that local time). Date and time-of-day types are not.
- `include.list` / `exclude.list` (one of them): `source:<table>[:<field>]`,
  `topic:<topic>[:<field>]` or `<table-or-topic>:<field>` rules (an entry without a prefix
  takes the previous one's); a field is `before.x`, `after.x`, `source.x` or `x` (both rows).
  Included: only the matched event's named fields (or all of them with no field named);
  excluded: every other event wholly, a matched event's fields but those named. `source.ts_ms`
  / `ts_us` / `ts_ns` are converted only when a rule names a source field, and then the other
  way (the instant plus the zone's offset at it).
- Tombstones and records that are not change events pass.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from bridge.convert.schema import Schema
from bridge.errors import ConfigError
from bridge.transform.record import ConnectRecord
from bridge.transform.smt_settings import TransformSpec

_OFFSET = re.compile(r"[+-]\d{2}:\d{2}(:\d{2})?")
_LIST = re.compile(r'\[(source|topic|[".\w\s_]+):([".\w\s_]+(?::[".\w\s_]+)?(?:,|]$))+', re.ASCII)
ZONED_TIMESTAMP, ZONED_TIME = "io.debezium.time.ZonedTimestamp", "io.debezium.time.ZonedTime"
_SCALES = {"io.debezium.time.MicroTimestamp": 1_000_000, "io.debezium.time.NanoTimestamp": 1_000_000_000,
           "io.debezium.time.Timestamp": 1000, "org.apache.kafka.connect.data.Timestamp": 1000}
_SUPPORTED = (ZONED_TIMESTAMP, ZONED_TIME, *_SCALES)
_EPOCHS = {"ts_ms": 1000, "ts_us": 1_000_000, "ts_ns": 1_000_000_000}
_EPOCH = datetime(1970, 1, 1)
ALL, INCLUDE, EXCLUDE = "all", "include", "exclude"


def zone_of(alias: str, name: str) -> tzinfo:
    if _OFFSET.fullmatch(name):
        sign = -1 if name[0] == "-" else 1
        parts = [int(p) for p in name[1:].split(":")]
        return timezone(sign * timedelta(hours=parts[0], minutes=parts[1], seconds=parts[2] if len(parts) > 2 else 0))
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(f"transform {alias!r} (TimezoneConverter): converted.timezone={name!r} is neither a "
                          "geographic time zone (America/Los_Angeles) nor an offset (+08:00)") from None


def parse_rules(alias: str, name: str, raw: str) -> dict[str, dict[str | None, set[str]]]:
    """`include.list` / `exclude.list` as {"topic"|"source"|None: {match name: fields}}."""
    items = [i.strip() for i in raw.split(",") if i.strip()]
    if items and not _LIST.fullmatch("[" + ", ".join(items) + "]"):
        raise ConfigError(f"transform {alias!r} (TimezoneConverter): invalid {name} format: use rules "
                          '"source:<tablename>:<fieldnames>", "topic:<topicname>:<fieldnames>", "<matchname>:<fieldnames>"')
    rules: dict[str, dict[str | None, set[str]]] = {"topic": {}, "source": {}, "": {}}
    prefix = ""
    for item in items:
        parts = item.split(":")
        match, field = (parts[0], None) if len(parts) == 1 else (None, None)
        if 2 <= len(parts) <= 3:
            if parts[0].lower() in ("source", "topic"):
                prefix, match, field = parts[0], parts[1], parts[2] if len(parts) == 3 else None
            else:
                match, field = parts[0], parts[1]
        fields = rules[prefix if prefix in ("topic", "source") else ""].setdefault(match, set())
        if field is not None:
            fields.add(field)
    return rules


class TimezoneConverter:
    def __init__(self, spec: TransformSpec, _headers: object = None) -> None:
        self._zone = zone_of(spec.alias, spec.option("converted.timezone", "").strip())
        include, exclude = spec.option("include.list", ""), spec.option("exclude.list", "")
        self._mode = EXCLUDE if exclude.strip() else INCLUDE if include.strip() else ALL
        self._rules = parse_rules(spec.alias, "exclude.list" if self._mode == EXCLUDE else "include.list",
                                  exclude if self._mode == EXCLUDE else include)
        self._fields: dict[int, tuple[Schema, dict[str, list[tuple[str, str | None]]]]] = {}

    def __call__(self, record: ConnectRecord) -> ConnectRecord:
        envelope, schema = record.value, record.value_schema
        if envelope is None or schema is None or not str(schema.get("name", "")).endswith(".Envelope"):
            return record
        source = envelope.get("source")  # type: ignore[attr-defined]
        table = source.get("table") if isinstance(source, dict) else None
        topic, rules = record.topic, self._rules
        match, fields = self._match(table, topic)
        if self._mode == ALL:
            if topic in rules["topic"] or table in rules["source"] or table in rules[""]:
                return record
            kind = ALL
        elif self._mode == INCLUDE:
            if match is None:
                return record
            kind = INCLUDE if fields else ALL
        else:
            if match is None:
                kind, fields = ALL, set()
            elif fields:
                kind = EXCLUDE
            else:
                return record
        envelope = self._converted(envelope, schema, kind, fields)  # type: ignore[arg-type]
        return record._replace(value=envelope, headers=list(record.headers))

    def _match(self, table: str | None, topic: str) -> tuple[str | None, set[str]]:
        rules = self._rules
        for name, group in ((topic, "topic"), (table, "source"), (topic, ""), (table, "")):
            if name in rules[group]:
                return name, rules[group][name]
        return None, set()

    def _converted(self, envelope: dict, schema: Schema, kind: str, fields: set[str]) -> dict:
        by_struct: dict[str, set[str]] = {"before": set(), "after": set(), "source": set()}
        for field in fields:
            head, dot, rest = field.partition(".")
            if dot and head in by_struct:
                by_struct[head].add(rest)
            else:
                by_struct["before"].add(field)
                by_struct["after"].add(field)
        structs = {f["field"]: f for f in schema["fields"]}
        out = dict(envelope)
        for name in ("before", "after", "source"):
            value = envelope.get(name)
            if value is None or (name == "source" and not by_struct["source"]) or name not in structs:
                continue
            out[name] = self._struct(name, value, structs[name], kind, by_struct[name])
        return out

    def _struct(self, name: str, value: dict, schema: Schema, kind: str, fields: set[str]) -> dict:
        out = dict(value)
        for field in schema.get("fields", ()):
            column, logical = field["field"], field.get("name")
            epoch = name == "source" and column in _EPOCHS
            if logical is None and not epoch:
                continue
            wanted = kind == ALL or (kind == INCLUDE and column in fields) or (kind == EXCLUDE and column not in fields)
            if not wanted or (logical not in _SUPPORTED and not epoch) or out.get(column) is None:
                continue
            out[column] = self._epoch(column, out[column]) if logical is None else self._shift(logical, out[column])
        return out

    def _offset_at_local(self, local: datetime) -> int:
        """Java's `ZoneRules.getOffset(LocalDateTime)` in seconds: in a gap or an overlap, the
        offset before the transition (fold 0)."""
        return int(local.replace(tzinfo=self._zone, fold=0).utcoffset().total_seconds())  # type: ignore[union-attr]

    def _shift(self, logical: str, value: object) -> object:
        if logical == ZONED_TIMESTAMP:
            parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
            offset = self._offset_at_local(parsed.replace(tzinfo=None))
            return _iso(parsed.astimezone(timezone(timedelta(seconds=offset))))
        if logical == ZONED_TIME:
            text = str(value).replace("Z", "+00:00")
            moment = datetime.fromisoformat("1970-01-01T" + text)
            offset = int(datetime.now(self._zone).utcoffset().total_seconds())  # type: ignore[union-attr]
            return _iso(moment.astimezone(timezone(timedelta(seconds=offset))), time_only=True)
        scale = _SCALES[logical]
        local = _EPOCH + timedelta(seconds=value // scale)  # type: ignore[operator]
        return value - self._offset_at_local(local) * scale  # type: ignore[operator]

    def _epoch(self, column: str, value: int) -> int:
        scale = _EPOCHS[column]
        instant = datetime.fromtimestamp(value // scale, timezone.utc)
        return value + int(instant.astimezone(self._zone).utcoffset().total_seconds()) * scale  # type: ignore[union-attr]


def _iso(moment: datetime, time_only: bool = False) -> str:
    """Java's ISO_OFFSET_DATE_TIME / ISO_OFFSET_TIME: seconds always, the fraction without its
    trailing zeros, `Z` for a zero offset, seconds of the offset only when not zero."""
    text = moment.strftime("%H:%M:%S") if time_only else \
        f"{moment.year:04d}-{moment.month:02d}-{moment.day:02d}T{moment.strftime('%H:%M:%S')}"
    if moment.microsecond:
        text += "." + f"{moment.microsecond:06d}".rstrip("0")
    seconds = int(moment.utcoffset().total_seconds())  # type: ignore[union-attr]
    if seconds == 0:
        return text + "Z"
    sign, seconds = ("-", -seconds) if seconds < 0 else ("+", seconds)
    text += f"{sign}{seconds // 3600:02d}:{seconds % 3600 // 60:02d}"
    return text + (f":{seconds % 60:02d}" if seconds % 60 else "")
