-- DML of the Debezium golden capture's type-matrix passes (default.jsonl, alt_modes.jsonl),
-- run after schema.sql and once the connector streams. Every `;`-ended line group is one
-- statement run in autocommit (its own transaction unless inside BEGIN ... COMMIT), exactly
-- as `psql -v ON_ERROR_STOP=1 -f workload.sql` runs it. Literals carry explicit time zones.

-- numbers: zero, maxima, minima, NaN and infinities, tiny and huge, all NULL
INSERT INTO golden.num VALUES (1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, false, 0);
INSERT INTO golden.num VALUES (2, 32767, 2147483647, 9223372036854775807, 3.4028235e38, 1.7976931348623157e308, 12345678901234567890.123456789, 99999999.99, 99999999999999999999999999999999999999, 1234567890123456789012345678.1234567890, 999.99, 92233720368547758.07, 12345678.90, true, 4294967295);
INSERT INTO golden.num VALUES (3, -32768, -2147483648, -9223372036854775808, -1.5, -2.25, -0.000001, -12345678.90, -1, -0.0000000001, -0.01, -92233720368547758.08, 0.01, NULL, 1);
INSERT INTO golden.num (id, f4, f8, n, n102, n52) VALUES (4, 'NaN', 'NaN', 'NaN', 'NaN', 'NaN');
INSERT INTO golden.num (id, f4, f8, n) VALUES (5, 'Infinity', '-Infinity', 'Infinity');
INSERT INTO golden.num (id, f4, f8, n) VALUES (6, '-Infinity', 'Infinity', '-Infinity');
INSERT INTO golden.num (id, f4, f8, n, n3810, n52) VALUES (7, '-0', 4.9e-324, 1e-30, 0.0000000001, 1.005);
INSERT INTO golden.num (id, f4, f8, n) VALUES (8, 1.17549435e-38, 0.1, 1e100);
INSERT INTO golden.num (id) VALUES (9);
UPDATE golden.num SET i4 = i4 + 1, n = 3.14159, m = 1.5, price = 7 WHERE id = 1;
DELETE FROM golden.num WHERE id = 3;

-- text, bytes, documents
INSERT INTO golden.txt VALUES (1, 'plain', 'varchar', 'ab', 'x', 'a_name', '\x00ff10'::bytea, 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '{"b": 1,  "a": [1, 2.50, "x"]}', '{"b": 1,  "a": [1, 2.50, "x"]}', '<a x="1">t &amp; u</a>', 'a fat cat sat on a mat', 'a=>1, "b c"=>"d \"e\"", n=>NULL', 'happy');
INSERT INTO golden.txt VALUES (2, E'unicode é ü 日本 🎉, quote '' " back\\slash\ttab\nnewline', '', '', ' ', '', '\x'::bytea, '00000000-0000-0000-0000-000000000000', 'null', '[]', '<empty/>', '', '', 'sad');
INSERT INTO golden.txt (id) VALUES (3);
UPDATE golden.txt SET t = 'changed', jb = '{"k": {"nested": true}}', mood = 'ok' WHERE id = 1;
DELETE FROM golden.txt WHERE id = 2;

