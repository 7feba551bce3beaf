/** What a function sees: its task, the record's context, a collector for
 * outputs and handles on keyed state. */

import { UserError } from './errors.js';
import { MAIN, TIMER_REGISTER, TIMER_DELETE, EVENT_TIME, PROCESSING_TIME, utf8, fromUtf8 } from './wire.js';

/** The current key group of a keyed call: slot, value states (by state
 * id), which changed, timer operations. */
export class Scope {
  constructor(host) {
    this.slot = 0;
    this.values = [];
    this.dirty = [];
    this.timers = [];
    this.active = false;
    this.host = host;
  }
  check() {
    if (!this.active) throw new UserError('keyed state and timers are only reachable while a key is processed');
  }
}

/** One value per key (Flink's `ValueState`). */
export class ValueState {
  constructor(scope, id, codec) { this.scope = scope; this.id = id; this.codec = codec; }
  /** The current key's value, or `fallback` when it has none. */
  get(fallback = null) {
    this.scope.check();
    const raw = this.scope.values[this.id];
    return raw === null ? fallback : this.codec.decode(raw);
  }
  set(v) { this.scope.check(); this.scope.values[this.id] = this.codec.encode(v); this.scope.dirty[this.id] = true; }
  clear() { this.scope.check(); this.scope.values[this.id] = null; this.scope.dirty[this.id] = true; }
}

/** A list per key, kept by the host and read on demand. */
export class ListState {
  constructor(scope, id, codec) { this.scope = scope; this.id = id; this.codec = codec; }
  get() { const s = this.scope; s.check(); return s.host.listGet(this.id, s.slot).map((v) => this.codec.decode(v)); }
  add(v) { const s = this.scope; s.check(); s.host.listAdd(this.id, s.slot, this.codec.encode(v)); }
  update(vs) { const s = this.scope; s.check(); s.host.listUpdate(this.id, s.slot, vs.map((v) => this.codec.encode(v))); }
  clear() { const s = this.scope; s.check(); s.host.listClear(this.id, s.slot); }
}

/** A map per key, kept by the host; entries ordered by key bytes. */
export class MapState {
  constructor(scope, id, keyCodec, valueCodec) { this.scope = scope; this.id = id; this.kc = keyCodec; this.vc = valueCodec; }
  get(k, fallback = null) {
    const s = this.scope; s.check();
    const raw = s.host.mapGet(this.id, s.slot, this.kc.encode(k));
    return raw === undefined || raw === null ? fallback : this.vc.decode(raw);
  }
  has(k) { const s = this.scope; s.check(); const raw = s.host.mapGet(this.id, s.slot, this.kc.encode(k)); return raw !== undefined && raw !== null; }
  set(k, v) { const s = this.scope; s.check(); s.host.mapPut(this.id, s.slot, this.kc.encode(k), this.vc.encode(v)); }
  delete(k) { const s = this.scope; s.check(); s.host.mapRemove(this.id, s.slot, this.kc.encode(k)); }
  /** All `[key, value]` pairs of the current key, ordered by key bytes. */
  entries() { const s = this.scope; s.check(); return s.host.mapEntries(this.id, s.slot).map(([k, v]) => [this.kc.decode(k), this.vc.decode(v)]); }
  clear() { const s = this.scope; s.check(); s.host.mapClear(this.id, s.slot); }
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
    this.declared.push({ name, kind, codec, ttl: ttl ?? null });
    return this.declared.length - 1;
  }
  /** Declares a value state; `ttl`: `{ millis, refreshOnRead }`. */
  valueState(name, codec, ttl) { return new ValueState(this.scope, this.declare(name, 'value', codec.name, ttl), codec); }
  listState(name, codec, ttl) { return new ListState(this.scope, this.declare(name, 'list', codec.name, ttl), codec); }
  mapState(name, keyCodec, valueCodec, ttl) {
    return new MapState(this.scope, this.declare(name, 'map', `${keyCodec.name}->${valueCodec.name}`, ttl), keyCodec, valueCodec);
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
    if (!Number.isSafeInteger(time)) throw new UserError(`a timer's time must be an integer of ms, not ${time}`);
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
    this.key = new Uint8Array(0);
    this.ts = null;
  }
  collect(v) { this.w.main(this.ts, this.key, this.codec.encode(v)); }
  /** Emits with a new key (what a downstream `key-by` uses). */
  collectKeyed(key, v) {
    const w = this.w;
    const k = keyBytes(key);
    const value = this.codec.encode(v);
    w.u8(MAIN); w.ts(this.ts); w.bytes(k); w.bytes(value);
  }
  collectWithTimestamp(ts, v) { this.w.main(ts, this.key, this.codec.encode(v)); }
  /** Emits to a declared side output; `codec` defaults to the main output's. */
  sideOutput(output, v, codec = null) {
    if (!this.sides.includes(output)) throw new UserError(`side output '${output}' is not declared by this function`);
    this.w.side(output, this.ts, this.key, (codec ?? this.codec).encode(v));
  }
}
