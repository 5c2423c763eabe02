"""A strict reader for the one Java-serialized shape Kafka Connect's offsets file holds.

Kafka Connect standalone keeps source offsets in `offset.storage.file.filename`
(`FileOffsetBackingStore.save`): `new ObjectOutputStream(file).writeObject(raw)` where `raw` is a
`HashMap<byte[], byte[]>` of serialized keys and values. The bytes of that stream
(Java Object Serialization Specification, chapter 6 "Object Serialization Stream Protocol"):

    AC ED 00 05                                     STREAM_MAGIC, STREAM_VERSION
    73                                              TC_OBJECT
      72 "java.util.HashMap" <suid 8> 03            TC_CLASSDESC name, serialVersionUID,
         00 02  'F' "loadFactor"  'I' "threshold"   SC_SERIALIZABLE|SC_WRITE_METHOD, 2 fields
         78 70                                      TC_ENDBLOCKDATA (no annotation), TC_NULL super
      <loadFactor float> <threshold int>            defaultWriteObject's fields
      77 08 <capacity int> <size int>               TC_BLOCKDATA written by HashMap.writeObject
      size × (key, value), each one of:
        70                                          TC_NULL
        75 72 "[B" <suid 8> 02 00 00 78 70 <n> ..   TC_ARRAY, class descriptor of byte[], length, bytes
        75 71 <handle> <n> ..                       TC_ARRAY, TC_REFERENCE to that descriptor
        71 <handle>                                 TC_REFERENCE to an array read before
      78                                            TC_ENDBLOCKDATA

Strings are modified UTF-8 with a u2 length; handles count from 0x7E0000 in the order objects
and descriptors appear. Anything else is refused: this is not a general deserializer (and must
not become one: general Java deserialization of untrusted files is a known hazard).
"""

from __future__ import annotations

import struct

from bridge.errors import ConfigError

STREAM_MAGIC, STREAM_VERSION = 0xACED, 5
TC_NULL, TC_REFERENCE, TC_CLASSDESC, TC_OBJECT, TC_ARRAY = 0x70, 0x71, 0x72, 0x73, 0x75
TC_BLOCKDATA, TC_ENDBLOCKDATA = 0x77, 0x78
BASE_HANDLE = 0x7E0000

HASHMAP = ("java.util.HashMap", 0x0507DAC1C31660D1, 0x03, (("F", "loadFactor"), ("I", "threshold")))
BYTE_ARRAY = ("[B", 0xACF317F8060854E0, 0x02, ())

_U2 = struct.Struct(">H")
_I4 = struct.Struct(">i")
_U8 = struct.Struct(">Q")
_F4 = struct.Struct(">f")


class SerializationError(ConfigError):
    """The bytes are not the serialized `HashMap<byte[], byte[]>` of a Kafka Connect offsets file."""


