"""The pgoutput protocol: its messages, their parser and the relation cache. No I/O, no
Debezium: both processes use it (the decoder to route, the producers to convert)."""
