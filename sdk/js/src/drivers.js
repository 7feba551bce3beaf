/** Batch drivers: run registered functions over the host's batch buffers.
 * Free of component bindings, so tests drive them directly; `glue.js`
 * adapts them to the WIT exports. A `CallError` fails the whole call; a
 * function's error on one record becomes a record-failed entry and the
 * batch goes on (`wit/CONTRACT.md`). */

import * as wire from './wire.js';
import { Collector, Context, OpenContext, Scope } from './api.js';
import { DecodeError, describe } from './errors.js';
import { REGISTRY } from './registry.js';

export const ACC = 'weir.acc';
const DOMAINS = ['event-time', 'processing-time'];

/** A failure of a whole call: `kind` is `user`, `decode` or `unknown-function`. */
export class CallError extends Error {
  constructor(kind, message) { super(message); this.kind = kind; }
}

function whole(e, where = '') {
  if (e instanceof CallError) return new CallError(e.kind, `${where}${e.message}`);
  const [kind, message] = describe(e);
  return new CallError(kind, `${where}${message}`);
}

const SERVES = {
  transform: ['map', 'flat-map', 'filter', 'timestamp-assigner'],
  keyed: ['reduce', 'aggregate', 'keyed-process'],
  window: ['reduce', 'aggregate', 'process-window'],
};

function find(name, iface) {
  const spec = REGISTRY.get(name);
  if (!spec) {
    const have = [...REGISTRY.values()].map((s) => `${s.name} (${s.kind})`).join(', ');
    throw new CallError('unknown-function', `no function named '${name}'; this component has: ${have}`);
  }
  if (!SERVES[iface].includes(spec.kind) || (iface === 'keyed' && spec.then)) {
    throw new CallError('unknown-function', `'${name}' is a ${spec.kind} function, not one the ${iface} interface runs`);
  }
  return spec;
}

/** The user's method `name`, bound, or the object itself when it is a function. */
function method(obj, name) {
  return typeof obj[name] === 'function' ? obj[name].bind(obj) : obj;
}

function open(obj, ctx) {
  if (typeof obj.open === 'function' && typeof obj !== 'function') {
    try { obj.open(ctx); } catch (e) { throw whole(e, 'open: '); }
  }
}

/** The default task when none is given (tests). */
export function task(t = {}) {
  return { jobName: '', operatorId: '', subtaskIndex: 0, parallelism: 1, maxParallelism: 128, parameters: {}, ...t };
}

class Base {
  snapshotState() {
    if (typeof this.obj.snapshotState !== 'function') return undefined;
    try { return this.obj.snapshotState() ?? undefined; } catch (e) { throw whole(e, 'snapshotState: '); }
  }
  restoreState(states) {
    if (typeof this.obj.restoreState !== 'function') return;
    try { this.obj.restoreState(states); } catch (e) { throw whole(e, 'restoreState: '); }
  }
  guard(run) {
    try { return run(); } catch (e) {
      if (e instanceof CallError) throw e;
      if (e instanceof DecodeError) throw new CallError('decode', e.message);
      throw whole(e);
    }
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
    this.fn = method(this.obj, m[this.spec.kind]);
  }

  processBatch(watermark, processingTime, input) {
    const w = new wire.Writer(Math.max(4096, input.length));
    const ctx = new Context(this.task, watermark, processingTime);
    this.guard(() => this[this.spec.kind.replace('-', '_')](input, w, ctx));
    return w.result();
  }

  map(input, w, ctx) {
    const { fn } = this;
    const dec = this.spec.input.decode, enc = this.spec.output.encode;
    wire.forEachRecord(input, (ts, key, value, i) => {
      ctx.key = key; ctx.timestamp = ts;
      let out;
      try { out = enc(fn(dec(value), ctx)); } catch (e) { w.failed(0, i, ...describe(e)); return; }
      w.main(ts, key, out);
    });
  }

  flat_map(input, w, ctx) {
    const { fn } = this;
    const dec = this.spec.input.decode;
    const out = new Collector(w, this.spec.output, this.spec.sideOutputs);
    wire.forEachRecord(input, (ts, key, value, i) => {
      ctx.key = key; ctx.timestamp = ts;
      out.key = key; out.ts = ts;
      const mark = w.len;
      try { fn(dec(value), ctx, out); } catch (e) { w.truncate(mark); w.failed(0, i, ...describe(e)); }
    });
  }