-- dates and times: epoch, typical with fractions, pre-1970, BC, post-2038, extremes, infinities
INSERT INTO golden.tm VALUES (1, '1970-01-01', '00:00:00', '00:00:00', '00:00:00', '00:00:00', '00:00:00+00', '00:00:00+00', '1970-01-01 00:00:00', '1970-01-01 00:00:00', '1970-01-01 00:00:00', '1970-01-01 00:00:00', '1970-01-01 00:00:00+00', '1970-01-01 00:00:00+00', '1970-01-01 00:00:00+00', '1970-01-01 00:00:00+00', '0');
INSERT INTO golden.tm VALUES (2, '2024-02-29', '13:14:15.678', '13:14:15.678912', '13:14:15.678912', '13:14:15.678912', '13:14:15.678912+05:30', '13:14:15.678912-08', '2024-02-29 13:14:15.678912', '2024-02-29 13:14:15.678912', '2024-02-29 13:14:15.678912', '2024-02-29 13:14:15.678912', '2024-02-29 13:14:15.678912+05:30', '2024-02-29 13:14:15.678912+05:30', '2024-02-29 13:14:15.678912+05:30', '2024-02-29 13:14:15.678912-08:00', '1 year 2 months 3 days 04:05:06.789');
INSERT INTO golden.tm VALUES (3, '1969-12-31', '23:59:59', '23:59:59.999', '23:59:59.999999', '24:00:00', '23:59:59.999999+14', '00:00:00.001-14', '1969-12-31 23:59:59', '1969-12-31 23:59:59.999', '1969-12-31 23:59:59.999999', '1900-01-01 00:00:00.000001', '1969-12-31 23:59:59+00', '1969-12-31 23:59:59.999+00', '1969-12-31 23:59:59.999999+00', '1883-11-18 12:00:00+00', '-1 day -02:03:04.5');
INSERT INTO golden.tm VALUES (4, '0044-03-15 BC', '12:00:00', '12:00:00.5', '12:00:00.000001', '12:00:00', '12:00:00-00:30', '12:00:00.5+01', '0044-03-15 12:00:00 BC', '0044-03-15 12:00:00.5 BC', '0001-01-01 00:00:00 BC', '0001-12-31 23:59:59.999999 BC', '0044-03-15 12:00:00+00 BC', '0001-01-01 00:00:00+00', '0001-01-01 00:00:00+00 BC', '0044-03-15 12:00:00+01 BC', '-3 years -2 mons +4 days');
INSERT INTO golden.tm VALUES (5, '2100-01-01', '23:59:59', '23:59:59.999', '23:59:59.999999', '23:59:59.999999', '00:00:00-12', '00:00:00+12', '2038-01-19 03:14:08', '2038-01-19 03:14:08.001', '2038-01-19 03:14:08.000001', '294276-12-31 23:59:59.999999', '2038-01-19 03:14:08+00', '2100-01-01 00:00:00.123+00', '9999-12-31 23:59:59.999999+00', '294276-12-31 23:59:59.999999+00', '1000000 hours');
INSERT INTO golden.tm (id, d, ts0, ts3, ts6, ts, tstz0, tstz3, tstz6, tstz, iv) VALUES (6, 'infinity', 'infinity', 'infinity', 'infinity', 'infinity', 'infinity', 'infinity', 'infinity', 'infinity', '1 mon');
INSERT INTO golden.tm (id, d, ts0, ts3, ts6, ts, tstz0, tstz3, tstz6, tstz, iv) VALUES (7, '-infinity', '-infinity', '-infinity', '-infinity', '-infinity', '-infinity', '-infinity', '-infinity', '-infinity', '-1 mon -1 microsecond');
INSERT INTO golden.tm (id) VALUES (8);
UPDATE golden.tm SET tstz = '2000-01-01 00:00:00+00', iv = '1 year' WHERE id = 1;
DELETE FROM golden.tm WHERE id = 3;

-- network addresses, bit strings
INSERT INTO golden.net VALUES (1, '192.168.100.128/25', '192.168.100.128/25', '08:00:2b:01:02:03', '08:00:2b:01:02:03:04:05', B'1', B'10101010', B'101', B'1111000011110000111');
INSERT INTO golden.net VALUES (2, '2001:db8::1', '2001:db8::/32', 'ff:ff:ff:ff:ff:ff', '08:00:2b:ff:fe:01:02:03', B'0', B'00000001', B'', B'0');
INSERT INTO golden.net VALUES (3, '127.0.0.1', '10.0.0.0/8', NULL, NULL, NULL, B'11111111', B'1111111111111111', B'1');
UPDATE golden.net SET ip = '::1', b8 = B'00000000' WHERE id = 1;
DELETE FROM golden.net WHERE id = 3;

-- arrays: NULL elements, quoting, empty arrays, NULL arrays
INSERT INTO golden.arr VALUES (1, '{1,2,NULL,-3}', '{9223372036854775807}', ARRAY['plain', 'with "quotes"', NULL, 'NULL', '', 'comma,brace{}', 'back\slash', 'space ', 'é日'], '{a,b}', '{1.5,NaN,-2,1e-5}', '{1.50,-0.01}', '{1.5,NaN,Infinity,-0}', '{t,f,NULL}', '{a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11}', '{2024-02-29,1969-12-31}', '{"2024-02-29 13:14:15.678912+05:30"}', ARRAY['{"a": 1}'::jsonb, '[]'], '{sad,happy}');
INSERT INTO golden.arr VALUES (2, '{}', '{}', '{}', '{}', '{}', '{}', '{}', '{}', '{}', '{}', '{}', '{}', '{}');
INSERT INTO golden.arr (id) VALUES (3);
UPDATE golden.arr SET ai = '{7}', at = ARRAY['x'] WHERE id = 1;
DELETE FROM golden.arr WHERE id = 2;

