/** What a function sees: its task, the record's context, a collector for
 * outputs and handles on keyed state. */

import { UserError } from './errors.js';
import { TIMER_REGISTER, TIMER_DELETE, EVENT_TIME, PROCESSING_TIME, Writer, release, utf8, fromUtf8 } from './wire.js';

/** The current key group of a keyed call: slot, value states (by state
 * id: bytes or null), which changed, timer operations, and a scratch buffer
 * that new state values are encoded into (emptied per group). */
export class Scope {
  constructor(host) {
    this.slot = 0;
    this.values = [];
    this.dirty = [];
    this.timers = [];
    this.active = false;
    this.host = host;
    this.scratch = new Writer(4096);
  }
  check() {
    if (!this.active) throw new UserError('keyed state and timers are only reachable while a key is processed');
  }
  /** `v` encoded by `codec`: a view of the scratch buffer, valid while
   * this key is processed. */
  encode(codec, v) {
    const w = this.scratch;
    const at = w.len;
    try { w.value(codec, v); } catch (e) { w.truncate(at); throw e; }
    return w.buf.subarray(at + 4, w.len);
  }
  host_() {
    if (this.host === null) throw new UserError('list and map state need the keyed-state import (none was given)');
    return this.host;
  }
}

/** Decodes a value a host call returned and, when the codec copies,
 * frees its buffer at once (see `release`). */
function take(codec, raw) {
  const v = codec.decode(raw);
  if (codec.copies === true) release(raw);
  return v;
}

/** One value per key (Flink's `ValueState`). Values travel with the
 * batch: reading and writing costs no host call. */
export class ValueState {
  constructor(scope, id, codec) { this.scope = scope; this.id = id; this.codec = codec; }
  /** The current key's value, or `fallback` when it has none. */
  get(fallback = null) {
    this.scope.check();
    const raw = this.scope.values[this.id];
    return raw === null ? fallback : this.codec.decode(raw);
  }
  /** Sets the current key's value (encoded now: a value the codec cannot
   * hold throws here and leaves the old one). */
  set(v) { const s = this.scope; s.check(); s.values[this.id] = s.encode(this.codec, v); s.dirty[this.id] = true; }
  /** Removes the current key's value. */
  clear() { const s = this.scope; s.check(); s.values[this.id] = null; s.dirty[this.id] = true; }
}

/** A list per key (Flink's `ListState`), kept by the host: each method is
 * a host call. */
export class ListState {
  constructor(scope, id, codec) { this.scope = scope; this.id = id; this.codec = codec; }
  /** All elements of the current key, in insertion order. */
  get() { const s = this.scope; s.check(); return s.host_().listGet(this.id, s.slot).map((v) => take(this.codec, v)); }
  /** Appends one element. */
  add(v) { const s = this.scope; s.check(); s.host_().listAdd(this.id, s.slot, s.encode(this.codec, v)); }
  /** Replaces all elements. */
  update(vs) { const s = this.scope; s.check(); s.host_().listUpdate(this.id, s.slot, Array.from(vs, (v) => s.encode(this.codec, v))); }
  /** Removes all elements. */
  clear() { const s = this.scope; s.check(); s.host_().listClear(this.id, s.slot); }
}

/** A map per key (Flink's `MapState`), kept by the host: each method is a
 * host call. Entries come ordered by their keys' encoded bytes. */
export class MapState {
  constructor(scope, id, keyCodec, valueCodec) { this.scope = scope; this.id = id; this.kc = keyCodec; this.vc = valueCodec; }
  /** The value under `k`, or `fallback`. */
  get(k, fallback = null) {
    const s = this.scope; s.check();
    const raw = s.host_().mapGet(this.id, s.slot, s.encode(this.kc, k));
    return raw === undefined || raw === null ? fallback : take(this.vc, raw);
  }
  /** Whether `k` has a value. */
  has(k) {
    const s = this.scope; s.check();
    const raw = s.host_().mapGet(this.id, s.slot, s.encode(this.kc, k));
    if (raw === undefined || raw === null) return false;
    release(raw);
    return true;
  }
  /** Sets the value under `k`. */
  set(k, v) { const s = this.scope; s.check(); s.host_().mapPut(this.id, s.slot, s.encode(this.kc, k), s.encode(this.vc, v)); }
  /** Removes `k`. */
  delete(k) { const s = this.scope; s.check(); s.host_().mapRemove(this.id, s.slot, s.encode(this.kc, k)); }
  /** All `[key, value]` pairs of the current key, ordered by key bytes. */
  entries() { const s = this.scope; s.check(); return s.host_().mapEntries(this.id, s.slot).map(([k, v]) => [take(this.kc, k), take(this.vc, v)]); }
  /** The keys, ordered by their bytes. */
  keys() { return this.entries().map((e) => e[0]); }
  /** The values, in key order. */
  values() { return this.entries().map((e) => e[1]); }
  /** Removes all entries of the current key. */
  clear() { const s = this.scope; s.check(); s.host_().mapClear(this.id, s.slot); }
}

function codecName(c) {
  if (c === null || typeof c !== 'object' || typeof c.name !== 'string' || typeof c.decode !== 'function'
    || (typeof c.encode !== 'function' && typeof c.encodeTo !== 'function')) {
    throw new UserError('a state needs a codec (weir.codecs.*, or an object with name, encode and decode)');
  }
  return c.name;
}

