"""Incremental snapshots through the signal table, while streaming continues (Debezium's
`execute-snapshot` / `stop-snapshot`, DBLog watermarks, `insert_insert` strategy).

A user inserts an `execute-snapshot` row into `signal.data.collection` (`signals`), or sends it
to the signal topic (`kafka_channel`; `channels` has what every signal channel does). The
decoder sees the signal table's Inserts in the stream (the router hands the signal table's rows
to the snapshot before routing them; the signal table's own events are emitted like any table's,
as Debezium does).
The snapshot then reads each table in chunks of `incremental.snapshot.chunk.size` rows in key
order, one chunk at a time, from the decoder's loop (`machine.IncrementalSnapshot.tick`,
between stream reads):

1. insert an open marker `<chunk id>-open` (type `snapshot-window-open`) into the signal table
   and commit it;
2. read the chunk (`WHERE key > last AND key <= max ORDER BY key LIMIT n`, in one REPEATABLE
   READ transaction that also records its `pg_current_snapshot()`, `sql`) into a buffer keyed
   by the routing key;
3. insert and commit the close marker `<chunk id>-close` (`snapshot-window-close`).

The stream then brings, in commit order, the open marker, other changes, the close marker.
Changes of the table in between supersede the buffered rows of their keys (`window`). When the
close marker arrives, the rows left are pushed as `op: "r"` events with `source.snapshot` =
`incremental`, inside the close marker's own transaction (so the ack contract holds: they are
confirmed with that transaction), then the next chunk is read. So per key, a chunk row is never
emitted after a newer change, and changes after the close marker follow it.

Like Debezium: the maximum key is fixed when a table starts, so rows inserted beyond it are left
to the stream; tables without a key are skipped with a warning. A schema change of the table
while a chunk is buffered makes that chunk be read again. Resumed after a restart from the
progress kept in the signal table (`progress`). A signal whose transaction was not yet confirmed
when pgbridge stopped is replayed by the stream; tables it names that the resumed snapshot
already has queued are not queued twice.

Modules: `signals` (signal rows), `channels` and `kafka_channel` (where signals come from),
`window` (the DBLog window of a chunk), `progress` (the persisted progress row), `sql` (chunk
queries, `PostgresDatabase`), `emitter` (what the snapshot needs of the decoder), `reporting`
(its notifications), `machine` (the state machine that ties them), `tables` (what is read).
"""
