"""OAUTHBEARER as a Java client configures it, in librdkafka's settings.

Java names the login module in `sasl.jaas.config` (`OAuthBearerLoginModule required ...;`) and
the token's source in `sasl.login.callback.handler.class`:

- `OAuthBearerLoginCallbackHandler`: the OIDC client-credentials flow. The module's `clientId`,
  `clientSecret`, `scope` and `extension_<name>` options and `sasl.oauthbearer.token.endpoint.url`
  become librdkafka's `sasl.oauthbearer.method=oidc` settings; librdkafka fetches the token and
  fetches a new one before it expires (at 80 % of its lifetime, retrying a failure every 10 s).
- no handler: Java's unsecured tokens (`unsecuredLogin*` options, for test brokers), which is
  librdkafka's `enable.sasl.oauthbearer.unsecure.jwt` with `sasl.oauthbearer.config`.
- AWS MSK IAM's handler: `bridge.kafka.msk`.

Anything else (another handler class, a claim librdkafka cannot put in a token) is refused by
name. Messages never carry the client secret.
"""

from __future__ import annotations

from typing import Callable

from bridge.errors import ConfigError

LOGIN_MODULE = "org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule"
OIDC_HANDLERS = frozenset({
    "org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginCallbackHandler",
    "org.apache.kafka.common.security.oauthbearer.secured.OAuthBearerLoginCallbackHandler",  # before Kafka 3.4
})
_ENDPOINT = "sasl.oauthbearer.token.endpoint.url"
# Kafka 4.1's own names for the client credentials (KIP-1139), beside the JAAS options.
_CREDENTIAL_KEYS = {"sasl.oauthbearer.client.credentials.client.id": "clientId",
                    "sasl.oauthbearer.client.credentials.client.secret": "clientSecret"}
_UNSECURED = "unsecuredLogin"


def translate_oauthbearer(out: dict[str, str], options: dict[str, str], handler: str | None,
                          label: Callable[[str], str]) -> None:
    """`out` with the OAuthBearerLoginModule's `options` and the login `handler` class turned
    into librdkafka's settings (`out` holds the client settings without sasl.jaas.config)."""
    if handler is None:
        _unsecured(out, options, label)
    elif handler in OIDC_HANDLERS:
        _oidc(out, options, label)
    else:
        raise ConfigError(f"{label('sasl.login.callback.handler.class')}={handler!r} is refused: pgbridge fetches "
                          "OAUTHBEARER tokens with OAuthBearerLoginCallbackHandler (OIDC client credentials) or "
                          "AWS MSK IAM's handler only")


def _oidc(out: dict[str, str], options: dict[str, str], label: Callable[[str], str]) -> None:
    options = dict(options)
    for key, option in _CREDENTIAL_KEYS.items():
        if key in out:
            if option in options:
                raise ConfigError(f"{label('sasl.jaas.config')} and {label(key)} both give the {option}: keep one")
            options[option] = out.pop(key)
    endpoint = out.get(_ENDPOINT, "").strip()
    if not endpoint:
        raise ConfigError(f"{label('sasl.login.callback.handler.class')} fetches tokens from an OIDC provider: "
                          f"{label(_ENDPOINT)} is required")
    if not endpoint.lower().startswith(("https://", "http://")):
        raise ConfigError(f"{label(_ENDPOINT)} is refused: librdkafka fetches tokens over HTTP(S) only "
                          "(a token file is not read)")
    native = {"sasl.oauthbearer.method": "oidc"}
    for option, key in (("clientId", "sasl.oauthbearer.client.id"), ("clientSecret", "sasl.oauthbearer.client.secret"),
                        ("scope", "sasl.oauthbearer.scope")):
        if option in options:
            native[key] = options.pop(option)
        elif option != "scope":
            raise ConfigError(f"{label('sasl.jaas.config')} has no {option}=... option for the OIDC client "
                              "credentials flow")
    extensions = {name[len("extension_"):]: options.pop(name) for name in list(options)
                  if name.startswith("extension_")}
    if extensions:
        native["sasl.oauthbearer.extensions"] = _listed(extensions, ",", label)
    if options:
        raise ConfigError(f"{label('sasl.jaas.config')} has options librdkafka's OIDC flow does not take: "
                          f"{', '.join(sorted(options))} (clientId, clientSecret, scope and extension_* are read)")
    _set(out, native, label)


def _unsecured(out: dict[str, str], options: dict[str, str], label: Callable[[str], str]) -> None:
    """Java's OAuthBearerUnsecuredLoginCallbackHandler options in librdkafka's unsecured-JWT terms."""
    options = dict(options)
    principal_claim = options.pop(_UNSECURED + "PrincipalClaimName", "sub")
    scope_claim = options.pop(_UNSECURED + "ScopeClaimName", "scope")
    config: dict[str, str] = {}
    if principal_claim != "sub":
        config["principalClaimName"] = principal_claim
    principal = options.pop(f"{_UNSECURED}StringClaim_{principal_claim}", None)
    if principal is None:
        raise ConfigError(f"{label('sasl.jaas.config')} gives no {_UNSECURED}StringClaim_{principal_claim}=... "
                          "option: an unsecured token needs its principal")
    config["principal"] = principal
    if scope_claim != "scope":
        config["scopeClaimName"] = scope_claim
    scope = options.pop(f"{_UNSECURED}ListClaim_{scope_claim}", None)
    if scope:  # Java: the value's first character separates the items
        config["scope"] = ",".join(item for item in scope[1:].split(scope[0]) if item)
    elif (single := options.pop(f"{_UNSECURED}StringClaim_{scope_claim}", None)) is not None:
        config["scope"] = single
    life = options.pop(_UNSECURED + "LifetimeSeconds", None)
    if life is not None:
        config["lifeSeconds"] = life
    for name in list(options):
        if name.startswith(_UNSECURED + "Extension_"):
            config["extension_" + name[len(_UNSECURED + "Extension_"):]] = options.pop(name)
    if options:
        raise ConfigError(f"{label('sasl.jaas.config')} has options an unsecured librdkafka token cannot carry: "
                          f"{', '.join(sorted(options))} (only the principal, scope, lifetime and extensions); "
                          f"for a real token provider set {label('sasl.login.callback.handler.class')}="
                          "org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginCallbackHandler")
    _set(out, {"enable.sasl.oauthbearer.unsecure.jwt": "true", "sasl.oauthbearer.config": _listed(config, " ", label)},
         label)


def _listed(pairs: dict[str, str], separator: str, label: Callable[[str], str]) -> str:
    for name, value in pairs.items():
        if not value or any(c in value for c in (separator, "=", " ")):
            raise ConfigError(f"{label('sasl.jaas.config')}: the value of {name} cannot be handed to librdkafka "
                              "(it is empty or holds a space, a comma or '=')")
    return separator.join(f"{name}={value}" for name, value in pairs.items())


def _set(out: dict[str, str], native: dict[str, str], label: Callable[[str], str]) -> None:
    for key, value in native.items():
        if key in out:
            raise ConfigError(f"{label('sasl.jaas.config')} and {label(key)} both give {key}: keep one")
        out[key] = value
