/** How values become bytes: the portable codecs of `wit/CONTRACT.md`. A
 * codec's `name` is stored with keyed state, so a savepoint written by a
 * function in another language restores here exactly when names match. */

import { DecodeError, UserError } from './errors.js';
import { pack, unpack } from './msgpack.js';
import { utf8, fromUtf8 } from './wire.js';

const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);

function typeName(v) { return v === null ? 'null' : typeof v; }

/** UTF-8 text (`string`). */
export const string = {
  name: 'string',
  encode(v) {
    if (typeof v !== 'string') throw new UserError(`the string codec takes a string, not ${typeName(v)}`);
    return utf8.encode(v);
  },
  decode(b) {
    try { return fromUtf8.decode(b); } catch (e) { throw new DecodeError(`record is not UTF-8 text: ${e.message}`); }
  },
};

/** Bytes as they are (`Uint8Array`). */
export const bytes = {
  name: 'bytes',
  encode(v) {
    if (v instanceof Uint8Array) return v;
    if (ArrayBuffer.isView(v)) return new Uint8Array(v.buffer, v.byteOffset, v.byteLength);
    throw new UserError(`the bytes codec takes a Uint8Array, not ${typeName(v)}`);
  },
  decode(b) { return b; },
};

function fixed(name, size, get, set, check) {
  return {
    name,
    encode(v) {
      const x = check(v);
      const out = new Uint8Array(size);
      set(new DataView(out.buffer), x);
      return out;
    },
    decode(b) {
      if (b.length !== size) throw new DecodeError(`expected ${size} bytes for ${name}, got ${b.length}`);
      return get(new DataView(b.buffer, b.byteOffset, size));
    },
  };
}

function intCheck(name, min, max) {
  return (v) => {
    if (typeof v === 'number') {
      if (!Number.isInteger(v) || v < min || v > max) throw new UserError(`${v} does not fit ${name}`);
      return v;
    }
    throw new UserError(`the ${name} codec takes an integer number, not ${typeName(v)}`);
  };
}

function bigCheck(name, min, max) {
  return (v) => {
    let b;
    if (typeof v === 'bigint') b = v;
    else if (typeof v === 'number' && Number.isSafeInteger(v)) b = BigInt(v);
    else throw new UserError(`the ${name} codec takes a safe integer or a bigint, not ${v}`);
    if (b < min || b > max) throw new UserError(`${v} does not fit ${name}`);
    return b;
  };
}

/** A 64-bit integer as a number when exact, else a bigint. */
function narrow(b) { return b <= MAX_SAFE && b >= -MAX_SAFE ? Number(b) : b; }

export const u8 = fixed('u8', 1, (d) => d.getUint8(0), (d, v) => d.setUint8(0, v), intCheck('u8', 0, 0xff));
export const u16 = fixed('u16', 2, (d) => d.getUint16(0, true), (d, v) => d.setUint16(0, v, true), intCheck('u16', 0, 0xffff));
export const u32 = fixed('u32', 4, (d) => d.getUint32(0, true), (d, v) => d.setUint32(0, v, true), intCheck('u32', 0, 0xffffffff));
export const i8 = fixed('i8', 1, (d) => d.getInt8(0), (d, v) => d.setInt8(0, v), intCheck('i8', -0x80, 0x7f));
export const i16 = fixed('i16', 2, (d) => d.getInt16(0, true), (d, v) => d.setInt16(0, v, true), intCheck('i16', -0x8000, 0x7fff));
export const i32 = fixed('i32', 4, (d) => d.getInt32(0, true), (d, v) => d.setInt32(0, v, true), intCheck('i32', -0x80000000, 0x7fffffff));
export const u64 = fixed('u64', 8, (d) => narrow(d.getBigUint64(0, true)), (d, v) => d.setBigUint64(0, v, true), bigCheck('u64', 0n, 0xffffffffffffffffn));
export const i64 = fixed('i64', 8, (d) => narrow(d.getBigInt64(0, true)), (d, v) => d.setBigInt64(0, v, true), bigCheck('i64', -0x8000000000000000n, 0x7fffffffffffffffn));
const float = (v) => { if (typeof v !== 'number') throw new UserError(`a float codec takes a number, not ${typeName(v)}`); return v; };
export const f32 = fixed('f32', 4, (d) => d.getFloat32(0, true), (d, v) => d.setFloat32(0, v, true), float);
export const f64 = fixed('f64', 8, (d) => d.getFloat64(0, true), (d, v) => d.setFloat64(0, v, true), float);

export const bool = {
  name: 'bool',
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
  encode(v) {
    if (v !== null && v !== undefined) throw new UserError('the unit codec takes null');
    return new Uint8Array(0);
  },
  decode(b) {
    if (b.length) throw new DecodeError('expected no bytes for unit');
    return null;
  },
};

/** Compact UTF-8 JSON (`json`). */
export const json = {
  name: 'json',
  encode(v) {
    let text;
    try { text = JSON.stringify(v, (k, x) => (typeof x === 'bigint' ? Number(x) : x)); } catch (e) {
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
  encode(v) { return pack(v); },
  decode(b) { return unpack(b); },
};

/** The built-in codecs by name. */
export const byName = Object.fromEntries(
  [string, bytes, u8, u16, u32, u64, i8, i16, i32, i64, f32, f64, bool, unit, json, msgpack].map((c) => [c.name, c]),
);
