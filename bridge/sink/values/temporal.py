"""Dates, times, timestamps and intervals: Debezium's encodings -> PostgreSQL input text.

The reverse of bridge/convert/values_temporal.py. Output is PostgreSQL's own ISO spelling
('2016-11-04 13:51:30.5', '0044-03-15 BC', 'infinity'), which its input functions read whatever
the session's DateStyle; astronomical years (1 BC is year 0) become the BC era.
- Epoch days (io.debezium.time.Date, connect Date): the infinity values Debezium streams
  (+5877611-06-21, -5877611-06-22) and those its snapshot writes (JDBC's sentinels cast to int)
  are 'infinity' / '-infinity'.
- Epoch milli/micro/nanoseconds (Timestamp, connect Timestamp / MicroTimestamp / NanoTimestamp):
  the millisecond forms carry pgjdbc's infinity constants, the others Long.MAX/MIN_VALUE.
- Time of day (Time, connect Time, MicroTime, NanoTime): 24:00:00 stays 24:00:00.
- ZonedTimestamp / ZonedTime are ISO-8601 at UTC; java.time writes years above 9999 with '+' and
  years up to 0 as '-YYYY', which PostgreSQL does not read: those are respelled.
- MicroDuration is what Debezium made of the interval with a month of 365.25/12 days: it is
  written back as hours, minutes and seconds (the months and days of the source are not in it).
  Interval (interval.handling.mode=string) is ISO-8601 with designators, which PostgreSQL reads.
- isostring mode (IsoDate, IsoTime, IsoTimestamp) ends its values with 'Z'.
"""

from __future__ import annotations

from collections.abc import Callable

from bridge.convert.values_temporal import (
    DATE_NEG_INF_DAYS,
    DATE_POS_INF_DAYS,
    SNAPSHOT_DATE_NEG_INF_DAYS,
    SNAPSHOT_DATE_POS_INF_DAYS,
    TS_NEG_INF_US,
    TS_POS_INF_US,
    US_PER_DAY,
    civil_from_days,
    days_from_civil,
)

Decode = Callable[[object], str]

_LONG_MAX, _LONG_MIN = 2**63 - 1, -(2**63)
_DATE_INFINITIES = {DATE_POS_INF_DAYS: "infinity", DATE_NEG_INF_DAYS: "-infinity",
                    SNAPSHOT_DATE_POS_INF_DAYS: "infinity", SNAPSHOT_DATE_NEG_INF_DAYS: "-infinity"}
_TS_INFINITIES_MS = {TS_POS_INF_US: "infinity", TS_NEG_INF_US: "-infinity"}  # as Debezium writes them, sic
_TS_INFINITIES = {_LONG_MAX: "infinity", _LONG_MIN: "-infinity"}


def _int(value: object) -> int:
    if type(value) is not int:
        raise ValueError(f"{value!r} is not an integer")
    return value


def _ymd(y: int, m: int, d: int) -> tuple[str, str]:
    """(date text, era suffix) of an astronomical year."""
    if y > 0:
        return f"{y:04d}-{m:02d}-{d:02d}", ""
    return f"{1 - y:04d}-{m:02d}-{d:02d}", " BC"


def time_of_day(us: int) -> str:
    """Microseconds since midnight -> 'HH:MM:SS[.ffffff]' (trailing zeros dropped)."""
    seconds, micros = divmod(us, 1_000_000)
    text = f"{seconds // 3600:02d}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"
    return f"{text}.{micros:06d}".rstrip("0") if micros else text


def date_of_days(value: object) -> str:
    days = _int(value)
    special = _DATE_INFINITIES.get(days)
    if special is not None:
        return special
    text, era = _ymd(*civil_from_days(days))
    return text + era


def timestamp_of_micros(us: int) -> str:
    days, us_of_day = divmod(us, US_PER_DAY)
    text, era = _ymd(*civil_from_days(days))
    return f"{text} {time_of_day(us_of_day)}{era}"


