/** Batch drivers: run registered functions over the host's batch buffers.
 * Free of component bindings, so tests drive them directly; `glue.js`
 * adapts them to the WIT exports. A `CallError` fails the whole call; a
 * function's error on one record becomes a record-failed entry and the
 * batch goes on (`wit/CONTRACT.md`). The semantics follow the Rust SDK's
 * drivers (`sdk/weir-sdk/src/rt`). */

import * as wire from './wire.js';
import { Collector, Context, OpenContext, Scope } from './api.js';
import { describe } from './errors.js';
import { REGISTRY } from './registry.js';

export const ACC = 'weir.acc';
const DOMAINS = ['event-time', 'processing-time'];
const lossy = new TextDecoder();

/** A failure of a whole call: `kind` is `user`, `decode` or `unknown-function`. */
export class CallError extends Error {
  constructor(kind, message) { super(message); this.name = 'CallError'; this.kind = kind; }
}

function whole(e, where = '') {
  if (e instanceof CallError) return new CallError(e.kind, `${where}${e.message}`);
  const [kind, message] = describe(e);
  return new CallError(kind, `${where}${message}`);
}

let views = false;
/** Whether calls return a view of the driver's reused buffer (valid until
 * the driver's next call) instead of a copy. The component glue turns it
 * on: the bindings copy the result out at once. */
export function returnViews(on) { views = Boolean(on); }

const SERVES = {
  transform: ['map', 'flat-map', 'filter', 'timestamp-assigner'],
  keyed: ['reduce', 'aggregate', 'keyed-process'],
  window: ['reduce', 'aggregate', 'process-window'],
};
const NOT = { transform: 'not a stateless transform', keyed: 'not a keyed function', window: 'which cannot run on a window' };

function find(name, iface) {
  const spec = REGISTRY.get(name);
  if (!spec) {
    const have = [...REGISTRY.values()].map((s) => `${s.name} (${s.kind})`).join(', ');
    throw new CallError('unknown-function', `no function named '${name}'; this component has: ${have || 'none'}`);
  }
  if (!SERVES[iface].includes(spec.kind) || (iface === 'keyed' && spec.then)) {
    throw new CallError('unknown-function', `'${name}' is a ${spec.kind} function, ${NOT[iface]}`);
  }
  return spec;
}

/** The user's method `name`, bound, or the object itself when it is a
 * plain function. */
function method(spec, obj, name) {
  if (obj !== null && typeof obj[name] === 'function') return obj[name].bind(obj);
  if (typeof obj === 'function') return obj;
  throw new CallError('user', `'${spec.name}' (${spec.kind}) needs a ${name}() method or to be a function`);
}

function needs(spec, obj, ...names) {
  for (const n of names) {
    if (typeof obj?.[n] !== 'function') throw new CallError('user', `'${spec.name}' (${spec.kind}) needs a ${n}() method`);
  }
}

function open(obj, ctx) {
  if (obj !== null && typeof obj === 'object' && typeof obj.open === 'function') {
    try { obj.open(ctx); } catch (e) { throw whole(e, 'open: '); }
  }
}

/** A task as the drivers see it; the defaults suit tests. */
export function task(t = {}) {
  return { jobName: '', operatorId: '', subtaskIndex: 0, parallelism: 1, maxParallelism: 128, parameters: {}, ...t };
}

function keyText(key) { return lossy.decode(key); }

class Base {
  constructor() { this.w = new wire.Writer(); }
  /** A fresh result buffer for a call. */
  begin() { this.w.reset(); return this.w; }
  finish() { return views ? this.w.output() : this.w.result(); }
  snapshotState() {
    if (this.obj === null || typeof this.obj !== 'object' || typeof this.obj.snapshotState !== 'function') return undefined;
    let s;
    try { s = this.obj.snapshotState(); } catch (e) { throw whole(e, 'snapshotState: '); }
    if (s === null || s === undefined) return undefined;
    if (s instanceof Uint8Array) return s;
    if (ArrayBuffer.isView(s)) return new Uint8Array(s.buffer, s.byteOffset, s.byteLength);
    throw new CallError('user', `snapshotState: return a Uint8Array (or null), not ${typeof s}`);
  }
  restoreState(states) {
    if (this.obj === null || typeof this.obj !== 'object' || typeof this.obj.restoreState !== 'function') return;
    try { this.obj.restoreState(states); } catch (e) { throw whole(e, 'restoreState: '); }
  }
  /** Runs a whole call: an error escaping it fails the call. */
  guard(run) {
    try { return run(); } catch (e) { throw whole(e); }
  }
}

