"""date, time, timetz, timestamp, timestamptz and interval: PostgreSQL text -> Debezium values.

Input is the output function's text with DateStyle=ISO and IntervalStyle=postgres (see the GUC
note in values.py). Calendar arithmetic is proleptic Gregorian with astronomical years (1 BC is
year 0), which is what both PostgreSQL and java.time use, so BC and five-digit years convert
exactly; Python's datetime (years 1..9999) is only used as a fast path.

Debezium facts (PostgresValueConverter, JdbcValueConverters, io.debezium.time.*,
TemporalPrecisionMode, pgjdbc PGInterval/PGStatement):
- adaptive: time/timestamp precision (typmod, -1 means 6) <= 3 -> milliseconds, else micros.
- timestamptz -> ZonedTimestamp, ISO-8601 at UTC with exactly `precision` fraction digits
  (precision 0 -> java's ISO_OFFSET_DATE_TIME, i.e. trailing zeros dropped); timetz ->
  ZonedTime at UTC with ISO_OFFSET_TIME (seconds always, fraction without trailing zeros).
- java.time prints years above 9999 with a '+' and years below 0 as '-YYYY'.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date, datetime
from decimal import Decimal

US_PER_DAY = 86_400_000_000
_EPOCH_ORDINAL = 719_163  # date(1970, 1, 1).toordinal()

# Surprising Debezium 3.7 rules (tests/data/debezium), kept on purpose:
# - `timestamp` +-infinity: millisecond fields (Timestamp, connect) get pgjdbc's
#   DATE_POSITIVE/NEGATIVE_INFINITY millisecond constants times 1000 (sic: 9223372036825200000);
#   microsecond and nanosecond fields get Long.MAX_VALUE / Long.MIN_VALUE. (3.6 read the
#   millisecond constant as microseconds: +-9223372036825200 ms, +-...825200000 us.)
#   IsoTimestamp (isostring) prints the constants as the milliseconds they are:
#   "+292278994-08-16T23:00:00Z" and "-292275055-05-16T23:00:00Z".
TS_POS_INF_US = 9_223_372_036_825_200_000  # also the millisecond-mode value, as is
TS_NEG_INF_US = -9_223_372_036_832_400_000
# - a microsecond timestamp beyond the int64 range (year 294247+) is computed as Java does:
#   TimeUnit.SECONDS.toMicros(epochSecond) saturates at Long.MAX/MIN, then the microseconds of
#   the second are added with wrap-around: 294276-12-31 23:59:59.999999 -> -9223372036853775810.
# - `date` +infinity is LocalDate +5877611-06-21 = 2146033979 (3.6 had the year's sign wrong:
#   -5877611-06-21 = -2147472692) and -infinity is LocalDate -5877611-06-22 = -2147472691.
# - `timestamptz` +-infinity is the plain string "infinity" / "-infinity".


def days_from_civil(y: int, m: int, d: int) -> int:
    """Days since 1970-01-01 of a proleptic Gregorian date (astronomical year)."""
    y -= m <= 2
    era = y // 400
    yoe = y - era * 400
    doy = (153 * (m + (-3 if m > 2 else 9)) + 2) // 5 + d - 1
    return era * 146_097 + yoe * 365 + yoe // 4 - yoe // 100 + doy - 719_468


def civil_from_days(z: int) -> tuple[int, int, int]:
    """Inverse of days_from_civil."""
    z += 719_468
    era = z // 146_097
    doe = z - era * 146_097
    yoe = (doe - doe // 1460 + doe // 36_524 - doe // 146_096) // 365
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    d = doy - (153 * mp + 2) // 5 + 1
    m = mp + 3 if mp < 10 else mp - 9
    return yoe + era * 400 + (m <= 2), m, d


DATE_POS_INF_DAYS = days_from_civil(5_877_611, 6, 21)  # 2146033979
DATE_NEG_INF_DAYS = days_from_civil(-5_877_611, 6, 22)


def _iso_year(y: int) -> str:
    if y > 9999:
        return f"+{y}"
    return f"{y:04d}" if y >= 0 else f"-{-y:04d}"


def _iso_date(days: int) -> str:
    y, m, d = civil_from_days(days)
    return f"{_iso_year(y)}-{m:02d}-{d:02d}"


def _fraction(us: int, width: int) -> str:
    """java.time fraction: exactly `width` digits, or width 0 = minimal digits (none if zero)."""
    digits = f"{us:06d}"
    if width == 0:
        digits = digits.rstrip("0")
        return "." + digits if digits else ""
    return "." + (digits + "000")[:width]


def _iso_time(us_of_day: int, width: int) -> str:
    s, us = divmod(us_of_day, 1_000_000)
    return f"{s // 3600:02d}:{s // 60 % 60:02d}:{s % 60:02d}{_fraction(us, width)}"


def iso_datetime_utc(epoch_us: int, width: int) -> str:
    days, us_of_day = divmod(epoch_us, US_PER_DAY)
    return f"{_iso_date(days)}T{_iso_time(us_of_day, width)}Z"


# --- parsing -------------------------------------------------------------------------------


def _parse_date(s: str) -> int:
    """'2016-11-04', '10000-01-01', '0044-03-15 BC' -> days since epoch."""
    bc = s.endswith(" BC")
    if bc:
        s = s[:-3]
    y, m, d = s.split("-")
    year = 1 - int(y) if bc else int(y)
    return days_from_civil(year, int(m), int(d))


def _parse_time_us(s: str) -> int:
    """'13:51:30[.123456]' -> microseconds since midnight (24:00:00 allowed)."""
    hh, mm, rest = s.split(":")
    sec, _, frac = rest.partition(".")
    return ((int(hh) * 60 + int(mm)) * 60 + int(sec)) * 1_000_000 + int((frac + "00000")[:6] or 0)


def _split_offset(s: str) -> tuple[str, int]:
    """'13:51:30.5+05:30' -> ('13:51:30.5', 19800); the offset starts at the first sign after hh."""
    i = max(s.rfind("+"), s.rfind("-"))
    sign = -1 if s[i] == "-" else 1
    parts = s[i + 1 :].split(":")
    secs = int(parts[0]) * 3600 + (int(parts[1]) * 60 if len(parts) > 1 else 0)
    secs += int(parts[2]) if len(parts) > 2 else 0
    return s[:i], sign * secs


def parse_timestamp_us(s: str) -> int:
    """timestamp text ('2016-11-04 13:51:30.123456', '... BC') -> epoch microseconds."""
    if len(s) >= 19 and s[4] == "-" and s[-3:] != " BC":
        d = datetime.fromisoformat(s)
        days = d.toordinal() - _EPOCH_ORDINAL
        return days * US_PER_DAY + ((d.hour * 60 + d.minute) * 60 + d.second) * 1_000_000 + d.microsecond
    bc = s.endswith(" BC")
    if bc:
        s = s[:-3]
    day, _, clock = s.partition(" ")
    return _parse_date(day + " BC" if bc else day) * US_PER_DAY + _parse_time_us(clock)


def parse_timestamptz_us(s: str) -> int:
    """timestamptz text ('2016-11-04 13:51:30.123456+02', '... +00:19:32', '... +00 BC')."""
    bc = s.endswith(" BC")
    if bc:
        s = s[:-3]
    day, _, clock = s.partition(" ")
    clock, offset = _split_offset(clock)
    local = _parse_date(day + " BC" if bc else day) * US_PER_DAY + _parse_time_us(clock)
    return local - offset * 1_000_000


# --- converters (factories run once per column; the returned callables run per value) -------

Convert = Callable[[bytes], object]
_LONG_MIN, _LONG_MAX = -(2**63), 2**63 - 1


def date_converter(mode: str) -> Convert:
    if mode == "isostring":
        special_iso = {b"infinity": DATE_POS_INF_DAYS, b"-infinity": DATE_NEG_INF_DAYS}

        def to_iso(raw: bytes) -> object:
            days = special_iso.get(raw)
            return _iso_date(_parse_date(raw.decode()) if days is None else days) + "Z"

        return to_iso
    special = {b"infinity": DATE_POS_INF_DAYS, b"-infinity": DATE_NEG_INF_DAYS}
    fromisoformat, ordinal = date.fromisoformat, _EPOCH_ORDINAL

    def to_days(raw: bytes) -> object:
        if len(raw) == 10:
            return fromisoformat(raw.decode()).toordinal() - ordinal
        days = special.get(raw)
        return _parse_date(raw.decode()) if days is None else days

    return to_days


# A snapshot reads dates through JDBC (java.sql.Date, then toLocalDate()), not as text: the era
# is lost (0044-03-15 BC becomes 0044-03-15) and pgjdbc's infinity sentinels (Long.MAX/MIN-ish
# milliseconds) land on odd days: +292278994-08-16 and +292269055-12-02, which the epoch-day
# fields cast to int. Values of a real Debezium 3.7.0 snapshot (JVM zone UTC),
# tests/integration/test_live_parity.py and test_live_defaults.py.
_SNAPSHOT_POS_INF = days_from_civil(292_278_994, 8, 16)
_SNAPSHOT_NEG_INF = days_from_civil(292_269_055, 12, 2)
SNAPSHOT_DATE_POS_INF_DAYS = (_SNAPSHOT_POS_INF + 2**31) % 2**32 - 2**31  # -622191234
SNAPSHOT_DATE_NEG_INF_DAYS = (_SNAPSHOT_NEG_INF + 2**31) % 2**32 - 2**31  # -625821272


def snapshot_date_converter(mode: str) -> Convert:
    """date read by Debezium's snapshot, in every time.precision.mode."""
    if mode == "isostring":
        special_iso = {b"infinity": _SNAPSHOT_POS_INF, b"-infinity": _SNAPSHOT_NEG_INF}

        def to_iso(raw: bytes) -> object:
            days = special_iso.get(raw)
            return _iso_date(_parse_date(raw.decode().removesuffix(" BC")) if days is None else days) + "Z"

        return to_iso
    special = {b"infinity": SNAPSHOT_DATE_POS_INF_DAYS, b"-infinity": SNAPSHOT_DATE_NEG_INF_DAYS}
    fromisoformat, ordinal = date.fromisoformat, _EPOCH_ORDINAL

    def to_days(raw: bytes) -> object:
        if len(raw) == 10:
            return fromisoformat(raw.decode()).toordinal() - ordinal
        days = special.get(raw)
        if days is not None:
            return days
        return _parse_date(raw.decode().removesuffix(" BC"))

    return to_days


