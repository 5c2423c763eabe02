"""Temporal conversions. Expected values come from Debezium's AbstractRecordsProducerTest
(schemaAndValuesForDateTimeTypes & co., inserted with '2016-11-04T13:51:30.123456' etc.) and the
rules cited in bridge/convert/values_temporal.py; Java-only constants were checked with java.time."""

import pytest

from bridge.convert.options import ConversionOptions
from bridge.convert.types import BUILTIN_TYPES
from bridge.convert.values import ColumnConverter, converter_for
from bridge.convert.values_temporal import civil_from_days, days_from_civil

TS_US = 1478267490123456  # 2016-11-04T13:51:30.123456Z
DAYS_2016_11_04 = 17109


def conv(oid: int, typmod: int = -1, **options: object) -> ColumnConverter:
    c = converter_for(BUILTIN_TYPES[oid], typmod, ConversionOptions(**options))  # type: ignore[arg-type]
    assert c is not None
    return c


def test_civil_day_arithmetic_round_trips_across_eras():
    for days in (-2_147_472_692, -719_528, -1, 0, 1, 17_109, 2_932_896, 106_751_991):
        assert days_from_civil(*civil_from_days(days)) == days
    assert days_from_civil(1970, 1, 1) == 0 and days_from_civil(0, 3, 1) == -719_468


@pytest.mark.parametrize(
    ("raw", "days"),
    [
        (b"2016-11-04", DAYS_2016_11_04),
        (b"1969-12-31", -1),
        (b"2038-01-20", 24856),
        (b"10000-01-01", 2932897),
        (b"0001-01-01 BC", -719528),  # year 0 (astronomical), LocalDate.of(0, 1, 1)
        (b"infinity", 2146033979),  # golden (3.7): LocalDate +5877611-06-21 (3.6: -5877611-06-21)
        (b"-infinity", -2147472691),  # LocalDate -5877611-06-22 (sic)
    ],
)
def test_date_days_since_epoch(raw, days):
    c = conv(1082)
    assert c.convert(raw) == days
    assert c.schema == {"type": "int32", "optional": False, "name": "io.debezium.time.Date", "version": 1}


def test_date_other_modes():
    iso = conv(1082, time_precision_mode="isostring")
    assert iso.convert(b"2016-11-04") == "2016-11-04Z"
    assert iso.convert(b"0044-03-15 BC") == "-0043-03-15Z"
    assert iso.convert(b"infinity") == "+5877611-06-21Z"  # derived from the int32 value, not captured
    connect = conv(1082, time_precision_mode="connect")
    assert connect.convert(b"2016-11-04") == DAYS_2016_11_04
    assert connect.schema["name"] == "org.apache.kafka.connect.data.Date"


@pytest.mark.parametrize(
    ("typmod", "mode", "raw", "value", "name"),
    [
        (-1, "adaptive", b"13:51:30", 49890000000, "io.debezium.time.MicroTime"),  # ti
        (3, "adaptive", b"13:51:30.123", 49890123, "io.debezium.time.Time"),  # tip
        (-1, "adaptive", b"24:00:00", 86400000000, "io.debezium.time.MicroTime"),  # ttf
        (3, "adaptive_time_microseconds", b"13:51:30.123", 49890123000, "io.debezium.time.MicroTime"),
        (6, "microseconds", b"00:00:00.000001", 1, "io.debezium.time.MicroTime"),
        (6, "nanoseconds", b"00:00:00.000001", 1000, "io.debezium.time.NanoTime"),
        (6, "connect", b"13:51:30.123999", 49890123, "org.apache.kafka.connect.data.Time"),
        (6, "isostring", b"13:51:30.120", "13:51:30.12Z", "io.debezium.time.IsoTime"),
        (6, "isostring", b"24:00:00", "00:00:00Z", "io.debezium.time.IsoTime"),
    ],
)
def test_time(typmod, mode, raw, value, name):
    c = conv(1083, typmod, time_precision_mode=mode)
    assert c.convert(raw) == value
    assert c.schema["name"] == name