/** An opened map, flat-map, filter or timestamp assigner. */
export class TransformDriver extends Base {
  constructor(name, t = task()) {
    super();
    this.spec = find(name, 'transform');
    this.task = t;
    this.obj = this.spec.make();
    open(this.obj, new OpenContext(t));
    const m = { map: 'map', 'flat-map': 'flatMap', filter: 'filter', 'timestamp-assigner': 'extractTimestamp' };
    this.fn = method(this.spec, this.obj, m[this.spec.kind]);
    this.step = { map: this.map, 'flat-map': this.flatMap, filter: this.filter, 'timestamp-assigner': this.timestamps }[this.spec.kind];
    this.out = new Collector(this.w, this.spec.output, this.spec.sideOutputs);
  }

  processBatch(watermark, processingTime, input) {
    const w = this.begin();
    const ctx = new Context(this.task, watermark, processingTime);
    this.guard(() => this.step(input, w, ctx));
    return this.finish();
  }

  map(input, w, ctx) {
    const { fn } = this;
    const inc = this.spec.input, codec = this.spec.output;
    const r = new wire.Reader(input);
    for (let i = 0; !r.atEnd(); i++) {
      r.frame();
      const ts = r.t, key = r.k, value = r.v;
      ctx.key = key; ctx.timestamp = ts;
      const mark = w.len;
      try { w.mainValue(ts, key, codec, fn(inc.decode(value), ctx)); } catch (e) { w.truncate(mark); w.failed(0, i, ...describe(e)); }
    }
  }

  flatMap(input, w, ctx) {
    const { fn, out } = this;
    const inc = this.spec.input;
    const r = new wire.Reader(input);
    for (let i = 0; !r.atEnd(); i++) {
      r.frame();
      const ts = r.t, key = r.k, value = r.v;
      ctx.key = key; ctx.timestamp = ts;
      out.key = key; out.ts = ts;
      const mark = w.len;
      try { fn(inc.decode(value), ctx, out); } catch (e) { w.truncate(mark); w.failed(0, i, ...describe(e)); }
    }
  }

  filter(input, w, ctx) {
    const { fn } = this;
    const inc = this.spec.input;
    const r = new wire.Reader(input);
    for (let i = 0; !r.atEnd(); i++) {
      r.frame();
      const ts = r.t, key = r.k, value = r.v;
      ctx.key = key; ctx.timestamp = ts;
      let keep;
      try { keep = fn(inc.decode(value), ctx); } catch (e) { w.failed(0, i, ...describe(e)); continue; }
      if (keep) w.main(ts, key, value);
    }
  }

  /** One i64 per record; a failure fails the call (no record-failed
   * entries in this result layout). */
  timestamps(input, w) {
    const { fn } = this;
    const inc = this.spec.input;
    const r = new wire.Reader(input);
    for (let i = 0; !r.atEnd(); i++) {
      r.frame();
      const ts = r.t, value = r.v;
      try { w.timestamp(fn(inc.decode(value), ts)); } catch (e) { throw whole(e, `record ${i} of the batch: `); }
    }
  }
}

/** An opened reduce, aggregate or keyed process function; `host` gives
 * list and map state (the `keyed-state` import). */
export class KeyedDriver extends Base {
  constructor(name, t = task(), host = null) {
    super();
    this.spec = find(name, 'keyed');
    this.task = t;
    this.scope = new Scope(host);
    this.declared = [];
    const ctx = new OpenContext(t, this.scope, this.declared);
    if (this.spec.kind !== 'keyed-process') ctx.valueState(ACC, this.spec.acc);
    this.obj = this.spec.make();
    open(this.obj, ctx);
    this.valueIds = this.declared.flatMap((d, i) => (d.kind === 'value' ? [i] : []));
    if (this.spec.kind === 'reduce') this.fn = method(this.spec, this.obj, 'reduce');
    else if (this.spec.kind === 'aggregate') needs(this.spec, this.obj, 'createAccumulator', 'add', 'getResult');
    else needs(this.spec, this.obj, 'processElement');
    this.group = { reduce: this.reduce, aggregate: this.aggregate, 'keyed-process': this.process }[this.spec.kind];
    this.out = new Collector(this.w, this.spec.output, this.spec.sideOutputs);
  }

  /** The declared states, in id order: `{ name, kind, codec, ttl }`. */
  states() { return this.declared.map((d) => ({ ...d })); }

  processBatch(watermark, processingTime, input) { return this.run(watermark, processingTime, input, this.group); }

  onTimers(watermark, processingTime, input) {
    if (this.spec.kind !== 'keyed-process') throw new CallError('user', 'this kind of function has no timers');
    return this.run(watermark, processingTime, input, this.fire);
  }