function checkTtl(name, ttl) {
  if (ttl === undefined || ttl === null) return null;
  const ms = typeof ttl === 'object' ? ttl.millis : undefined;
  const ok = (typeof ms === 'number' && Number.isSafeInteger(ms) && ms > 0) || (typeof ms === 'bigint' && ms > 0n);
  if (!ok) throw new UserError(`state '${name}': ttl is { millis: <positive integer>, refreshOnRead?: boolean }`);
  return { millis: ms, refreshOnRead: Boolean(ttl.refreshOnRead) };
}

/** Given to `open`: the task, and for keyed functions state declarations. */
export class OpenContext {
  constructor(task, scope = null, declared = null) { this.task = task; this.scope = scope; this.declared = declared; }
  /** The value of a job parameter. */
  parameter(name, fallback = undefined) { return name in this.task.parameters ? this.task.parameters[name] : fallback; }
  declare(name, kind, codec, ttl) {
    if (this.declared === null) throw new UserError(`state '${name}': only keyed functions have keyed state`);
    const i = this.declared.findIndex((d) => d.name === name);
    if (i >= 0) {
      const d = this.declared[i];
      if (d.kind !== kind || d.codec !== codec) throw new UserError(`state '${name}' is declared twice with different kinds or codecs`);
      return i;
    }
    this.declared.push({ name, kind, codec, ttl: checkTtl(name, ttl) });
    return this.declared.length - 1;
  }
  /** Declares a value state scoped to the current key. `ttl` (optional):
   * `{ millis, refreshOnRead = false }`, expiry in processing time. */
  valueState(name, codec, ttl) { return new ValueState(this.scope, this.declare(name, 'value', codecName(codec), ttl), codec); }
  /** Declares a list state scoped to the current key. */
  listState(name, codec, ttl) { return new ListState(this.scope, this.declare(name, 'list', codecName(codec), ttl), codec); }
  /** Declares a map state scoped to the current key; its codec name is
   * `"<key codec>-><value codec>"`. */
  mapState(name, keyCodec, valueCodec, ttl) {
    return new MapState(this.scope, this.declare(name, 'map', `${codecName(keyCodec)}->${codecName(valueCodec)}`, ttl), keyCodec, valueCodec);
  }
}

export const EVENT = 'event-time';
export const PROCESSING = 'processing-time';

/** Facts about the record (or timer) being processed, and the timer
 * service of keyed process functions. */
export class Context {
  constructor(task, watermark, processingTime, scope = null) {
    this.task = task;
    this.watermark = watermark;
    this.processingTime = processingTime;
    this.scope = scope;
    this.key = new Uint8Array(0);
    this.timestamp = null;
    this.timeDomain = null;
  }
  /** The key as text (UTF-8), or null when it is not. */
  get keyStr() { try { return fromUtf8.decode(this.key); } catch { return null; } }
  parameter(name, fallback = undefined) { return name in this.task.parameters ? this.task.parameters[name] : fallback; }
  timer(op, domain, time) {
    const s = this.scope;
    if (s === null) throw new UserError('only keyed process functions have timers');
    s.check();
    if (!Number.isSafeInteger(time) && typeof time !== 'bigint') throw new UserError(`a timer's time must be an integer of ms, not ${time}`);
    s.timers.push([op, domain, time]);
  }
  registerEventTimeTimer(t) { this.timer(TIMER_REGISTER, EVENT_TIME, t); }
  registerProcessingTimeTimer(t) { this.timer(TIMER_REGISTER, PROCESSING_TIME, t); }
  deleteEventTimeTimer(t) { this.timer(TIMER_DELETE, EVENT_TIME, t); }
  deleteProcessingTimeTimer(t) { this.timer(TIMER_DELETE, PROCESSING_TIME, t); }
}

/** A key as bytes: strings are their UTF-8. */
export function keyBytes(k) {
  if (k instanceof Uint8Array) return k;
  if (ArrayBuffer.isView(k)) return new Uint8Array(k.buffer, k.byteOffset, k.byteLength);
  if (typeof k === 'string') return utf8.encode(k);
  throw new UserError(`a key is a string or a Uint8Array, not ${typeof k}`);
}

/** Where a function puts its output. Records keep the input's key and
 * timestamp unless a method says otherwise. */
export class Collector {
  constructor(writer, codec, sideOutputs) {
    this.w = writer;
    this.codec = codec;
    this.sides = sideOutputs;
    this.key = EMPTY;
    this.ts = null;
  }
  /** Emits `v` to the main output. */
  collect(v) { this.w.mainValue(this.ts, this.key, this.codec, v); }
  /** Emits with a new key (a string is its UTF-8): what a downstream
   * `key-by` exchanges on. */
  collectKeyed(key, v) { this.w.mainValue(this.ts, key, this.codec, v); }
  /** Emits with a new event timestamp (ms). */
  collectWithTimestamp(ts, v) { this.w.mainValue(ts, this.key, this.codec, v); }
  /** Emits to a side output the function declared (`sideOutputs`);
   * `codec` defaults to the main output's. */
  sideOutput(output, v, codec = null) {
    if (!this.sides.includes(output)) {
      throw new UserError(`side output '${output}' is not declared by this function (declared: ${this.sides.join(', ') || 'none'})`);
    }
    this.w.side(output, this.ts, this.key, codec ?? this.codec, v);
  }
}

const EMPTY = new Uint8Array(0);
