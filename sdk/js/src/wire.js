/** The flat batch format of `wit/FORMAT.md`: readers over the host's input
 * buffers and a writer of result entries. Little-endian throughout. */

import { DecodeError, UserError } from './errors.js';

export const MAIN = 0, SIDE = 1, VALUE_SET = 2, VALUE_CLEAR = 3;
export const TIMER_REGISTER = 4, TIMER_DELETE = 5, RECORD_FAILED = 6;
export const EVENT_TIME = 0, PROCESSING_TIME = 1;
export const ABSENT = 0xffffffff;
const FAILURE_KIND = { user: 0, decode: 1 };
const TWO32 = 4294967296;

/** A timestamp of "none": i64::MIN on the wire, `null` in JS. Timestamps
 * are ms numbers (exact up to 2^53). */
export const NO_TIMESTAMP = null;

const utf8 = new TextEncoder();
const fromUtf8 = new TextDecoder('utf-8', { fatal: true });
export { utf8, fromUtf8 };
const HAS_ENCODE_INTO = typeof utf8.encodeInto === 'function';

/** Reads fields front to back; throws DecodeError past the end. */
export class Reader {
  constructor(buf) {
    this.buf = buf;
    this.view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
    this.pos = 0;
    /** The last `frame()` or `pair()`: timestamp, key, value. */
    this.t = null;
    this.k = null;
    this.v = null;
  }
  atEnd() { return this.pos >= this.buf.length; }
  need(n, what) {
    if (this.pos + n > this.buf.length) {
      throw new DecodeError(`batch truncated at byte ${this.pos}: expected ${what}`);
    }
  }
  u8() { this.need(1, 'a u8'); return this.buf[this.pos++]; }
  u16() { this.need(2, 'a u16'); const v = this.view.getUint16(this.pos, true); this.pos += 2; return v; }
  u32() { this.need(4, 'a u32'); const v = this.view.getUint32(this.pos, true); this.pos += 4; return v; }
  /** An i64 as a number (a bigint beyond ±2^53−1), or null for i64::MIN
   * (no timestamp). */
  ts() {
    this.need(8, 'an i64');
    const lo = this.view.getUint32(this.pos, true);
    const hi = this.view.getInt32(this.pos + 4, true);
    this.pos += 8;
    if (hi === -0x80000000 && lo === 0) return null;
    const n = hi * TWO32 + lo;
    return Number.isSafeInteger(n) ? n : BigInt(hi) * 4294967296n + BigInt(lo);
  }
  take(n) {
    if (this.pos + n > this.buf.length) {
      throw new DecodeError(`length ${n} at byte ${this.pos - 4} runs past the end of the batch (${this.buf.length} bytes)`);
    }
    const v = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return v;
  }
  bytes() { return this.take(this.u32()); }
  optBytes() { const n = this.u32(); return n === ABSENT ? null : this.take(n); }
  /** A `ts | value` pair (records of key and window groups). */
  tsValue() { const ts = this.ts(); return [ts, this.bytes()]; }

  /** Reads one record frame (`ts | key | value`) into `t`, `k` and `v`:
   * the hot path, one call per record. */
  frame() {
    const buf = this.buf, d = this.view, end = buf.length;
    let p = this.pos;
    if (p + 12 > end) throw this.truncated(p, 'a record frame');
    const lo = d.getUint32(p, true), hi = d.getInt32(p + 4, true);
    const kl = d.getUint32(p + 8, true);
    p += 12;
    if (p + kl + 4 > end) throw this.truncated(p, `a key of ${kl} bytes`);
    this.k = buf.subarray(p, p + kl);
    p += kl;
    const vl = d.getUint32(p, true);
    p += 4;
    if (p + vl > end) throw this.truncated(p, `a value of ${vl} bytes`);
    this.v = buf.subarray(p, p + vl);
    this.pos = p + vl;
    this.t = hi === -0x80000000 && lo === 0 ? null : toNumber(hi, lo);
  }

  /** Reads one `ts | value` pair into `t` and `v`. */
  pair() {
    const buf = this.buf, d = this.view, end = buf.length;
    let p = this.pos;
    if (p + 12 > end) throw this.truncated(p, 'a record');
    const lo = d.getUint32(p, true), hi = d.getInt32(p + 4, true);
    const vl = d.getUint32(p + 8, true);
    p += 12;
    if (p + vl > end) throw this.truncated(p, `a value of ${vl} bytes`);
    this.v = buf.subarray(p, p + vl);
    this.pos = p + vl;
    this.t = hi === -0x80000000 && lo === 0 ? null : toNumber(hi, lo);
  }

