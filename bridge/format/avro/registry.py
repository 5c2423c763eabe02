"""A Confluent-API schema registry as the Avro converters use it: an id per (subject, schema),
asked once per process and kept. A producer makes its client when it starts (the key's and the
value's converter share one when their registry settings are the same), not at its first record.

- Registered (`auto.register.schemas=true`): POST the schema under its subject; the registry
  answers the same id for the same schema, so every producer process that registers it gets
  the one id.
- Looked up (`auto.register.schemas=false`): the registry must already hold the schema under
  the subject; if not, the table stops before anything of it is produced, with one error
  naming the subject and the schema's fingerprint (CRC-64-AVRO of its canonical form).
- The latest version (`use.latest.version`, Apicurio's `find-latest`): its id, when it is the
  schema pgbridge would write; another schema is refused (pgbridge writes its own schema only).
- `bridge.registry.compatibility`: set on a subject before its first registration; a subject
  whose own level is another one (a level that differs from the registry's global level) stops
  the table.
- A registry that cannot be reached, times out or answers 5xx/408/429 is retried with
  exponential backoff (`bridge.connect.backoff.*`) for as long as it takes: the producer waits,
  its ring fills, the decoder stops reading, and the slot is not confirmed past what was not
  produced. A certificate that no longer verifies (the registry's changed to one from an unknown
  CA, or expired) is retried only for the connection budget (`bridge.connect.*`), then stops the
  bridge with exit code 3 (`RegistryRefusesTls`): no retry fixes it. Any other answer (409
  incompatible, 422 invalid, 401/403, 404) is final: `SchemaRegistryFailed`, which stops the
  bridge; a refusal of the schema itself (409, 422) is `SchemaIncompatible`, which
  `bridge.registry.incompatible.topic` quarantines instead.
- At start (`check_reachable`, in the parent before anything streams): a registry whose TLS
  certificate does not verify, or that refuses the credentials (401/403), stops the start with
  one line (`ConnectionFailed`, exit 3); one that does not answer yet is left to the retries.
"""

from __future__ import annotations

import json
import logging
import os
import ssl
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar
from urllib.parse import urlsplit, urlunsplit

from confluent_kafka.schema_registry import Schema, SchemaRegistryClient
from confluent_kafka.schema_registry.error import SchemaRegistryError
from fastavro.schema import fingerprint as avro_fingerprint, to_parsing_canonical_form

from bridge.errors import ConnectionFailed, ExitCode, SchemaRegistryFailed
from bridge.format.avro.settings import AvroSpec

try:  # the HTTP client confluent-kafka's registry client runs on (httpx2 on Python 3.10+)
    from httpx2 import TransportError
except ImportError:  # pragma: no cover - older confluent-kafka
    from httpx import TransportError  # type: ignore[no-redef]

log = logging.getLogger(__name__)
T = TypeVar("T")
_RETRIED = frozenset({408, 429})


def retriable(exc: Exception) -> bool:
    """Whether a registry failure may pass: unreachable, timed out, 5xx, 408, 429."""
    if isinstance(exc, SchemaRegistryError):
        return exc.http_status_code >= 500 or exc.http_status_code in _RETRIED
    return isinstance(exc, (TransportError, OSError))


def _tls_error(exc: BaseException | None) -> ssl.SSLError | None:
    """The TLS failure (an unknown CA, a host name the certificate lacks) behind `exc`, if any."""
    seen = 0
    while exc is not None and seen < 10:
        if isinstance(exc, ssl.SSLError):
            return exc
        exc, seen = exc.__cause__ or exc.__context__, seen + 1
    return None


@contextmanager
def _pem_files(spec: AvroSpec) -> Iterator[dict[str, str]]:
    """The registry client's TLS settings for a JKS or PKCS12 store read into PEM: files only the
    process's user may read (0600, in a 0700 directory of its own), removed when the block ends."""
    wanted = {"ssl.ca.location": spec.ca_pem, "ssl.certificate.location": spec.cert_pem,
              "ssl.key.location": spec.key_pem}
    if not any(wanted.values()):
        yield {}
        return
    with tempfile.TemporaryDirectory(prefix="pgbridge-registry-") as directory:  # made 0700
        files = {}
        for key, pem in wanted.items():
            if pem:
                path = os.path.join(directory, key.split(".")[1] + ".pem")
                with os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w") as f:
                    f.write(pem)
                files[key] = path
        yield files


