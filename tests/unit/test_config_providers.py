"""Secrets from outside the file: Connect config providers, Debezium Server environment overrides
and `${NAME}` expressions; a secret's value never shows in an error or in `bridge check`."""

from __future__ import annotations

import json

import pytest

from bridge import cli
from bridge.config import load_config
from bridge.config.providers import DIRECTORY, ENV, FILE, env_name
from bridge.errors import ConfigError

CONNECTOR = {
    "connector.class": "io.debezium.connector.postgresql.PostgresConnector",
    "database.hostname": "db.example", "database.user": "u", "database.dbname": "inventory",
    "topic.prefix": "shop",
}
SERVER = ("debezium.sink.kafka.producer.bootstrap.servers=k:9092\ndebezium.source.database.hostname=db.example\n"
          "debezium.source.database.user=u\ndebezium.source.database.dbname=inventory\n"
          "debezium.source.topic.prefix=shop\n")


def write_json(tmp_path, config):
    path = tmp_path / "connector.json"
    path.write_text(json.dumps({"name": "c", "config": {**CONNECTOR, **config}}))
    return path


def test_file_directory_and_env_providers_fill_values(tmp_path, monkeypatch):
    # GIVEN a properties file, a directory of secret files and an environment variable
    (tmp_path / "secrets.properties").write_text("db.password=s3cret-file\n")
    (tmp_path / "vault").mkdir()
    (tmp_path / "vault" / "user").write_text("replicator")
    monkeypatch.setenv("PG_PORT", "6543")
    path = write_json(tmp_path, {
        "config.providers": "file,dir,env",
        "config.providers.file.class": FILE, "config.providers.dir.class": DIRECTORY,
        "config.providers.env.class": ENV,
        "database.password": f"${{file:{tmp_path}/secrets.properties:db.password}}",
        "database.user": f"${{dir:{tmp_path}/vault:user}}",
        "database.port": "${env:PG_PORT}",
    })
    # WHEN the bridge reads it THEN each reference holds the provider's value
    cfg = load_config(path, bootstrap_servers="k:9092")
    assert (cfg.postgres.password, cfg.postgres.user, cfg.postgres.port) == ("s3cret-file", "replicator", 6543)
    assert not cfg.keys.refused and not cfg.keys.ignored
    assert {"config.providers", "config.providers.env.class"} <= {v.key for v in cfg.keys.honoured}


@pytest.mark.parametrize("config, message", [
    ({"database.password": "${secretsmanager:prod/db:password}"},
     r"^database\.password refers to config provider 'secretsmanager', which is not declared"),
    ({"config.providers": "aws", "config.providers.aws.class": "com.amazonaws.secretsmanager.AwsConfigProvider"},
     r"^config\.providers\.aws\.class='com\.amazonaws\.secretsmanager\.AwsConfigProvider' is not supported"),
    ({"config.providers": "file"}, r"^config\.providers names 'file' but config\.providers\.file\.class is not set"),
    ({"config.providers": "env", "config.providers.env.class": ENV, "database.password": "${env:NO_SUCH_VAR_X}"},
     r"^database\.password: config provider 'env' has no value for 'NO_SUCH_VAR_X'"),
])
def test_unknown_or_unresolvable_references_are_refused_by_name(tmp_path, config, message):
    with pytest.raises(ConfigError, match=message):
        load_config(write_json(tmp_path, config), bootstrap_servers="k:9092")


def test_allowed_paths_and_env_allowlist_restrict_providers(tmp_path, monkeypatch):
    (tmp_path / "s.properties").write_text("k=v\n")
    path = write_json(tmp_path, {"config.providers": "file", "config.providers.file.class": FILE,
                                 "config.providers.file.param.allowed.paths": "/etc/kafka",
                                 "database.password": f"${{file:{tmp_path}/s.properties:k}}"})
    with pytest.raises(ConfigError, match="outside config.providers.file.param.allowed.paths"):
        load_config(path, bootstrap_servers="k:9092")
    monkeypatch.setenv("SECRET_PW", "x")
    path = write_json(tmp_path, {"config.providers": "env", "config.providers.env.class": ENV,
                                 "config.providers.env.param.allowlist.pattern": "PG_.*",
                                 "database.password": "${env:SECRET_PW}"})
    with pytest.raises(ConfigError, match="has no value for 'SECRET_PW'"):
        load_config(path, bootstrap_servers="k:9092")