  truncated(at, what) {
    return new DecodeError(`batch truncated at byte ${at} of ${this.buf.length}: expected ${what}`);
  }
}

function toNumber(hi, lo) {
  const n = hi * TWO32 + lo;
  return Number.isSafeInteger(n) ? n : BigInt(hi) * 4294967296n + BigInt(lo);
}

/** Frees the memory behind `bytes` at once when it is a whole
 * ArrayBuffer of its own (the component bindings give each call's input,
 * and each value a host call returns, one). SpiderMonkey's collector frees
 * an ArrayBuffer's memory late: without this, a long run grows by about
 * its input per call and passes the sandbox's memory limit. Views of it
 * end with it. */
export function release(bytes) {
  try {
    const b = bytes.buffer;
    if (bytes.byteOffset === 0 && b.byteLength === bytes.length && b.byteLength > 0 && typeof b.transfer === 'function') b.transfer(0);
  } catch {
    // Not detachable (or no transfer): the collector frees it.
  }
}

/** Calls `each(ts, key, value, index)` for every record frame of a batch. */
export function forEachRecord(buf, each) {
  const r = new Reader(buf);
  for (let i = 0; !r.atEnd(); i++) {
    const ts = r.ts();
    const key = r.bytes();
    each(ts, key, r.bytes(), i);
  }
}

/** Calls `each(slot, key, states, reader, n)` for every group of a keyed
 * batch; `each` reads the group's `n` records with `reader.ts()` and
 * `reader.bytes()` (or `reader.tsValue()`). */
export function forEachKeyGroup(buf, valueStates, each) {
  const r = new Reader(buf);
  for (let slot = 0; !r.atEnd(); slot++) {
    const key = r.bytes();
    const states = new Array(valueStates);
    for (let i = 0; i < valueStates; i++) states[i] = r.optBytes();
    each(slot, key, states, r, r.u32());
  }
}

/** Calls `each(slot, key, start, end, acc, reader, n)` per window group. */
export function forEachWindowGroup(buf, each) {
  const r = new Reader(buf);
  for (let slot = 0; !r.atEnd(); slot++) {
    const key = r.bytes();
    const start = r.ts();
    const end = r.ts();
    const acc = r.optBytes();
    each(slot, key, start, end, acc, r, r.u32());
  }
}

/** The largest buffer a Writer keeps between calls. */
const KEEP = 8 << 20;

/** Appends result entries to one growing buffer, reused from call to call
 * (`reset`): a call's garbage is then only what the function allocates. */
