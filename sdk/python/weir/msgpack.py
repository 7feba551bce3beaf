"""MessagePack, the portable binary codec (``msgpack`` in ``wit/CONTRACT.md``):
what the Rust SDK's ``MsgPack<T>`` writes (structs as maps of field
names), read and written here without dependencies."""

import struct

from .errors import DecodeError, UserError

_BE = {n: struct.Struct(">" + f) for n, f in (("B", "B"), ("H", "H"), ("I", "I"), ("Q", "Q"),
                                             ("b", "b"), ("h", "h"), ("i", "i"), ("q", "q"),
                                             ("f", "f"), ("d", "d"))}


def _int(v, out):
    if v >= 0:
        if v < 0x80:
            out.append(v)
        elif v <= 0xFF:
            out += b"\xcc" + _BE["B"].pack(v)
        elif v <= 0xFFFF:
            out += b"\xcd" + _BE["H"].pack(v)
        elif v <= 0xFFFFFFFF:
            out += b"\xce" + _BE["I"].pack(v)
        elif v <= 0xFFFFFFFFFFFFFFFF:
            out += b"\xcf" + _BE["Q"].pack(v)
        else:
            raise UserError(f"{v} is too large for MessagePack")
    elif v >= -32:
        out.append(v & 0xFF)
    elif v >= -0x80:
        out += b"\xd0" + _BE["b"].pack(v)
    elif v >= -0x8000:
        out += b"\xd1" + _BE["h"].pack(v)
    elif v >= -0x80000000:
        out += b"\xd2" + _BE["i"].pack(v)
    elif v >= -0x8000000000000000:
        out += b"\xd3" + _BE["q"].pack(v)
    else:
        raise UserError(f"{v} is too small for MessagePack")


def _sized(n, out, fix, fix_max, tags):
    """A length header: the fix form, else the 8/16/32-bit forms in ``tags``."""
    if fix is not None and n <= fix_max:
        out.append(fix | n)
    elif tags[0] is not None and n <= 0xFF:
        out += bytes([tags[0]]) + _BE["B"].pack(n)
    elif n <= 0xFFFF:
        out += bytes([tags[1]]) + _BE["H"].pack(n)
    elif n <= 0xFFFFFFFF:
        out += bytes([tags[2]]) + _BE["I"].pack(n)
    else:
        raise UserError("a value too long for MessagePack")


def pack(v, out):
    """Appends the encoding of ``v`` to the bytearray ``out``."""
    if v is None:
        out.append(0xC0)
    elif v is True:
        out.append(0xC3)
    elif v is False:
        out.append(0xC2)
    elif isinstance(v, int):
        _int(v, out)
    elif isinstance(v, float):
        out += b"\xcb" + _BE["d"].pack(v)
    elif isinstance(v, str):
        b = v.encode()
        _sized(len(b), out, 0xA0, 31, (0xD9, 0xDA, 0xDB))
        out += b
    elif isinstance(v, (bytes, bytearray, memoryview)):
        _sized(len(v), out, None, 0, (0xC4, 0xC5, 0xC6))
        out += v
    elif isinstance(v, (list, tuple)):
        _sized(len(v), out, 0x90, 15, (None, 0xDC, 0xDD))
        for x in v:
            pack(x, out)
    elif isinstance(v, dict):
        _sized(len(v), out, 0x80, 15, (None, 0xDE, 0xDF))
        for k, x in v.items():
            pack(k, out)
            pack(x, out)
    else:
        raise UserError(f"cannot encode a {type(v).__name__} as MessagePack")


class _Unpacker:
    __slots__ = ("buf", "pos")

    def __init__(self, buf):
        self.buf, self.pos = buf, 0

    def take(self, n):
        end = self.pos + n
        if end > len(self.buf):
            raise DecodeError(f"invalid MessagePack record: truncated at byte {self.pos}")
        v = self.buf[self.pos : end]
        self.pos = end
        return v

    def num(self, fmt):
        s = _BE[fmt]
        return s.unpack(self.take(s.size))[0]

    def value(self, depth=0):
        if depth > 512:
            raise DecodeError("invalid MessagePack record: nested too deeply")
        t = self.take(1)[0]
        if t < 0x80:
            return t
        if t >= 0xE0:
            return t - 0x100
        if 0x80 <= t <= 0x8F:
            return self.map(t & 0x0F, depth)
        if 0x90 <= t <= 0x9F:
            return self.array(t & 0x0F, depth)
        if 0xA0 <= t <= 0xBF:
            return self.str(t & 0x1F)
        simple = {0xC0: None, 0xC2: False, 0xC3: True}
        if t in simple:
            return simple[t]
        sized = {0xC4: ("B", "bin"), 0xC5: ("H", "bin"), 0xC6: ("I", "bin"),
                 0xD9: ("B", "str"), 0xDA: ("H", "str"), 0xDB: ("I", "str"),
                 0xDC: ("H", "array"), 0xDD: ("I", "array"), 0xDE: ("H", "map"), 0xDF: ("I", "map")}
        if t in sized:
            fmt, kind = sized[t]
            n = self.num(fmt)
            if kind == "bin":
                return bytes(self.take(n))
            if kind == "str":
                return self.str(n)
            return self.array(n, depth) if kind == "array" else self.map(n, depth)
        nums = {0xCA: "f", 0xCB: "d", 0xCC: "B", 0xCD: "H", 0xCE: "I", 0xCF: "Q",
                0xD0: "b", 0xD1: "h", 0xD2: "i", 0xD3: "q"}
        if t in nums:
            return self.num(nums[t])
        raise DecodeError(f"invalid MessagePack record: type byte 0x{t:02x} at {self.pos - 1} is not supported")

    def str(self, n):
        try:
            return bytes(self.take(n)).decode()
        except UnicodeDecodeError as e:
            raise DecodeError(f"invalid MessagePack record: a string is not UTF-8: {e}") from None

    def array(self, n, depth):
        return [self.value(depth + 1) for _ in range(n)]

    def map(self, n, depth):
        out = {}
        for _ in range(n):
            k = self.value(depth + 1)
            try:
                out[k] = self.value(depth + 1)
            except TypeError:
                raise DecodeError("invalid MessagePack record: a map key that is a list or map") from None
        return out


def unpack(data):
    """The value encoded in ``data`` (all of it)."""
    u = _Unpacker(data)
    v = u.value()
    if u.pos != len(data):
        raise DecodeError(f"invalid MessagePack record: {len(data) - u.pos} bytes after the value")
    return v
