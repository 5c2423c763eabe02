"""Floating-point numbers as Debezium's JSON spells them.

Kafka's JsonConverter writes a Connect FLOAT64 / FLOAT32 with Jackson, i.e. with
`Double.toString` / `Float.toString`: `1.0E10`, `3.4028235E38`, `4.9E-324`, `-0.0`, `0.001`.
Debezium runs on Java 17 (Kafka Connect 4.x needs 17+); up to JDK 18 those methods use the
old `FloatingDecimal.dtoa` digit generator, which is *not* always the shortest round-trip
string: `Float.toString(1.17549435E-38f)` is `1.17549435E-38` where the shortest is
`1.1754944E-38`, `Double.toString(2.0E-3)` is `0.002`, large integers keep extra digits
(`2.82879384806159008E17`). JDK 19+ prints the shortest (Raffaello Giulietti's algorithm);
the golden capture (tests/data/debezium) ran on 17, so this module reproduces JDK 17.

`java_double(x)` / `java_float(x)` port `FloatingDecimal.BinaryToASCIIBuffer.dtoa` and
`getChars` (OpenJDK 17, jdk.internal.math.FloatingDecimal) with Java's int/long overflow, and
take a fast path when the answer is the shortest digits (Python's `repr`, or PostgreSQL's own
shortest text) laid out the Java way: the old generator stops at the first digit count whose
truncated or rounded-up digits lie *strictly* within half an ulp, so it differs from the
shortest only for a mantissa that is a power of two (its "HACK" halves the interval on both
sides), for integers from 2^53 (2^24 for float) up, which it develops with `long` arithmetic
and a coarse "insignificant digits" rounding, and where a shortest candidate sits exactly on the
interval's edge, which a non-integer below 2^53 cannot (its edge needs one more binary, hence
decimal, place than the value). Everything else goes through the port, which skips straight to
the shortest length (see `_dtoa`). Verified against Java 17's Double/Float.toString on about a
million random doubles and floats each (random bits, short decimals, powers of two, integers).

The values go to msgspec as `msgspec.Raw` JSON fragments (see `raw_float` / `raw_double`).
"""

from __future__ import annotations

import math
import struct

import msgspec

_Raw = msgspec.Raw

# --- the port of FloatingDecimal (OpenJDK 17) ----------------------------------------------------

_EXP_SHIFT = 52
_MASK32, _MASK64 = (1 << 32) - 1, (1 << 64) - 1
_SMALL_5_POW = tuple(5**i for i in range(14))
_LONG_5_POW = tuple(5**i for i in range(27))
_N_5_BITS = (0, 3, 5, 7, 10, 12, 14, 17, 19, 21, 24, 26, 28, 31, 33, 35, 38, 40, 42, 45, 47, 49, 52, 54, 56, 59, 61)
_INSIGNIFICANT_DIGITS = (
    0, 0, 0, 0, 1, 1, 1, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 5, 5, 5, 6, 6, 6, 6, 7, 7, 7,
    8, 8, 8, 9, 9, 9, 9, 10, 10, 10, 11, 11, 11, 12, 12, 12, 12, 13, 13, 13, 14, 14, 14,
    15, 15, 15, 15, 16, 16, 16, 17, 17, 17, 18, 18, 18, 19,
)  # fmt: skip
_DOUBLE_BITS = struct.Struct("<d")
_LONG_BITS = struct.Struct("<q")


def _wrap32(v: int) -> int:
    v &= _MASK32
    return v - (1 << 32) if v >> 31 else v


def _wrap64(v: int) -> int:
    v &= _MASK64
    return v - (1 << 64) if v >> 63 else v


def _estimate_dec_exp(fract_bits: int, bin_exp: int) -> int:
    (d2,) = _DOUBLE_BITS.unpack(_LONG_BITS.pack((1023 << 52) | (fract_bits & ((1 << 52) - 1))))
    d = (d2 - 1.5) * 0.289529654 + 0.176091259 + float(bin_exp) * 0.301029995663981
    return math.floor(d)