export class Writer {
  constructor(capacity = 65536) {
    this.buf = new Uint8Array(capacity);
    this.view = new DataView(this.buf.buffer);
    this.len = 0;
  }
  /** Empties the buffer for the next call (a huge one is let go). */
  reset() {
    if (this.buf.length > KEEP) { this.buf = new Uint8Array(65536); this.view = new DataView(this.buf.buffer); }
    this.len = 0;
  }
  /** Makes room for `n` more bytes. (Hot paths inline the check and
   * call `grow`: a call costs ~0.1 µs in the component's interpreter.) */
  reserve(n) { if (this.len + n > this.buf.length) this.grow(n); }
  grow(n) {
    let cap = this.buf.length * 2;
    while (cap < this.len + n) cap *= 2;
    const next = new Uint8Array(cap);
    next.set(this.buf.subarray(0, this.len));
    this.buf = next;
    this.view = new DataView(next.buffer);
  }
  u8(v) { if (this.len + 1 > this.buf.length) this.grow(1); this.buf[this.len++] = v; }
  u16(v) { if (this.len + 2 > this.buf.length) this.grow(2); this.view.setUint16(this.len, v, true); this.len += 2; }
  u32(v) { if (this.len + 4 > this.buf.length) this.grow(4); this.view.setUint32(this.len, v, true); this.len += 4; }
  /** An i64 from a number (an integer of ms), a bigint, or null (none). */
  ts(t) {
    if (this.len + 8 > this.buf.length) this.grow(8);
    if (t === null || t === undefined) {
      this.view.setUint32(this.len, 0, true);
      this.view.setUint32(this.len + 4, 0x80000000, true);
    } else {
      if (!Number.isSafeInteger(t)) {
        if (typeof t === 'bigint' && t >= -(2n ** 63n) && t < 2n ** 63n) {
          this.view.setBigInt64(this.len, t, true);
          this.len += 8;
          return;
        }
        throw new UserError(`a timestamp must be an integer of ms, not ${t}`);
      }
      const hi = Math.floor(t / TWO32);
      this.view.setUint32(this.len, t - hi * TWO32, true);
      this.view.setInt32(this.len + 4, hi, true);
    }
    this.len += 8;
  }
  raw(bytes) {
    const n = bytes.length;
    if (this.len + n > this.buf.length) this.grow(n);
    this.buf.set(bytes, this.len);
    this.len += n;
  }
  bytes(b) {
    const n = b.length;
    if (this.len + 4 + n > this.buf.length) this.grow(4 + n);
    this.view.setUint32(this.len, n, true);
    this.buf.set(b, this.len + 4);
    this.len += 4 + n;
  }
  /** A string as u32 length + UTF-8, encoded in place. */
  str(v) {
    if (!HAS_ENCODE_INTO) { this.bytes(utf8.encode(v)); return; }
    this.reserve(4 + 3 * v.length);
    const at = this.len;
    const { written } = utf8.encodeInto(v, this.buf.subarray(at + 4));
    this.view.setUint32(at, written, true);
    this.len = at + 4 + written;
  }
  /** A record key: bytes, or a string (its UTF-8). */
  key(k) {
    if (typeof k === 'string') this.str(k);
    else if (k instanceof Uint8Array) this.bytes(k);
    else if (ArrayBuffer.isView(k)) this.bytes(new Uint8Array(k.buffer, k.byteOffset, k.byteLength));
    else throw new UserError(`a key is a string or a Uint8Array, not ${k === null ? 'null' : typeof k}`);
  }
  /** `v` encoded by `codec`, with its u32 length. Codecs with `encodeTo`
   * write in place; others return bytes to copy. */
  value(codec, v) {
    if (codec.encodeTo !== undefined) codec.encodeTo(this, v);
    else this.bytes(codec.encode(v));
  }
  /** Tag, timestamp and key of a main record, in one reservation. */
  head(ts, key) {
    // (`instanceof` costs ~1 µs in the component's interpreter: a byte
    // array is told by its BYTES_PER_ELEMENT instead.)
    if (typeof key !== 'object' || key === null || key.BYTES_PER_ELEMENT !== 1 || (ts !== null && !Number.isSafeInteger(ts))) {
      this.u8(MAIN); this.ts(ts); this.key(key);
      return;
    }
    const n = key.length;
    let p = this.len;
    if (p + 13 + n + 16 > this.buf.length) this.grow(13 + n + 16);
    const d = this.view;
    this.buf[p] = MAIN;
    if (ts === null) {
      d.setUint32(p + 1, 0, true);
      d.setUint32(p + 5, 0x80000000, true);
    } else {
      const hi = Math.floor(ts / TWO32);
      d.setUint32(p + 1, ts - hi * TWO32, true);
      d.setInt32(p + 5, hi, true);
    }
    d.setUint32(p + 9, n, true);
    p += 13;
    this.buf.set(key, p);
    this.len = p + n;
  }
  main(ts, key, value) { this.head(ts, key); this.bytes(value); }
  /** A main record whose value `codec` encodes; on an encoding error the
   * entry is left half-written: the caller truncates to its mark. */
  mainValue(ts, key, codec, v) {
    this.head(ts, key);
    if (codec.encodeTo !== undefined) codec.encodeTo(this, v);
    else this.bytes(codec.encode(v));
  }
  side(output, ts, key, codec, v) {
    const name = utf8.encode(output);
    if (name.length > 0xffff) throw new UserError('a side output name is at most 65535 bytes');
    this.u8(SIDE); this.u16(name.length); this.raw(name);
    this.ts(ts); this.bytes(key); this.value(codec, v);
  }
  sideBytes(output, ts, key, value) { this.side(output, ts, key, RAW, value); }
  valueSet(slot, state, value) { this.u8(VALUE_SET); this.u32(slot); this.u32(state); this.bytes(value); }
  valueClear(slot, state) { this.u8(VALUE_CLEAR); this.u32(slot); this.u32(state); }
  timer(op, slot, domain, time) { this.u8(op); this.u32(slot); this.u8(domain); this.ts(time); }
  failed(slot, index, kind, message) {
    this.u8(RECORD_FAILED); this.u32(slot); this.u32(index); this.u8(FAILURE_KIND[kind] ?? 0);
    this.str(String(message));
  }
  timestamp(t) { this.ts(t); }
  mark() { return this.len; }
  truncate(mark) { this.len = mark; }
  /** The result: a copy exactly as long as what was written. */
  result() { return this.buf.slice(0, this.len); }
  /** The result without a copy: valid until the next `reset`. */
  output() { return this.buf.subarray(0, this.len); }
}

/** Bytes as they are (what `sideBytes` writes). */
const RAW = { encode: (b) => b };
