"""PostgreSQL type resolution: OID -> `TypeInfo`, cached, built-ins without a query.

pgoutput's Relation message gives each column's type OID and atttypmod only. Built-in OIDs are
fixed across installations (the static table below, from PostgreSQL 15's pg_catalog); anything
else (domains, enums, user arrays, extension types such as hstore, citext, ltree, PostGIS) has a
per-database OID and is read from pg_type once, over an ordinary (non-replication) connection.
Extension types are recognised by name, like Debezium's TypeRegistry does.
"""

from __future__ import annotations

import enum
import logging
from dataclasses import dataclass
from typing import Any, Protocol

log = logging.getLogger(__name__)


class TypeKind(enum.Enum):
    """pg_type.typtype, with arrays (typcategory 'A') split out of base types."""

    BASE = "b"
    ARRAY = "a"
    DOMAIN = "d"
    ENUM = "e"
    RANGE = "r"
    MULTIRANGE = "m"
    COMPOSITE = "c"
    PSEUDO = "p"


@dataclass(frozen=True, slots=True)
class TypeInfo:
    oid: int
    name: str  # pg_type.typname: 'int4', '_int4', 'hstore', ...
    namespace: str = "pg_catalog"
    kind: TypeKind = TypeKind.BASE
    element: TypeInfo | None = None  # arrays: the element type
    base: TypeInfo | None = None  # domains: the type the domain is declared over
    typmod: int = -1  # domains: pg_type.typtypmod, e.g. numeric(10,2) of the domain
    enum_labels: tuple[str, ...] = ()  # enums: labels ordered by enumsortorder

    @property
    def root(self) -> TypeInfo:
        """The type at the bottom of a domain chain (the type itself for non-domains)."""
        t = self
        while t.base is not None:
            t = t.base
        return t

    def effective_typmod(self, column_typmod: int) -> int:
        """The typmod that sizes the column: the column's own, else the nearest domain's.

        Debezium (ColumnMetaData/PostgresType.getDefaultLength) uses a domain's typtypmod when the
        attribute has none, so `CREATE DOMAIN money2 AS numeric(10,2)` keeps precision 10, scale 2.
        """
        if column_typmod != -1:
            return column_typmod
        t: TypeInfo | None = self
        while t is not None and t.kind is TypeKind.DOMAIN:
            if t.typmod != -1:
                return t.typmod
            t = t.base
        return -1


# (oid, typname, kind, element oid) of the built-ins pgbridge converts or must recognise.
_BUILTINS: tuple[tuple[int, str, str, int], ...] = (
    (16, "bool", "b", 0), (17, "bytea", "b", 0), (18, "char", "b", 0), (19, "name", "b", 0),
    (20, "int8", "b", 0), (21, "int2", "b", 0), (23, "int4", "b", 0), (25, "text", "b", 0),
    (26, "oid", "b", 0), (114, "json", "b", 0), (142, "xml", "b", 0), (143, "_xml", "a", 142),
    (199, "_json", "a", 114), (600, "point", "b", 0), (601, "lseg", "b", 0), (602, "path", "b", 0),
    (603, "box", "b", 0), (604, "polygon", "b", 0), (628, "line", "b", 0), (650, "cidr", "b", 0),
    (651, "_cidr", "a", 650), (700, "float4", "b", 0), (701, "float8", "b", 0),
    (718, "circle", "b", 0), (774, "macaddr8", "b", 0), (775, "_macaddr8", "a", 774),
    (790, "money", "b", 0), (791, "_money", "a", 790), (829, "macaddr", "b", 0),
    (869, "inet", "b", 0), (1000, "_bool", "a", 16), (1001, "_bytea", "a", 17),
    (1002, "_char", "a", 18), (1003, "_name", "a", 19), (1005, "_int2", "a", 21),
    (1007, "_int4", "a", 23), (1009, "_text", "a", 25), (1014, "_bpchar", "a", 1042),
    (1015, "_varchar", "a", 1043), (1016, "_int8", "a", 20), (1017, "_point", "a", 600),
    (1021, "_float4", "a", 700), (1022, "_float8", "a", 701), (1028, "_oid", "a", 26),
    (1040, "_macaddr", "a", 829), (1041, "_inet", "a", 869), (1042, "bpchar", "b", 0),
    (1043, "varchar", "b", 0), (1082, "date", "b", 0), (1083, "time", "b", 0),
    (1114, "timestamp", "b", 0), (1115, "_timestamp", "a", 1114), (1182, "_date", "a", 1082),
    (1183, "_time", "a", 1083), (1184, "timestamptz", "b", 0), (1185, "_timestamptz", "a", 1184),
    (1186, "interval", "b", 0), (1187, "_interval", "a", 1186), (1231, "_numeric", "a", 1700),
    (1266, "timetz", "b", 0), (1270, "_timetz", "a", 1266), (1560, "bit", "b", 0),
    (1561, "_bit", "a", 1560), (1562, "varbit", "b", 0), (1563, "_varbit", "a", 1562),
    (1700, "numeric", "b", 0), (1790, "refcursor", "b", 0), (2201, "_refcursor", "a", 1790),
    (2950, "uuid", "b", 0), (2951, "_uuid", "a", 2950), (3220, "pg_lsn", "b", 0),
    (3614, "tsvector", "b", 0), (3615, "tsquery", "b", 0), (3643, "_tsvector", "a", 3614),
    (3802, "jsonb", "b", 0), (3807, "_jsonb", "a", 3802), (3904, "int4range", "r", 0),
    (3905, "_int4range", "a", 3904), (3906, "numrange", "r", 0), (3907, "_numrange", "a", 3906),
    (3908, "tsrange", "r", 0), (3909, "_tsrange", "a", 3908), (3910, "tstzrange", "r", 0),
    (3911, "_tstzrange", "a", 3910), (3912, "daterange", "r", 0), (3913, "_daterange", "a", 3912),
    (3926, "int8range", "r", 0), (3927, "_int8range", "a", 3926),
)


