/** The flat batch format of `wit/FORMAT.md`: readers over the host's input
 * buffers and a writer of result entries. Little-endian throughout. */

import { DecodeError } from './errors.js';

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

/** Reads fields front to back; throws DecodeError past the end. */
export class Reader {
  constructor(buf) {
    this.buf = buf;
    this.view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
    this.pos = 0;
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
  /** An i64 as a number, or null for i64::MIN (no timestamp). */
  ts() {
    this.need(8, 'an i64');
    const lo = this.view.getUint32(this.pos, true);
    const hi = this.view.getInt32(this.pos + 4, true);
    this.pos += 8;
    if (hi === -0x80000000 && lo === 0) return null;
    return hi * TWO32 + lo;
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
 * batch; `each` reads the group's `n` records with `reader.tsValue()`. */
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

/** Appends result entries to one growing buffer. */
export class Writer {
  constructor(capacity = 4096) {
    this.buf = new Uint8Array(capacity);
    this.view = new DataView(this.buf.buffer);
    this.len = 0;
  }
  reserve(n) {
    if (this.len + n <= this.buf.length) return;
    let cap = this.buf.length * 2;
    while (cap < this.len + n) cap *= 2;
    const next = new Uint8Array(cap);
    next.set(this.buf.subarray(0, this.len));
    this.buf = next;
    this.view = new DataView(next.buffer);
  }
  u8(v) { this.reserve(1); this.buf[this.len++] = v; }
  u16(v) { this.reserve(2); this.view.setUint16(this.len, v, true); this.len += 2; }
  u32(v) { this.reserve(4); this.view.setUint32(this.len, v, true); this.len += 4; }
  /** An i64 from a number (an integer of ms) or null (none). */
  ts(t) {
    this.reserve(8);
    if (t === null || t === undefined) {
      this.view.setUint32(this.len, 0, true);
      this.view.setUint32(this.len + 4, 0x80000000, true);
    } else {
      if (!Number.isSafeInteger(t)) throw new DecodeError(`a timestamp must be an integer of ms, not ${t}`);
      const hi = Math.floor(t / TWO32);
      this.view.setUint32(this.len, t - hi * TWO32, true);
      this.view.setInt32(this.len + 4, hi, true);
    }
    this.len += 8;
  }
  raw(bytes) { this.reserve(bytes.length); this.buf.set(bytes, this.len); this.len += bytes.length; }
  bytes(b) { this.u32(b.length); this.raw(b); }
  main(ts, key, value) { this.u8(MAIN); this.ts(ts); this.bytes(key); this.bytes(value); }
  side(output, ts, key, value) {
    const name = utf8.encode(output);
    this.u8(SIDE); this.u16(name.length); this.raw(name);
    this.ts(ts); this.bytes(key); this.bytes(value);
  }
  valueSet(slot, state, value) { this.u8(VALUE_SET); this.u32(slot); this.u32(state); this.bytes(value); }
  valueClear(slot, state) { this.u8(VALUE_CLEAR); this.u32(slot); this.u32(state); }
  timer(op, slot, domain, time) { this.u8(op); this.u32(slot); this.u8(domain); this.ts(time); }
  failed(slot, index, kind, message) {
    this.u8(RECORD_FAILED); this.u32(slot); this.u32(index); this.u8(FAILURE_KIND[kind]);
    this.bytes(utf8.encode(message));
  }
  timestamp(t) { this.ts(t); }
  mark() { return this.len; }
  truncate(mark) { this.len = mark; }
  /** The result: a copy exactly as long as what was written. */
  result() { return this.buf.slice(0, this.len); }
}
