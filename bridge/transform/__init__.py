"""Transformations of the events between conversion and encoding, compiled once per table and
applied in the producers: today Debezium's column masking, hashing and truncation
(`bridge.transform.columns`, configured by `bridge.transform.settings`)."""