def _builtin_table() -> dict[int, TypeInfo]:
    table = {oid: TypeInfo(oid, name, kind=TypeKind(kind)) for oid, name, kind, _ in _BUILTINS if kind != "a"}
    for oid, name, _, elem in _BUILTINS:
        if elem:
            table[oid] = TypeInfo(oid, name, kind=TypeKind.ARRAY, element=table[elem])
    return table


BUILTIN_TYPES: dict[int, TypeInfo] = _builtin_table()

_TYPE_QUERY = """
SELECT t.typname, n.nspname, t.typtype, t.typcategory, t.typelem, t.typbasetype, t.typtypmod,
       ARRAY(SELECT e.enumlabel FROM pg_catalog.pg_enum e
             WHERE e.enumtypid = t.oid ORDER BY e.enumsortorder)
FROM pg_catalog.pg_type t JOIN pg_catalog.pg_namespace n ON n.oid = t.typnamespace
WHERE t.oid = %s
"""


class _Connection(Protocol):
    def cursor(self) -> Any: ...


class TypeRegistry:
    """Resolves type OIDs to `TypeInfo`, querying pg_type at most once per OID.

    `conn` is an ordinary psycopg2 connection (autocommit recommended); it is only used for
    OIDs outside the built-in table. Call `invalidate()` when a Relation message announces a
    type change (ALTER TYPE ... ADD VALUE changes an enum's labels).
    """

    def __init__(self, conn: _Connection | None = None) -> None:
        self._conn = conn
        self._cache: dict[int, TypeInfo] = dict(BUILTIN_TYPES)

    def get(self, oid: int) -> TypeInfo:
        info = self._cache.get(oid)
        if info is None:
            info = self._cache[oid] = self._load(oid)
        return info

    def invalidate(self, oid: int | None = None) -> None:
        """Forget non-built-in types (all of them, or one OID) so they are read again."""
        if oid is None:
            self._cache = dict(BUILTIN_TYPES)
        elif oid not in BUILTIN_TYPES:
            self._cache.pop(oid, None)

    def _load(self, oid: int) -> TypeInfo:
        if self._conn is None:
            raise LookupError(f"type OID {oid} is not built in and the registry has no connection")
        with self._conn.cursor() as cur:
            cur.execute(_TYPE_QUERY, (oid,))
            row = cur.fetchone()
        if row is None:
            # Dropped since the change was written (DROP TYPE after the transaction): there
            # is nothing left to describe it, so it is treated like any unknown type.
            log.warning("type OID %d no longer exists in pg_type; treating it as an unknown type", oid)
            return TypeInfo(oid, f"oid_{oid}", "")
        name, namespace, typtype, category, elem, basetype, typmod, labels = row
        kind = TypeKind.ARRAY if category == "A" and elem else TypeKind(typtype)
        return TypeInfo(
            oid,
            name,
            namespace,
            kind,
            element=self.get(elem) if kind is TypeKind.ARRAY else None,
            base=self.get(basetype) if kind is TypeKind.DOMAIN else None,
            typmod=typmod if kind is TypeKind.DOMAIN else -1,
            enum_labels=tuple(labels or ()),
        )