def time_converter(mode: str, precision: int) -> Convert:
    """time without time zone; `precision` is the column's (6 when unspecified)."""
    if mode == "isostring":
        # IsoTime: LocalTime(0,0).plus(duration), so 24:00:00 wraps to 00:00:00
        return lambda raw: _iso_time(_parse_time_us(raw.decode()) % US_PER_DAY, 0) + "Z"
    if mode == "nanoseconds":
        return lambda raw: _parse_time_us(raw.decode()) * 1000
    if mode == "connect" or (mode == "adaptive" and precision <= 3):
        return lambda raw: _parse_time_us(raw.decode()) // 1000
    return lambda raw: _parse_time_us(raw.decode())


# PostgresTimeBoundary: the end of the day at UTC stays 24:00:00 (OffsetTime cannot hold it)
_TIMETZ_END_OF_DAY_AT_UTC = re.compile(rb"24:00:00(?:\.0{1,6})?(?:Z|[+-]00(?::?00)?)")


def timetz_converter() -> Convert:
    """timetz -> ZonedTime: shifted to UTC, wrapped into one day (OffsetTime semantics), except
    '24:00:00' at offset zero, which is "24:00:00Z" (any other offset wraps: '24:00:00-03' is
    "03:00:00Z", '23:00:00-01' is "00:00:00Z")."""
    end_of_day = _TIMETZ_END_OF_DAY_AT_UTC.fullmatch

    def convert(raw: bytes) -> object:
        if raw[0] == 50 and end_of_day(raw):  # '2'
            return "24:00:00Z"
        clock, offset = _split_offset(raw.decode())
        us = (_parse_time_us(clock) - offset * 1_000_000) % US_PER_DAY
        return _iso_time(us, 0) + "Z"

    return convert