def test_debezium_server_environment_overrides_and_adds_keys(tmp_path, monkeypatch):
    path = tmp_path / "application.properties"
    path.write_text(SERVER + "debezium.source.database.port=5432\n")
    monkeypatch.setenv("DEBEZIUM_SOURCE_DATABASE_PORT", "5439")
    monkeypatch.setenv("DEBEZIUM_SOURCE_DATABASE_PASSWORD", "from-env")
    cfg = load_config(path)
    assert (cfg.postgres.port, cfg.postgres.password) == (5439, "from-env")
    assert "DEBEZIUM_SOURCE_DATABASE_PASSWORD (environment)" in [v.key for v in cfg.keys.honoured]
    assert env_name("debezium.source.table.include.list") == "DEBEZIUM_SOURCE_TABLE_INCLUDE_LIST"


def test_debezium_server_expressions_with_defaults(tmp_path, monkeypatch):
    path = tmp_path / "application.properties"
    monkeypatch.setenv("PGPASS_X", "expr-secret")
    monkeypatch.delenv("NO_SUCH_PORT_X", raising=False)
    path.write_text(SERVER + "debezium.source.database.password=${PGPASS_X}\n"
                    "debezium.source.database.port=${NO_SUCH_PORT_X:5433}\n"
                    "debezium.source.slot.name=\\${literal}\n".replace("\\${literal}", "pre_${debezium.source.topic.prefix}"))
    cfg = load_config(path)
    assert (cfg.postgres.password, cfg.postgres.port, cfg.replication.slot_name) == ("expr-secret", 5433, "pre_shop")
    path.write_text(SERVER + "debezium.source.database.password=${NO_SUCH_PW_X}\n")
    with pytest.raises(ConfigError, match=r"^debezium\.source\.database\.password: \$\{NO_SUCH_PW_X\} is neither"):
        load_config(path)


def test_a_secret_never_shows_in_errors_or_check_output(tmp_path, capsys, monkeypatch):
    # GIVEN secrets from a provider, one of them invalid for its key
    monkeypatch.setenv("PG_SECRET_PORT", "hunter2-port")
    monkeypatch.setenv("PG_SECRET_PW", "hunter2-password")
    path = write_json(tmp_path, {"config.providers": "env", "config.providers.env.class": ENV,
                                 "database.port": "${env:PG_SECRET_PORT}", "database.password": "${env:PG_SECRET_PW}"})
    # WHEN the bridge reads it THEN the error names the key, not the value
    with pytest.raises(ConfigError) as error:
        load_config(path, bootstrap_servers="k:9092")
    assert str(error.value) == "database.port=<secret> is not an integer"
    # AND bridge check prints neither secret
    assert cli.main(["check", "-c", str(path), "--bootstrap-servers", "k:9092"]) == ConfigError.exit_code
    monkeypatch.setenv("PG_SECRET_PORT", "5432")
    assert cli.main(["check", "-c", str(path), "--bootstrap-servers", "k:9092"]) == 0
    captured = capsys.readouterr()
    assert "hunter2" not in captured.out + captured.err
    assert "database.password" in captured.out
    # AND the config object's repr (what a traceback or a log of it would print) holds no password
    assert "hunter2" not in repr(load_config(path, bootstrap_servers="k:9092"))


def test_kafka_client_settings_print_without_passwords(tmp_path):
    path = tmp_path / "application.properties"
    path.write_text(SERVER + "debezium.sink.kafka.producer.sasl.password=hunter2-kafka\n"
                    "debezium.sink.kafka.producer.sasl.username=alice\n")
    shown = repr(load_config(path, refuse=False).kafka)
    assert "hunter2" not in shown and "'sasl.password': '<secret>'" in shown and "alice" in shown


def test_debezium_server_writes_provider_references_escaped(tmp_path):
    (tmp_path / "s.properties").write_text("pw=from-provider\n")
    path = tmp_path / "application.properties"
    declare = (f"debezium.source.config.providers=file\n"
               f"debezium.source.config.providers.file.class={FILE}\n")
    path.write_text(SERVER + declare + f"debezium.source.database.password=$${{file:{tmp_path}/s.properties:pw}}\n")
    assert load_config(path).postgres.password == "from-provider"
    # unescaped, MicroProfile would read it as the key "file" with a default: refused
    path.write_text(SERVER + declare + f"debezium.source.database.password=${{file:{tmp_path}/s.properties:pw}}\n")
    with pytest.raises(ConfigError, match=r"write \$\$\{file:\.\.\.\}"):
        load_config(path)
