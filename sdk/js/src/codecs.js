/** How values become bytes: the portable codecs of `wit/CONTRACT.md`.
 * (`copies`: decoded values hold no reference to the bytes, which the SDK
 * may then free.) A
 * codec's `name` is stored with keyed state, so a savepoint written by a
 * function in another language restores here exactly when names match. */

import { DecodeError, UserError } from './errors.js';
import { pack, unpack } from './msgpack.js';
import { utf8, fromUtf8 } from './wire.js';

function typeName(v) { return v === null ? 'null' : typeof v; }

const TWO32 = 4294967296;

/** UTF-8 text (`string`). */
export const string = {
  name: 'string',
  copies: true,
  encode(v) {
    if (typeof v !== 'string') throw new UserError(`the string codec takes a string, not ${typeName(v)}`);
    return utf8.encode(v);
  },
  encodeTo(w, v) {
    if (typeof v !== 'string') throw new UserError(`the string codec takes a string, not ${typeName(v)}`);
    w.str(v);
  },
  decode(b) {
    try { return fromUtf8.decode(b); } catch (e) { throw new DecodeError(`record is not UTF-8 text: ${e.message}`); }
  },
};

/** Bytes as they are (`Uint8Array`). Decoded values are views of the
 * batch: copy them (`slice()`) to keep them past the call. */
export const bytes = {
  name: 'bytes',
  encode(v) {
    if (v instanceof Uint8Array) return v;
    if (ArrayBuffer.isView(v)) return new Uint8Array(v.buffer, v.byteOffset, v.byteLength);
    throw new UserError(`the bytes codec takes a Uint8Array, not ${typeName(v)}`);
  },
  encodeTo(w, v) {
    if (typeof v !== 'object' || v === null || v.BYTES_PER_ELEMENT !== 1) v = bytes.encode(v);
    const n = v.length;
    if (w.len + 4 + n > w.buf.length) w.grow(4 + n);
    w.view.setUint32(w.len, n, true);
    w.buf.set(v, w.len + 4);
    w.len += 4 + n;
  },
  decode(b) { return b; },
};

/** A fixed-width little-endian codec: `get(view, at)`, `set(view, at, v)`
 * after `check(v)` (which throws on what the type cannot hold); `read(bytes)`
 * decodes faster where given. */
function fixed(name, size, get, set, check, read) {
  return {
    name,
    size,
    copies: true,
    encode(v) {
      const x = check(v);
      const out = new Uint8Array(size);
      set(new DataView(out.buffer), 0, x);
      return out;
    },
    encodeTo(w, v) {
      const x = check(v);
      if (w.len + 4 + size > w.buf.length) w.grow(4 + size);
      w.view.setUint32(w.len, size, true);
      set(w.view, w.len + 4, x);
      w.len += 4 + size;
    },
    decode: read !== undefined
      ? (b) => {
        if (b.length !== size) throw new DecodeError(`expected ${size} bytes for ${name}, got ${b.length}`);
        return read(b);
      }
      : (b) => {
        if (b.length !== size) throw new DecodeError(`expected ${size} bytes for ${name}, got ${b.length}`);
        return get(new DataView(b.buffer, b.byteOffset, size), 0);
      },
  };
}

// Integers straight from the bytes (no DataView per value).
const rU32 = (b, a) => (b[a] | (b[a + 1] << 8) | (b[a + 2] << 16) | (b[a + 3] << 24)) >>> 0;
const rI32 = (b, a) => b[a] | (b[a + 1] << 8) | (b[a + 2] << 16) | (b[a + 3] << 24);
function r64(b, signed) {
  const n = (signed ? rI32(b, 4) : rU32(b, 4)) * TWO32 + rU32(b, 0);
  if (Number.isSafeInteger(n)) return n;
  const d = new DataView(b.buffer, b.byteOffset, 8);
  return signed ? d.getBigInt64(0, true) : d.getBigUint64(0, true);
}

function intCheck(name, min, max) {
  return (v) => {
    if (typeof v === 'number' && Number.isInteger(v)) {
      if (v < min || v > max) throw new UserError(`${v} does not fit ${name}`);
      return v;
    }
    if (typeof v === 'bigint') {
      if (v < BigInt(min) || v > BigInt(max)) throw new UserError(`${v} does not fit ${name}`);
      return Number(v);
    }
    throw new UserError(`the ${name} codec takes an integer, not ${typeName(v) === 'number' ? v : typeName(v)}`);
  };
}

/** 64-bit integers: a safe-integer number or a bigint, range-checked. */
function check64(name, min, max) {
  return (v) => {
    if (typeof v === 'number') {
      if (!Number.isSafeInteger(v)) throw new UserError(`the ${name} codec takes a safe integer or a bigint, not ${v}`);
      if (v < 0 && min === 0n) throw new UserError(`${v} does not fit ${name}`);
      return v;
    }
    if (typeof v === 'bigint') {
      if (v < min || v > max) throw new UserError(`${v} does not fit ${name}`);
      return v;
    }
    throw new UserError(`the ${name} codec takes a safe integer or a bigint, not ${typeName(v)}`);
  };
}

