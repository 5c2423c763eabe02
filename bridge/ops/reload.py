"""SIGHUP (`systemctl reload`): new Kafka credentials and certificates without restarting the bridge.

The configuration file is read again, with its secrets (config providers, environment), and
compared key by key with the one the pipeline runs on, and so are the contents of the
certificate and key files its Kafka settings name (`*.location`):
- only Kafka client security settings differ (`security.protocol`, `ssl.*`, `sasl.*`, `https.*`
  of the producer properties and of the signal consumer's), or only those files: the new settings
  must first reach and authenticate to the brokers; then the pipeline is drained as on SIGTERM
  (everything handed to Kafka acknowledged, the slot confirmed up to it, never past) and run
  again with them, which re-creates every Kafka client: producers, admin, offsets reader, signal
  consumer. In exactly-once mode the transactional producers get the same transactional ids,
  whose `init_transactions` fences and aborts what was open, and the slot resumes from the last
  committed position.
- any other key differs (topics, formats, transforms, filters, ...): refused with one line
  naming the keys; the pipeline keeps running on the old settings.
- the file does not parse or validate, or the new credentials do not authenticate: one line,
  and the pipeline keeps running on the old settings.
Values are never logged: only key names.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import signal
from typing import Callable, Mapping

from bridge.config import BridgeConfig, ConfigFile, config_from_properties, read_config_file
from bridge.errors import BridgeError
from bridge.kafka.settings import PREFIX as PRODUCER
from bridge.produce.kafka import KafkaWriter
from bridge.snapshot.settings import CONSUMER_PREFIX

log = logging.getLogger("bridge.reload")

# The properties of pgbridge's Kafka clients (Connect's producer.override.* lands in the first).
_CLIENT_PREFIXES = (PRODUCER, CONSUMER_PREFIX)
_SECURITY_NAMES = frozenset({"security.protocol", "enable.ssl.certificate.verification",
                             "enable.sasl.oauthbearer.unsecure.jwt"})
_SECURITY_PREFIXES = ("ssl.", "sasl.", "https.")
_KEEP = "still running on the previous settings"


def is_client_security(key: str) -> bool:
    """A Kafka client's credential, certificate or security setting: what a reload may change."""
    for prefix in _CLIENT_PREFIXES:
        if key.startswith(prefix):
            name = key[len(prefix):]
            return name in _SECURITY_NAMES or name.startswith(_SECURITY_PREFIXES)
    return False


def config_of(file: ConfigFile) -> BridgeConfig:
    """The configuration a file's properties make (refused keys raise `ConfigError`)."""
    return config_from_properties(dict(file.props), file.labels, secrets=file.secrets, connect=file.connect)


def changed_keys(old: Mapping[str, str], new: Mapping[str, str]) -> list[str]:
    """Keys added, removed or given another value, sorted."""
    return sorted(k for k in old.keys() | new.keys() if old.get(k) != new.get(k))


def materials(props: Mapping[str, str]) -> dict[str, str]:
    """{key: digest of the file it names} for the Kafka security settings that name a file: a
    certificate replaced in place is a change though no value is."""
    found = {}
    for key, value in props.items():
        if is_client_security(key) and key.endswith(".location"):
            try:
                with open(value.strip(), "rb") as f:
                    found[key] = hashlib.sha256(f.read()).hexdigest()
            except OSError as exc:
                found[key] = f"unreadable: {exc.strerror}"
    return found


class Reloader:
    """Judges a reload of the configuration file, and hands an accepted one to the supervisor
    (`bridge.wiring`): `pending` is the configuration to run next, `attach` names the running
    pipeline's graceful stop."""

    def __init__(self, path: str, bootstrap_servers: str | None = None, *,
                 check: Callable[[BridgeConfig], None] | None = None) -> None:
        """`check`: proves that a configuration's Kafka settings connect and authenticate
        (raises `BridgeError`); a test may stand in for the brokers."""
        self.path, self._bootstrap = path, bootstrap_servers
        self.file = read_config_file(path, bootstrap_servers)
        self._materials = materials(self.file.props)
        self._check = check or (lambda config: KafkaWriter(config.kafka).check_reachable(config.retry))
        self.pending: BridgeConfig | None = None
        self._drain: Callable[[], None] | None = None
        self._asked = False  # SIGHUP before the event loop ran
        self._task: asyncio.Task | None = None
        self._again = False

    def judge(self) -> BridgeConfig | None:
        """Read the file again: the configuration to run next, or None (the log line says why)."""
        where = f"reload of {self.path}"
        try:
            file = read_config_file(self.path, self._bootstrap)
            config = config_of(file)
        except BridgeError as exc:
            log.error("%s failed: %s; %s", where, exc, _KEEP)
            return None
        changed = changed_keys(self.file.props, file.props)
        refused = [k for k in changed if not is_client_security(k)]
        if refused:
            names = ", ".join(file.labels.get(k) or self.file.labels.get(k) or k for k in refused)
            log.error("%s refused: it changes %s; a reload takes only new Kafka credentials and certificates "
                      "(security.protocol, ssl.*, sasl.*), anything else needs a restart; %s", where, names, _KEEP)
            return None
        new_materials = materials(file.props)
        changed += sorted(k for k in new_materials.keys() | self._materials.keys()
                          if new_materials.get(k) != self._materials.get(k) and k not in changed)
        if not changed:
            log.info("%s: nothing changed", where)
            return None
        try:
            self._check(config)
        except BridgeError as exc:
            log.error("%s refused: with the new settings, %s; %s", where, exc, _KEEP)
            return None
        self.file, self._materials = file, new_materials
        log.info("%s: new Kafka client settings (%s): draining the pipeline to run it with them", where,
                 ", ".join(file.labels.get(k) or k for k in changed))
        return config

    # -- signals: SIGHUP on the supervisor's loop ------------------------------------------------

    def catch_early(self) -> None:
        """Until `install`: a SIGHUP (whose default is to end the process) is remembered."""
        signal.signal(signal.SIGHUP, lambda _sig, _frame: setattr(self, "_asked", True))

    def install(self, loop: asyncio.AbstractEventLoop) -> None:
        loop.add_signal_handler(signal.SIGHUP, self.requested)
        if self._asked:
            self._asked = False
            self.requested()

    def uninstall(self, loop: asyncio.AbstractEventLoop) -> None:
        loop.remove_signal_handler(signal.SIGHUP)

    def requested(self) -> None:
        """SIGHUP: judge the file in a thread (it reads files and may ask the brokers); one more
        SIGHUP meanwhile judges once more after it."""
        if self._task is not None and not self._task.done():
            self._again = True
            return
        self._task = asyncio.get_running_loop().create_task(self._reload())

    async def _reload(self) -> None:
        while True:
            self._again = False
            config = await asyncio.to_thread(self.judge)
            if config is not None:
                self.pending = config
                if self._drain is not None:
                    self._drain()
            if not self._again:
                return

    def attach(self, drain: Callable[[], None] | None) -> None:
        """The running pipeline's graceful stop (None: no pipeline runs); a reload accepted
        before it started stops it at once."""
        self._drain = drain
        if drain is not None and self.pending is not None:
            drain()

    def take(self) -> BridgeConfig | None:
        """The configuration a reload accepted, once."""
        config, self.pending = self.pending, None
        return config
