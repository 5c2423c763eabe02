"""Reader for Java `.properties` files, the format of Debezium Server's application.properties.

Follows java.util.Properties.load: `#`/`!` comments, `=`, `:` or whitespace as separator,
backslash line continuations, and the escapes `\\t \\n \\r \\f \\uXXXX`. `PropertyReader`
gives typed access to the resulting flat key map; every configuration section reads through it.
"""

from __future__ import annotations

from typing import Mapping

from bridge.errors import ConfigError

_ESCAPES = {"t": "\t", "n": "\n", "r": "\r", "f": "\f"}


def _logical_lines(text: str):
    """Yield (line number, logical line) with continuations joined."""
    pending: list[str] = []
    start = 0
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.lstrip(" \t\f")
        if not pending:
            if not line or line[0] in "#!":
                continue
            start = number
        trailing = len(line) - len(line.rstrip("\\"))
        if trailing % 2 == 1:  # an odd number of backslashes continues the line
            pending.append(line[:-1])
            continue
        pending.append(line)
        yield start, "".join(pending)
        pending = []
    if pending:
        yield start, "".join(pending)


def _unescape(text: str, where: str) -> str:
    out: list[str] = []
    i = 0
    while i < len(text):
        ch = text[i]
        if ch != "\\" or i + 1 == len(text):
            out.append(ch)
            i += 1
            continue
        nxt = text[i + 1]
        if nxt == "u":
            digits = text[i + 2 : i + 6]
            if len(digits) != 4 or any(c not in "0123456789abcdefABCDEF" for c in digits):
                raise ValueError(f"{where}: malformed \\u escape {text[i:i + 6]!r}")
            out.append(chr(int(digits, 16)))
            i += 6
            continue
        out.append(_ESCAPES.get(nxt, nxt))
        i += 2
    return "".join(out)


def _split(line: str) -> tuple[str, str]:
    """Split at the first unescaped separator; whitespace around `=`/`:` is not part of either side."""
    i = 0
    while i < len(line):
        ch = line[i]
        if ch == "\\":
            i += 2
            continue
        if ch in "=: \t\f":
            break
        i += 1
    key, rest = line[:i], line[i:].lstrip(" \t\f")
    if rest[:1] in ("=", ":"):
        rest = rest[1:]
    return key, rest.lstrip(" \t\f")


def parse_properties(text: str, source: str = "<properties>") -> dict[str, str]:
    """Parse properties text into an ordered dict; later duplicates win, as in Java."""
    result: dict[str, str] = {}
    for number, line in _logical_lines(text):
        key, value = _split(line)
        where = f"{source}:{number}"
        result[_unescape(key, where)] = _unescape(value, where)
    return result


class PropertyReader:
    """Typed access to a flat property map; remembers which keys were used.

    `labels` maps a key to the name the user wrote (a Kafka Connect JSON config says
    `database.port`, not `debezium.source.database.port`), so every message names it that way.
    The values of `secrets` (keys filled from a config provider or the environment) never
    appear in a message.
    """

    def __init__(self, props: Mapping[str, str], labels: Mapping[str, str] | None = None,
                 secrets: frozenset[str] = frozenset()) -> None:
        self._props = props
        self._labels = labels or {}
        self._secrets = secrets
        self.used: set[str] = set()

    def label(self, key: str) -> str:
        return self._labels.get(key, key)

    def shown(self, key: str, value: str) -> str:
        """`label=value` for a message, the value hidden when it is a secret."""
        return f"{self.label(key)}=<secret>" if key in self._secrets else f"{self.label(key)}={value!r}"

    def hide(self, key: str, message: str, value: str) -> str:
        """`message` (someone else's words about `key`) with the value cut out when it is a secret."""
        return message.replace(value, "<secret>") if key in self._secrets and value else message

    def raw(self, key: str) -> str | None:
        self.used.add(key)
        value = self._props.get(key)
        return None if value is None else value.strip()

    def with_prefix(self, prefix: str) -> dict[str, str]:
        """Every key that starts with `prefix` (longer than it), with its value; all count as used."""
        found = {k: v for k, v in self._props.items() if k.startswith(prefix) and len(k) > len(prefix)}
        self.used.update(found)
        return found

    def present(self, prefix: str) -> list[str]:
        """The keys that start with `prefix`, without counting them as used: a section that
        reads only some of a family's keys leaves the others to the key catalog."""
        return [k for k in self._props if k.startswith(prefix)]

    def str(self, key: str, default: str | None = None) -> str:
        value = self.raw(key)
        if value is None or value == "":
            if default is None:
                raise ConfigError(f"{self.label(key)} is required but not set")
            return default
        return value

    def int(self, key: str, default: int, *, minimum: int = 0, maximum: int = 2**63 - 1) -> int:
        value = self.raw(key)
        if value is None or value == "":
            return default
        try:
            number = int(value)
        except ValueError:
            raise ConfigError(f"{self.shown(key, value)} is not an integer") from None
        if not minimum <= number <= maximum:
            raise ConfigError(f"{self.shown(key, value)} is out of range: allowed {minimum}..{maximum}")
        return number

    def bool(self, key: str, default: bool) -> bool:
        value = self.raw(key)
        if value is None or value == "":
            return default
        lowered = value.lower()
        if lowered not in ("true", "false"):
            raise ConfigError(f"{self.shown(key, value)} is invalid: allowed values are true, false")
        return lowered == "true"

    def choice(self, key: str, default: str, allowed: tuple[str, ...]) -> str:
        value = self.raw(key)
        if value is None or value == "":
            return default
        if value.lower() not in allowed:
            raise ConfigError(f"{self.shown(key, value)} is invalid: allowed values are {', '.join(allowed)}")
        return value.lower()