  filter(input, w, ctx) {
    const { fn } = this;
    const dec = this.spec.input.decode;
    wire.forEachRecord(input, (ts, key, value, i) => {
      ctx.key = key; ctx.timestamp = ts;
      let keep;
      try { keep = fn(dec(value), ctx); } catch (e) { w.failed(0, i, ...describe(e)); return; }
      if (keep) w.main(ts, key, value);
    });
  }

  timestamp_assigner(input, w) {
    const { fn } = this;
    const dec = this.spec.input.decode;
    wire.forEachRecord(input, (ts, key, value, i) => {
      try { w.timestamp(fn(dec(value), ts)); } catch (e) { throw whole(e, `record ${i} of the batch: `); }
    });
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
    this.group = { reduce: this.reduce, aggregate: this.aggregate, 'keyed-process': this.process }[this.spec.kind];
  }

  /** The declared states, in id order. */
  states() { return this.declared.slice(); }

  processBatch(watermark, processingTime, input) { return this.run(watermark, processingTime, input, this.group); }

  onTimers(watermark, processingTime, input) {
    if (this.spec.kind !== 'keyed-process') throw new CallError('user', 'this kind of function has no timers');
    return this.run(watermark, processingTime, input, this.fire);
  }

  run(watermark, processingTime, input, step) {
    const w = new wire.Writer(Math.max(4096, input.length));
    const ctx = new Context(this.task, watermark, processingTime, this.scope);
    const s = this.scope;
    const n = this.declared.length;
    this.guard(() => wire.forEachKeyGroup(input, this.valueIds.length, (slot, key, states, reader, count) => {
      s.slot = slot; s.values = new Array(n).fill(null); s.dirty = new Array(n).fill(false); s.timers = [];
      this.valueIds.forEach((vid, j) => { s.values[vid] = states[j]; });
      s.active = true;
      ctx.key = key;
      try {
        step.call(this, slot, key, reader, count, w, ctx);
      } catch (e) {
        if (e instanceof CallError) throw new CallError(e.kind, `key '${new TextDecoder().decode(key)}': ${e.message}`);
        throw e;
      } finally {
        s.active = false;
      }
      for (let id = 0; id < n; id++) {
        if (s.dirty[id]) {
          if (s.values[id] === null) w.valueClear(slot, id); else w.valueSet(slot, id, s.values[id]);
        }
      }
      for (const [op, domain, time] of s.timers) w.timer(op, slot, domain, time);
    }));
    return w.result();
  }

  readAcc() {
    const raw = this.scope.values[0];
    if (raw === null) return null;
    try { return this.spec.acc.decode(raw); } catch (e) { throw new CallError('decode', `the stored accumulator: ${e.message}`); }
  }

  reduce(slot, key, reader, count, w) {
    const fn = method(this.obj, 'reduce');
    const codec = this.spec.acc;
    let acc = this.readAcc();
    let encoded = null;
    for (let i = 0; i < count; i++) {
      const [ts, raw] = reader.tsValue();
      let next, out;
      try {
        const value = codec.decode(raw);
        next = acc === null ? value : fn(acc, value);
        out = codec.encode(next);
      } catch (e) {
        w.failed(slot, i, ...describe(e));
        acc = encoded !== null ? codec.decode(encoded) : this.readAcc();
        continue;
      }
      w.main(ts, key, out);
      acc = next; encoded = out;
    }
    if (encoded !== null) { this.scope.values[0] = encoded; this.scope.dirty[0] = true; }
  }

  freshAcc() {
    const acc = this.readAcc();
    if (acc !== null) return acc;
    try { return this.obj.createAccumulator(); } catch (e) { throw whole(e, 'createAccumulator: '); }
  }

  aggregate(slot, key, reader, count, w) {
    const agg = this.obj, spec = this.spec;
    let acc = this.freshAcc();
    let encoded = null;
    for (let i = 0; i < count; i++) {
      const [ts, raw] = reader.tsValue();
      const mark = w.len;
      let next, stored;
      try {
        next = agg.add(spec.input.decode(raw), acc);
        w.main(ts, key, spec.output.encode(agg.getResult(next)));
        stored = spec.acc.encode(next);
      } catch (e) {
        w.truncate(mark);
        w.failed(slot, i, ...describe(e));
        acc = encoded !== null ? spec.acc.decode(encoded) : this.freshAcc();
        continue;
      }
      acc = next; encoded = stored;
    }
    if (encoded !== null) { this.scope.values[0] = encoded; this.scope.dirty[0] = true; }
  }

