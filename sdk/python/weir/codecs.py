"""How values become bytes: the portable codecs of ``wit/CONTRACT.md``.

A codec's ``name`` is stored with keyed state, so a savepoint written by a
function in another language restores here exactly when the names match.
"""

import dataclasses
import json
import struct

from . import msgpack
from .errors import DecodeError, UserError


class Codec:
    """Encodes values to bytes and back; ``name`` identifies the encoding."""

    name = "bytes"

    def encode(self, value):
        """The bytes of ``value``; raises ``UserError`` if it cannot be encoded."""
        raise NotImplementedError

    def decode(self, data):
        """The value of ``data``; raises ``DecodeError`` if it is not this encoding."""
        raise NotImplementedError

    def __repr__(self):
        return f"<codec {self.name}>"


class _String(Codec):
    name = "string"

    def encode(self, value):
        if not isinstance(value, str):
            raise UserError(f"the string codec takes str, not {type(value).__name__}")
        return value.encode()

    def decode(self, data):
        try:
            return bytes(data).decode()
        except UnicodeDecodeError as e:
            raise DecodeError(f"record is not UTF-8 text: {e}") from None


class _Bytes(Codec):
    name = "bytes"

    def encode(self, value):
        if not isinstance(value, (bytes, bytearray, memoryview)):
            raise UserError(f"the bytes codec takes bytes, not {type(value).__name__}")
        return bytes(value)

    def decode(self, data):
        return bytes(data)


class _Fixed(Codec):
    def __init__(self, name, fmt):
        self.name = name
        self._struct = struct.Struct("<" + fmt)
        self._integer = fmt not in "fd"

        self._pack = self._struct.pack
        self._unpack = self._struct.unpack
        self._size = self._struct.size

    def encode(self, value):
        if self._integer and type(value) is not int:
            if isinstance(value, bool) or not isinstance(value, int):
                raise UserError(f"the {self.name} codec takes int, not {type(value).__name__}")
        try:
            return self._pack(value)
        except (struct.error, OverflowError) as e:
            raise UserError(f"{value!r} does not fit {self.name}: {e}") from None

    def decode(self, data):
        if len(data) != self._size:
            raise DecodeError(f"expected {self._size} bytes for {self.name}, got {len(data)}")
        return self._unpack(data)[0]


class _Bool(Codec):
    name = "bool"

    def encode(self, value):
        if not isinstance(value, bool):
            raise UserError(f"the bool codec takes bool, not {type(value).__name__}")
        return b"\x01" if value else b"\x00"

    def decode(self, data):
        if data == b"\x00":
            return False
        if data == b"\x01":
            return True
        raise DecodeError("expected one byte 0 or 1 for a bool")


class _Unit(Codec):
    name = "unit"

    def encode(self, value):
        if value is not None:
            raise UserError("the unit codec takes None")
        return b""

    def decode(self, data):
        if len(data):
            raise DecodeError("expected no bytes for unit")
        return None


class Json(Codec):
    """Compact UTF-8 JSON. ``Json(SomeDataclass)`` decodes objects into it."""

    name = "json"

    def __init__(self, cls=None):
        self._cls = cls

    def encode(self, value):
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            value = dataclasses.asdict(value)
        try:
            text = json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
        except (TypeError, ValueError) as e:
            raise UserError(f"cannot encode the value as JSON: {e}") from None
        return text.encode()

    def decode(self, data):
        try:
            value = json.loads(bytes(data))
        except (ValueError, UnicodeDecodeError) as e:
            raise DecodeError(f"invalid JSON record: {e}") from None
        if self._cls is not None:
            if not isinstance(value, dict):
                raise DecodeError(f"expected a JSON object for {self._cls.__name__}")
            try:
                return self._cls(**value)
            except TypeError as e:
                raise DecodeError(f"JSON object does not fit {self._cls.__name__}: {e}") from None
        return value


class MsgPack(Json):
    """MessagePack, the portable binary codec; ``MsgPack(SomeDataclass)``
    decodes maps into it. Compact and faster to decode than JSON."""

    name = "msgpack"

    def encode(self, value):
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            value = dataclasses.asdict(value)
        out = bytearray()
        msgpack.pack(value, out)
        return bytes(out)

    def decode(self, data):
        value = msgpack.unpack(bytes(data))
        if self._cls is not None:
            if not isinstance(value, dict):
                raise DecodeError(f"expected a MessagePack map for {self._cls.__name__}")
            try:
                return self._cls(**value)
            except TypeError as e:
                raise DecodeError(f"map does not fit {self._cls.__name__}: {e}") from None
        return value


STRING = _String()
BYTES = _Bytes()
U8 = _Fixed("u8", "B")
U16 = _Fixed("u16", "H")
U32 = _Fixed("u32", "I")
U64 = _Fixed("u64", "Q")
I8 = _Fixed("i8", "b")
I16 = _Fixed("i16", "h")
I32 = _Fixed("i32", "i")
I64 = _Fixed("i64", "q")
F32 = _Fixed("f32", "f")
F64 = _Fixed("f64", "d")
BOOL = _Bool()
UNIT = _Unit()
JSON = Json()
MSGPACK = MsgPack()

BY_NAME = {
    c.name: c
    for c in (STRING, BYTES, U8, U16, U32, U64, I8, I16, I32, I64, F32, F64, BOOL, UNIT, JSON, MSGPACK)
}
"""The built-in codecs by name."""
