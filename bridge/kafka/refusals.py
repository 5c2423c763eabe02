"""Kafka errors no retry fixes: the broker refusing who the client is or what it may do.

librdkafka retries every connection failure for ever, and reports each attempt to the client's
`error_cb`. Most of them are worth waiting out (a broker restarting, a network partition, a
password being rotated), but not these:

- a certificate that does not verify (an unknown CA, an expired certificate, a host name the
  certificate does not carry): a broker whose certificate changed to one the client does not
  trust stays untrusted;
- a SASL mechanism the broker does not enable (librdkafka names the ones it offers);
- an authorization failure (no ACL for the topic, the group, the cluster or the transactional id
  for the client's principal).

At start they stop at the first report (`refusal`). Mid-run (`Persisting`) a refusal that goes on
for the connection retry budget (`bridge.connect.*`) stops the process with exit code 3: the
slot is never confirmed past what Kafka acknowledged, so the next start resumes there.
"""

from __future__ import annotations

import re
import time
from typing import Callable, Mapping

from confluent_kafka import KafkaError

AUTHORIZATION = frozenset({
    KafkaError.TOPIC_AUTHORIZATION_FAILED, KafkaError.GROUP_AUTHORIZATION_FAILED,
    KafkaError.CLUSTER_AUTHORIZATION_FAILED, KafkaError.TRANSACTIONAL_ID_AUTHORIZATION_FAILED,
})
_TLS_REFUSED = re.compile(r"certificate verify failed|certificate has expired|[Hh]ostname mismatch|"
                          r"unable to get local issuer certificate|self[- ]signed certificate")
_MECHANISM_REFUSED = re.compile(r"Unsupported SASL mechanism")
# How long between two reports a refusal counts as the same, ongoing one (librdkafka's reconnect
# backoff grows to reconnect.backoff.max.ms, 10 s by default).
_GAP_S = 30.0


def refusal(err: KafkaError) -> str | None:
    """The cause when `err` is one no retry fixes (its own text); None otherwise."""
    code = err.code()
    if code in AUTHORIZATION:
        return f"{err.str()} ({err.name()})"
    text = err.str()
    if code == KafkaError._SSL and _TLS_REFUSED.search(text):
        return text
    if code == KafkaError._AUTHENTICATION and _MECHANISM_REFUSED.search(text):
        return text
    return None


def principal(settings: Mapping[str, str]) -> str:
    """Who the client authenticates as, as far as its settings say: for an authorization failure."""
    mechanism = settings.get("sasl.mechanism", settings.get("sasl.mechanisms", "GSSAPI")).upper()
    if "SASL" in settings.get("security.protocol", "").upper():
        if mechanism in ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512") and settings.get("sasl.username"):
            return f"principal User:{settings['sasl.username']}"
        return f"the principal of its {mechanism} login"
    if settings.get("ssl.certificate.location") or settings.get("ssl.certificate.pem") or \
            settings.get("ssl.keystore.location"):
        return "the principal of its client certificate"
    return "principal User:ANONYMOUS"


def authorization_hint(err: KafkaError, settings: Mapping[str, str]) -> str:
    """What to grant, for a line about an authorization failure."""
    what = {
        KafkaError.TOPIC_AUTHORIZATION_FAILED: "the topic",
        KafkaError.GROUP_AUTHORIZATION_FAILED: "the consumer group",
        KafkaError.CLUSTER_AUTHORIZATION_FAILED: "the cluster (IdempotentWrite; Create to create topics)",
        KafkaError.TRANSACTIONAL_ID_AUTHORIZATION_FAILED: "the transactional id (exactly once)",
    }.get(err.code(), "the resource")
    return f"{principal(settings)} lacks an ACL on {what}"


class Persisting:
    """Mid-run: whether a refusal has gone on for `budget_s` (then `see` returns its cause).

    A report more than `_GAP_S` after the previous one starts the count again: the broker
    accepted the client in between, or nothing tried to reach it."""

    def __init__(self, budget_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.budget_s = budget_s
        self._clock = clock
        self._since: float | None = None
        self._last = 0.0

    def see(self, err: KafkaError) -> str | None:
        cause = refusal(err)
        if cause is None:
            return None
        now = self._clock()
        if self._since is None or now - self._last > _GAP_S:
            self._since = now
        self._last = now
        return cause if now - self._since >= self.budget_s else None