/** Writes a 64-bit integer (number or bigint) at `at`. */
function set64(d, at, v, signed) {
  if (typeof v === 'bigint') {
    if (signed) d.setBigInt64(at, v, true); else d.setBigUint64(at, v, true);
    return;
  }
  const hi = Math.floor(v / TWO32);
  d.setUint32(at, v - hi * TWO32, true);
  d.setInt32(at + 4, hi, true);
}

/** A 64-bit integer as a number when within ±(2^53−1), else a bigint. */
function get64(d, at, signed) {
  const lo = d.getUint32(at, true);
  const hi = signed ? d.getInt32(at + 4, true) : d.getUint32(at + 4, true);
  const n = hi * TWO32 + lo;
  if (Number.isSafeInteger(n)) return n;
  return signed ? d.getBigInt64(at, true) : d.getBigUint64(at, true);
}

export const u8 = fixed('u8', 1, (d, a) => d.getUint8(a), (d, a, v) => d.setUint8(a, v), intCheck('u8', 0, 0xff), (b) => b[0]);
export const u16 = fixed('u16', 2, (d, a) => d.getUint16(a, true), (d, a, v) => d.setUint16(a, v, true), intCheck('u16', 0, 0xffff), (b) => b[0] | (b[1] << 8));
export const u32 = fixed('u32', 4, (d, a) => d.getUint32(a, true), (d, a, v) => d.setUint32(a, v, true), intCheck('u32', 0, 0xffffffff), (b) => rU32(b, 0));
export const i8 = fixed('i8', 1, (d, a) => d.getInt8(a), (d, a, v) => d.setInt8(a, v), intCheck('i8', -0x80, 0x7f), (b) => (b[0] << 24) >> 24);
export const i16 = fixed('i16', 2, (d, a) => d.getInt16(a, true), (d, a, v) => d.setInt16(a, v, true), intCheck('i16', -0x8000, 0x7fff), (b) => ((b[0] | (b[1] << 8)) << 16) >> 16);
export const i32 = fixed('i32', 4, (d, a) => d.getInt32(a, true), (d, a, v) => d.setInt32(a, v, true), intCheck('i32', -0x80000000, 0x7fffffff), (b) => rI32(b, 0));
export const u64 = fixed('u64', 8, (d, a) => get64(d, a, false), (d, a, v) => set64(d, a, v, false), check64('u64', 0n, 0xffffffffffffffffn), (b) => r64(b, false));
export const i64 = fixed('i64', 8, (d, a) => get64(d, a, true), (d, a, v) => set64(d, a, v, true), check64('i64', -0x8000000000000000n, 0x7fffffffffffffffn), (b) => r64(b, true));
const float = (v) => { if (typeof v !== 'number') throw new UserError(`a float codec takes a number, not ${typeName(v)}`); return v; };
export const f32 = fixed('f32', 4, (d, a) => d.getFloat32(a, true), (d, a, v) => d.setFloat32(a, v, true), float);
export const f64 = fixed('f64', 8, (d, a) => d.getFloat64(a, true), (d, a, v) => d.setFloat64(a, v, true), float);

export const bool = {
  name: 'bool',
  copies: true,
  encode(v) {
    if (typeof v !== 'boolean') throw new UserError(`the bool codec takes a boolean, not ${typeName(v)}`);
    return Uint8Array.of(v ? 1 : 0);
  },
  decode(b) {
    if (b.length === 1 && b[0] <= 1) return b[0] === 1;
    throw new DecodeError('expected one byte 0 or 1 for a bool');
  },
};

export const unit = {
  name: 'unit',
  copies: true,
  encode(v) {
    if (v !== null && v !== undefined) throw new UserError('the unit codec takes null');
    return new Uint8Array(0);
  },
  decode(b) {
    if (b.length) throw new DecodeError('expected no bytes for unit');
    return null;
  },
};

/** JSON has no bigints: exact ones become numbers, others are refused. */
function bigints(k, x) {
  if (typeof x !== 'bigint') return x;
  if (x >= -MAX_SAFE && x <= MAX_SAFE) return Number(x);
  throw new UserError(`${x} is beyond what JSON numbers hold exactly in JavaScript (±2^53−1): encode it as a string`);
}
const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);

/** Compact UTF-8 JSON (`json`). */
export const json = {
  name: 'json',
  copies: true,
  encode(v) {
    let text;
    try { text = JSON.stringify(v, bigints); } catch (e) {
      throw new UserError(`cannot encode the value as JSON: ${e.message}`);
    }
    if (text === undefined) throw new UserError(`cannot encode ${typeName(v)} as JSON`);
    return utf8.encode(text);
  },
  decode(b) {
    try { return JSON.parse(fromUtf8.decode(b)); } catch (e) { throw new DecodeError(`invalid JSON record: ${e.message}`); }
  },
};

/** MessagePack (`msgpack`), the portable binary codec: Rust's `MsgPack<T>`. */
export const msgpack = {
  name: 'msgpack',
  copies: true,
  encode(v) { return pack(v); },
  decode(b) { return unpack(b); },
};

/** The built-in codecs by name. */
export const byName = Object.fromEntries(
  [string, bytes, u8, u16, u32, u64, i8, i16, i32, i64, f32, f64, bool, unit, json, msgpack].map((c) => [c.name, c]),
);
