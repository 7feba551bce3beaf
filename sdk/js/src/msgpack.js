/** MessagePack, the portable binary codec (`msgpack` in `wit/CONTRACT.md`),
 * without dependencies: what the Rust SDK's `MsgPack<T>` and the Python
 * SDK write (smallest integer forms, float64, maps with string keys). */

import { DecodeError, UserError } from './errors.js';
import { Writer } from './wire.js';

const utf8 = new TextEncoder();
const fromUtf8 = new TextDecoder('utf-8', { fatal: true });

/** The wire writer's growable buffer, plus big-endian fixed-width writes. */
class Out extends Writer {
  constructor() { super(64); }
  put(fn, size, v) { this.reserve(size); fn.call(this.view, this.len, v, false); this.len += size; }
}

function int(v, o) {
  const big = typeof v === 'bigint' ? v : BigInt(v);
  if (big >= 0n) {
    if (big < 0x80n) o.u8(Number(big));
    else if (big <= 0xffn) { o.u8(0xcc); o.u8(Number(big)); }
    else if (big <= 0xffffn) { o.u8(0xcd); o.put(DataView.prototype.setUint16, 2, Number(big)); }
    else if (big <= 0xffffffffn) { o.u8(0xce); o.put(DataView.prototype.setUint32, 4, Number(big)); }
    else if (big <= 0xffffffffffffffffn) { o.u8(0xcf); o.put(DataView.prototype.setBigUint64, 8, big); }
    else throw new UserError(`${v} is too large for MessagePack`);
  } else if (big >= -32n) o.u8(Number(big) & 0xff);
  else if (big >= -0x80n) { o.u8(0xd0); o.put(DataView.prototype.setInt8, 1, Number(big)); }
  else if (big >= -0x8000n) { o.u8(0xd1); o.put(DataView.prototype.setInt16, 2, Number(big)); }
  else if (big >= -0x80000000n) { o.u8(0xd2); o.put(DataView.prototype.setInt32, 4, Number(big)); }
  else if (big >= -0x8000000000000000n) { o.u8(0xd3); o.put(DataView.prototype.setBigInt64, 8, big); }
  else throw new UserError(`${v} is too small for MessagePack`);
}

function header(n, o, fix, fixMax, tags) {
  if (fix !== null && n <= fixMax) o.u8(fix | n);
  else if (tags[0] !== null && n <= 0xff) { o.u8(tags[0]); o.u8(n); }
  else if (n <= 0xffff) { o.u8(tags[1]); o.put(DataView.prototype.setUint16, 2, n); }
  else { o.u8(tags[2]); o.put(DataView.prototype.setUint32, 4, n); }
}

function write(v, o, depth) {
  if (depth > 512) throw new UserError('a value nested too deeply for MessagePack');
  if (v === null || v === undefined) o.u8(0xc0);
  else if (v === true) o.u8(0xc3);
  else if (v === false) o.u8(0xc2);
  else if (typeof v === 'bigint') int(v, o);
  else if (typeof v === 'number') {
    if (Number.isInteger(v) && Number.isSafeInteger(v)) int(v, o);
    else { o.u8(0xcb); o.put(DataView.prototype.setFloat64, 8, v); }
  } else if (typeof v === 'string') {
    const b = utf8.encode(v);
    header(b.length, o, 0xa0, 31, [0xd9, 0xda, 0xdb]);
    o.raw(b);
  } else if (ArrayBuffer.isView(v) && !(v instanceof DataView)) {
    v = new Uint8Array(v.buffer, v.byteOffset, v.byteLength);
    header(v.length, o, null, 0, [0xc4, 0xc5, 0xc6]);
    o.raw(v);
  } else if (Array.isArray(v)) {
    header(v.length, o, 0x90, 15, [null, 0xdc, 0xdd]);
    for (const x of v) write(x, o, depth + 1);
  } else if (typeof v === 'object') {
    const entries = v instanceof Map ? [...v.entries()] : Object.entries(v);
    header(entries.length, o, 0x80, 15, [null, 0xde, 0xdf]);
    for (const [k, x] of entries) { write(k, o, depth + 1); write(x, o, depth + 1); }
  } else throw new UserError(`cannot encode a ${typeof v} as MessagePack`);
}

