"""The type families the sink round trips cover, with edge values: (column type, SQL literals),
one row per literal. Shared by the in-process round trip (test_sink_roundtrip.py) and the Avro
pipeline (test_sink_avro.py). Types `mood` (an enum 'sad', 'ok', 'happy') and `price` (a domain
over numeric(10,2)) and the hstore, ltree and citext extensions are the tests' to create
(`FAMILY_TYPES`)."""

from __future__ import annotations

FAMILY_EXTENSIONS = ("hstore", "ltree", "citext")
FAMILY_TYPES = ("CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy')", "CREATE DOMAIN price AS numeric(10,2)")

# NULL where a column has fewer literals than the table has rows
NUMBERS = [
    ("smallint", ["-32768", "32767", "0"]),
    ("integer", ["-2147483648", "2147483647"]),
    ("bigint", ["9223372036854775807", "-9223372036854775808"]),
    ("oid", ["4000000000", "0"]),
    ("real", ["3.3", "'NaN'", "'-Infinity'", "1.17549435e-38", "3.4028235e38", "-0"]),
    ("double precision", ["0.1", "1e10", "'Infinity'", "'NaN'", "4.9e-324", "-0", "0.30000000000000004"]),
    ("boolean", ["true", "false"]),
]
DECIMALS_EXACT = [  # beyond a double: precise and string modes
    ("numeric(38,10)", ["1234567890123456789012345678.0123456789", "-0.0000000001"]),
    ("numeric(1000,500)", ["-" + "9" * 500 + "." + "1" * 500]),
    ("numeric", ["12345678901234567890.123456789", "-0.000001", "1e3", "0"]),
    ("money", ["92233720368547758.07", "-92233720368547758.08"]),
]
DECIMALS = [  # exact in every decimal mode
    ("numeric(12,2)", ["1234.5", "-0.05", "0", "-1234.5"]),
    ("numeric", ["1.5", "-2", "1e3"]),
    ("money", ["1234.11", "-1234.11", "0", "12345678.9"]),
    ("price", ["3.3", "-12.25"]),
]
DECIMALS_SPECIAL = [("numeric", ["'NaN'", "'Infinity'", "'-Infinity'", "1.25"])]  # string mode
STRINGS = [
    ("text", ["'a\"b\\c ☃ {x,y} NULL'", "''", "'NULL'", "' lead and trail '", "E'tab\\t, line\\n, cr\\r'", "'\\N'"]),
    ("char(6)", ["'ab'", "'\"q\"'"]),
    ('"char"', ["'x'", "'\\'"]),
    ("varchar(10)", ["''", "'ž\"\\'"]),
    ("json", ["""'{"bar": "baz", "n": [1, 2.50]}'""", "'[]'"]),
    ("jsonb", ["""'{"b": 1, "a": [true, null]}'""", "'\"s\"'"]),
    ("xml", ["'<foo a=\"1\">bar &amp; baz</foo>'"]),
    ("uuid", ["'A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11'"]),
    ("inet", ["'192.168.2.0/12'", "'::1'", "'10.0.0.1'"]),
    ("cidr", ["'192.168.100.128/25'"]),
    ("macaddr", ["'08-00-2b-01-02-03'"]),
    ("macaddr8", ["'08:00:2b:01:02:03:04:05'"]),
    ("tsrange", ["'[2019-03-31 15:30:00, infinity)'", "'empty'"]),
    ("tstzrange", ["'[2019-03-31 15:30:00+02, 2019-04-01 00:00:00+00)'"]),
    ("daterange", ["'[2019-03-31, 2019-04-30)'"]),
    ("int4range", ["'[1000,6000)'"]),
    ("int8range", ["'(,5]'"]),
    ("numrange", ["'[5.3,6.3)'"]),
    ("tsvector", ["'b a a''s'"]),
    ("ltree", ["'Top.Science.Astronomy'"]),
    ("citext", ["'MiXeD'"]),
    ("mood", ["'ok'", "'happy'"]),
]
BINARY = [
    ("bytea", ["'\\x010203'::bytea", "'\\x'::bytea", "'\\x00ff5c22'::bytea"]),
    ("bytea[]", ["array['\\x000102'::bytea, NULL, '\\x5c22'::bytea]"]),
]
BITS = [
    ("bit(1)", ["B'1'", "B'0'"]),
    ("bit(7)", ["B'1000000'", "B'0000001'"]),
    ("bit(24)", ["B'000000110000001000000001'", "B'000000000000000000000000'"]),
    ("varbit", ["B'101'", "B'1'", "B''"]),
    ("varbit(5)", ["B'11'"]),
    ("varbit(1)", ["B'0'"]),
]
DATES = [
    ("date", ["'2016-11-04'", "'1969-12-31'", "'0044-03-15 BC'", "'infinity'", "'-infinity'", "'2024-02-29'",
              "'10000-01-01'", "'4713-01-01 BC'"]),
    ("timestamp(3)", ["'2016-11-04 13:51:30.123'", "'infinity'", "'-infinity'", "'1900-02-28 23:59:59.999'"]),
    ("time(3)", ["'13:51:30.123'", "'24:00:00'", "'00:00:00'"]),
    ("timestamptz", ["'2016-11-04 13:51:30.123456+02'", "'21016-11-04 13:51:30+07'", "'infinity'", "'-infinity'",
                     "'4714-12-31 23:59:59.999999+00 BC'", "'0001-01-01 00:00:00+00'"]),
    ("timestamptz(0)", ["'2016-11-04 13:51:30+00'"]),
    ("timetz", ["'13:51:30.123789+00'", "'24:00:00+00'", "'00:00:00+00'"]),
    ("timetz(3)", ["'13:51:30.123+00'"]),
]
MICROS = [  # microsecond values: lost in time.precision.mode=connect
    ("time", ["'13:51:30'", "'24:00:00'", "'00:00:00.000001'", "'23:59:59.999999'"]),
    ("timestamp", ["'2016-11-04 13:51:30.123456'", "'1936-10-25 22:10:12.608'", "'21016-11-04 13:51:30.123457'",
                   "'infinity'", "'-infinity'", "'4713-12-31 23:59:59.999999 BC'", "'2024-02-29 00:00:00'",
                   "'1969-12-31 23:59:59.999999'"]),
]
INTERVALS = [("interval", ["'04:05:06.78'", "'-00:00:01.5'", "'00:00:00'", "'100:00:00.000001'"])]
INTERVALS_ISO = [("interval", ["'1 year 2 mons 3 days 04:05:06.78'", "'-1 days +02:03:00'", "'-00:00:01.5'",
                               "'-3 years -1 mons'", "'0'"])]