def _long_digits(dec_exponent: int, lvalue: int, insignificant: int) -> tuple[str, int]:
    """developLongDigits: the digits of an integer, trailing zeros dropped."""
    if insignificant:
        pow10 = 10**insignificant
        residue = lvalue % pow10
        lvalue //= pow10
        dec_exponent += insignificant
        if residue >= pow10 >> 1:
            lvalue += 1
    text = str(lvalue)
    return text.rstrip("0"), dec_exponent + len(text)


def _dtoa(bin_exp: int, fract_bits: int, n_significant_bits: int, hint: int = 0) -> tuple[str, int]:
    """FloatingDecimal.BinaryToASCIIBuffer.dtoa (isCompatibleFormat): (digits, decExponent).

    `hint` > 1 is the length of the shortest round-trip digit string: the old generator cannot
    stop before it (it stops at the first length whose truncation or round-up lies *strictly*
    within half an ulp, an interval inside the true rounding interval, and m cannot overflow
    while the interval is narrower than a digit step), so the first `hint - 1` digits are
    developed with one division instead of one loop turn each."""
    tail_zeros = (fract_bits & -fract_bits).bit_length() - 1
    n_fract_bits = _EXP_SHIFT + 1 - tail_zeros
    n_tiny_bits = max(0, n_fract_bits - bin_exp - 1)
    # Java: MIN_SMALL_BIN_EXP <= binExp <= MAX_SMALL_BIN_EXP, the value fits a long once scaled
    # by 10^nTinyBits, and nTinyBits == 0 (its other "easy" subcase is commented out in the JDK)
    if -21 <= bin_exp <= 62 and n_tiny_bits == 0:
        insignificant = 0
        if bin_exp > n_significant_bits:
            p2 = bin_exp - n_significant_bits - 1
            insignificant = _INSIGNIFICANT_DIGITS[p2] if 1 < p2 < len(_INSIGNIFICANT_DIGITS) else 0
        if bin_exp >= _EXP_SHIFT:
            fract_bits = _wrap64(fract_bits << (bin_exp - _EXP_SHIFT))
        else:
            fract_bits >>= _EXP_SHIFT - bin_exp
        return _long_digits(0, fract_bits, insignificant)
    dec_exp = _estimate_dec_exp(fract_bits, bin_exp)
    b5 = max(0, -dec_exp)
    b2 = b5 + n_tiny_bits + bin_exp
    s5 = max(0, dec_exp)
    s2 = s5 + n_tiny_bits
    m5 = b5
    m2 = b2 - n_significant_bits
    fract_bits >>= tail_zeros
    b2 -= n_fract_bits - 1
    common = min(b2, s2)
    b2 -= common
    s2 -= common
    m2 -= common
    if n_fract_bits == 1:
        m2 -= 1
    if m2 < 0:
        b2 -= m2
        s2 -= m2
        m2 = 0
    b_bits = n_fract_bits + b2 + (_N_5_BITS[b5] if b5 < len(_N_5_BITS) else b5 * 3)
    ten_s_bits = s2 + 1 + (_N_5_BITS[s5 + 1] if s5 + 1 < len(_N_5_BITS) else (s5 + 1) * 3)
    # B, S, M exactly; Java's int/long paths compute the same values while nothing overflows
    b = fract_bits * 5**b5 << b2
    s = 5**s5 << s2
    m = 5**m5 << m2
    tens = s * 10
    if b_bits < 64 and ten_s_bits < 64:
        exact = False  # Java int (or long) arithmetic: m and b + m may overflow (wrap)
        top = (1 << 31) - 1 if b_bits < 32 and ten_s_bits < 32 else (1 << 63) - 1
        wrap = _wrap32 if top < 1 << 31 else _wrap64
    else:
        exact = True  # FDBigInteger: high is b + m >= tens (not >)
        top, wrap = 0, None
    q, b = divmod(b, s)
    b *= 10
    m *= 10
    if m > top and not exact:
        m = wrap(m)
    low = b < m
    high = tens <= b + m if exact else wrap(b + m) > tens
    digits = ""
    if q == 0 and not high:
        dec_exp -= 1
    else:
        digits = str(q)
    if dec_exp < -3 or dec_exp >= 8:
        high = low = False
    skip = hint - 1 - len(digits)
    if skip > 0 and not low and not high:
        scale = 10 ** (skip - 1)
        block, b = divmod(b * scale, s)
        digits += str(block).rjust(skip, "0")
        b *= 10
        m *= scale * 10
        low = b < m
        high = tens <= b + m if exact else b + m > tens  # no overflow before the shortest length
    while not low and not high:
        q, b = divmod(b, s)
        b *= 10
        m *= 10
        if exact:
            low = b < m
            high = tens <= b + m
        else:
            if m > top:
                m = wrap(m)
            if m > 0:
                low = b < m
                t = b + m
                high = (wrap(t) if t > top else t) > tens
            else:
                low = high = True
        digits += str(q)
    if exact:
        low_digit_difference = (b << 1) - tens if high and low else 0
    else:
        low_digit_difference = wrap(wrap(b << 1) - tens)
    dec_exponent = dec_exp + 1
    if high and (not low or low_digit_difference > 0 or (low_digit_difference == 0 and int(digits[-1]) & 1)):
        # roundup(): a carry out of the first digit keeps the digit count (sic)
        stripped = digits.rstrip("9")
        if stripped:
            digits = stripped[:-1] + str(int(stripped[-1]) + 1) + "0" * (len(digits) - len(stripped))
        else:
            dec_exponent += 1
            digits = "1" + "0" * (len(digits) - 1)
    return digits, dec_exponent