/** The MessagePack encoding of `v`. */
export function pack(v) {
  const o = new Out();
  write(v, o, 0);
  return o.buf.slice(0, o.len);
}

class In {
  constructor(b) { this.b = b; this.view = new DataView(b.buffer, b.byteOffset, b.byteLength); this.pos = 0; }
  need(n) { if (this.pos + n > this.b.length) throw new DecodeError(`invalid MessagePack record: truncated at byte ${this.pos}`); }
  take(n) { this.need(n); const v = this.b.subarray(this.pos, this.pos + n); this.pos += n; return v; }
  num(get, size) { this.need(size); const v = get.call(this.view, this.pos, false); this.pos += size; return v; }
  str(n) {
    try { return fromUtf8.decode(this.take(n)); } catch (e) {
      if (e instanceof DecodeError) throw e;
      throw new DecodeError(`invalid MessagePack record: a string is not UTF-8`);
    }
  }
  array(n, d) { const a = new Array(n); for (let i = 0; i < n; i++) a[i] = this.value(d + 1); return a; }
  map(n, d) {
    const m = {};
    for (let i = 0; i < n; i++) {
      const k = this.value(d + 1);
      if (typeof k === 'object' && k !== null) throw new DecodeError('invalid MessagePack record: a map key that is a list or map');
      m[k] = this.value(d + 1);
    }
    return m;
  }
  value(d = 0) {
    if (d > 512) throw new DecodeError('invalid MessagePack record: nested too deeply');
    this.need(1);
    const t = this.b[this.pos++];
    const P = DataView.prototype;
    if (t < 0x80) return t;
    if (t >= 0xe0) return t - 0x100;
    if (t <= 0x8f) return this.map(t & 0x0f, d);
    if (t <= 0x9f) return this.array(t & 0x0f, d);
    if (t <= 0xbf) return this.str(t & 0x1f);
    const big = (b) => (b <= BigInt(Number.MAX_SAFE_INTEGER) && b >= -BigInt(Number.MAX_SAFE_INTEGER) ? Number(b) : b);
    switch (t) {
      case 0xc0: return null;
      case 0xc2: return false;
      case 0xc3: return true;
      case 0xc4: return this.take(this.num(P.getUint8, 1)).slice();
      case 0xc5: return this.take(this.num(P.getUint16, 2)).slice();
      case 0xc6: return this.take(this.num(P.getUint32, 4)).slice();
      case 0xca: return this.num(P.getFloat32, 4);
      case 0xcb: return this.num(P.getFloat64, 8);
      case 0xcc: return this.num(P.getUint8, 1);
      case 0xcd: return this.num(P.getUint16, 2);
      case 0xce: return this.num(P.getUint32, 4);
      case 0xcf: return big(this.num(P.getBigUint64, 8));
      case 0xd0: return this.num(P.getInt8, 1);
      case 0xd1: return this.num(P.getInt16, 2);
      case 0xd2: return this.num(P.getInt32, 4);
      case 0xd3: return big(this.num(P.getBigInt64, 8));
      case 0xd9: return this.str(this.num(P.getUint8, 1));
      case 0xda: return this.str(this.num(P.getUint16, 2));
      case 0xdb: return this.str(this.num(P.getUint32, 4));
      case 0xdc: return this.array(this.num(P.getUint16, 2), d);
      case 0xdd: return this.array(this.num(P.getUint32, 4), d);
      case 0xde: return this.map(this.num(P.getUint16, 2), d);
      case 0xdf: return this.map(this.num(P.getUint32, 4), d);
      default: throw new DecodeError(`invalid MessagePack record: type byte 0x${t.toString(16)} at ${this.pos - 1} is not supported`);
    }
  }
}

/** The value encoded in all of `b`. */
export function unpack(b) {
  const i = new In(b);
  const v = i.value();
  if (i.pos !== b.length) throw new DecodeError(`invalid MessagePack record: ${b.length - i.pos} bytes after the value`);
  return v;
}
