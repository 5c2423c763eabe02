"""`bridge check` on configurations shaped like the ones people publish for the Debezium
PostgreSQL connector (tests/data/configs): what is honoured, refused and ignored, and the exit."""

from __future__ import annotations

from pathlib import Path

import pytest

from bridge import cli

CONFIGS = Path(__file__).resolve().parents[1] / "data" / "configs"

# file -> (exit code, refused keys, ignored keys, words of the one error a section raised)
EXPECTED = {
    "tutorial-inventory.json": (0, [], [], None),
    "put-body-flat.json": (0, [], ["errors.deadletterqueue.topic.name"], None),
    "connect-standalone.properties": (0, [], [], None),
    "debezium-server.properties": (0, [], ["debezium.source.schema.history.internal",
                                           "debezium.source.schema.history.internal.file.filename"], None),
    "secrets-env-provider.json": (0, [], [], None),
    "cloudevents.properties": (0, [], [], None),
    "string-keys.json": (0, [], [], None),
    "legacy-1x.json": (2, ["table.whitelist"], ["database.server.name", "database.history.kafka.topic"], None),
    "unwrap-smt.json": (0, [], [], None),
    "jdbc-driver-props.properties": (2, ["debezium.source.database.sslfactory",
                                         "debezium.source.database.initial.statements",
                                         "debezium.source.slot.max.retries"], [], None),
    "avro-registry.json": (0, [], [], None),
    "avro-apicurio.properties": (0, [], [], None),
    "msk-sasl-jaas.json": (0, [], [], None),
    "msk-iam.json": (2, None, None, "producer.override.sasl.mechanism=AWS_MSK_IAM is refused: AWS MSK IAM needs the "
                     "pgbridge[msk] extra"),
    "pii-masking.json": (0, [], [], None),
    "masking-hashing-strategy.properties": (2, None, None, "debezium.source.column.mask.hash.hashing.strategy is "
                                            "not a column mapping key Debezium knows"),
    "kafka-signals-notifications.json": (0, [], [], None),
    "topic-creation-errors.json": (0, [], [], None),
    "jmx-channels.properties": (2, None, None, "channel 'jmx' is refused: pgbridge runs no JVM"),
}


def sections(out: str) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    current = None
    for line in out.splitlines():
        if line.startswith("  ") and current is not None:
            found[current].append(line.strip().split(": ")[0])
        elif line.endswith("):") and " (" in line:
            current = line.split(" (")[0]
            found[current] = []
    return found


def test_every_config_file_has_an_expectation():
    assert sorted(p.name for p in CONFIGS.iterdir()) == sorted(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_bridge_check_classifies_published_configurations(name, capsys, caplog, monkeypatch):
    monkeypatch.setenv("PGBRIDGE_TEST_DB_PASSWORD", "from-the-environment")
    code, refused, ignored, error = EXPECTED[name]
    assert cli.main(["check", "-c", str(CONFIGS / name), "--bootstrap-servers", "k:9092"]) == code
    out = capsys.readouterr().out
    if error is not None:
        assert error in caplog.text and out == ""
        return
    got = sections(out)
    assert (got["refused"], got["ignored"]) == (refused, ignored)
    assert "from-the-environment" not in out
    assert out.endswith("OK\n" if code == 0 else f"REFUSED ({len(refused)} key(s))\n")
