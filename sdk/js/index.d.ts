// Types of the Weir JavaScript SDK (`@weir/sdk`). The contract with the host
// is wit/CONTRACT.md; the guide is docs/sdk-js.md.

/** Milliseconds: a number, or a bigint beyond ±2^53−1 (never in practice). */
export type Millis = number | bigint;

/** How values become bytes; `name` is stored with keyed state (a restore
 * refuses state written under another name). */
export interface Codec<T> {
  readonly name: string;
  encode(value: T): Uint8Array;
  decode(bytes: Uint8Array): T;
  /** Optional fast path: append `u32 length | bytes` to the SDK's writer. */
  encodeTo?(writer: unknown, value: T): void;
}

export namespace codecs {
  /** UTF-8 text. */
  const string: Codec<string>;
  /** Bytes as they are. Decoded values are views of the batch, valid
   * during the call: `slice()` one to keep it. */
  const bytes: Codec<Uint8Array>;
  const u8: Codec<number>;
  const u16: Codec<number>;
  const u32: Codec<number>;
  /** A number when within ±2^53−1, else a bigint; both encode. */
  const u64: Codec<number | bigint>;
  const i8: Codec<number>;
  const i16: Codec<number>;
  const i32: Codec<number>;
  /** A number when within ±2^53−1, else a bigint; both encode. */
  const i64: Codec<number | bigint>;
  const f32: Codec<number>;
  const f64: Codec<number>;
  const bool: Codec<boolean>;
  const unit: Codec<null>;
  /** Compact JSON; bigints beyond ±2^53−1 are refused. */
  const json: Codec<any>;
  /** MessagePack: Rust's `MsgPack<T>`, Python's `codecs.MSGPACK`. */
  const msgpack: Codec<any>;
  /** The built-in codecs by name. */
  const byName: Record<string, Codec<any>>;
}

/** The function's own logic failed: the record fails (or the job, in `open`). */
export class UserError extends Error {
  readonly kind: 'user';
}
/** A record or state value is not what its codec expects. */
export class DecodeError extends Error {
  readonly kind: 'decode';
}

/** Where a function instance runs. */
export interface TaskInfo {
  jobName: string;
  operatorId: string;
  subtaskIndex: number;
  parallelism: number;
  maxParallelism: number;
  /** Job parameters (the job file's `[parameters]` and the command line). */
  parameters: Record<string, string>;
}

/** Expiry of a state's entries, in processing time. */
export interface StateTtl {
  /** Lifetime after the last write (or read, with `refreshOnRead`), > 0. */
  millis: Millis;
  refreshOnRead?: boolean;
}

/** One value per key (Flink's `ValueState`); no host call per access. */
export class ValueState<T> {
  get(): T | null;
  get<F>(fallback: F): T | F;
  /** Encodes at once: a value the codec cannot hold throws here. */
  set(value: T): void;
  clear(): void;
}

/** A list per key, kept by the host (each method is a host call). */
export class ListState<T> {
  get(): T[];
  add(value: T): void;
  update(values: Iterable<T>): void;
  clear(): void;
}

/** A map per key, kept by the host (each method is a host call); entries
 * are ordered by their keys' encoded bytes. */
export class MapState<K, V> {
  get(key: K): V | null;
  get<F>(key: K, fallback: F): V | F;
  has(key: K): boolean;
  set(key: K, value: V): void;
  delete(key: K): void;
  entries(): [K, V][];
  keys(): K[];
  values(): V[];
  clear(): void;
}

/** Given to `open`. */
export class OpenContext {
  readonly task: TaskInfo;
  parameter(name: string): string | undefined;
  parameter(name: string, fallback: string): string;
  /** Keyed functions only; a state's id is its declaration order. */
  valueState<T>(name: string, codec: Codec<T>, ttl?: StateTtl): ValueState<T>;
  listState<T>(name: string, codec: Codec<T>, ttl?: StateTtl): ListState<T>;
  /** Its codec name is `"<key codec>-><value codec>"`. */
  mapState<K, V>(name: string, keyCodec: Codec<K>, valueCodec: Codec<V>, ttl?: StateTtl): MapState<K, V>;
}

export const EVENT: 'event-time';
export const PROCESSING: 'processing-time';

/** Facts about the record (or timer) being processed, and the timer
 * service of keyed process functions. */
export class Context {
  readonly task: TaskInfo;
  /** The record's key (the current key in keyed functions). */
  readonly key: Uint8Array;
  /** The key as UTF-8 text, or null when it is not. */
  readonly keyStr: string | null;
  /** The record's event time in ms, or null; in `onTimer` the timer's time. */
  readonly timestamp: Millis | null;
  /** The operator's watermark (-2^63 before the first). */
  readonly watermark: number;
  /** The host's clock at the start of the call, ms since the epoch. */
  readonly processingTime: number;
  /** In `onTimer`: which clock fired. */
  readonly timeDomain: 'event-time' | 'processing-time' | null;
  parameter(name: string): string | undefined;
  parameter(name: string, fallback: string): string;
  /** Keyed process functions only; one timer per (key, domain, time). */
  registerEventTimeTimer(time: Millis): void;
  registerProcessingTimeTimer(time: Millis): void;
  deleteEventTimeTimer(time: Millis): void;
  deleteProcessingTimeTimer(time: Millis): void;
}

