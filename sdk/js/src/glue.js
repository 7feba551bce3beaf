/** The WIT exports of a JavaScript component (componentize-js): adapts the
 * drivers to the `weir:function` interfaces. Only a component build
 * imports this module (it imports the host's `keyed-state`). */

import * as keyedState from 'weir:function/keyed-state@0.2.0';
import { CallError, KeyedDriver, TransformDriver, WindowDriver, returnViews } from './drivers.js';
import { release } from './wire.js';
import { REGISTRY } from './registry.js';

// Results are views of each driver's reused buffer: the bindings copy them
// out before the next call.
returnViews(true);

/** Runs a batch call and releases its input (`release`): decoded `bytes`
 * values are views of the input, valid during the call. */
function call(input, run) {
  try { return run(); } finally { release(input); }
}

/** A thrown `{ tag, val }` is the `function-error` of the call. */
function guard(run) {
  try {
    return run();
  } catch (e) {
    if (e instanceof CallError) throw { tag: e.kind, val: e.message };
    throw { tag: 'user', val: e instanceof Error ? `${e.name}: ${e.message}` : String(e) };
  }
}

function task(t) {
  return {
    jobName: t.jobName,
    operatorId: t.operatorId,
    subtaskIndex: t.subtaskIndex,
    parallelism: t.parallelism,
    maxParallelism: t.maxParallelism,
    parameters: Object.fromEntries(t.parameters),
  };
}

// Watermarks and processing time as ms numbers (exact to 2^53).
const ms = (v) => Number(v);

export const registry = {
  functions() {
    return [...REGISTRY.values()].map((s) => ({ name: s.name, kind: s.kind, sideOutputs: s.sideOutputs }));
  },
};

class TransformFunction {
  constructor(d) { this.d = d; }
  static open(name, t) { return new TransformFunction(guard(() => new TransformDriver(name, task(t)))); }
  processBatch(ctx, input) { return call(input, () => guard(() => this.d.processBatch(ms(ctx.watermark), ms(ctx.processingTime), input))); }
  snapshotState() { return guard(() => this.d.snapshotState()); }
  restoreState(states) { guard(() => this.d.restoreState(states)); }
}

class KeyedFunction {
  constructor(d) { this.d = d; }
  static open(name, t) { return new KeyedFunction(guard(() => new KeyedDriver(name, task(t), keyedState))); }
  states() {
    return this.d.states().map((s) => ({
      name: s.name,
      kind: s.kind,
      codec: s.codec,
      ttl: s.ttl ? { millis: BigInt(s.ttl.millis), refreshOnRead: Boolean(s.ttl.refreshOnRead) } : undefined,
    }));
  }
  processBatch(ctx, input) { return call(input, () => guard(() => this.d.processBatch(ms(ctx.watermark), ms(ctx.processingTime), input))); }
  onTimers(ctx, input) { return call(input, () => guard(() => this.d.onTimers(ms(ctx.watermark), ms(ctx.processingTime), input))); }
  snapshotState() { return guard(() => this.d.snapshotState()); }
  restoreState(states) { guard(() => this.d.restoreState(states)); }
}

class WindowFunction {
  constructor(d) { this.d = d; }
  static open(name, t) { return new WindowFunction(guard(() => new WindowDriver(name, task(t)))); }
  accumulate(ctx, input) { return call(input, () => guard(() => this.d.accumulate(ms(ctx.watermark), ms(ctx.processingTime), input))); }
  merge(ctx, input) { return call(input, () => guard(() => this.d.merge(ms(ctx.watermark), ms(ctx.processingTime), input))); }
  emit(ctx, input) { return call(input, () => guard(() => this.d.emit(ms(ctx.watermark), ms(ctx.processingTime), input))); }
}

export const transform = { TransformFunction };
export const keyed = { KeyedFunction };
export const window = { WindowFunction };
