"""A Java client's `sasl.jaas.config` line, read the way Kafka's JaasConfig reads it.

`<LoginModule class> <flag> (<name>=<value>)* ;` where a value is a bare word or a quoted string
('...' or "..." with Java's StreamTokenizer escapes: `\\n`, `\\t`, octal `\\ooo`, and a backslash
before any other character keeps that character); `//`, `/* */` and a lone `/` to the end of the
line are comments. Errors name a position and what was expected, never the text: the line holds
a password.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator

from bridge.errors import ConfigError

_FLAGS = frozenset({"required", "requisite", "sufficient", "optional"})
_ESCAPES = {"a": "\a", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v"}
_SPECIAL = frozenset(";='\"/")
_KNOWN = frozenset({"username", "password", "tokenauth"})


@dataclass(frozen=True, slots=True)
class LoginModule:
    name: str
    flag: str
    options: dict[str, str]


def parse_jaas(text: str) -> list[LoginModule]:
    """Every login module of `text` (Kafka's clients accept exactly one; the caller says so)."""
    tokens = _tokens(text)
    modules = []
    for kind, word in tokens:
        if kind != "word":
            raise ConfigError(f"expected a login module class, found {_what(kind)}")
        flag = next(tokens, ("end", ""))
        if flag[0] != "word" or flag[1].lower() not in _FLAGS:
            raise ConfigError(f"the login module {word} needs a control flag (required, requisite, sufficient "
                              "or optional) after its name")
        options: dict[str, str] = {}
        while True:
            kind, name = next(tokens, ("end", ""))
            if kind == ";":
                break
            if kind != "word":
                raise ConfigError(f"the entry of {word} is not terminated by a semicolon")
            equals, value = next(tokens, ("end", "")), next(tokens, ("end", ""))
            if equals[0] != "=" or value[0] not in ("word", "quoted"):
                # a stray word may be a piece of a password: only a known option is named
                which = repr(name) if name in _KNOWN else "an option"
                raise ConfigError(f"no value given for {which} of {word}")
            options[name] = value[1]
        modules.append(LoginModule(word, flag[1].lower(), options))
    if not modules:
        raise ConfigError("no login module given")
    return modules


def _what(kind: str) -> str:
    return {"end": "the end of the line", "quoted": "a quoted string"}.get(kind, f"'{kind}'")


def _tokens(text: str) -> Iterator[tuple[str, str]]:
    """(kind, text) pairs: kind is `word`, `quoted`, `;` or `=`."""
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c <= " ":
            i += 1
        elif text.startswith("/*", i):
            end = text.find("*/", i + 2)
            i = n if end < 0 else end + 2
        elif c == "/":  # `//` and a lone `/` both comment out the rest of the line
            end = text.find("\n", i)
            i = n if end < 0 else end + 1
        elif c in ";=":
            yield c, c
            i += 1
        elif c in "'\"":
            value, i = _quoted(text, i + 1, c)
            yield "quoted", value
        else:
            start = i
            while i < n and text[i] > " " and text[i] not in _SPECIAL:
                i += 1
            yield "word", text[start:i]


def _quoted(text: str, i: int, quote: str) -> tuple[str, int]:
    out = []
    n = len(text)
    while i < n and text[i] != quote:
        c = text[i]
        if c in "\r\n":
            break
        if c == "\\" and i + 1 < n:
            i += 1
            c = text[i]
            if c in "01234567":  # up to three octal digits, the first at most 3 for a third one
                digits = 1
                limit = 3 if c <= "3" else 2
                while digits < limit and i + 1 < n and text[i + 1] in "01234567":
                    i += 1
                    digits += 1
                out.append(chr(int(text[i - digits + 1:i + 1], 8)))
            else:
                out.append(_ESCAPES.get(c, c))
        else:
            out.append(c)
        i += 1
    if i >= n or text[i] != quote:
        raise ConfigError("a quoted value is not closed on its line")
    return "".join(out), i + 1