def _java_chars(negative: bool, digits: str, dec_exponent: int) -> str:
    """BinaryToASCIIBuffer.getChars: plain for 1e-3 <= |x| < 1e7, else d.dddE[-]n."""
    sign = "-" if negative else ""
    n = len(digits)
    if 0 < dec_exponent < 8:
        if n <= dec_exponent:
            return f"{sign}{digits}{'0' * (dec_exponent - n)}.0"
        return f"{sign}{digits[:dec_exponent]}.{digits[dec_exponent:]}"
    if -3 < dec_exponent <= 0:
        return f"{sign}0.{'0' * -dec_exponent}{digits}"
    return f"{sign}{digits[0]}.{digits[1:] or '0'}E{dec_exponent - 1}"


def java_double_slow(x: float, hint: int = 0) -> str:
    """Double.toString(x) of JDK 17 through the port (`hint`: see `_dtoa`)."""
    if math.isnan(x):
        return "NaN"
    if x in (math.inf, -math.inf):
        return "Infinity" if x > 0 else "-Infinity"
    (bits,) = _LONG_BITS.unpack(_DOUBLE_BITS.pack(x))
    negative = bits < 0
    fract = bits & ((1 << 52) - 1)
    bin_exp = (bits >> 52) & 0x7FF
    if bin_exp == 0:
        if fract == 0:
            return "-0.0" if negative else "0.0"
        leading = 64 - fract.bit_length()
        shift = leading - 11
        fract <<= shift
        bin_exp = 1 - shift
        n_significant_bits = 64 - leading
    else:
        fract |= 1 << 52
        n_significant_bits = 53
    digits, dec_exponent = _dtoa(bin_exp - 1023, fract, n_significant_bits, hint)
    return _java_chars(negative, digits, dec_exponent)


_FLOAT_BITS = struct.Struct("<f")
_INT_BITS = struct.Struct("<i")


def java_float_slow(x: float, hint: int = 0) -> str:
    """Float.toString((float) x) of JDK 17 through the port (`hint`: see `_dtoa`)."""
    if math.isnan(x):
        return "NaN"
    if x in (math.inf, -math.inf):
        return "Infinity" if x > 0 else "-Infinity"
    (bits,) = _INT_BITS.unpack(_FLOAT_BITS.pack(x))
    negative = bits < 0
    fract = bits & ((1 << 23) - 1)
    bin_exp = (bits >> 23) & 0xFF
    if bin_exp == 0:
        if fract == 0:
            return "-0.0" if negative else "0.0"
        leading = 32 - fract.bit_length()
        shift = leading - 8
        fract <<= shift
        bin_exp = 1 - shift
        n_significant_bits = 32 - leading
    else:
        fract |= 1 << 23
        n_significant_bits = 24
    digits, dec_exponent = _dtoa(bin_exp - 127, fract << 29, n_significant_bits, hint)
    return _java_chars(negative, digits, dec_exponent)