STRUCTURED = [
    ("hstore", ["""'"key4"=>"val4", "key5"=>NULL, "q\\"k"=>"b\\\\s", "e"=>""'""", "''"]),
    ("point", ["'(1,1)'", "'(-1.5,2.25)'", "'(1e300,-0.1)'"]),
    ("line", ["'{1,-1,0}'"]),
    ("lseg", ["'[(0,0),(1,1.5)]'"]),
    ("box", ["'(1,1),(0,0)'"]),
    ("path", ["'[(0,0),(1,1)]'", "'((0,0),(1,1),(2,0))'"]),
    ("polygon", ["'((0,0),(1,1),(2,0))'"]),
    ("circle", ["'<(10,20),10>'"]),
]
ARRAYS = [
    ("int[]", ["'{1,2,NULL}'", "'{}'"]),
    ("bigint[]", ["'{9223372036854775807}'"]),
    ("boolean[]", ["'{t,f,NULL}'"]),
    ("double precision[]", ["'{0.1,NaN,-Infinity}'"]),
    ("text[]", ["""'{"a b","c\\"d",NULL,"NULL","","x\\\\y","{}",","}'"""]),
    ("varchar[]", ["'{x}'"]),
    ("char(5)[]", ["'{ab,cd}'"]),
    ("numeric(10,2)[]", ["'{1.2,-3.4,NULL}'"]),
    ("date[]", ["'{2016-11-04,0044-03-15 BC,infinity}'"]),
    ("timestamptz[]", ["""'{"2020-04-01 11:51:02+00"}'"""]),
    ("time[]", ["'{00:01:02.123}'"]),
    ("uuid[]", ["'{a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11}'"]),
    ("jsonb[]", ["""array['{"bar": "baz"}', '[1, "\\\\"]']::jsonb[]"""]),
    ("json[]", ["""array['{"a":  1}']::json[]"""]),
    ("inet[]", ["'{10.0.0.1,::1}'"]),
    ("int4range[]", ["""'{"[1,6)","[1,4)"}'"""]),
    ("mood[]", ["'{sad,happy}'"]),
]

DEFAULT = NUMBERS + DECIMALS_EXACT + DECIMALS + STRINGS + BINARY + BITS + DATES + MICROS + INTERVALS + STRUCTURED \
    + ARRAYS
