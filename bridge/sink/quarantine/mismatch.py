"""Which refused records are schema mismatches (quarantined) and which are not (dead-lettered).

A schema mismatch is a record that is well formed but that the target table, as it stands,
cannot take: fixing the target (add the column, widen the type) and replaying it is the cure.
- the sink's own refusals of a missing table or column (`SchemaMismatch`: schema.evolution=none,
  or a required field basic evolution cannot add);
- a value its target column's type refuses while decoding (`ValueNotDecoded` at TASK_PUT);
- PostgreSQL's refusals by SQLSTATE: 42703 undefined_column, 42804 datatype_mismatch, and the
  data exceptions 22P02 invalid_text_representation, 22003 numeric_value_out_of_range, 22007
  invalid_datetime_format, 22008 datetime_field_overflow, 22001 string_data_right_truncation.
Everything else stays a dead letter: records that cannot be read (converter stages), constraint
violations (class 23: the data, not the schema, is at odds with the target), other errors.
"""

from __future__ import annotations

import psycopg2.errorcodes
import psycopg2.errors

from bridge.sink.records import RecordRefused
from bridge.sink.values.errors import ValueNotDecoded

SQLSTATES = ("42703", "42804", "22P02", "22003", "22007", "22008", "22001")
# psycopg2 raises each SQLSTATE as its own class: {class: its condition name, lower case}
_CLASSES = {psycopg2.errors.lookup(code): psycopg2.errorcodes.lookup(code).lower() for code in SQLSTATES}


class SchemaMismatch(RecordRefused):
    """The target has no table or column for what the record holds (`reason` names which)."""

    def __init__(self, message: str, reason: str) -> None:
        super().__init__(message, "TASK_PUT")
        self.reason = reason


def mismatch_reason(error: RecordRefused) -> str | None:
    """The schema mismatch `error` is (a short snake_case name for the header), None when it is not one."""
    if isinstance(error, SchemaMismatch):
        return error.reason
    cause = error.cause
    name = _CLASSES.get(type(cause))
    if name is not None:
        return name
    if isinstance(cause, ValueNotDecoded) and error.stage == "TASK_PUT":
        return "value_not_decoded"
    return None
