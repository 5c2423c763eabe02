"""The part of Java's SimpleDateFormat that TimestampConverter needs, in UTC: formatting and
parsing with the pattern letters y M d H h k K m s S E a D Z X and quoted text.

Letters: a numeric field is padded with zeros to its letter count (`yy` keeps the last two
digits of the year); `MMM`/`MMMM` and `EEE`/`EEEE` are English names; `a` AM/PM; `Z` is
`+0000`, `X`..`XXX` `Z` (the zone is always UTC). Any other letter (`z`, `G`, `w`, `u`...) is
refused at start (`compile_pattern` returns why). Dates are the proleptic Gregorian calendar
(Java's switches to the Julian one before 1582-10-15).
"""

from __future__ import annotations

import calendar
import datetime as dt
import re

_LETTERS = "yMdHhkKmsSEaDZX"
_MONTHS = [calendar.month_name[i] for i in range(1, 13)]
_DAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
_EPOCH = dt.datetime(1970, 1, 1)

Token = tuple[str, int]  # (letter, count) or ("'", literal text as count is unused)


def compile_pattern(pattern: str) -> list[tuple[str, int | str]] | str:
    """The pattern's fields and literals, or why pgbridge does not run it."""
    out: list[tuple[str, int | str]] = []
    i = 0
    while i < len(pattern):
        c = pattern[i]
        if c == "'":
            end = pattern.find("'", i + 1)
            if end == i + 1:
                out.append(("", "'"))
                i += 2
                continue
            if end < 0:
                return f"unterminated quote in {pattern!r}"
            out.append(("", pattern[i + 1:end]))
            i = end + 1
            continue
        if c.isascii() and c.isalpha():
            if c not in _LETTERS:
                return f"pattern letter {c!r} is not supported by pgbridge (it runs {', '.join(_LETTERS)})"
            j = i
            while j < len(pattern) and pattern[j] == c:
                j += 1
            out.append((c, j - i))
            i = j
            continue
        out.append(("", c))
        i += 1
    return out


def format_ms(fields: list[tuple[str, int | str]], ms: int) -> str:
    moment = _EPOCH + dt.timedelta(milliseconds=ms)
    parts = []
    for letter, count in fields:
        if not letter:
            parts.append(count)  # type: ignore[arg-type]
            continue
        n: int = count  # type: ignore[assignment]
        if letter == "y":
            year = moment.year
            parts.append(f"{year % 100:02d}" if n == 2 else f"{year:0{n}d}")
        elif letter == "M":
            parts.append(_MONTHS[moment.month - 1][:3] if n == 3 else _MONTHS[moment.month - 1] if n > 3
                         else f"{moment.month:0{n}d}")
        elif letter == "E":
            day = _DAYS[moment.weekday()]
            parts.append(day if n > 3 else day[:3])
        elif letter == "a":
            parts.append("AM" if moment.hour < 12 else "PM")
        elif letter in "ZX":
            parts.append("+0000" if letter == "Z" else "Z")
        else:
            value = {"d": moment.day, "H": moment.hour, "h": moment.hour % 12 or 12, "k": moment.hour or 24,
                     "K": moment.hour % 12, "m": moment.minute, "s": moment.second,
                     "S": moment.microsecond // 1000, "D": moment.timetuple().tm_yday}[letter]
            parts.append(f"{value:0{n}d}")
    return "".join(parts)


def parser(fields: list[tuple[str, int | str]]) -> re.Pattern[str]:
    """A regex whose named groups are the pattern's fields (a numeric field followed by another
    takes exactly its letter count of digits, as SimpleDateFormat's abutting fields do)."""
    out = []
    seen: set[str] = set()
    for i, (letter, count) in enumerate(fields):
        if not letter:
            out.append(re.escape(count))  # type: ignore[arg-type]
            continue
        group = letter if letter not in seen else f"{letter}{i}"
        seen.add(letter)
        nxt = fields[i + 1][0] if i + 1 < len(fields) else ""
        if letter == "M" and count >= 3:  # type: ignore[operator]
            body = "|".join(_MONTHS + [m[:3] for m in _MONTHS])
        elif letter == "E":
            body = "|".join(_DAYS + [d[:3] for d in _DAYS])
        elif letter == "a":
            body = "AM|PM|am|pm"
        elif letter == "Z":
            body = r"[+-]\d{4}|GMT|UTC"
        elif letter == "X":
            body = r"Z|[+-]\d{2}(?::?\d{2})?"
        else:
            body = rf"\d{{{count}}}" if nxt and nxt in "yMdHhkKmsSD" else r"[+-]?\d+"
        out.append(f"(?P<{group}>{body})")
    return re.compile("".join(out))


def parse_ms(fields: list[tuple[str, int | str]], regex: re.Pattern[str], text: str) -> int | None:
    """Epoch milliseconds of `text`, or None when it does not match (leniently: a month 13 or
    a 25th hour roll over, as a lenient SimpleDateFormat does)."""
    m = regex.match(text)
    if m is None:
        return None
    values = {k[0]: v for k, v in m.groupdict().items()}
    year, month, day = int(values.get("y", 1970)), 1, int(values.get("d", 1))
    if "M" in values:
        text_month = values["M"]
        month = int(text_month) if text_month.isdigit() else \
            next(i + 1 for i, name in enumerate(_MONTHS) if name.lower().startswith(text_month.lower()[:3]))
    hour = int(values.get("H", values.get("k", 0)) or 0)
    if "h" in values or "K" in values:
        hour = int(values.get("h", values.get("K", 0))) % 12 + (12 if values.get("a", "AM").upper() == "PM" else 0)
    ms = 0
    years, months = divmod(month - 1, 12)
    try:
        base = dt.datetime(year + years, months + 1, 1)
    except ValueError:
        return None
    if "D" in values:
        day = int(values["D"])
        base = dt.datetime(base.year, 1, 1)
    ms = int((base - _EPOCH).total_seconds()) * 1000
    ms += (day - 1) * 86_400_000 + hour * 3_600_000 + int(values.get("m", 0)) * 60_000
    ms += int(values.get("s", 0)) * 1000 + int(values.get("S", 0))
    zone = values.get("Z") or values.get("X")
    if zone and zone[0] in "+-":
        digits = zone[1:].replace(":", "")
        offset = int(digits[:2]) * 60 + (int(digits[2:4]) if len(digits) >= 4 else 0)
        ms -= (offset if zone[0] == "+" else -offset) * 60_000
    return ms
