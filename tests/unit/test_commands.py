"""The command registry and per-section configuration loading."""

from __future__ import annotations

import argparse

import pytest

from bridge import cli
from bridge.commands import COMMANDS, command
from bridge.config import load_config, read_config_file
from bridge.errors import ConfigError
from bridge.source.settings import read_postgres, read_replication


def test_every_registered_command_has_help_arguments_and_main():
    for name in COMMANDS:
        module = command(name)
        assert isinstance(module.HELP, str) and module.HELP
        parser = argparse.ArgumentParser()
        module.add_arguments(parser)
        assert callable(module.main)


def test_the_parser_offers_every_registered_command(capsys):
    with pytest.raises(SystemExit):
        cli.main(["--help"])
    out = capsys.readouterr().out
    for name in COMMANDS:
        assert name in out


def test_check_prints_ok_for_a_valid_file(tmp_path, capsys):
    path = tmp_path / "a.properties"
    path.write_text("debezium.sink.kafka.producer.bootstrap.servers=k:9092\n"
                    "debezium.source.database.hostname=h\ndebezium.source.database.user=u\n"
                    "debezium.source.database.dbname=d\ndebezium.source.topic.prefix=p\n")
    assert cli.main(["check", "-c", str(path)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("honoured (5):\n  debezium.sink.kafka.producer.bootstrap.servers\n")
    assert "ignored (0):\nrefused (0):\n" in out and out.endswith(f"{path}: OK\n")


def test_check_returns_the_config_exit_code_on_a_bad_file(tmp_path):
    path = tmp_path / "a.properties"
    path.write_text("debezium.source.database.hostname=h\n")
    assert cli.main(["check", "-c", str(path)]) == ConfigError.exit_code


def test_a_command_reads_only_the_sections_it_needs(tmp_path):
    # GIVEN a file without Kafka or topic settings (what a slot tool needs is only PostgreSQL)
    path = tmp_path / "slot.properties"
    path.write_text("debezium.source.database.hostname=db\ndebezium.source.database.user=u\n"
                    "debezium.source.database.dbname=d\ndebezium.source.slot.name=s1\n")
    r = read_config_file(path).reader()
    # WHEN only the source sections are read THEN they load, while the whole config would not
    assert read_postgres(r).hostname == "db"
    assert read_replication(r).slot_name == "s1"
    with pytest.raises(ConfigError, match="topic.prefix is required"):
        load_config(path)