class _Stream:
    def __init__(self, data: bytes, source: str) -> None:
        self.data = memoryview(data)
        self.pos = 0
        self.source = source
        self.handles: list[object] = []  # index = handle - BASE_HANDLE

    def fail(self, reason: str, at: int | None = None) -> SerializationError:
        return SerializationError(f"{self.source}: not a Kafka Connect offsets file "
                                  f"(a Java-serialized HashMap<byte[], byte[]>): {reason} at byte {self.pos if at is None else at}")

    def take(self, n: int) -> memoryview:
        if n < 0 or self.pos + n > len(self.data):
            raise self.fail(f"truncated (needs {n} more bytes)")
        out = self.data[self.pos:self.pos + n]
        self.pos += n
        return out

    def u1(self) -> int:
        return self.take(1)[0]

    def unpack(self, st: struct.Struct):
        return st.unpack(self.take(st.size))[0]

    def utf(self) -> str:
        raw = self.take(self.unpack(_U2))
        try:
            return bytes(raw).decode("utf-8")  # modified UTF-8 equals UTF-8 for the names we accept
        except UnicodeDecodeError:
            raise self.fail("a class or field name is not valid UTF-8") from None

    def expect(self, tag: int, what: str) -> None:
        at = self.pos
        got = self.u1()
        if got != tag:
            raise self.fail(f"expected {what} (0x{tag:02X}), found 0x{got:02X}", at)

    def new_handle(self, obj: object) -> None:
        self.handles.append(obj)

    def reference(self) -> object:
        at = self.pos
        handle = self.unpack(_I4) - BASE_HANDLE
        if not 0 <= handle < len(self.handles):
            raise self.fail(f"back-reference 0x{handle + BASE_HANDLE:X} to nothing read before", at)
        return self.handles[handle]

    def class_desc(self, expected: tuple) -> None:
        """A TC_CLASSDESC that must match `expected` = (name, serialVersionUID, flags, fields)."""
        name, suid, flags, fields = expected
        at = self.pos
        if (got := self.utf()) != name:
            raise self.fail(f"class {got!r} where {name} was expected", at)
        if (got_suid := self.unpack(_U8)) != suid:
            raise self.fail(f"{name} with serialVersionUID {got_suid:#x}, expected {suid:#x}", at)
        if (got_flags := self.u1()) != flags:
            raise self.fail(f"{name} with flags 0x{got_flags:02X}, expected 0x{flags:02X}", at)
        count = self.unpack(_U2)
        got_fields = []
        for _ in range(count):
            code = chr(self.u1())
            got_fields.append((code, self.utf()))
            if code in "[L":  # object fields also carry their type's name
                raise self.fail(f"{name} has an object field {got_fields[-1][1]!r}")
        if tuple(got_fields) != fields:
            raise self.fail(f"{name} has fields {got_fields}, expected {list(fields)}", at)
        self.expect(TC_ENDBLOCKDATA, f"the end of {name}'s class annotation")
        self.expect(TC_NULL, f"no serializable superclass of {name}")
        self.new_handle(expected)

    def bytes_or_null(self) -> bytes | None:
        at = self.pos
        tag = self.u1()
        if tag == TC_NULL:
            return None
        if tag == TC_REFERENCE:
            obj = self.reference()
            if not isinstance(obj, bytes):
                raise self.fail("back-reference to something other than a byte[]", at)
            return obj
        if tag != TC_ARRAY:
            raise self.fail(f"expected a byte[] (TC_ARRAY 0x75) or null, found 0x{tag:02X}", at)
        desc_at = self.pos
        desc = self.u1()
        if desc == TC_CLASSDESC:
            self.class_desc(BYTE_ARRAY)
        elif desc == TC_REFERENCE:
            if self.reference() is not BYTE_ARRAY:
                raise self.fail("array class back-reference is not byte[]", desc_at)
        else:
            raise self.fail(f"expected the class descriptor of byte[], found 0x{desc:02X}", desc_at)
        length = self.unpack(_I4)
        value = bytes(self.take(length))
        self.new_handle(value)
        return value


def read_byte_map(data: bytes, source: str = "offsets file") -> list[tuple[bytes | None, bytes | None]]:
    """The (key, value) entries of a serialized `HashMap<byte[], byte[]>`, in stream order."""
    s = _Stream(data, source)
    if len(data) < 4 or _U2.unpack_from(data, 0)[0] != STREAM_MAGIC:
        raise s.fail("no Java serialization magic 0xACED", 0)
    s.pos = 2
    if (version := s.unpack(_U2)) != STREAM_VERSION:
        raise s.fail(f"stream version {version}, expected {STREAM_VERSION}", 2)
    s.expect(TC_OBJECT, "a HashMap object (TC_OBJECT)")
    s.expect(TC_CLASSDESC, "the HashMap class descriptor (TC_CLASSDESC)")
    s.class_desc(HASHMAP)
    s.new_handle("the HashMap")
    load_factor = s.unpack(_F4)
    s.unpack(_I4)  # threshold: HashMap recomputes it
    if not load_factor > 0:
        raise s.fail(f"HashMap loadFactor {load_factor}")
    s.expect(TC_BLOCKDATA, "HashMap's block data (capacity, size)")
    at = s.pos
    if (length := s.u1()) != 8:
        raise s.fail(f"HashMap block data of {length} bytes, expected 8", at)
    s.unpack(_I4)  # capacity (bucket count)
    at = s.pos
    size = s.unpack(_I4)
    if size < 0:
        raise s.fail(f"HashMap size {size}", at)
    entries = [(s.bytes_or_null(), s.bytes_or_null()) for _ in range(size)]
    s.expect(TC_ENDBLOCKDATA, f"the end of the HashMap after {size} entries")
    if s.pos != len(data):
        raise s.fail(f"{len(data) - s.pos} bytes after the HashMap")
    return entries
