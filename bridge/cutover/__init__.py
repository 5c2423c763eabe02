"""Taking over from a running Debezium: its Connect offsets (file or topic), read and decoded,
and the filter that drops what it had already emitted."""
