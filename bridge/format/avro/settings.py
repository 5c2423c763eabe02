"""The Avro converters' options, as Debezium users write them.

Debezium Server: `debezium.format.value=avro` with `debezium.format.value.schema.registry.url`
(Confluent's converter) or `debezium.format.value.apicurio.registry.url` (Apicurio's); Kafka
Connect: `value.converter=io.confluent.connect.avro.AvroConverter` or
`io.apicurio.registry.utils.converter.AvroConverter` with `value.converter.<option>` (filed
under `debezium.format.value.<option>` by `bridge.config.files`). Debezium Server also hands
both sides `debezium.format.<option>`; the side's own key wins (`bridge.format.settings`).

Confluent's AvroConverter (Confluent Platform 7.x/8.x): `schema.registry.url` (a comma list),
`basic.auth.credentials.source` (URL, USER_INFO; SASL_INHERIT refused) with
`basic.auth.user.info` (alias `schema.registry.basic.auth.user.info`), `auto.register.schemas`
(true), `use.latest.version` (false), `latest.compatibility.strict` (true),
`key.subject.name.strategy` / `value.subject.name.strategy` (TopicNameStrategy,
RecordNameStrategy, TopicRecordNameStrategy), `connect.meta.data` (true),
`enhanced.avro.schema.support` (false; changes nothing for Debezium's schemas, which carry no
Avro enum parameters), `schemas.cache.config` (1000, a cache size), and
`schema.registry.ssl.truststore.*` / `keystore.*` / `key.password` in PEM, JKS or PKCS12 (Java
stores are read into PEM at start with `bridge.kafka.keystores`; PKCS12 needs the
`pgbridge[pkcs12]` extra, as for Kafka).

Apicurio's AvroConverter (2.6.x) writes Confluent's framing only with
`apicurio.registry.as-confluent=true`, `apicurio.registry.headers.enabled=false` and
`apicurio.registry.use-id=contentId` (its ccompat API's ids are content ids): other values are
refused by name. Its `apicurio.registry.url` (`.../apis/registry/v2` or `v3`) is reached through
the same registry's Confluent-compatible API (`.../apis/ccompat/v7`).
`apicurio.registry.auto-register` (false) registers; `apicurio.registry.find-latest` (false)
takes the latest version instead of looking the schema up by content.

pgbridge's own: `bridge.registry.compatibility` (a level set on each subject before its first
registration; a subject that already has another level stops the start of its table), and
`bridge.registry.incompatible.topic` (where a table's events go, as JSON, while the registry
refuses its schema: `bridge.produce.incompatible`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

from bridge.errors import ConfigError
from bridge.kafka import keystores
from bridge.properties import PropertyReader
from bridge.retry import read_retry

T = TypeVar("T")

CONFLUENT = "io.confluent.connect.avro.AvroConverter"
APICURIO = "io.apicurio.registry.utils.converter.AvroConverter"
TOPIC, RECORD, TOPIC_RECORD = "topic", "record", "topic_record"
_STRATEGIES = {
    "io.confluent.kafka.serializers.subject.TopicNameStrategy": TOPIC,
    "io.confluent.kafka.serializers.subject.RecordNameStrategy": RECORD,
    "io.confluent.kafka.serializers.subject.TopicRecordNameStrategy": TOPIC_RECORD,
}
LEVELS = ("BACKWARD", "BACKWARD_TRANSITIVE", "FORWARD", "FORWARD_TRANSITIVE", "FULL", "FULL_TRANSITIVE", "NONE")
COMPATIBILITY = "bridge.registry.compatibility"
INCOMPATIBLE_TOPIC = "bridge.registry.incompatible.topic"
_TOPIC_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-")
_APICURIO_V = ("/apis/registry/v2", "/apis/registry/v3")


@dataclass(frozen=True, slots=True)
class AvroSpec:
    """One side's Avro converter and its registry."""

    urls: tuple[str, ...]
    user_info: str | None = field(default=None, repr=False)  # "user:password" (basic auth)
    auto_register: bool = True
    use_latest: bool = False  # the subject's latest version instead of registering or looking up
    latest_strict: bool = True
    strategy: str = TOPIC
    connect_meta: bool = True
    compatibility: str | None = None  # bridge.registry.compatibility
    incompatible_topic: str | None = None  # bridge.registry.incompatible.topic
    ca_location: str | None = None
    cert_location: str | None = None
    key_location: str | None = None
    key_password: str | None = field(default=None, repr=False)
    # A JKS or PKCS12 truststore / keystore read into PEM at start (`bridge.format.avro.registry`
    # hands them to the registry client through a private temporary file).
    ca_pem: str | None = field(default=None, repr=False)
    cert_pem: str | None = field(default=None, repr=False)
    key_pem: str | None = field(default=None, repr=False)
    backoff_initial_ms: int = 500
    backoff_max_ms: int = 10_000
    tls_budget_s: float = 45.5  # how long a certificate that does not verify is retried (bridge.connect.*)
    label: str = ""  # the converter key as the file names it (messages)


