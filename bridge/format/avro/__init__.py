"""Confluent's AvroConverter (and Apicurio's in its Confluent-compatible mode) as Debezium's
records carry it: Connect schemas translated to Avro as AvroData does (`schema`), Connect values
adapted to what the Avro encoder takes (`values`), schemas registered in a Confluent-API schema
registry (`registry`), records framed as `00 <schema id:4> <Avro binary>` (`converter`)."""
