"""Java client security settings, as Debezium users write them, in librdkafka's terms.

A Debezium Server file (`debezium.sink.kafka.producer.*`) or a Connect configuration
(`producer.override.*`) carries the Java Kafka client's names: `sasl.jaas.config`,
`ssl.truststore.*`, `ssl.keystore.*`, `ssl.endpoint.identification.algorithm=""`. Each is
translated here to what librdkafka reads, or refused with one line naming the key and what to
use instead; librdkafka's own names pass through. JKS stores and PKCS12 truststores are read
into PEM in memory (`bridge.kafka.keystores`). Messages never carry a password.
"""

from __future__ import annotations

from typing import Callable

from bridge.errors import ConfigError
from bridge.kafka import keystores, msk, oauth
from bridge.kafka.jaas import parse_jaas

_JAAS = "sasl.jaas.config"
# Login modules whose options are a user name and a password (what librdkafka's PLAIN and SCRAM
# mechanisms take as sasl.username / sasl.password).
_PASSWORD_MODULES = frozenset({
    "org.apache.kafka.common.security.plain.PlainLoginModule",
    "org.apache.kafka.common.security.scram.ScramLoginModule",
})
_LATER = {"com.sun.security.auth.module.Krb5LoginModule": "Kerberos is not supported yet"}
# Java classes that supply credentials: read together with the login module.
_HANDLER_KEYS = ("sasl.login.callback.handler.class", "sasl.client.callback.handler.class")
_JCEKS = ("is a JCEKS store (3DES-protected), which pgbridge cannot read: convert it with "
          "`keytool -importkeystore -deststoretype PKCS12`")


def translate_java_security(settings: dict[str, str], label: Callable[[str], str]) -> dict[str, str]:
    """`settings` (client property names, without the section's prefix) with the Java security
    settings replaced by librdkafka's, in the same order. `label(name)` is how a message names
    a setting (the key as the user wrote it)."""
    out = dict(settings)
    _sasl(out, label)
    _truststore(out, label)
    _keystore(out, label)
    algorithm = out.get("ssl.endpoint.identification.algorithm")
    if algorithm is not None:
        value = algorithm.strip().lower()
        if value not in ("", "https", "none"):
            raise ConfigError(f"{label('ssl.endpoint.identification.algorithm')}={algorithm!r} is refused: "
                              "only https (check the broker's host name) and an empty value (do not) exist")
        out["ssl.endpoint.identification.algorithm"] = value or "none"
    return out


def _sasl(out: dict[str, str], label: Callable[[str], str]) -> None:
    mechanism = out.get("sasl.mechanism", "").strip().upper()
    handlers = {key: out.pop(key).strip() for key in _HANDLER_KEYS if key in out}
    jaas = out.pop(_JAAS, None)
    module = None
    if jaas is not None:
        try:
            modules = parse_jaas(jaas)
        except ConfigError as exc:
            raise ConfigError(f"{label(_JAAS)} cannot be read: {exc}") from None
        if len(modules) != 1:
            raise ConfigError(f"{label(_JAAS)} names {len(modules)} login modules; a Kafka client takes exactly one")
        module = modules[0]
    if msk.is_msk(mechanism, module.name if module else None, tuple(handlers.values())):
        msk.translate_msk(out, module.options if module else {}, label)
        return
    client_handler = handlers.get("sasl.client.callback.handler.class")
    if client_handler is not None:
        raise ConfigError(f"{label('sasl.client.callback.handler.class')}={client_handler!r} is refused: a Java "
                          "class pgbridge cannot load (AWS MSK IAM's handler is read)")
    login_handler = handlers.get("sasl.login.callback.handler.class")
    if module is not None and module.name == oauth.LOGIN_MODULE:
        oauth.translate_oauthbearer(out, module.options, login_handler, label)
        return
    if login_handler is not None:
        raise ConfigError(f"{label('sasl.login.callback.handler.class')}={login_handler!r} is refused: it is read "
                          f"with {oauth.LOGIN_MODULE} in {label(_JAAS)} only")
    if module is None:
        return
    if module.name not in _PASSWORD_MODULES:
        why = _LATER.get(module.name, "pgbridge reads PlainLoginModule, ScramLoginModule, OAuthBearerLoginModule "
                                      "and AWS MSK IAM's IAMLoginModule only")
        raise ConfigError(f"{label(_JAAS)} names the login module {module.name}, which is refused: {why}")
    if module.options.get("tokenauth", "false").lower() == "true":
        raise ConfigError(f"{label(_JAAS)} sets tokenauth=true (delegation tokens), which librdkafka does not support")
    for option in ("username", "password"):
        if option not in module.options:
            raise ConfigError(f"{label(_JAAS)} has no {option}=... option for {module.name}")
        native = "sasl." + option
        if native in out:
            raise ConfigError(f"{label(_JAAS)} and {label(native)} both give the SASL {option}: keep one")
        out[native] = module.options[option]