def timestamp_converter(mode: str, precision: int) -> Convert:
    """timestamp without time zone -> Timestamp/MicroTimestamp/NanoTimestamp/IsoTimestamp."""
    parse = parse_timestamp_us
    if mode == "isostring":
        # pgjdbc's infinity milliseconds, as milliseconds: +292278994-08-16T23:00:00Z
        special_iso = {b"infinity": TS_POS_INF_US * 1000, b"-infinity": TS_NEG_INF_US * 1000}

        def to_iso(raw: bytes) -> object:
            us = special_iso.get(raw)
            return iso_datetime_utc(parse(raw.decode()) if us is None else us, 0)

        return to_iso
    if mode == "nanoseconds" or (mode.startswith("adaptive") and precision > 6):
        return _nanos_timestamp
    if mode == "connect" or (mode.startswith("adaptive") and precision <= 3):
        special_ms = {b"infinity": TS_POS_INF_US, b"-infinity": TS_NEG_INF_US}

        def to_ms(raw: bytes) -> object:
            ms = special_ms.get(raw)
            return parse(raw.decode()) // 1000 if ms is None else ms

        return to_ms
    special_us = {b"infinity": _LONG_MAX, b"-infinity": _LONG_MIN}

    def to_us(raw: bytes) -> object:
        us = special_us.get(raw)
        if us is not None:
            return us
        us = parse(raw.decode())
        return us if _LONG_MIN <= us <= _LONG_MAX else java_epoch_micros(us)

    return to_us


def java_epoch_micros(us: int) -> int:
    """Epoch microseconds as Java computes them from an Instant outside the int64 range:
    saturating seconds-to-micros, then a wrapping add of the second's microseconds."""
    seconds, micros = divmod(us, 1_000_000)
    whole = min(max(seconds * 1_000_000, _LONG_MIN), _LONG_MAX)
    return (whole + micros + 2**63) % 2**64 - 2**63