-- ranges (bounded, unbounded, empty, infinity) and geometric types
INSERT INTO golden.rng_geo VALUES (1, '[1,10)', '[-9223372036854775808,9223372036854775807)', '(1.5,2.25]', '[2024-02-29 13:14:15.678912,2024-03-01)', '[2024-02-29 13:14:15.678912+05:30,infinity)', '[2024-02-29,2024-03-01)', '(1.5,-2)', '{1,-1,0}', '[(0,0),(1,1)]', '((1,1),(0,0))', '[(0,0),(1,1),(2,0)]', '((0,0),(1,1),(2,0))', '<(1,2),3>');
INSERT INTO golden.rng_geo VALUES (2, 'empty', '(,5]', '(,)', '(,)', 'empty', '[2024-01-01,)', '(0,0)', '{0,1,-2.5}', '[(-1,-1),(1,1)]', '((0,0),(0,0))', '((0,0),(1,1))', '((0,0),(1,0),(1,1),(0,1))', '<(0,0),0.5>');
INSERT INTO golden.rng_geo (id) VALUES (3);
UPDATE golden.rng_geo SET r4 = '[2,3]', pt = '(3,4)' WHERE id = 1;
DELETE FROM golden.rng_geo WHERE id = 2;

-- TOAST: four out-of-line values; an update leaving them unchanged, one changing one of them
INSERT INTO golden.toast VALUES (1, 0, (SELECT string_agg(md5(i::text), '') FROM generate_series(1, 80) i), (SELECT decode(string_agg(md5(i::text), ''), 'hex') FROM generate_series(1, 160) i), (SELECT array_agg(md5(i::text)) FROM generate_series(1, 80) i), (SELECT jsonb_agg(md5(i::text)) FROM generate_series(1, 80) i));
INSERT INTO golden.toast VALUES (2, 0, 'small', '\x01'::bytea, '{a}', '{}');
UPDATE golden.toast SET n = 1 WHERE id = 1;
UPDATE golden.toast SET n = 2, big_t = 'short now' WHERE id = 1;
UPDATE golden.toast SET n = 1 WHERE id = 2;
DELETE FROM golden.toast WHERE id = 1;

-- REPLICA IDENTITY FULL: whole old rows on update and delete, incl. a TOASTed column
INSERT INTO golden.full_ri VALUES (1, 'one', 1.5, '2024-02-29 13:14:15.678912+00', (SELECT string_agg(md5(i::text), '') FROM generate_series(1, 80) i));
INSERT INTO golden.full_ri VALUES (2, 'two', NULL, NULL, 'short');
UPDATE golden.full_ri SET a = 'uno' WHERE id = 1;
UPDATE golden.full_ri SET n = 2.5 WHERE id = 2;
DELETE FROM golden.full_ri WHERE id = 1;
DELETE FROM golden.full_ri WHERE id = 2;

-- keys: composite primary key, replica identity index, no key (insert only: no identity)
INSERT INTO golden.pk_multi VALUES ('x', 1, 'v1'), ('y', 1, 'v2');
UPDATE golden.pk_multi SET v = 'v1b' WHERE a = 1 AND b = 'x';
DELETE FROM golden.pk_multi WHERE a = 1 AND b = 'y';
INSERT INTO golden.ri_index VALUES (1, 'c1', 'v');
UPDATE golden.ri_index SET v = 'w' WHERE code = 'c1';
DELETE FROM golden.ri_index WHERE code = 'c1';
INSERT INTO golden.nokey VALUES (1, 'no key');

-- one transaction over two tables
BEGIN;
INSERT INTO golden.small VALUES (1, 'a');
INSERT INTO golden.small2 VALUES (1, 'b');
UPDATE golden.small SET v = 'a2' WHERE id = 1;
COMMIT;
