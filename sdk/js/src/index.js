/**
 * Weir's JavaScript SDK: stream functions for Weir as WebAssembly
 * components. Register functions in your package's entry module and build
 * it with `weir build <dir>`:
 *
 * ```js
 * import * as weir from '@weir/sdk';
 * const { codecs } = weir;
 *
 * weir.flatMap('tokenize', { output: codecs.u64 }, (line, ctx, out) => {
 *   for (const w of line.toLowerCase().split(/\s+/)) if (w) out.collectKeyed(w, 1);
 * });
 * weir.reduce('count', { codec: codecs.u64 }, (a, b) => a + b);
 * ```
 *
 * The contract with the host and other languages' SDKs is
 * `wit/CONTRACT.md`; `docs/sdk-js.md` is the guide.
 */

export * as codecs from './codecs.js';
export { UserError, DecodeError } from './errors.js';
export { Context, Collector, OpenContext, ValueState, ListState, MapState, EVENT, PROCESSING } from './api.js';
export {
  map, flatMap, filter, timestampAssigner, reduce, aggregate, keyedProcess, processWindow, windowAggregate,
} from './registry.js';
