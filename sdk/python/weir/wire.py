"""The flat batch format of ``wit/FORMAT.md``: readers over the host's input
buffers and a writer of result entries.

Everything is little-endian; ``bytes`` fields are a u32 length and the
bytes. Readers raise ``DecodeError`` on a truncated or malformed buffer.
"""

import struct

from .errors import DecodeError

NO_TIMESTAMP = -(1 << 63)
ABSENT = 0xFFFFFFFF

MAIN, SIDE, VALUE_SET, VALUE_CLEAR, TIMER_REGISTER, TIMER_DELETE, RECORD_FAILED = range(7)
EVENT_TIME, PROCESSING_TIME = 0, 1
FAILURE_KIND = {"user": 0, "decode": 1}

_I64 = struct.Struct("<q")
_U32 = struct.Struct("<I")
_U16 = struct.Struct("<H")
_TS_LEN = struct.Struct("<qI")
_MAIN_HEAD = struct.Struct("<BqI")
_SLOT_STATE_LEN = struct.Struct("<BIII")
_SLOT_STATE = struct.Struct("<BII")
_TIMER = struct.Struct("<BIBq")
_FAILED = struct.Struct("<BIIBI")


def _short(offset, what):
    return DecodeError(f"batch truncated at byte {offset}: expected {what}")


class Reader:
    """Reads fields from a buffer, front to back."""

    __slots__ = ("buf", "pos")

    def __init__(self, buf):
        self.buf = buf
        self.pos = 0

    def at_end(self):
        return self.pos >= len(self.buf)

    def u8(self):
        if self.pos + 1 > len(self.buf):
            raise _short(self.pos, "a u8")
        self.pos += 1
        return self.buf[self.pos - 1]

    def u16(self):
        if self.pos + 2 > len(self.buf):
            raise _short(self.pos, "a u16")
        v = _U16.unpack_from(self.buf, self.pos)[0]
        self.pos += 2
        return v

    def u32(self):
        if self.pos + 4 > len(self.buf):
            raise _short(self.pos, "a u32")
        v = _U32.unpack_from(self.buf, self.pos)[0]
        self.pos += 4
        return v

    def i64(self):
        if self.pos + 8 > len(self.buf):
            raise _short(self.pos, "an i64")
        v = _I64.unpack_from(self.buf, self.pos)[0]
        self.pos += 8
        return v

    def take(self, n):
        end = self.pos + n
        if end > len(self.buf):
            raise DecodeError(
                f"length {n} at byte {self.pos - 4} runs past the end of the batch ({len(self.buf)} bytes)"
            )
        v = self.buf[self.pos : end]
        self.pos = end
        return v

    def bytes(self):
        return self.take(self.u32())

    def opt_bytes(self):
        n = self.u32()
        return None if n == ABSENT else self.take(n)

    def ts_value(self):
        """A ``ts: i64 | value: bytes`` pair (records of key and window groups)."""
        pos = self.pos
        if pos + 12 > len(self.buf):
            raise _short(pos, "a timestamp and a length")
        ts, n = _TS_LEN.unpack_from(self.buf, pos)
        self.pos = pos + 12
        return ts, self.take(n)


def records(buf):
    """Yields ``(ts, key, value)`` for each record frame of a transform batch.

    The hot loop of every transform: one unpack for the timestamp and the
    key's length, one for the value's length, two slices."""
    n = len(buf)
    pos = 0
    head = _TS_LEN.unpack_from
    u32 = _U32.unpack_from
    while pos < n:
        if pos + 12 > n:
            raise _short(pos, "a timestamp and a key length")
        ts, key_len = head(buf, pos)
        key_end = pos + 12 + key_len
        if key_end + 4 > n:
            raise DecodeError(f"record at byte {pos} runs past the end of the batch ({n} bytes)")
        value_end = key_end + 4 + u32(buf, key_end)[0]
        if value_end > n:
            raise DecodeError(f"record at byte {pos} runs past the end of the batch ({n} bytes)")
        yield ts, buf[pos + 12 : key_end], buf[key_end + 4 : value_end]
        pos = value_end


def key_groups(buf, value_states):
    """Yields ``(slot, key, states, reader, n)`` for each group of a keyed batch:
    ``states`` the group's value-state bytes (None when absent), then ``n``
    records the caller reads with ``reader.ts_value()`` before the next group."""
    r = Reader(buf)
    slot = 0
    while not r.at_end():
        key = r.bytes()
        states = [r.opt_bytes() for _ in range(value_states)]
        n = r.u32()
        yield slot, key, states, r, n
        slot += 1


def window_groups(buf):
    """Yields ``(slot, key, start, end, acc, reader, n)`` for each window group."""
    r = Reader(buf)
    slot = 0
    while not r.at_end():
        key = r.bytes()
        start = r.i64()
        end = r.i64()
        acc = r.opt_bytes()
        n = r.u32()
        yield slot, key, start, end, acc, r, n
        slot += 1


class Writer:
    """Appends result entries to one growing buffer."""

    __slots__ = ("buf",)

    def __init__(self):
        self.buf = bytearray()

    def main(self, ts, key, value):
        buf = self.buf
        buf += _MAIN_HEAD.pack(MAIN, ts, len(key))
        buf += key
        buf += _U32.pack(len(value))
        buf += value

    def side(self, output, ts, key, value):
        name = output.encode()
        if len(name) > 0xFFFF:
            raise DecodeError("side output name too long")
        buf = self.buf
        buf.append(SIDE)
        buf += _U16.pack(len(name))
        buf += name
        buf += _TS_LEN.pack(ts, len(key))
        buf += key
        buf += _U32.pack(len(value))
        buf += value

    def value_set(self, slot, state, value):
        self.buf += _SLOT_STATE_LEN.pack(VALUE_SET, slot, state, len(value))
        self.buf += value

    def value_clear(self, slot, state):
        self.buf += _SLOT_STATE.pack(VALUE_CLEAR, slot, state)

    def timer(self, op, slot, domain, time):
        self.buf += _TIMER.pack(op, slot, domain, time)

    def failed(self, slot, index, kind, message):
        text = message.encode()
        self.buf += _FAILED.pack(RECORD_FAILED, slot, index, FAILURE_KIND[kind], len(text))
        self.buf += text

    def timestamp(self, ts):
        self.buf += _I64.pack(ts)

    def mark(self):
        return len(self.buf)

    def truncate(self, mark):
        del self.buf[mark:]

    def getvalue(self):
        return bytes(self.buf)
