-- Tables of the Debezium golden capture (deploy/local/debezium/capture_golden.py).
-- Run before the connector starts (its filtered publication lists these tables, and Debezium
-- reads the type catalog at start). One statement per `;`-ended line group, autocommit,
-- exactly as `psql -v ON_ERROR_STOP=1 -f schema.sql` runs it.
DROP SCHEMA IF EXISTS golden CASCADE;
CREATE SCHEMA golden;
CREATE EXTENSION IF NOT EXISTS hstore;
CREATE TYPE golden.mood AS ENUM ('sad', 'ok', 'happy');
CREATE DOMAIN golden.price AS numeric(10,2) CHECK (VALUE >= 0);

-- numbers: ints, floats incl. NaN/Infinity, numeric with and without scale, money, domain
CREATE TABLE golden.num (
    id int PRIMARY KEY,
    i2 smallint, i4 integer, i8 bigint,
    f4 real, f8 double precision,
    n numeric, n102 numeric(10,2), n380 numeric(38,0), n3810 numeric(38,10), n52 numeric(5,2),
    m money, price golden.price, b boolean, o oid
);

-- text-like and document types
CREATE TABLE golden.txt (
    id int PRIMARY KEY,
    t text, vc varchar(20), c char(5), ch "char", nm name,
    by bytea, u uuid, j json, jb jsonb, x xml, tv tsvector, hs hstore, mood golden.mood
);

-- dates and times at precisions 0, 3, 6 and default, with and without time zone
CREATE TABLE golden.tm (
    id int PRIMARY KEY,
    d date,
    t0 time(0), t3 time(3), t6 time(6), t time,
    ttz timetz, ttz3 timetz(3),
    ts0 timestamp(0), ts3 timestamp(3), ts6 timestamp(6), ts timestamp,
    tstz0 timestamptz(0), tstz3 timestamptz(3), tstz6 timestamptz(6), tstz timestamptz,
    iv interval
);

-- network addresses and bit strings
CREATE TABLE golden.net (
    id int PRIMARY KEY,
    ip inet, nw cidr, mac macaddr, mac8 macaddr8,
    b1 bit(1), b8 bit(8), vb varbit(16), vbu varbit
);

-- arrays of several element types
CREATE TABLE golden.arr (
    id int PRIMARY KEY,
    ai int4[], al int8[], at text[], avc varchar(10)[], an numeric[], an2 numeric(6,2)[],
    af float8[], ab bool[], au uuid[], ad date[], atz timestamptz[], ajb jsonb[], amood golden.mood[]
);

-- ranges and geometric types
CREATE TABLE golden.rng_geo (
    id int PRIMARY KEY,
    r4 int4range, r8 int8range, rn numrange, rts tsrange, rtz tstzrange, rd daterange,
    pt point, ln line, ls lseg, bx box, pth path, pg polygon, ci circle
);

-- TOASTed columns stored out of line (EXTERNAL: no compression, so the size decides)
CREATE TABLE golden.toast (
    id int PRIMARY KEY, n int, big_t text, big_b bytea, big_a text[], big_j jsonb
);
ALTER TABLE golden.toast ALTER COLUMN big_t SET STORAGE EXTERNAL;
ALTER TABLE golden.toast ALTER COLUMN big_b SET STORAGE EXTERNAL;
ALTER TABLE golden.toast ALTER COLUMN big_a SET STORAGE EXTERNAL;
ALTER TABLE golden.toast ALTER COLUMN big_j SET STORAGE EXTERNAL;

-- REPLICA IDENTITY FULL: updates and deletes carry the whole old row (incl. a TOASTed one)
CREATE TABLE golden.full_ri (id int PRIMARY KEY, a text, n numeric(5,1), ts timestamptz, big_t text);
ALTER TABLE golden.full_ri ALTER COLUMN big_t SET STORAGE EXTERNAL;
ALTER TABLE golden.full_ri REPLICA IDENTITY FULL;

-- keys: composite primary key (key field order), replica identity index, no key at all
CREATE TABLE golden.pk_multi (b text, a int, v text, PRIMARY KEY (a, b));
CREATE TABLE golden.ri_index (id int NOT NULL, code text NOT NULL, v text);
CREATE UNIQUE INDEX ri_index_code ON golden.ri_index (code);
ALTER TABLE golden.ri_index REPLICA IDENTITY USING INDEX ri_index_code;
CREATE TABLE golden.nokey (a int, b text);

-- small tables for the extra passes (transaction metadata, truncate, key change, messages)
CREATE TABLE golden.small (id int PRIMARY KEY, v text);
CREATE TABLE golden.small2 (id int PRIMARY KEY, v text);