def _unverified(exc: BaseException) -> ssl.SSLCertVerificationError | None:
    """The certificate verification failure (unknown CA, host name, expiry) behind `exc`, if any."""
    tls = _tls_error(exc)
    return tls if isinstance(tls, ssl.SSLCertVerificationError) else None


def _without_credentials(url: str) -> str:
    """`url` without a `user:password@` part (basic.auth.credentials.source=URL)."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2]))


def reason(exc: Exception) -> str:
    """A registry failure in one line: its HTTP status and error, or the exception."""
    if isinstance(exc, SchemaRegistryError):
        return f"HTTP {exc.http_status_code} (error {exc.error_code}): {exc.error_message}"
    return f"{type(exc).__name__}: {exc}"


class RegistryRefusesTls(SchemaRegistryFailed):
    """The registry's certificate has not verified for the whole connection budget. A
    `SchemaRegistryFailed`, so that no event failure mode skips the records it was for; exit
    code 3, as for a server that cannot be reached."""

    exit_code = ExitCode.CONNECTION


class SchemaIncompatible(SchemaRegistryFailed):
    """The registry refused a schema (409 incompatible, 422 invalid): what the quarantine's
    headers say (`bridge.produce.incompatible`)."""

    def __init__(self, message: str, subject: str, version: str, reason: str) -> None:
        super().__init__(message)
        self.subject, self.version, self.reason = subject, version, reason


def fingerprint(text: str) -> str:
    """CRC-64-AVRO of the schema's parsing canonical form, in hex (Avro's schema fingerprint)."""
    return avro_fingerprint(to_parsing_canonical_form(json.loads(text)), "CRC-64-AVRO")


class Registry:
    """One converter's registry client, opened at the producer's start (`open`) or on first use."""

    def __init__(self, spec: AvroSpec, sleep: Callable[[float], None] = time.sleep,
                 client: SchemaRegistryClient | None = None, clock: Callable[[], float] = time.monotonic) -> None:
        """`client`: a client to use instead (tests: confluent-kafka's in-memory `mock://`)."""
        self.spec = spec
        self._client = client
        self._checked: set[str] = set()  # subjects whose compatibility level was seen to
        self._sleep = sleep
        self._clock = clock

    @property
    def client(self):
        if self._client is None:
            self._client = _shared_client(self.spec)
        return self._client

    def open(self) -> None:
        """Make the client now (the producer's start): the HTTP stack's imports and TLS setup
        are then not the first record's."""
        self.client  # noqa: B018 - made on first use


    def check_reachable(self) -> None:
        """One request (the subjects): a refusal no retry fixes raises `ConnectionFailed`."""
        url = _without_credentials(self.spec.urls[0])
        try:
            self.client.get_subjects()
        except SchemaRegistryError as exc:
            if exc.http_status_code in (401, 403):
                raise ConnectionFailed(f"cannot reach the schema registry at {url} ({self.spec.label}): "
                                       f"{reason(exc)}") from None
        except Exception as exc:  # noqa: BLE001 - a TLS refusal is final, the rest is retried later
            tls = _tls_error(exc)
            if tls is not None:
                raise ConnectionFailed(f"cannot reach the schema registry at {url} ({self.spec.label}): "
                                       f"TLS: {tls}") from None
            log.warning("schema registry %s does not answer yet (%s); the producers keep trying", url, reason(exc))

    def id_for(self, subject: str, text: str, what: str) -> int:
        """The registry's id of schema `text` under `subject`; `what`: the records it is for
        (messages)."""
        schema = Schema(text, "AVRO")
        if self.spec.compatibility and subject not in self._checked:
            self._level(subject, what)
        try:
            if self.spec.use_latest:
                return self._latest(subject, text, what)
            if self.spec.auto_register:
                return self._call(lambda: self.client.register_schema(subject, schema))
            return self._call(lambda: self.client.lookup_schema(subject, schema).schema_id)
        except SchemaRegistryError as exc:
            raise self._refused(exc, subject, text, what) from None

    def _call(self, request: Callable[[], T]) -> T:
        delay = self.spec.backoff_initial_ms / 1000
        unverified_since = None  # when the registry's certificate first failed to verify
        while True:
            try:
                return request()
            except Exception as exc:  # noqa: BLE001 - retried when retriable, else raised as it is
                if not retriable(exc):
                    raise
                tls = _unverified(exc)
                if tls is not None:
                    now = self._clock()
                    unverified_since = now if unverified_since is None else unverified_since
                    if now - unverified_since >= self.spec.tls_budget_s:
                        raise RegistryRefusesTls(
                            f"schema registry at {_without_credentials(self.spec.urls[0])} ({self.spec.label}): "
                            f"its certificate has not verified for {now - unverified_since:.0f}s, no retry fixes it: "
                            f"TLS: {tls}") from None
                log.warning("schema registry %s: %s; retrying in %.1fs (the records wait)",
                            self.spec.urls[0], reason(exc), delay)
                self._sleep(delay)
                delay = min(delay * 2, self.spec.backoff_max_ms / 1000)

    def _level(self, subject: str, what: str) -> None:
        wanted = self.spec.compatibility
        try:
            level = self._call(lambda: self.client.get_compatibility(subject))
        except SchemaRegistryError as exc:
            if exc.http_status_code != 404:
                raise self._refused(exc, subject, None, what) from None
            level = None  # no level of its own (Confluent), or no such subject yet (Apicurio)
        if level is not None and level != wanted:
            global_level = self._call(lambda: self.client.get_compatibility())
            if level != global_level:
                raise SchemaRegistryFailed(
                    f"schema registry subject {subject!r} ({what}) has compatibility {level}, "
                    f"bridge.registry.compatibility={wanted}: change the subject's level in the registry or the "
                    "setting")
        if level != wanted:
            self._call(lambda: self.client.set_compatibility(subject, wanted))
            log.info("schema registry subject %s: compatibility set to %s", subject, wanted)
        self._checked.add(subject)

    def _latest(self, subject: str, text: str, what: str) -> int:
        latest = self._call(lambda: self.client.get_latest_version(subject))
        theirs = to_parsing_canonical_form(json.loads(latest.schema.schema_str))
        if theirs != to_parsing_canonical_form(json.loads(text)):
            raise SchemaRegistryFailed(
                f"schema registry subject {subject!r} ({what}): its latest version {latest.version} is not the "
                f"schema pgbridge writes (fingerprint {fingerprint(text)}); pgbridge writes with its own schema "
                "only: register that, or turn use.latest.version (find-latest) off")
        return latest.schema_id

    def _refused(self, exc: Exception, subject: str, text: str | None, what: str) -> SchemaRegistryFailed:
        status = exc.http_status_code if isinstance(exc, SchemaRegistryError) else 0
        if not self.spec.auto_register and not self.spec.use_latest and status == 404 and text is not None:
            return SchemaRegistryFailed(
                f"schema registry has no schema for {what} under subject {subject!r} (fingerprint "
                f"{fingerprint(text)}) and auto.register.schemas is false: register it, or let pgbridge register "
                f"it ({reason(exc)})")
        if status not in (409, 422):
            return SchemaRegistryFailed(
                f"schema registry refused the schema of {what} under subject {subject!r}: {reason(exc)}")
        version = self._next_version(subject)  # the version it would have been
        return SchemaIncompatible(
            f"schema registry refused the schema of {what} under subject {subject!r} as version {version}: "
            f"{reason(exc)}", subject, version, reason(exc))

    def _next_version(self, subject: str) -> str:
        try:
            return str(max(self.client.get_versions(subject)) + 1)
        except Exception:  # noqa: BLE001 - only for the message
            return "?"


# the clients of this process by settings: the key's and the value's converter share one
_clients: dict[tuple, SchemaRegistryClient] = {}


def _shared_client(spec: AvroSpec) -> SchemaRegistryClient:
    conf: dict[str, object] = {"url": ",".join(spec.urls), "max.retries": 0}
    if spec.user_info:
        conf["basic.auth.user.info"] = spec.user_info
    for key, value in (("ssl.ca.location", spec.ca_location), ("ssl.certificate.location", spec.cert_location),
                       ("ssl.key.location", spec.key_location), ("ssl.key.password", spec.key_password)):
        if value:
            conf[key] = value
    if (not spec.ca_location and not spec.ca_pem
            and all(urlsplit(url).scheme.lower() == "http" for url in spec.urls)):
        conf["ssl.ca.location"] = False  # no TLS to plain-HTTP URLs: no trust store to load (tens of ms)
    settings = (tuple(sorted(conf.items())), spec.ca_pem, spec.cert_pem, spec.key_pem)
    client = _clients.get(settings)
    if client is None:
        with _pem_files(spec) as files:
            # The client reads its TLS files once, when it is made: they are gone right after.
            client = _clients[settings] = SchemaRegistryClient({**conf, **files})
    return client