  process(slot, key, reader, count, w, ctx) {
    const obj = this.obj, dec = this.spec.input.decode;
    const out = new Collector(w, this.spec.output, this.spec.sideOutputs);
    out.key = key;
    ctx.timeDomain = null;
    for (let i = 0; i < count; i++) {
      const [ts, raw] = reader.tsValue();
      ctx.timestamp = ts; out.ts = ts;
      const mark = w.len;
      try { obj.processElement(dec(raw), ctx, out); } catch (e) { w.truncate(mark); w.failed(slot, i, ...describe(e)); }
    }
  }

  fire(slot, key, reader, count, w, ctx) {
    const obj = this.obj;
    const out = new Collector(w, this.spec.output, this.spec.sideOutputs);
    out.key = key;
    for (let i = 0; i < count; i++) {
      const [time, domain] = reader.tsValue();
      if (domain.length !== 1 || domain[0] > 1) throw new CallError('decode', 'unknown timer domain');
      if (typeof obj.onTimer !== 'function') continue;
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
    this.renderer = null;
    if (this.spec.then) { this.renderer = this.spec.then.make(); open(this.renderer, ctx); }
  }

  accumulate(wm, pt, input) { return this.run(wm, pt, input, 'accumulate'); }
  merge(wm, pt, input) { return this.run(wm, pt, input, 'merge'); }
  emit(wm, pt, input) { return this.run(wm, pt, input, 'emit'); }

  run(watermark, processingTime, input, step) {
    const w = new wire.Writer(Math.max(4096, input.length));
    const ctx = new Context(this.task, watermark, processingTime);
    this.guard(() => wire.forEachWindowGroup(input, (slot, key, start, end, acc, reader, count) => {
      try {
        if (step === 'emit') this.emitGroup(key, { start, end, maxTimestamp: end - 1 }, acc, reader, count, w, ctx);
        else w.valueSet(slot, 0, this.fold(acc, reader, count, step === 'merge'));
      } catch (e) {
        if (e instanceof DecodeError && !(e instanceof CallError)) throw e;
        throw whole(e, `window [${start}, ${end}) of key '${new TextDecoder().decode(key)}': `);
      }
    }));
    return w.result();
  }

  fold(accRaw, reader, count, merging) {
    const spec = this.spec, obj = this.obj;
    if (spec.kind === 'process-window') throw new CallError('user', 'a process-window function keeps its elements on the host; it cannot fold them');
    if (spec.kind === 'reduce') {
      const fn = method(obj, 'reduce');
      let acc = accRaw === null ? null : spec.acc.decode(accRaw);
      for (let i = 0; i < count; i++) {
        const v = spec.acc.decode(reader.tsValue()[1]);
        acc = acc === null ? v : fn(acc, v);
      }
      return acc === null ? new Uint8Array(0) : spec.acc.encode(acc);
    }
    let acc = accRaw === null ? obj.createAccumulator() : spec.acc.decode(accRaw);
    for (let i = 0; i < count; i++) {
      const raw = reader.tsValue()[1];
      acc = merging ? obj.merge(acc, spec.acc.decode(raw)) : obj.add(spec.input.decode(raw), acc);
    }
    return spec.acc.encode(acc);
  }

  emitGroup(key, window, accRaw, reader, count, w, ctx) {
    const spec = this.spec;
    ctx.key = key; ctx.timestamp = window.maxTimestamp;
    if (spec.kind === 'process-window') {
      const elements = [];
      for (let i = 0; i < count; i++) elements.push(spec.input.decode(reader.tsValue()[1]));
      render(spec, this.obj, window, elements, w, ctx);
      return;
    }
    for (let i = 0; i < count; i++) reader.tsValue();
    if (accRaw === null) return;
    if (this.renderer === null) {
      const out = spec.kind === 'reduce' ? accRaw.slice() : spec.output.encode(this.obj.getResult(spec.acc.decode(accRaw)));
      w.main(window.maxTimestamp, key, out);
      return;
    }
    const result = spec.kind === 'reduce' ? spec.acc.decode(accRaw) : this.obj.getResult(spec.acc.decode(accRaw));
    render(spec.then, this.renderer, window, [result], w, ctx);
  }
}

function render(spec, obj, window, elements, w, ctx) {
  const out = new Collector(w, spec.output, spec.sideOutputs);
  out.key = ctx.key; out.ts = window.maxTimestamp;
  method(obj, 'process')(window, elements, ctx, out);
}
