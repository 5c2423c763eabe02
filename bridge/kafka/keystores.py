"""Java key and trust stores (JKS, PKCS12) read into the PEM text librdkafka takes in memory.

librdkafka reads a PKCS12 keystore itself, but no JKS file and no truststore other than PEM.
What it cannot read is turned into PEM here and handed over as `ssl.ca.pem`, `ssl.key.pem` and
`ssl.certificate.pem`: no file with a clear private key is ever written.

JKS is read by this module (the format is plain: entries, then a SHA-1 integrity digest keyed
with the store's password; a private key is protected by Sun's SHA-1 keystream, which hashlib
is enough for). A PKCS12 truststore's certificates are encrypted (AES or 3DES under PBES), which
needs the `cryptography` package: the optional extra `pgbridge[pkcs12]`. JCEKS (3DES) is refused.
Errors never carry a password.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import struct
from dataclasses import dataclass, field

from bridge.errors import ConfigError

JKS_MAGIC = b"\xfe\xed\xfe\xed"
JCEKS_MAGIC = b"\xce\xce\xce\xce"
_PRIVATE_KEY, _TRUSTED_CERT = 1, 2
_SUN_KEY_PROTECTOR = "1.3.6.1.4.1.42.2.17.1.1"  # the only key protection a JKS file uses
_PKCS12_EXTRA = "pip install 'pgbridge[pkcs12]'"


@dataclass(frozen=True, slots=True)
class StoreContents:
    """A store's entries in PEM: its private key with that key's certificate chain, and the
    certificates it trusts."""

    key_pem: str | None = field(default=None, repr=False)
    chain_pem: str = ""
    trusted_pem: str = ""


def store_format(data: bytes) -> str:
    """JKS, JCEKS or PKCS12, by the file's first bytes (Java reads either type under either name)."""
    if data.startswith(JKS_MAGIC):
        return "JKS"
    if data.startswith(JCEKS_MAGIC):
        return "JCEKS"
    return "PKCS12"


def read_store(path: str) -> bytes:
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError as exc:
        raise ConfigError(f"cannot be read: {exc.strerror}") from None


def read_jks(data: bytes, store_password: str | None, key_password: str | None = None) -> StoreContents:
    """Every entry of a JKS file. The integrity digest is checked when a store password is given
    (Java skips it without one); the private key, if any, is decrypted with `key_password`, or
    the store password as Java's Kafka client does."""
    reader = _Reader(data)
    if reader.take(4) != JKS_MAGIC or reader.u32() not in (1, 2):
        raise ConfigError("is not a JKS file")
    version = struct.unpack(">I", data[4:8])[0]
    keys: list[tuple[bytes, list[bytes]]] = []
    trusted: list[bytes] = []
    for _ in range(reader.u32()):
        tag = reader.u32()
        reader.utf()  # alias
        reader.take(8)  # creation time
        if tag == _PRIVATE_KEY:
            protected = reader.take(reader.u32())
            chain = [_certificate(reader, version) for _ in range(reader.u32())]
            keys.append((protected, chain))
        elif tag == _TRUSTED_CERT:
            trusted.append(_certificate(reader, version))
        else:
            raise ConfigError(f"holds an entry of unknown kind {tag} (a secret-key entry?): not a JKS key or trust store")
    end = reader.offset
    digest = reader.take(20)
    if store_password:
        expected = hashlib.sha1(_password_bytes(store_password) + b"Mighty Aphrodite" + data[:end]).digest()
        if not hmac.compare_digest(digest, expected):
            raise ConfigError("cannot be opened: the password is wrong or the file is damaged "
                              "(its integrity check failed)")
    if len(keys) > 1:
        raise ConfigError(f"holds {len(keys)} private keys; a Kafka client presents one: keep one")
    if not keys:
        return StoreContents(trusted_pem=_pem_certificates(trusted))
    protected, chain = keys[0]
    password = key_password or store_password
    if not password:
        raise ConfigError("holds a private key but no password is given to decrypt it")
    key = _unprotect(protected, password)
    return StoreContents(_pem("PRIVATE KEY", key), _pem_certificates(chain), _pem_certificates(trusted))


def read_pkcs12_certificates(data: bytes, password: str | None) -> str:
    """Every certificate of a PKCS12 file, in PEM (for a truststore)."""
    try:
        from cryptography.hazmat.primitives.serialization import Encoding, pkcs12
    except ImportError:
        raise ConfigError(f"is a PKCS12 truststore, which needs the pgbridge[pkcs12] extra: {_PKCS12_EXTRA} "
                          "(or give the CA certificates in PEM with ssl.truststore.type=PEM)") from None
    try:
        store = pkcs12.load_pkcs12(data, password.encode() if password else None)
    except ValueError:
        raise ConfigError("cannot be opened: the password is wrong or the file is not PKCS12") from None
    certificates = ([store.cert] if store.cert else []) + list(store.additional_certs)
    return "".join(c.certificate.public_bytes(Encoding.PEM).decode() for c in certificates)


def read_pkcs12_key(data: bytes, password: str | None) -> StoreContents:
    """A PKCS12 keystore's private key and its certificate chain, in PEM (for a client that reads
    PEM only: the schema registry's)."""
    try:
        from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat, pkcs12
    except ImportError:
        raise ConfigError(f"is a PKCS12 keystore, which needs the pgbridge[pkcs12] extra: {_PKCS12_EXTRA} "
                          "(or give the key and certificate in PEM)") from None
    try:
        key, cert, extra = pkcs12.load_key_and_certificates(data, password.encode() if password else None)
    except ValueError:
        raise ConfigError("cannot be opened: the password is wrong or the file is not PKCS12") from None
    if key is None:
        return StoreContents(trusted_pem="".join(c.public_bytes(Encoding.PEM).decode() for c in extra))
    chain = ([cert] if cert is not None else []) + list(extra)
    return StoreContents(key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()).decode(),
                         "".join(c.public_bytes(Encoding.PEM).decode() for c in chain))