def _nanos_timestamp(raw: bytes) -> object:
    if raw == b"infinity":
        return _LONG_MAX
    if raw == b"-infinity":
        return _LONG_MIN
    ns = parse_timestamp_us(raw.decode()) * 1000
    # NanoTimestamp throws outside the int64 range; Debezium logs it and emits null
    return ns if _LONG_MIN <= ns <= _LONG_MAX else None


def timestamptz_converter(precision: int) -> Convert:
    """timestamptz -> ZonedTimestamp with `precision` fraction digits (0 = minimal)."""
    width = precision if 0 <= precision <= 9 else 0
    pad = "." + "0" * width if width else ""

    full = 23 + width if width else -1  # length of 'YYYY-MM-DD HH:MM:SS.ffffff+00' with all `width` digits

    def convert(raw: bytes) -> object:
        s = raw.decode()
        # fast path: session TimeZone=UTC and a four-digit year AD: reformat the text as is
        if len(s) == full and s[4] == "-" and s[-3:] == "+00":  # every fraction digit there
            return f"{s[:10]}T{s[11:-3]}Z"
        if len(s) >= 22 and s[-3:] == "+00" and s[4] == "-":
            frac = s[19:-3]
            if width:
                frac = (frac + pad[len(frac) :]) if frac else pad
            return f"{s[:10]}T{s[11:19]}{frac}Z"
        if s == "infinity" or s == "-infinity":
            return s
        return iso_datetime_utc(parse_timestamptz_us(s), width)

    return convert


# --- interval ----------------------------------------------------------------------------------

_DAYS_PER_MONTH_AVG = 365.25 / 12.0  # MicroDuration.DAYS_PER_MONTH_AVG


def _java_round(x: float) -> int:
    """java.lang.Math.round(double): floor(x + 0.5)."""
    return int((Decimal(x) + Decimal("0.5")).to_integral_value(rounding="ROUND_FLOOR"))


def parse_interval(s: str) -> tuple[int, int, int, int, int, float]:
    """IntervalStyle=postgres text -> (years, months, days, hours, minutes, seconds) like PGInterval.

    '1 year 2 mons 3 days 04:05:06.78', '-1 days +02:03:00', '-00:00:01.5'. Seconds go through
    PGInterval.setSeconds/getSeconds: round to micros, then whole + micros / 1e6 as a double.
    """
    years = months = days = hours = minutes = 0
    seconds = 0.0
    value: str | None = None
    for token in s.replace("+", " ").split():
        if ":" in token:
            neg = token[0] == "-"
            hh, mm, *rest = token.lstrip("-").split(":")
            h, m, sec = int(hh), int(mm), float(rest[0]) if rest else 0.0
            hours, minutes, seconds = (-h, -m, -sec) if neg else (h, m, sec)
        elif value is None:
            value = token
            continue
        elif token.startswith("year"):
            years = int(value)
        elif token.startswith("mon"):
            months = int(value)
        elif token.startswith("day"):
            days = int(value)
        value = None
    total = _java_round(seconds * 1_000_000)
    whole = -(-total // 1_000_000) if total < 0 else total // 1_000_000  # java long division
    return years, months, days, hours, minutes, whole + (total - whole * 1_000_000) / 1_000_000


def micro_duration(parts: tuple[int, int, int, int, int, float]) -> int:
    """MicroDuration.durationMicros: a month is 365.25/12 days, computed in doubles (sic)."""
    years, months, days, hours, minutes, seconds = parts
    n_days = (years * 12 + months) * _DAYS_PER_MONTH_AVG + days
    n_seconds = (((n_days * 24 + hours) * 60) + minutes) * 60 + seconds
    return int(n_seconds * 1e6)  # java (long) cast: truncation toward zero


def iso_interval(parts: tuple[int, int, int, int, int, float]) -> str:
    """io.debezium.time.Interval.toIsoString with BigDecimal.valueOf(double) seconds."""
    years, months, days, hours, minutes, seconds = parts
    sec = Decimal(repr(seconds))  # Double.toString: shortest repr, as Python's
    if int(sec.as_tuple().exponent) < -9:
        sec = sec.quantize(Decimal("1e-9"), rounding="ROUND_DOWN")
    text = format(sec.normalize(), "f") if sec else "0"
    return f"P{years}Y{months}M{days}DT{hours}H{minutes}M{text}S"


def interval_converter(mode: str) -> Convert:
    if mode == "string":
        return lambda raw: iso_interval(parse_interval(raw.decode()))
    return lambda raw: micro_duration(parse_interval(raw.decode()))
