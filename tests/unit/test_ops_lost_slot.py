"""Lost-slot decisions without servers: the configuration it needs, the signal it sends, and
the one line a start stops with."""

from __future__ import annotations

import json
import re

import pytest

from bridge.config import config_from_properties
from bridge.errors import ConfigError, ExitCode, SlotLost
from bridge.ops import lost_slot
from bridge.source.slots import SlotFacts
from tests.unit.builders import MINIMAL

SIGNAL = {"debezium.source.signal.data.collection": "public.dbz_signal"}


def test_recovery_defaults_to_fail_and_resnapshot_is_read():
    assert config_from_properties(MINIMAL).replication.lost_recovery == "fail"
    config = config_from_properties({**MINIMAL, **SIGNAL, "bridge.slot.lost.recovery": "resnapshot"})
    assert config.replication.lost_recovery == "resnapshot"
    assert "bridge.slot.lost.recovery" in {v.key for v in config.keys.honoured}


@pytest.mark.parametrize("props", [
    {},  # no signal table
    {**SIGNAL, "debezium.source.signal.enabled.channels": "kafka", "debezium.source.signal.kafka.topic": "t",
     "debezium.source.signal.kafka.bootstrap.servers": "k:9092"},  # signals from the table are not read
])
def test_resnapshot_needs_the_signal_tables_channel(props):
    with pytest.raises(ConfigError, match=r"bridge\.slot\.lost\.recovery=resnapshot .*signal\.data\.collection"):
        config_from_properties({**MINIMAL, **props, "bridge.slot.lost.recovery": "resnapshot"})


def test_an_unknown_recovery_is_refused():
    with pytest.raises(ConfigError, match=r"bridge\.slot\.lost\.recovery='later' is invalid"):
        config_from_properties({**MINIMAL, "bridge.slot.lost.recovery": "later"})


def test_the_signal_asks_for_every_table_but_the_signal_table():
    data = json.loads(lost_slot.snapshot_request("public.dbz_signal"))
    assert data["type"] == "incremental" and len(data["data-collections"]) == 1
    pattern = re.compile(data["data-collections"][0])
    assert pattern.fullmatch("public.orders") and pattern.fullmatch("inventory.dbz_signal_old")
    assert not pattern.fullmatch("public.dbz_signal")
    assert len(json.dumps(data)) < 2048  # Debezium's recommended data column


def facts(wal_status: str | None, confirmed: int | None = 0x16B3748) -> SlotFacts:
    return SlotFacts("orders_slot", "logical", "pgoutput", "shop", False, None, confirmed, confirmed, wal_status)


def test_the_lines_say_what_happened_and_what_to_do():
    config = config_from_properties({**MINIMAL, **SIGNAL, "debezium.source.slot.name": "orders_slot"})
    lost = lost_slot._what_happened("orders_slot", facts("lost"), None)
    assert "wal_status=lost" in lost and "0/16B3748" in lost
    assert "pg_drop_replication_slot('orders_slot')" in lost_slot._start_over(config, facts("lost"), None)
    remembered = "its incremental snapshot progress row 'pgbridge-progress-orders_slot' in public.dbz_signal"
    dropped = lost_slot._what_happened("orders_slot", None, remembered)
    assert "does not exist, but pgbridge streamed from it before" in dropped and remembered in dropped
    assert "DELETE FROM public.dbz_signal WHERE id = 'pgbridge-progress-orders_slot'" in \
        lost_slot._start_over(config, None, remembered)
    assert SlotLost("x").exit_code == ExitCode.SLOT_LOST == 11


class FakeSql:
    def close(self) -> None:
        pass


@pytest.mark.parametrize("slot, remembered, recovery, outcome", [
    (facts("reserved"), None, "fail", False),  # streaming as usual
    (None, None, "fail", False),  # nothing remembers a slot: a first start
    (facts("lost"), None, "fail", SlotLost),
    (None, "its exactly-once positions", "fail", SlotLost),
    (facts("lost"), None, "resnapshot", True),
    (None, "its exactly-once positions", "resnapshot", True),
])
def test_check_slot_decides(monkeypatch, slot, remembered, recovery, outcome):
    props = {**MINIMAL, **SIGNAL, "debezium.source.slot.name": "orders_slot", "bridge.slot.lost.recovery": recovery}
    config = config_from_properties(props)
    recovered = []
    monkeypatch.setattr(lost_slot, "connect", lambda pg, retry: FakeSql())
    monkeypatch.setattr(lost_slot, "inspect_slot", lambda sql, name: slot)
    monkeypatch.setattr(lost_slot, "stored_position", lambda sql, cfg, system: remembered)
    monkeypatch.setattr(lost_slot, "resnapshot", lambda sql, cfg, facts, what: recovered.append(what))
    if outcome is SlotLost:
        with pytest.raises(SlotLost, match="bridge.slot.lost.recovery=resnapshot"):
            lost_slot.check_slot(config, "7312")
    else:
        assert lost_slot.check_slot(config, "7312") is outcome
        assert len(recovered) == (1 if outcome else 0)
