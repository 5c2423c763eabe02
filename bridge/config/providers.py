"""Secrets from outside the configuration file: Kafka Connect config providers, and Debezium
Server's environment overrides and `${NAME}` / `${NAME:default}` expressions.

Connect form. `config.providers=file,dir,env` names providers and `config.providers.<name>.class`
says which; a value `${<name>:<path>:<key>}` (or `${<name>:<key>}`) is replaced by what the
provider gives:
- `org.apache.kafka.common.config.provider.FileConfigProvider`: the key `<key>` of the Java
  properties file `<path>`;
- `org.apache.kafka.common.config.provider.DirectoryConfigProvider`: the content of the file
  `<key>` in the directory `<path>`;
- `org.apache.kafka.common.config.provider.EnvVarConfigProvider`: the environment variable `<key>`.
`config.providers.<name>.param.allowed.paths` (file, dir) and `...param.allowlist.pattern` (env)
restrict them as in Kafka. Any other provider class (a cloud secrets manager, Vault, Kubernetes)
is refused by name. Connect leaves a reference it cannot resolve as written, which then fails
later as a wrong password; pgbridge refuses it at start instead, naming the key, never the value.

Debezium Server form (MicroProfile Config): an environment variable overrides a key
(`DEBEZIUM_SOURCE_DATABASE_PASSWORD` for `debezium.source.database.password`: the key with every
character that is not a letter or digit made `_`, upper-cased) or adds one; `${NAME}` in a value
is another key or an environment variable, `${NAME:default}` with a default; `\\${` and `$${`
are a literal `${` — which is how a Debezium Server file writes a provider reference
(`$${file:/secrets.properties:password}`): expressions are expanded first, providers after.

Every key whose value came from a provider, an override or an expression is a secret: its value
never appears in an error, a log line or `bridge check` output.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Mapping

from bridge.errors import ConfigError
from bridge.properties import parse_properties

FILE = "org.apache.kafka.common.config.provider.FileConfigProvider"
DIRECTORY = "org.apache.kafka.common.config.provider.DirectoryConfigProvider"
ENV = "org.apache.kafka.common.config.provider.EnvVarConfigProvider"
KNOWN = (FILE, DIRECTORY, ENV)
# Kafka's ConfigTransformer pattern: ${provider:[path:]key}
_REFERENCE = re.compile(r"\$\{([^}]*?):(?:([^}]*?):)?([^}]*?)\}")
# Where the provider keys may sit: a worker-style top level, or the connector's own keys.
_PROVIDER_PREFIXES = ("config.providers", "debezium.source.config.providers")
# Debezium Server keys an environment variable may add (it reads its sections from these).
_SERVER_SECTIONS = ("debezium.source.", "debezium.sink.", "debezium.format.", "debezium.transforms",
                    "debezium.predicates")


@dataclass(frozen=True, slots=True)
class Provider:
    name: str
    cls: str
    params: Mapping[str, str]

    def allowed(self, path: str) -> bool:
        allowed = self.params.get("allowed.paths", "").strip()
        if not allowed:
            return True
        target = Path(os.path.normpath(path))
        return any(target == Path(a.strip()) or Path(a.strip()) in target.parents
                   for a in allowed.split(",") if a.strip())

    def resolve(self, path: str | None, key: str) -> str | None:
        """The referenced value, or None when the provider has none."""
        if self.cls == ENV:
            pattern = self.params.get("allowlist.pattern", ".*")
            if not re.fullmatch(pattern, key):
                return None
            return os.environ.get(key)
        if not path:
            return None
        if not self.allowed(path):
            raise ConfigError(f"config provider {self.name!r}: {path!r} is outside "
                              f"config.providers.{self.name}.param.allowed.paths")
        if self.cls == FILE:
            return _read_properties(self.name, path).get(key)
        file = Path(path) / key
        if file.parent != Path(path) or not file.is_file():  # a key naming another directory
            return None
        return _read_text(self.name, file)


def _read_text(name: str, file: Path) -> str:
    try:
        return file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"config provider {name!r}: cannot read {str(file)!r}: {exc.__class__.__name__}") from None


def _read_properties(name: str, path: str) -> dict[str, str]:
    file = Path(path)
    if not file.is_file():
        raise ConfigError(f"config provider {name!r}: {path!r} is not a file")
    try:
        return parse_properties(_read_text(name, file), path)
    except ValueError as exc:
        raise ConfigError(f"config provider {name!r}: {exc}") from None


def provider_keys(props: Mapping[str, str]) -> set[str]:
    """The keys that declare providers (honoured: `resolve_providers` has read them)."""
    return {k for k in props if k in _PROVIDER_PREFIXES or k.startswith(tuple(p + "." for p in _PROVIDER_PREFIXES))}


def _providers(props: Mapping[str, str], labels: Mapping[str, str]) -> dict[str, Provider]:
    """The declared providers by name."""
    found: dict[str, Provider] = {}
    used: set[str] = set()
    for prefix in _PROVIDER_PREFIXES:
        if prefix not in props:
            continue
        used.add(prefix)
        for name in (n.strip() for n in props[prefix].split(",") if n.strip()):
            class_key = f"{prefix}.{name}.class"
            cls = props.get(class_key, "").strip()
            if not cls:
                raise ConfigError(f"{labels.get(prefix, prefix)} names {name!r} but "
                                  f"{labels.get(prefix, prefix)}.{name}.class is not set")
            if cls not in KNOWN:
                raise ConfigError(f"{labels.get(class_key, class_key)}={cls!r} is not supported: pgbridge "
                                  "provides FileConfigProvider, DirectoryConfigProvider and EnvVarConfigProvider; "
                                  "write the secret into a file one of them reads")
            param = f"{prefix}.{name}.param."
            found[name] = Provider(name, cls, {k[len(param):]: v for k, v in props.items() if k.startswith(param)})
            used.add(class_key)
            used.update(k for k in props if k.startswith(param))
    for key in props:  # a provider's settings for a name config.providers does not list
        if key.startswith(tuple(p + "." for p in _PROVIDER_PREFIXES)) and key not in used:
            raise ConfigError(f"{labels.get(key, key)} is refused: its provider is not listed in config.providers")
    return found


def resolve_providers(props: dict[str, str], labels: Mapping[str, str]) -> set[str]:
    """Replace every `${provider:path:key}` reference in place; returns the keys that held one
    (secrets from here on)."""
    providers = _providers(props, labels)

    def substitute(key: str, match: re.Match[str]) -> str:
        name, path, ref = match.group(1), match.group(2), match.group(3)
        provider = providers.get(name)
        if provider is None:
            return match.group(0)  # not a provider reference (maybe a Server expression)
        resolved = provider.resolve(path, ref)
        if resolved is None:
            where = f"{path}:{ref}" if path else ref
            raise ConfigError(f"{labels.get(key, key)}: config provider {name!r} has no value for {where!r}")
        return resolved

    return _substitute(props, _REFERENCE, substitute)


def _substitute(props: dict[str, str], pattern: re.Pattern[str],
                replace: Callable[[str, re.Match[str]], str]) -> set[str]:
    """Every match of `pattern` in every value replaced by `replace(key, match)`, in place;
    returns the keys whose value changed."""
    changed: set[str] = set()
    for key, value in list(props.items()):
        if "${" not in value:
            continue
        replaced = pattern.sub(lambda match, key=key: replace(key, match), value)
        if replaced != value:
            props[key] = replaced
            changed.add(key)
    return changed


def refuse_unresolved(props: Mapping[str, str], labels: Mapping[str, str]) -> None:
    """In a Kafka Connect configuration a `${name:...}` left after the providers ran names a
    provider nobody declared (Connect declares them in the worker's file; pgbridge reads them
    from this one): refuse it rather than connect with the reference as a password."""
    for key, value in props.items():
        match = _REFERENCE.search(value)
        if match:
            name = match.group(1)
            raise ConfigError(f"{labels.get(key, key)} refers to config provider {name!r}, which is not declared: "
                              f"add config.providers={name} and config.providers.{name}.class (File, Directory or "
                              "EnvVarConfigProvider) to this file")


def resolve_secrets(props: dict[str, str], labels: dict[str, str], *, connect: bool,
                    environ: Mapping[str, str] | None = None) -> frozenset[str]:
    """Every outside value put in place; returns the keys that are secrets from now on.
    `connect`: the file is a Kafka Connect configuration (providers only); else a Debezium
    Server file (environment overrides, providers, then `${NAME}` expressions)."""
    environ = os.environ if environ is None else environ
    if connect:
        secrets = resolve_providers(props, labels)
        refuse_unresolved(props, labels)
        return frozenset(secrets)
    secrets = apply_environment(props, labels, environ)
    declared = _providers(props, labels)
    secrets |= expand_expressions(props, labels, environ, frozenset(declared))
    secrets |= resolve_providers(props, labels)
    return frozenset(secrets)


def env_name(key: str) -> str:
    """MicroProfile Config's environment variable for a key: non-alphanumerics → `_`, upper case."""
    return re.sub(r"[^A-Za-z0-9]", "_", key).upper()