  run(watermark, processingTime, input, step) {
    const w = this.begin();
    const ctx = new Context(this.task, watermark, processingTime, this.scope);
    const s = this.scope;
    const n = this.declared.length;
    const ids = this.valueIds;
    const r = new wire.Reader(input);
    s.values = new Array(n).fill(null);
    s.dirty = new Array(n).fill(false);
    this.guard(() => {
      for (let slot = 0; !r.atEnd(); slot++) {
        const key = r.bytes();
        s.slot = slot;
        s.values.fill(null);
        s.dirty.fill(false);
        s.timers.length = 0;
        s.scratch.reset();
        for (let j = 0; j < ids.length; j++) s.values[ids[j]] = r.optBytes();
        const count = r.u32();
        s.active = true;
        ctx.key = key; ctx.timeDomain = null;
        let failure = null;
        try {
          step.call(this, slot, key, r, count, w, ctx);
        } catch (e) {
          failure = e;
        } finally {
          s.active = false;
        }
        for (let id = 0; id < n; id++) {
          if (s.dirty[id]) {
            if (s.values[id] === null) w.valueClear(slot, id); else w.valueSet(slot, id, s.values[id]);
          }
        }
        for (const [op, domain, time] of s.timers) w.timer(op, slot, domain, time);
        if (failure !== null) throw whole(failure, `key '${keyText(key)}': `);
      }
    });
    return this.finish();
  }

  readAcc() {
    const raw = this.scope.values[0];
    return raw === null ? null : this.spec.acc.decode(raw);
  }

  storeAcc(bytes) { this.scope.values[0] = bytes; this.scope.dirty[0] = true; }

  /** Folds each record into the key's value and emits the new value; a
   * record the function fails on leaves it as it was. */
  reduce(slot, key, r, count, w) {
    const { fn } = this;
    const codec = this.spec.acc;
    let acc = this.readAcc();
    // Where the encoding of `acc` is once a record succeeded: the value of
    // its output record (`encBuf` from `encAt` to `encEnd`).
    let encBuf = null, encAt = 0, encEnd = 0;
    for (let i = 0; i < count; i++) {
      r.pair();
      const mark = w.len;
      try {
        const value = codec.decode(r.v);
        const next = acc === null ? value : fn(acc, value);
        w.head(r.t, key);
        const at = w.len + 4;
        w.value(codec, next);
        encBuf = w.buf; encAt = at; encEnd = w.len;
        acc = next;
      } catch (e) {
        w.truncate(mark);
        w.failed(slot, i, ...describe(e));
        // The function may have changed the value in place: take it back.
        if (acc !== null && typeof acc === 'object') acc = encBuf !== null ? codec.decode(encBuf.subarray(encAt, encEnd)) : this.readAcc();
      }
    }
    if (encBuf !== null) this.storeAcc(encBuf.subarray(encAt, encEnd));
  }

  freshAcc() {
    const acc = this.readAcc();
    return acc !== null ? acc : this.obj.createAccumulator();
  }

  /** Adds each record to the key's accumulator and emits the result. */
  aggregate(slot, key, r, count, w) {
    const agg = this.obj, spec = this.spec, s = this.scope;
    let acc = this.freshAcc();
    let encoded = null;
    for (let i = 0; i < count; i++) {
      r.pair();
      const ts = r.t, raw = r.v;
      const mark = w.len;
      try {
        const next = agg.add(spec.input.decode(raw), acc);
        w.mainValue(ts, key, spec.output, agg.getResult(next));
        encoded = s.encode(spec.acc, next);
        acc = next;
      } catch (e) {
        w.truncate(mark);
        w.failed(slot, i, ...describe(e));
        acc = encoded !== null ? spec.acc.decode(encoded) : this.freshAcc();
      }
    }
    if (encoded !== null) this.storeAcc(encoded);
  }

  process(slot, key, r, count, w, ctx) {
    const obj = this.obj, inc = this.spec.input, out = this.out;
    out.key = key;
    for (let i = 0; i < count; i++) {
      r.pair();
      const ts = r.t, raw = r.v;
      ctx.timestamp = ts; out.ts = ts;
      const mark = w.len;
      // Its outputs go on a failure; state it changed before failing stays.
      try { obj.processElement(inc.decode(raw), ctx, out); } catch (e) { w.truncate(mark); w.failed(slot, i, ...describe(e)); }
    }
  }

  fire(slot, key, r, count, w, ctx) {
    const obj = this.obj, out = this.out;
    const has = typeof obj.onTimer === 'function';
    out.key = key;
    for (let i = 0; i < count; i++) {
      r.pair();
      const time = r.t, domain = r.v;
      if (domain.length !== 1 || domain[0] > 1) throw new CallError('decode', 'unknown timer domain');
      if (!has) continue;
      ctx.timestamp = time; out.ts = time; ctx.timeDomain = DOMAINS[domain[0]];
      const mark = w.len;
      try { obj.onTimer(time, ctx, out); } catch (e) { w.truncate(mark); w.failed(slot, i, ...describe(e)); }
    }
  }
}

