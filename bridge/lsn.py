"""Log sequence numbers: PostgreSQL prints them as two hex halves, `16/B374D848`."""


def parse_lsn(text: str) -> int:
    """Parse `X/Y` into a 64-bit integer."""
    hi, sep, lo = text.partition("/")
    if not sep:
        raise ValueError(f"not an LSN: {text!r}")
    return (int(hi, 16) << 32) | int(lo, 16)


def format_lsn(value: int) -> str:
    """Format a 64-bit integer as PostgreSQL does (`%X/%X`)."""
    return f"{value >> 32:X}/{value & 0xFFFFFFFF:X}"
