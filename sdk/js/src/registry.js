/** Declaring functions: each call registers one function of the component
 * under a name, with its kind and codecs. */

import * as codecs from './codecs.js';

/** Every registered function, by name. */
export const REGISTRY = new Map();

function register(spec) {
  if (REGISTRY.has(spec.name)) throw new Error(`two functions are named '${spec.name}'`);
  REGISTRY.set(spec.name, spec);
  return spec;
}

/** Classes get an instance per opened function; plain functions are shared. */
function factory(impl) {
  const isClass = typeof impl === 'function' && /^class[\s{]/.test(Function.prototype.toString.call(impl));
  return isClass ? () => new impl() : () => impl;
}

function spec(kind, name, opts, impl, extra = {}) {
  return register({
    name, kind, make: factory(impl),
    input: opts.input ?? codecs.string,
    output: opts.output ?? codecs.string,
    acc: opts.acc ?? null,
    sideOutputs: [...(opts.sideOutputs ?? [])],
    then: null,
    ...extra,
  });
}

/** `fn(value, ctx) -> value`, or a class with `map` (and optional `open`). */
export function map(name, opts, impl) { return spec('map', name, opts, impl); }
/** `fn(value, ctx, out)`, or a class with `flatMap`. */
export function flatMap(name, opts, impl) { return spec('flat-map', name, opts, impl); }
/** `fn(value, ctx) -> boolean`, or a class with `filter`; kept records pass unchanged. */
export function filter(name, opts, impl) { return spec('filter', name, { ...opts, output: opts.input }, impl); }
/** `fn(value, current) -> ms`, or a class with `extractTimestamp`. */
export function timestampAssigner(name, opts, impl) { return spec('timestamp-assigner', name, opts, impl); }
/** `fn(acc, value) -> acc`; the running value is the state `weir.acc` under `opts.codec`. */
export function reduce(name, opts, impl) {
  const c = opts.codec ?? codecs.string;
  return spec('reduce', name, { input: c, output: c, acc: c }, impl);
}
/** A class with `createAccumulator()`, `add(value, acc)`, `getResult(acc)`
 * and, for session windows, `merge(a, b)`. */
export function aggregate(name, opts, impl) { return spec('aggregate', name, { ...opts, acc: opts.acc ?? codecs.string }, impl); }
/** A class with `open(ctx)`, `processElement(value, ctx, out)` and optionally `onTimer(ts, ctx, out)`. */
export function keyedProcess(name, opts, impl) { return spec('keyed-process', name, opts, impl); }
/** `fn(window, elements, ctx, out)`, or a class with `process`. */
export function processWindow(name, opts, impl) { return spec('process-window', name, opts, impl); }
/** `name`: the reduce or aggregate `incremental` folds a window's records
 * and the process-window function `window` renders the result (Flink's
 * `aggregate(agg, windowFunction)`); both are registered specs. */
export function windowAggregate(name, incremental, window) {
  if (!['reduce', 'aggregate'].includes(incremental.kind) || window.kind !== 'process-window') {
    throw new Error('windowAggregate takes a reduce or aggregate and a process-window function');
  }
  return register({ ...incremental, name, sideOutputs: [...window.sideOutputs], then: window });
}