def read_avro(r: PropertyReader, key: str, value: str, option: Callable[[str], str]) -> AvroSpec:
    """The Avro converter that `key=value` names; `option(name)`: the key that gives one of its
    options."""
    apicurio = value == APICURIO or (value.lower() == "avro" and r.raw(option("apicurio.registry.url")) is not None
                                     and r.raw(option("schema.registry.url")) is None)
    for name in ("schemas.cache.config",):
        r.int(option(name), 1000)
    r.bool(option("enhanced.avro.schema.support"), False)  # no Avro enum parameters in Debezium's schemas
    common = dict(
        connect_meta=r.bool(option("connect.meta.data"), True),
        compatibility=_compatibility(r),
        incompatible_topic=_incompatible_topic(r),
        backoff_initial_ms=r.int("bridge.connect.backoff.initial.ms", 500, minimum=1),
        backoff_max_ms=r.int("bridge.connect.backoff.max.ms", 10_000, minimum=1),
        tls_budget_s=read_retry(r).budget_s(),
        label=r.label(key),
    )
    if apicurio:
        return AvroSpec(**_apicurio(r, key, option), **common)  # type: ignore[arg-type]
    return AvroSpec(**_confluent(r, key, option), **common)  # type: ignore[arg-type]


def _urls(r: PropertyReader, key: str, name: str, converter: str) -> tuple[str, ...]:
    text = r.raw(key)
    if not text:
        raise ConfigError(f"{r.label(key)} is required with {converter}: the schema registry's URL")
    urls = tuple(u.strip().rstrip("/") for u in text.split(",") if u.strip())
    for url in urls:
        if not url.startswith(("http://", "https://")):
            raise ConfigError(f"{r.shown(key, text)} is invalid: {name} takes http:// or https:// URLs")
    return urls


def _confluent(r: PropertyReader, key: str, option: Callable[[str], str]) -> dict:
    urls = _urls(r, option("schema.registry.url"), "schema.registry.url", CONFLUENT)
    source_key = option("basic.auth.credentials.source")
    source = (r.raw(source_key) or "URL").upper()
    info_key = option("basic.auth.user.info")
    if r.raw(info_key) is None and r.raw(option("schema.registry.basic.auth.user.info")) is not None:
        info_key = option("schema.registry.basic.auth.user.info")
    info = r.raw(info_key)
    if source == "USER_INFO":
        if not info or ":" not in info:
            raise ConfigError(f"{r.label(source_key)}=USER_INFO needs {r.label(info_key)} as <user>:<password>")
    elif source == "URL":
        info = None  # the URLs' own user info, if any (the registry client reads it from them)
    else:
        raise ConfigError(f"{r.label(source_key)}={source!r} is not supported: pgbridge sends the registry's basic "
                          "auth from URL (user:password@host) or USER_INFO (basic.auth.user.info)")
    strategies = {}
    for side in ("key", "value"):
        skey = option(f"{side}.subject.name.strategy")
        name = r.raw(skey) or "io.confluent.kafka.serializers.subject.TopicNameStrategy"
        if name not in _STRATEGIES:
            raise ConfigError(f"{r.shown(skey, name)} is not supported: pgbridge names subjects with "
                              f"{', '.join(_STRATEGIES)}")
        strategies[side] = _STRATEGIES[name]
    side = "key" if key.endswith(".key") else "value"
    use_latest = r.bool(option("use.latest.version"), False)
    auto = r.bool(option("auto.register.schemas"), True)
    return dict(urls=urls, user_info=info, auto_register=auto, use_latest=use_latest,
                latest_strict=r.bool(option("latest.compatibility.strict"), True), strategy=strategies[side],
                **_tls(r, option))