def timestamp(unit: str) -> Decode:
    """Epoch `unit` ("ms", "us" or "ns") -> timestamp text."""
    if unit == "ms":
        return lambda value: _TS_INFINITIES_MS.get(_int(value)) or timestamp_of_micros(value * 1000)  # type: ignore[operator]
    if unit == "ns":
        return lambda value: _TS_INFINITIES.get(_int(value)) or timestamp_of_micros(value // 1000)  # type: ignore[operator]
    return lambda value: _TS_INFINITIES.get(_int(value)) or timestamp_of_micros(value)  # type: ignore[arg-type]


def time(unit: str) -> Decode:
    """Time of day in `unit` ("ms", "us" or "ns") -> time text."""
    factor = {"ms": 1000, "us": 1, "ns": 0}[unit]
    if factor:
        return lambda value: time_of_day(_int(value) * factor)
    return lambda value: time_of_day(_int(value) // 1000)


def _iso_parts(text: str) -> tuple[int, str]:
    """'+21016-11-04T…', '-0043-03-15T…', '2016-11-04T…' -> (astronomical year, the rest from '-MM')."""
    sign = -1 if text[0] == "-" else 1
    body = text[1:] if text[0] in "+-" else text
    year, _, rest = body.partition("-")
    return sign * int(year), "-" + rest


def _iso_date_days(text: str) -> int:
    """'2016-11-04' with java.time's year spelling -> epoch days."""
    year, rest = _iso_parts(text)
    _, m, d = rest.split("-")
    return days_from_civil(year, int(m), int(d))


def zoned_timestamp(value: object) -> str:
    """io.debezium.time.ZonedTimestamp: ISO-8601 ('…Z' from Debezium, any offset read) or ±infinity."""
    text = _string(value)
    if text[0].isdigit() and text[4] == "-" or text[-8:] == "infinity":
        return text  # four-digit years AD and the infinities: PostgreSQL reads them as they are
    year, rest = _iso_parts(text)
    day, _, clock = rest[1:].partition("T")
    if clock.endswith("Z"):
        clock = clock[:-1] + "+00"
    m, d = day.split("-")
    date_text, era = _ymd(year, int(m), int(d))
    return f"{date_text} {clock}{era}"


def zoned_time(value: object) -> str:
    """io.debezium.time.ZonedTime ('11:51:30.123789Z'): PostgreSQL reads it as it is."""
    return _string(value)


def iso_date(value: object) -> str:
    """io.debezium.time.IsoDate ('2016-11-04Z')."""
    return date_of_days(_iso_date_days(_string(value).removesuffix("Z")))


def iso_time(value: object) -> str:
    """io.debezium.time.IsoTime ('13:51:30.5Z')."""
    return _string(value).removesuffix("Z")


def _iso_utc(epoch_ms: int) -> str:
    """java.time's ISO instant of epoch milliseconds (years beyond 9999 signed)."""
    days, ms = divmod(epoch_ms, 86_400_000)
    y, m, d = civil_from_days(days)
    year = f"+{y}" if y > 9999 else (f"{y:04d}" if y >= 0 else f"-{-y:04d}")
    return f"{year}-{m:02d}-{d:02d}T{time_of_day(ms * 1000)}Z"


_ISO_TS_INFINITIES = {_iso_utc(TS_POS_INF_US): "infinity", _iso_utc(TS_NEG_INF_US): "-infinity"}


def iso_timestamp(value: object) -> str:
    """io.debezium.time.IsoTimestamp ('2016-11-04T13:51:30.5Z'); pgjdbc's infinity constants
    (printed as milliseconds: '+292278994-08-16T23:00:00Z') are ±infinity."""
    text = _string(value)
    special = _ISO_TS_INFINITIES.get(text)
    if special is not None:
        return special
    year, rest = _iso_parts(text.removesuffix("Z"))
    day, _, clock = rest[1:].partition("T")
    m, d = day.split("-")
    date_text, era = _ymd(year, int(m), int(d))
    return f"{date_text} {clock}{era}"


def micro_duration(value: object) -> str:
    """io.debezium.time.MicroDuration -> '[-]H:MM:SS[.ffffff]'."""
    us = _int(value)
    sign, us = ("-" if us < 0 else ""), abs(us)
    seconds, micros = divmod(us, 1_000_000)
    text = f"{sign}{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"
    return f"{text}.{micros:06d}".rstrip("0") if micros else text


def _string(value: object) -> str:
    if type(value) is not str or not value:
        raise ValueError(f"{value!r} is not a temporal string")
    return value