def _truststore(out: dict[str, str], label: Callable[[str], str]) -> None:
    location = out.pop("ssl.truststore.location", None)
    certificates = out.pop("ssl.truststore.certificates", None)
    kind = out.pop("ssl.truststore.type", "JKS").strip().upper()  # the Java client's default type
    password = out.pop("ssl.truststore.password", None)
    if location is None and certificates is None:
        return
    given = "ssl.truststore.location" if location is not None else "ssl.truststore.certificates"
    if kind not in ("PEM", "JKS", "PKCS12"):
        raise ConfigError(f"{label('ssl.truststore.type')}={kind!r} is refused: PEM, JKS and PKCS12 truststores "
                          "are read")
    if kind == "PEM" and password is not None:  # as the Java client says
        raise ConfigError(f"{label('ssl.truststore.password')} cannot be given for a PEM truststore")
    if kind != "PEM" and location is None:
        raise ConfigError(f"{label(given)} is read only with {label('ssl.truststore.type')}=PEM")
    native = "ssl.ca.location" if kind == "PEM" and location is not None else "ssl.ca.pem"
    if "ssl.ca.location" in out or "ssl.ca.pem" in out:
        raise ConfigError(f"{label(given)} and {label(native)} both give the CA certificates: keep one")
    if kind == "PEM":
        out[native] = location.strip() if location is not None else certificates
        return
    # A Java store, read here into PEM (Java reads either format under either type name).
    path = location.strip()
    try:
        data = keystores.read_store(path)
        if keystores.store_format(data) == "JKS":
            pem = keystores.read_jks(data, password).trusted_pem
        elif keystores.store_format(data) == "JCEKS":
            raise ConfigError(_JCEKS)
        else:
            pem = keystores.read_pkcs12_certificates(data, password)
    except ConfigError as exc:
        raise ConfigError(f"{label(given)} ({path}) {exc}") from None
    if not pem:
        raise ConfigError(f"{label(given)} ({path}) holds no certificate to trust")
    out["ssl.ca.pem"] = pem


def _keystore(out: dict[str, str], label: Callable[[str], str]) -> None:
    kind = out.pop("ssl.keystore.type", "JKS").strip().upper()
    key, chain = out.pop("ssl.keystore.key", None), out.pop("ssl.keystore.certificate.chain", None)
    location = out.get("ssl.keystore.location")
    if key is not None or chain is not None:  # a PEM key and chain written in the setting itself
        out["ssl.key.pem"] = key or ""
        out["ssl.certificate.pem"] = chain or ""
    if location is None:
        return
    if kind == "PEM":  # one file with the private key and the certificate chain
        if "ssl.keystore.password" in out:
            raise ConfigError(f"{label('ssl.keystore.password')} cannot be given for a PEM keystore "
                              f"(the key's own password is {label('ssl.key.password')})")
        path = out.pop("ssl.keystore.location").strip()
        out["ssl.certificate.location"] = path
        out["ssl.key.location"] = path
        return
    if kind not in ("PKCS12", "JKS"):
        raise ConfigError(f"{label('ssl.keystore.type')}={kind!r} is refused: JKS, PKCS12 and PEM keystores are read")
    # librdkafka reads PKCS12 under the same names. Java reads a PKCS12 file even as type JKS,
    # so the file itself says which it is; a missing file fails when a client is built, in
    # librdkafka's words.
    path = location.strip()
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError:
        return
    fmt = keystores.store_format(data)
    if fmt == "PKCS12":
        return
    try:
        if fmt == "JCEKS":
            raise ConfigError(_JCEKS)
        store = keystores.read_jks(data, out.get("ssl.keystore.password"), out.get("ssl.key.password"))
    except ConfigError as exc:
        raise ConfigError(f"{label('ssl.keystore.location')} ({path}) {exc}") from None
    if store.key_pem is None:
        raise ConfigError(f"{label('ssl.keystore.location')} ({path}) holds no private key: a keystore presents one")
    if "ssl.key.pem" in out or "ssl.certificate.pem" in out:
        raise ConfigError(f"{label('ssl.keystore.location')} and {label('ssl.key.pem')} both give the client key: "
                          "keep one")
    for name in ("ssl.keystore.location", "ssl.keystore.password", "ssl.key.password"):
        out.pop(name, None)
    # In memory only: librdkafka takes the key and its chain as PEM text.
    out["ssl.key.pem"] = store.key_pem
    out["ssl.certificate.pem"] = store.chain_pem
