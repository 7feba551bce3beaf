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

/** Whether `impl` is a class (instantiated per opened function) rather
 * than a plain function (shared). */
function isClass(impl) {
  if (typeof impl !== 'function') return false;
  if (/^class[\s{]/.test(Function.prototype.toString.call(impl))) return true;
  // Engines that hide sources: a constructor with methods on its prototype.
  return impl.prototype !== undefined && Object.getOwnPropertyNames(impl.prototype).length > 1;
}

/** Classes get an instance per opened function; plain functions and
 * objects are shared. */
function factory(name, impl) {
  if (isClass(impl)) return () => new impl();
  if (typeof impl === 'function' || (impl !== null && typeof impl === 'object')) return () => impl;
  throw new TypeError(`function '${name}': give a function, a class or an object, not ${impl === null ? 'null' : typeof impl}`);
}

function checkCodec(name, what, c) {
  if (c === undefined) return;
  if (c === null || typeof c !== 'object' || typeof c.name !== 'string' || typeof c.decode !== 'function'
    || (typeof c.encode !== 'function' && typeof c.encodeTo !== 'function')) {
    throw new TypeError(`function '${name}': ${what} must be a codec (weir.codecs.*, or an object with name, encode and decode)`);
  }
}

function spec(kind, name, opts, impl, extra = {}) {
  if (typeof name !== 'string' || name === '') throw new TypeError('a function needs a name (a non-empty string)');
  if (impl === undefined && (typeof opts === 'function' || (opts !== null && typeof opts === 'object' && !isOptions(opts)))) {
    impl = opts;
    opts = {};
  }
  opts = opts ?? {};
  for (const what of ['input', 'output', 'acc', 'codec']) checkCodec(name, what, opts[what]);
  const sideOutputs = [...(opts.sideOutputs ?? [])];
  for (const s of sideOutputs) if (typeof s !== 'string' || s === '') throw new TypeError(`function '${name}': side output names are non-empty strings`);
  return register({
    name, kind, make: factory(name, impl),
    input: opts.input ?? codecs.string,
    output: opts.output ?? codecs.string,
    acc: opts.acc ?? null,
    sideOutputs,
    then: null,
    ...extra,
  });
}

/** Whether `o` looks like registration options rather than an
 * implementation object. */
function isOptions(o) {
  const keys = Object.keys(o);
  return keys.length === 0 || keys.every((k) => ['input', 'output', 'acc', 'codec', 'sideOutputs'].includes(k));
}

/** `fn(value, ctx) -> value`, or a class with `map` (and optional `open`). */
export function map(name, opts, impl) { return spec('map', name, opts, impl); }
/** `fn(value, ctx, out)`, or a class with `flatMap`. */
export function flatMap(name, opts, impl) { return spec('flat-map', name, opts, impl); }
/** `fn(value, ctx) -> boolean`, or a class with `filter`; kept records pass unchanged. */
export function filter(name, opts, impl) {
  if (impl === undefined && typeof opts === 'function') { impl = opts; opts = {}; }
  return spec('filter', name, { ...opts, output: opts?.input }, impl);
}
/** `fn(value, current) -> ms`, or a class with `extractTimestamp`. */
export function timestampAssigner(name, opts, impl) { return spec('timestamp-assigner', name, opts, impl); }
/** `fn(acc, value) -> acc`; the running value is the state `weir.acc` under `opts.codec`. */
export function reduce(name, opts, impl) {
  if (impl === undefined && typeof opts === 'function') { impl = opts; opts = {}; }
  const c = opts?.codec ?? codecs.string;
  return spec('reduce', name, { input: c, output: c, acc: c }, impl);
}
/** A class with `createAccumulator()`, `add(value, acc)`, `getResult(acc)`
 * and, for session windows, `merge(a, b)`. */
export function aggregate(name, opts, impl) {
  if (impl === undefined && (typeof opts === 'function' || (opts !== null && typeof opts === 'object' && !isOptions(opts)))) { impl = opts; opts = {}; }
  return spec('aggregate', name, { ...opts, acc: opts?.acc ?? codecs.string }, impl);
}
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