@pytest.mark.parametrize(
    ("raw", "value"),
    [
        (b"13:51:30.123789+02", "11:51:30.123789Z"),  # ttz
        (b"13:51:30.123+02", "11:51:30.123Z"),  # tptz
        (b"01:00:00-05:30", "06:30:00Z"),
        (b"01:00:00+02", "23:00:00Z"),  # wraps around midnight like OffsetTime
        (b"12:00:00+00:19:32", "11:40:28Z"),
        # the end of the day at offset zero stays 24:00 (a real Debezium 3.7.0, test_live_defaults)
        (b"24:00:00+00", "24:00:00Z"),
        (b"24:00:00.000+00:00", "24:00:00Z"),
        (b"24:00:00-03", "03:00:00Z"),
        (b"24:00:00+05:30", "18:30:00Z"),
        (b"23:00:00-01", "00:00:00Z"),
        (b"00:00:00+14", "10:00:00Z"),
    ],
)
def test_timetz_is_zoned_time_at_utc(raw, value):
    c = conv(1266)
    assert c.convert(raw) == value
    assert c.schema["name"] == "io.debezium.time.ZonedTime" and c.schema["type"] == "string"


@pytest.mark.parametrize(
    ("typmod", "mode", "raw", "value", "name"),
    [
        (-1, "adaptive", b"2016-11-04 13:51:30.123456", TS_US, "io.debezium.time.MicroTimestamp"),
        (3, "adaptive", b"2016-11-04 13:51:30.123", TS_US // 1000, "io.debezium.time.Timestamp"),
        (-1, "adaptive", b"1936-10-25 22:10:12.608", -1047174587392000, "io.debezium.time.MicroTimestamp"),
        (-1, "adaptive", b"21016-11-04 13:51:30.123457", 601060312290123457, "io.debezium.time.MicroTimestamp"),
        (-1, "adaptive", b"294247-01-01 23:59:59.999999", 9223371331200000000 - 1, "io.debezium.time.MicroTimestamp"),
        (-1, "adaptive", b"4713-12-31 23:59:59.999999 BC", -210831897600000001, "io.debezium.time.MicroTimestamp"),
        # golden (3.7) tm id 6/7: Long.MAX/MIN for micros, pgjdbc's millisecond constants x1000 for millis
        (-1, "adaptive", b"infinity", 2**63 - 1, "io.debezium.time.MicroTimestamp"),
        (-1, "adaptive", b"-infinity", -(2**63), "io.debezium.time.MicroTimestamp"),
        (2, "adaptive", b"infinity", 9223372036825200000, "io.debezium.time.Timestamp"),
        (0, "adaptive", b"-infinity", -9223372036832400000, "io.debezium.time.Timestamp"),
        (-1, "connect", b"infinity", 9223372036825200000, "org.apache.kafka.connect.data.Timestamp"),
        # golden tm id 5: beyond int64 micros Java saturates the seconds, then wraps the add
        (-1, "adaptive", b"294276-12-31 23:59:59.999999", -9223372036853775810, "io.debezium.time.MicroTimestamp"),
        (2, "adaptive", b"1969-12-31 23:59:59.99", -10, "io.debezium.time.Timestamp"),
        (-1, "connect", b"1969-12-31 23:59:59.999999", -1, "org.apache.kafka.connect.data.Timestamp"),
        (3, "microseconds", b"2016-11-04 13:51:30.123", TS_US - 456, "io.debezium.time.MicroTimestamp"),
        (-1, "nanoseconds", b"2016-11-04 13:51:30.123456", TS_US * 1000, "io.debezium.time.NanoTimestamp"),
        (-1, "nanoseconds", b"infinity", 2**63 - 1, "io.debezium.time.NanoTimestamp"),
        (-1, "nanoseconds", b"3000-01-01 00:00:00", None, "io.debezium.time.NanoTimestamp"),  # out of int64
        (-1, "isostring", b"2016-11-04 13:51:30.120", "2016-11-04T13:51:30.12Z", "io.debezium.time.IsoTimestamp"),
        # a real Debezium 3.7.0 (test_live_defaults): pgjdbc's millisecond constants as milliseconds
        (-1, "isostring", b"infinity", "+292278994-08-16T23:00:00Z", "io.debezium.time.IsoTimestamp"),
        (3, "isostring", b"-infinity", "-292275055-05-16T23:00:00Z", "io.debezium.time.IsoTimestamp"),
    ],
)
def test_timestamp(typmod, mode, raw, value, name):
    c = conv(1114, typmod, time_precision_mode=mode)
    assert c.convert(raw) == value
    assert c.schema["name"] == name


@pytest.mark.parametrize(
    ("typmod", "raw", "value"),
    [
        (-1, b"2016-11-04 13:51:30.123456+02", "2016-11-04T11:51:30.123456Z"),  # tz
        (-1, b"2016-11-04 13:51:30+00", "2016-11-04T13:51:30.000000Z"),  # 6 digits always
        (-1, b"2016-11-04 13:51:30.5+00", "2016-11-04T13:51:30.500000Z"),
        (3, b"2016-11-04 13:51:30.5+00", "2016-11-04T13:51:30.500Z"),
        (0, b"2016-11-04 13:51:30+00", "2016-11-04T13:51:30Z"),
        (-1, b"21016-11-04 13:51:30.123456+07", "+21016-11-04T06:51:30.123456Z"),  # tz_large
        (-1, b"21016-11-04 13:51:30+07", "+21016-11-04T06:51:30.000000Z"),  # tz_zero
        (-1, b"294247-01-01 23:59:59.999999+00", "+294247-01-01T23:59:59.999999Z"),  # tz_max
        (-1, b"4714-12-31 23:59:59.999999+00 BC", "-4713-12-31T23:59:59.999999Z"),  # tz_min
        (-1, b"1900-01-01 00:00:00+00:19:32", "1899-12-31T23:40:28.000000Z"),  # LMT offsets
        (-1, b"2000-01-01 00:30:00-05:30", "2000-01-01T06:00:00.000000Z"),
        (-1, b"infinity", "infinity"),
        (-1, b"-infinity", "-infinity"),
    ],
)
def test_timestamptz_is_zoned_timestamp(typmod, raw, value):
    c = conv(1184, typmod)
    assert c.convert(raw) == value
    assert c.schema == {"type": "string", "optional": False, "name": "io.debezium.time.ZonedTimestamp", "version": 1}


@pytest.mark.parametrize(
    ("raw", "micros", "iso"),
    [
        # AbstractRecordsProducerTest: 'P1Y2M3DT4H5M6.78S' -> durationMicros(1,2,3,4,5,6.78, 365.25/12)
        (b"1 year 2 mons 3 days 04:05:06.78", 37091106780000, "P1Y2M3DT4H5M6.78S"),
        (b"00:00:00", 0, "P0Y0M0DT0H0M0S"),
        (b"-1 days +02:03:00", -79_020_000_000, "P0Y0M-1DT2H3M0S"),
        (b"-00:00:01.5", -1_500_000, "P0Y0M0DT0H0M-1.5S"),
        (b"1 mon", 2_629_800_000_000, "P0Y1M0DT0H0M0S"),  # a month is 30.4375 days
        (b"100:00:00.000001", 360_000_000_001, "P0Y0M0DT100H0M0.000001S"),
    ],
)
def test_interval(raw, micros, iso):
    numeric = conv(1186)
    assert numeric.convert(raw) == micros
    assert numeric.schema["name"] == "io.debezium.time.MicroDuration"
    string = conv(1186, interval_handling_mode="string")
    assert string.convert(raw) == iso
    assert string.schema["name"] == "io.debezium.time.Interval"