# --- the fast path -----------------------------------------------------------------------------


def _from_shortest(text: str) -> str:
    """Python's shortest repr ('1e-05', '12.5', '1.7976931348623157e+308') in Java's layout."""
    negative = text[0] == "-"
    if negative:
        text = text[1:]
    mantissa, _, exp = text.partition("e")
    whole, _, frac = mantissa.partition(".")
    digits = (whole + frac).lstrip("0")
    lead = len(whole + frac) - len(digits)  # zeros before the first significant digit
    dec_exponent = len(whole) - lead + (int(exp) if exp else 0)
    return _java_chars(negative, digits.rstrip("0") or "0", dec_exponent)


_TWO_53, _TWO_24 = float(2**53), float(2**24)
_INF = math.inf


def _plain(text: str, x: float) -> str:
    """Shortest text in Java's layout; plain decimals between 1e-3 and 1e7 are already it."""
    if 1e-3 <= abs(x) < 1e7 and "e" not in text:
        return text if "." in text else text + ".0"
    return _from_shortest(text)


def _digit_count(text: str) -> int:
    """Significant digits of a shortest repr ('1.5e-05' -> 2)."""
    return len(text.partition("e")[0].replace("-", "").replace(".", "").strip("0"))


def java_double(x: float) -> str:
    """Double.toString(x) as JDK 17 prints it."""
    if x == 0.0 or math.isnan(x) or x == _INF or x == -_INF:
        return java_double_slow(x)
    r = repr(x)
    if abs(x) < _TWO_53 and abs(math.frexp(x)[0]) != 0.5:
        return _plain(r, x)
    return java_double_slow(x, _digit_count(r))


def java_double_text(text: str) -> str:
    """Double.toString of a float8 given as PostgreSQL's shortest text (extra_float_digits=3)."""
    x = float(text)
    if x == 0.0 or math.isnan(x) or x == _INF or x == -_INF:
        return java_double_slow(x)
    if abs(x) < _TWO_53 and abs(math.frexp(x)[0]) != 0.5:
        return _plain(text, x)
    return java_double_slow(x, _digit_count(text))


def java_float_text(text: str) -> str:
    """Float.toString of a float4 given as PostgreSQL's shortest text (extra_float_digits=3)."""
    x = float(text)
    if x == 0.0 or math.isnan(x) or x == _INF or x == -_INF:
        return java_float_slow(x)
    if abs(x) < _TWO_24 and abs(math.frexp(_FLOAT_BITS.unpack(_FLOAT_BITS.pack(x))[0])[0]) != 0.5:
        return _plain(text, x)
    return java_float_slow(x, _digit_count(text))


# --- JSON fragments --------------------------------------------------------------------------

_SPECIAL = {"NaN": "NaN", "Infinity": "Infinity", "-Infinity": "-Infinity"}


def raw_double(x: float) -> object:
    """A double as Jackson writes it: a JSON number in Java spelling, or the string "NaN" /
    "Infinity" / "-Infinity"."""
    text = java_double(x)
    return _SPECIAL.get(text) or _Raw(text.encode())


def raw_float8_text(raw: bytes) -> object:
    """float8out text -> the JSON of Debezium's FLOAT64."""
    if raw[-1] >= 58:  # NaN, Infinity, -Infinity end in a letter
        return raw.decode()
    return _Raw(java_double_text(raw.decode()).encode())


def raw_float4_text(raw: bytes) -> object:
    """float4out text -> the JSON of Debezium's FLOAT32."""
    if raw[-1] >= 58:
        return raw.decode()
    return _Raw(java_float_text(raw.decode()).encode())