/** An opened window function: reduce, aggregate (optionally rendered by a
 * process-window function) or process-window. */
export class WindowDriver extends Base {
  constructor(name, t = task()) {
    super();
    this.spec = find(name, 'window');
    this.task = t;
    const ctx = new OpenContext(t);
    this.obj = this.spec.make();
    open(this.obj, ctx);
    if (this.spec.kind === 'reduce') this.fn = method(this.spec, this.obj, 'reduce');
    else if (this.spec.kind === 'aggregate') needs(this.spec, this.obj, 'createAccumulator', 'add', 'getResult');
    this.renderer = null;
    const then = this.spec.then ?? (this.spec.kind === 'process-window' ? this.spec : null);
    if (this.spec.then) { this.renderer = this.spec.then.make(); open(this.renderer, ctx); }
    if (then !== null) {
      this.render = method(then, this.spec.then ? this.renderer : this.obj, 'process');
      this.out = new Collector(this.w, then.output, then.sideOutputs);
    }
  }

  accumulate(wm, pt, input) { return this.run(wm, pt, input, 'accumulate'); }
  merge(wm, pt, input) { return this.run(wm, pt, input, 'merge'); }
  emit(wm, pt, input) { return this.run(wm, pt, input, 'emit'); }

  run(watermark, processingTime, input, step) {
    const w = this.begin();
    const ctx = new Context(this.task, watermark, processingTime);
    const r = new wire.Reader(input);
    this.guard(() => {
      for (let slot = 0; !r.atEnd(); slot++) {
        const key = r.bytes(), start = r.ts(), end = r.ts(), acc = r.optBytes(), count = r.u32();
        try {
          if (step === 'emit') this.emitGroup(key, start, end, acc, r, count, w, ctx);
          else w.valueSet(slot, 0, this.fold(acc, r, count, step === 'merge'));
        } catch (e) {
          throw whole(e, `key '${keyText(key)}', window [${start}, ${end}): `);
        }
      }
    });
    return this.finish();
  }

  fold(accRaw, r, count, merging) {
    const spec = this.spec;
    if (spec.kind === 'process-window') {
      throw new CallError('user', `a process-window function keeps its elements on the host; it cannot ${merging ? 'merge accumulators' : 'accumulate'}`);
    }
    if (spec.kind === 'reduce') {
      const { fn } = this, codec = spec.acc;
      let acc = accRaw === null ? null : codec.decode(accRaw);
      for (let i = 0; i < count; i++) {
        r.pair();
        const raw = r.v;
        try {
          const v = codec.decode(raw);
          acc = acc === null ? v : fn(acc, v);
        } catch (e) { throw whole(e, `record ${i} of the batch: `); }
      }
      return acc === null ? new Uint8Array(0) : codec.encode(acc);
    }
    const obj = this.obj;
    if (merging) needs(spec, obj, 'merge');
    let acc = accRaw === null ? obj.createAccumulator() : spec.acc.decode(accRaw);
    for (let i = 0; i < count; i++) {
      r.pair();
      const raw = r.v;
      if (merging) acc = obj.merge(acc, spec.acc.decode(raw));
      else {
        try { acc = obj.add(spec.input.decode(raw), acc); } catch (e) { throw whole(e, `record ${i} of the batch: `); }
      }
    }
    return spec.acc.encode(acc);
  }

  emitGroup(key, start, end, accRaw, r, count, w, ctx) {
    const spec = this.spec;
    const maxTimestamp = typeof end === 'bigint' ? end - 1n : end - 1;
    if (spec.kind === 'process-window') {
      const elements = new Array(count);
      for (let i = 0; i < count; i++) {
        r.pair();
        const raw = r.v;
        try { elements[i] = spec.input.decode(raw); } catch (e) { throw whole(e, `record ${i} of the batch: `); }
      }
      this.renderWith(key, { start, end, maxTimestamp }, elements, ctx);
      return;
    }
    for (let i = 0; i < count; i++) r.pair();
    if (accRaw === null) return;
    if (this.renderer === null) {
      if (spec.kind === 'reduce') w.main(maxTimestamp, key, accRaw);
      else w.mainValue(maxTimestamp, key, spec.output, this.obj.getResult(spec.acc.decode(accRaw)));
      return;
    }
    const acc = spec.acc.decode(accRaw);
    const result = spec.kind === 'reduce' ? acc : this.obj.getResult(acc);
    this.renderWith(key, { start, end, maxTimestamp }, [result], ctx);
  }

  renderWith(key, window, elements, ctx) {
    ctx.key = key; ctx.timestamp = window.maxTimestamp;
    const out = this.out;
    out.key = key; out.ts = window.maxTimestamp;
    this.render(window, elements, ctx, out);
  }
}