/** Where a function puts its output; records keep the input's key and
 * timestamp unless a method says otherwise. */
export class Collector<T> {
  collect(value: T): void;
  /** A new key (a string is its UTF-8); copied at once. */
  collectKeyed(key: string | Uint8Array, value: T): void;
  collectWithTimestamp(ts: Millis | null, value: T): void;
  /** Declared side outputs only; `codec` defaults to the main output's. */
  sideOutput<S = T>(output: string, value: S, codec?: Codec<S>): void;
}

/** A window: `[start, end)`; results carry `maxTimestamp` (end − 1). */
export interface Window {
  start: Millis;
  end: Millis;
  maxTimestamp: Millis;
}

/** A registered function (what `windowAggregate` combines). */
export interface Spec {
  readonly name: string;
  readonly kind: 'map' | 'flat-map' | 'filter' | 'timestamp-assigner' | 'reduce' | 'aggregate' | 'keyed-process' | 'process-window';
  readonly sideOutputs: string[];
}

/** Operator state a class may keep across checkpoints (Flink's
 * `CheckpointedFunction`). */
interface Checkpointed {
  snapshotState?(): Uint8Array | null | undefined;
  /** After `open` when a job resumes: the states of the instances this one
   * takes over. */
  restoreState?(states: Uint8Array[]): void;
}
interface Opens { open?(ctx: OpenContext): void }

/** A function, a class (an instance per sub-task) or an object (shared). */
type Impl<F, C> = F | (new () => C) | C;
interface Opts<I, O> { input?: Codec<I>; output?: Codec<O>; sideOutputs?: string[] }

export function map<I = string, O = string>(name: string, opts: { input?: Codec<I>; output?: Codec<O> },
  impl: Impl<(value: I, ctx: Context) => O, Opens & Checkpointed & { map(value: I, ctx: Context): O }>): Spec;
export function map(name: string, impl: ((value: string, ctx: Context) => string) | object): Spec;
export function flatMap<I = string, O = string>(name: string, opts: Opts<I, O>,
  impl: Impl<(value: I, ctx: Context, out: Collector<O>) => void, Opens & Checkpointed & { flatMap(value: I, ctx: Context, out: Collector<O>): void }>): Spec;
export function filter<I = string>(name: string, opts: { input?: Codec<I> },
  impl: Impl<(value: I, ctx: Context) => boolean, Opens & Checkpointed & { filter(value: I, ctx: Context): boolean }>): Spec;
export function filter(name: string, impl: ((value: string, ctx: Context) => boolean) | object): Spec;
export function timestampAssigner<I = string>(name: string, opts: { input?: Codec<I> },
  impl: Impl<(value: I, current: Millis | null) => Millis, Opens & Checkpointed & { extractTimestamp(value: I, current: Millis | null): Millis }>): Spec;
/** The running value is the value state `weir.acc` (state id 0) under `codec`. */
export function reduce<T = string>(name: string, opts: { codec?: Codec<T> },
  impl: Impl<(acc: T, value: T) => T, Opens & { reduce(acc: T, value: T): T }>): Spec;
export function reduce(name: string, impl: ((acc: string, value: string) => string) | object): Spec;
/** The accumulator is the value state `weir.acc` (state id 0) under `acc`. */
export function aggregate<I = string, A = string, O = string>(name: string, opts: { input?: Codec<I>; acc?: Codec<A>; output?: Codec<O> },
  impl: Impl<never, Opens & { createAccumulator(): A; add(value: I, acc: A): A; getResult(acc: A): O; merge?(a: A, b: A): A }>): Spec;
export function keyedProcess<I = string, O = string>(name: string, opts: Opts<I, O>,
  impl: Impl<never, Opens & Checkpointed & {
    processElement(value: I, ctx: Context, out: Collector<O>): void;
    onTimer?(timestamp: Millis, ctx: Context, out: Collector<O>): void;
  }>): Spec;
export function processWindow<I = string, O = string>(name: string, opts: Opts<I, O>,
  impl: Impl<(window: Window, elements: I[], ctx: Context, out: Collector<O>) => void,
    Opens & { process(window: Window, elements: I[], ctx: Context, out: Collector<O>): void }>): Spec;
/** `incremental` (a reduce or aggregate) folds a window's records; the
 * process-window function `window` renders the result with the window
 * (Flink's `aggregate(agg, windowFunction)`). Windows only. */
export function windowAggregate(name: string, incremental: Spec, window: Spec): Spec;
