"""Record formats: how a Connect value becomes the bytes of a Kafka record's key or value.

A `Converter` (`converter.py`, Kafka Connect's `key.converter` / `value.converter`) prepares a
`Writer` once per (topic, key|value) from the Connect schema (`bridge.convert.schema`); event
building hands the writer Connect values (`bridge.convert.values` converters return them) and
takes its pieces for the templates of the hot paths. JSON (`json.py`, Kafka's JsonConverter with
Jackson's spelling, `jackson.py`) is the templated format; StringConverter (`tostring.py`, Java's
`toString()`) and Debezium's CloudEventsConverter (`cloudevents.py`) write whole Connect values
on the general path. `settings.py` reads which converter each side uses; `source.py` is
Debezium's `source` block, written once for both the dict and the template forms.
"""