def _apicurio(r: PropertyReader, key: str, option: Callable[[str], str]) -> dict:
    url_key = option("apicurio.registry.url")
    urls = tuple(_ccompat(u) for u in _urls(r, url_key, "apicurio.registry.url", APICURIO))
    needed = (("apicurio.registry.as-confluent", "true", "false",
               "without it Apicurio's converter writes its own framing (an 8-byte global id)"),
              ("apicurio.registry.headers.enabled", "false", "true",
               "with it Apicurio's converter puts the schema id in record headers, not in the record"),
              ("apicurio.registry.use-id", "contentId", "globalId",
               "the Confluent-compatible API's ids are content ids"))
    for name, wanted, default, why in needed:
        k = option(name)
        value = r.raw(k) or default
        if value.lower() != wanted.lower():
            raise ConfigError(f"{r.label(k)}={value!r} is not supported: {why}; pgbridge writes Confluent's framing "
                              f"with the content id: set {name}={wanted}")
    auto = r.bool(option("apicurio.registry.auto-register"), False)
    latest = r.bool(option("apicurio.registry.find-latest"), False)
    return dict(urls=urls, auto_register=auto, use_latest=latest and not auto, latest_strict=False)


def _ccompat(url: str) -> str:
    """Apicurio's core API URL → its Confluent-compatible API on the same server."""
    for tail in _APICURIO_V:
        if url.endswith(tail):
            return url[: -len(tail)] + "/apis/ccompat/v7"
    return url


def _tls(r: PropertyReader, option: Callable[[str], str]) -> dict:
    """`schema.registry.ssl.*` as Confluent's clients read it: a truststore and a keystore in PEM
    (by path), JKS or PKCS12 (read into PEM here, their passwords checked at start)."""
    prefix = "schema.registry.ssl."
    out: dict[str, str | None] = {}
    trust_key = option(prefix + "truststore.location")
    trust = r.raw(trust_key)
    if trust:
        kind_key, password_key = option(prefix + "truststore.type"), option(prefix + "truststore.password")
        kind = _store_type(r, kind_key)
        if kind == "PEM":
            if r.raw(password_key):
                raise ConfigError(f"{r.label(password_key)} cannot be given for a PEM truststore")
            out["ca_location"] = trust
        else:
            out["ca_pem"] = _store(r, trust_key, lambda data: keystores.read_trusted(data, r.raw(password_key)))
    store_key = option(prefix + "keystore.location")
    store = r.raw(store_key)
    key_password_key = option(prefix + "key.password")
    if store:
        kind_key, password_key = option(prefix + "keystore.type"), option(prefix + "keystore.password")
        kind = _store_type(r, kind_key)
        if kind == "PEM":
            if r.raw(password_key):
                raise ConfigError(f"{r.label(password_key)} cannot be given for a PEM keystore "
                                  f"(the key's own password is {r.label(key_password_key)})")
            out["cert_location"] = out["key_location"] = store
            out["key_password"] = r.raw(key_password_key)
        else:
            contents = _store(r, store_key, lambda data: keystores.read_key(data, r.raw(password_key),
                                                                            r.raw(key_password_key)))
            out["key_pem"], out["cert_pem"] = contents.key_pem, contents.chain_pem
    return out


def _store_type(r: PropertyReader, kind_key: str) -> str:
    kind = (r.raw(kind_key) or "JKS").upper()
    if kind not in ("PEM", "JKS", "PKCS12"):
        raise ConfigError(f"{r.shown(kind_key, kind)} is not supported: pgbridge reads PEM, JKS and PKCS12 stores")
    return kind


def _store(r: PropertyReader, location_key: str, read: Callable[[bytes], T]) -> T:
    """A Java store's contents; a failure names the key and the file, never a password."""
    path = (r.raw(location_key) or "").strip()
    try:
        return read(keystores.read_store(path))
    except ConfigError as exc:
        raise ConfigError(f"{r.label(location_key)} ({path}) {exc}") from None


def _incompatible_topic(r: PropertyReader) -> str | None:
    topic = r.raw(INCOMPATIBLE_TOPIC) or None
    if topic is not None and (not set(topic) <= _TOPIC_CHARS or len(topic) > 249 or topic in (".", "..")):
        raise ConfigError(f"{r.shown(INCOMPATIBLE_TOPIC, topic)} is invalid: a Kafka topic name is made of letters, "
                          "digits, '.', '_' and '-' (at most 249)")
    return topic


def _compatibility(r: PropertyReader) -> str | None:
    value = r.raw(COMPATIBILITY)
    if not value:
        return None
    if value.upper() not in LEVELS:
        raise ConfigError(f"{r.shown(COMPATIBILITY, value)} is invalid: allowed values are {', '.join(LEVELS)}")
    return value.upper()