def read_trusted(data: bytes, password: str | None) -> str:
    """The certificates a JKS or PKCS12 truststore trusts, in PEM."""
    fmt = store_format(data)
    if fmt == "JCEKS":
        raise ConfigError("is a JCEKS store, which pgbridge does not read: convert it to PKCS12 "
                          "(keytool -importkeystore -deststoretype PKCS12)")
    pem = read_jks(data, password).trusted_pem if fmt == "JKS" else read_pkcs12_certificates(data, password)
    if not pem:
        raise ConfigError("holds no certificate to trust")
    return pem


def read_key(data: bytes, store_password: str | None, key_password: str | None) -> StoreContents:
    """A JKS or PKCS12 keystore's private key and certificate chain, in PEM."""
    fmt = store_format(data)
    if fmt == "JCEKS":
        raise ConfigError("is a JCEKS store, which pgbridge does not read: convert it to PKCS12 "
                          "(keytool -importkeystore -deststoretype PKCS12)")
    store = read_jks(data, store_password, key_password) if fmt == "JKS" else read_pkcs12_key(data, store_password)
    if store.key_pem is None:
        raise ConfigError("holds no private key: a keystore presents one")
    return store


def _unprotect(protected: bytes, password: str) -> bytes:
    """The PKCS#8 key inside Sun's KeyProtector: salt (20) | key XOR keystream | SHA-1 check (20),
    where the keystream is SHA-1(password | previous block), starting from the salt."""
    algorithm, encrypted = _encrypted_private_key_info(protected)
    if algorithm != _SUN_KEY_PROTECTOR:
        raise ConfigError(f"protects its private key with algorithm {algorithm}, which pgbridge cannot read")
    if len(encrypted) < 41:
        raise ConfigError("holds a damaged private key entry")
    secret = _password_bytes(password)
    salt, body, check = encrypted[:20], encrypted[20:-20], encrypted[-20:]
    stream = bytearray()
    block = salt
    while len(stream) < len(body):
        block = hashlib.sha1(secret + block).digest()
        stream += block
    key = bytes(a ^ b for a, b in zip(body, stream))
    if not hmac.compare_digest(hashlib.sha1(secret + key).digest(), check):
        raise ConfigError("holds a private key that its password does not open (ssl.key.password, or the "
                          "store's password when that is not given)")
    return key


def _encrypted_private_key_info(der: bytes) -> tuple[str, bytes]:
    """(algorithm OID, encrypted bytes) of a DER EncryptedPrivateKeyInfo."""
    try:
        (start, _), _ = _tlv(der, 0, 0x30)
        (alg_start, _), after_alg = _tlv(der, start, 0x30)
        (oid_start, oid_end), _ = _tlv(der, alg_start, 0x06)
        (data_start, data_end), _ = _tlv(der, after_alg, 0x04)
    except (IndexError, ValueError):
        raise ConfigError("holds a damaged private key entry") from None
    return _oid(der[oid_start:oid_end]), der[data_start:data_end]


def _tlv(der: bytes, i: int, tag: int) -> tuple[tuple[int, int], int]:
    """((value start, value end), next offset) of the DER element at `i`, which must be `tag`."""
    if der[i] != tag:
        raise ValueError("unexpected tag")
    length, i = der[i + 1], i + 2
    if length & 0x80:
        count = length & 0x7F
        length, i = int.from_bytes(der[i:i + count], "big"), i + count
    if i + length > len(der):
        raise ValueError("truncated")
    return (i, i + length), i + length


def _oid(raw: bytes) -> str:
    parts = [raw[0] // 40, raw[0] % 40]
    value = 0
    for byte in raw[1:]:
        value = (value << 7) | (byte & 0x7F)
        if not byte & 0x80:
            parts.append(value)
            value = 0
    return ".".join(map(str, parts))


def _password_bytes(password: str) -> bytes:
    # Java hands a char[] to both digests: each UTF-16 unit as two bytes, high byte first.
    return password.encode("utf-16-be")


def _certificate(reader: _Reader, version: int) -> bytes:
    if version == 2:
        kind = reader.utf()
        if kind != "X.509":
            raise ConfigError(f"holds a {kind} certificate; only X.509 ones are read")
    return reader.take(reader.u32())


def _pem(label: str, der: bytes) -> str:
    text = base64.b64encode(der).decode()
    lines = "\n".join(text[i:i + 64] for i in range(0, len(text), 64))
    return f"-----BEGIN {label}-----\n{lines}\n-----END {label}-----\n"


def _pem_certificates(certificates: list[bytes]) -> str:
    return "".join(_pem("CERTIFICATE", der) for der in certificates)


class _Reader:
    """Big-endian fields of a JKS file; running past its end is a damaged file."""

    def __init__(self, data: bytes) -> None:
        self.data, self.offset = data, 0

    def take(self, n: int) -> bytes:
        if self.offset + n > len(self.data):
            raise ConfigError("is truncated or damaged")
        chunk = self.data[self.offset:self.offset + n]
        self.offset += n
        return chunk

    def u32(self) -> int:
        return struct.unpack(">I", self.take(4))[0]

    def utf(self) -> str:
        return self.take(struct.unpack(">H", self.take(2))[0]).decode("utf-8", "replace")
