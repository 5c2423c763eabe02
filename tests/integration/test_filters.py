"""Debezium's filter properties against real PostgreSQL and Kafka."""

from __future__ import annotations

from tests.integration.support import consume, wait_until
from tests.integration.support import slot_active


def test_filtered_publication_include_list_and_message_key_columns(pg, bridge_factory, kafka_bootstrap,
                                                                   unique_name):
    keep, skip = f"keep_{unique_name}", f"skip_{unique_name}"
    with pg.cursor() as cur:
        cur.execute(f"CREATE TABLE {keep} (id int PRIMARY KEY, tenant int NOT NULL, v text)")
        cur.execute(f"CREATE TABLE {skip} (id int PRIMARY KEY)")
    # GIVEN publication.autocreate.mode=filtered with an include list and a custom key
    bridge = bridge_factory(unique_name, {
        "debezium.source.publication.autocreate.mode": "filtered",
        "debezium.source.table.include.list": f"public\\.{keep}",
        "debezium.source.message.key.columns": f"public.{keep}:tenant,id",
    })
    bridge.start()
    wait_until(lambda: slot_active(pg, f"{unique_name}_slot"), what="the bridge to start streaming")

    # THEN the publication holds exactly the included table
    with pg.cursor() as cur:
        cur.execute("SELECT tablename FROM pg_publication_tables WHERE pubname = %s", (f"{unique_name}_pub",))
        assert [r[0] for r in cur.fetchall()] == [keep]
        cur.execute(f"INSERT INTO {skip} VALUES (1)")
        cur.execute(f"INSERT INTO {keep} VALUES (1, 7, 'a')")

    # AND events are keyed by message.key.columns, in its order
    events = consume(kafka_bootstrap, f"{unique_name}.public.{keep}", count=1)
    assert events[0].key["payload"] == {"tenant": 7, "id": 1}
    assert [f["field"] for f in events[0].key["schema"]["fields"]] == ["tenant", "id"]
    assert bridge.stop() == 0, bridge.log()

    # WHEN the include list grows, THEN the next start sets the publication's tables to it, as Debezium does
    text = bridge.config_path.read_text()
    bridge.config_path.write_text(text.replace(f"public\\.{keep}\n", f"public\\.{keep},public\\.{skip}\n"))
    bridge.start()
    wait_until(lambda: slot_active(pg, f"{unique_name}_slot"), what="the bridge to stream again")
    with pg.cursor() as cur:
        cur.execute("SELECT tablename FROM pg_publication_tables WHERE pubname = %s ORDER BY 1", (f"{unique_name}_pub",))
        assert [r[0] for r in cur.fetchall()] == sorted([keep, skip])
        cur.execute(f"INSERT INTO {skip} VALUES (2)")
    assert [e.key["payload"]["id"] for e in consume(kafka_bootstrap, f"{unique_name}.public.{skip}", count=1)] == [2]
    assert f"publication {unique_name}_pub updated to the include/exclude lists: added public.{skip}" in bridge.log()
    assert bridge.stop() == 0, bridge.log()


def test_filtered_mode_refuses_an_all_tables_publication(pg, bridge_factory, unique_name):
    with pg.cursor() as cur:
        cur.execute(f'CREATE PUBLICATION "{unique_name}_pub" FOR ALL TABLES')
    bridge = bridge_factory(unique_name, {"debezium.source.publication.autocreate.mode": "filtered",
                                          "debezium.source.table.include.list": "public\\.nothing_here"})
    bridge.start()
    assert bridge.proc.wait(60) == 4, bridge.log()
    assert f"publication '{unique_name}_pub' is FOR ALL TABLES, but publication.autocreate.mode=filtered" in bridge.log()


def test_exclude_list_drops_changes_of_an_all_tables_publication(pg, bridge_factory, kafka_bootstrap, unique_name):
    a, b = f"a_{unique_name}", f"b_{unique_name}"
    with pg.cursor() as cur:
        cur.execute(f"CREATE TABLE {a} (id int PRIMARY KEY)")
        cur.execute(f"CREATE TABLE {b} (id int PRIMARY KEY)")
    bridge = bridge_factory(unique_name, {"debezium.source.table.exclude.list": f"public\\.{b}"})
    bridge.start()
    wait_until(lambda: slot_active(pg, f"{unique_name}_slot"), what="the bridge to start streaming")
    with pg.cursor() as cur:
        cur.execute(f"INSERT INTO {b} VALUES (1)")  # excluded
        cur.execute(f"INSERT INTO {a} VALUES (1)")
        cur.execute(f"INSERT INTO {b} VALUES (2)")  # excluded
        cur.execute(f"INSERT INTO {a} VALUES (2)")
    events = consume(kafka_bootstrap, f"{unique_name}.public.{a}", count=2)
    assert [e.key["payload"]["id"] for e in events] == [1, 2]
    assert bridge.stop() == 0, bridge.log()
    # the excluded table's topic never received anything
    from confluent_kafka.admin import AdminClient
    topics = AdminClient({"bootstrap.servers": kafka_bootstrap}).list_topics(timeout=10).topics
    assert f"{unique_name}.public.{b}" not in topics


def test_column_exclude_list_removes_columns_from_values_and_schemas(pg, bridge_factory, kafka_bootstrap,
                                                                     unique_name):
    table = f"cols_{unique_name}"
    with pg.cursor() as cur:
        cur.execute(f"CREATE TABLE {table} (id int PRIMARY KEY, email text, secret text)")
    bridge = bridge_factory(unique_name, {"debezium.source.column.exclude.list": f"public\\.{table}\\.secret"},
                            tables=[table])
    bridge.start()
    wait_until(lambda: slot_active(pg, f"{unique_name}_slot"), what="the bridge to start streaming")
    with pg.cursor() as cur:
        cur.execute(f"INSERT INTO {table} VALUES (1, 'a@example.com', 'hunter2')")
    (event,) = consume(kafka_bootstrap, f"{unique_name}.public.{table}", count=1)
    assert event.value["payload"]["after"] == {"id": 1, "email": "a@example.com"}
    after_schema = next(f for f in event.value["schema"]["fields"] if f["field"] == "after")
    assert [f["field"] for f in after_schema["fields"]] == ["id", "email"]
    assert bridge.stop() == 0, bridge.log()


def test_topic_names_take_the_delimiter_and_lose_invalid_characters(pg, bridge_factory, kafka_bootstrap, unique_name):
    table = f"Odd Name {unique_name}"
    with pg.cursor() as cur:
        cur.execute(f'CREATE TABLE "{table}" (id int PRIMARY KEY)')
    # GIVEN topic.delimiter=_ and a table whose name has a space and capitals
    bridge = bridge_factory(unique_name, {"debezium.source.topic.delimiter": "_"}, tables=[f'"{table}"'])
    bridge.start()
    wait_until(lambda: slot_active(pg, f"{unique_name}_slot"), what="the bridge to start streaming")
    with pg.cursor() as cur:
        cur.execute(f'INSERT INTO "{table}" VALUES (1)')
    # THEN the topic is <prefix>_public_<table> with the space as "_", and the schemas follow it
    topic = f"{unique_name}_public_{table.replace(' ', '_')}"
    (event,) = consume(kafka_bootstrap, topic, count=1)
    assert event.value["payload"]["source"]["table"] == table  # the real name stays in the source block
    assert event.key["schema"]["name"] == f"{topic}.Key"
    assert event.value["schema"]["name"] == f"{topic}.Envelope"
    assert bridge.stop() == 0, bridge.log()