def apply_environment(props: dict[str, str], labels: dict[str, str], environ: Mapping[str, str]) -> set[str]:
    """Debezium Server's environment overrides, in place; returns the keys they set. A key the
    file does not have is labelled by its variable."""
    by_env = {env_name(k): k for k in props}
    secrets: set[str] = set()
    for var, value in environ.items():
        key = by_env.get(var)
        if key is None:
            dotted = var.lower().replace("_", ".")
            if not dotted.startswith(_SERVER_SECTIONS):
                continue
            key = dotted
            labels[key] = f"{var} (environment)"
        props[key] = value
        secrets.add(key)
    return secrets


# MicroProfile expression: ${NAME} or ${NAME:default}; `\${` and `$${` write a literal `${`.
_EXPRESSION = re.compile(r"(\\|\$)?\$\{([^}:]+)(?::([^}]*))?\}")


def expand_expressions(props: dict[str, str], labels: Mapping[str, str], environ: Mapping[str, str],
                       providers: frozenset[str] = frozenset()) -> set[str]:
    """Debezium Server's `${NAME}` / `${NAME:default}` expressions, in place; returns the keys
    that held one. NAME is another key of the file or an environment variable (as MicroProfile
    looks it up); a name with neither and no default stops the start. MicroProfile reads
    `${file:/p:k}` as the key `file` with the default `/p:k` before any config provider sees it,
    which is why Debezium Server needs `$${file:/p:k}`: pgbridge refuses the unescaped form of a
    declared provider rather than connect with `/p:k` as a password."""

    def lookup(name: str) -> str | None:
        if name in props:
            return props[name]
        return environ.get(name, environ.get(env_name(name)))

    def substitute(key: str, match: re.Match[str]) -> str:
        escaped, name, default = match.groups()
        if escaped:
            return match.group(0)[1:]
        if name in providers:
            raise ConfigError(f"{labels.get(key, key)}: Debezium Server reads ${{{name}:...}} as an expression "
                              f"before config provider {name!r} runs: write $${{{name}:...}}")
        found = lookup(name)
        if found is None:
            if default is None:
                raise ConfigError(f"{labels.get(key, key)}: ${{{name}}} is neither a key of the file nor an "
                                  f"environment variable; set {name} or write ${{{name}:default}}")
            return default
        return found

    return _substitute(props, _EXPRESSION, substitute)
