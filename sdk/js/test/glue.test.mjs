// The component exports (src/glue.js) as componentize-js calls them: WIT
// records as objects, s64 as bigint, errors as thrown `{ tag, val }`, and
// the host's keyed-state import replaced by a fake in this process.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { register } from 'node:module';

import * as weir from '../src/index.js';
import * as wire from '../src/wire.js';

const { codecs } = weir;

// `weir:function/keyed-state@0.2.0` resolves to a module whose functions
// call the fake host installed on globalThis.
const fake = `const h = () => globalThis.__weirKeyedState;
export const listGet = (...a) => h().listGet(...a), listAdd = (...a) => h().listAdd(...a),
  listUpdate = (...a) => h().listUpdate(...a), listClear = (...a) => h().listClear(...a),
  mapGet = (...a) => h().mapGet(...a), mapPut = (...a) => h().mapPut(...a), mapRemove = (...a) => h().mapRemove(...a),
  mapEntries = (...a) => h().mapEntries(...a), mapClear = (...a) => h().mapClear(...a);`;
const hook = `export async function resolve(s, c, next) {
  return s === 'weir:function/keyed-state@0.2.0'
    ? { url: ${JSON.stringify(`data:text/javascript,${encodeURIComponent(fake)}`)}, shortCircuit: true }
    : next(s, c);
}`;
register(`data:text/javascript,${encodeURIComponent(hook)}`);
const glue = await import('../src/glue.js');

/** Copies what it is given, as the component bindings do. */
const calls = [];
globalThis.__weirKeyedState = {
  maps: new Map(),
  key: (s, slot, k) => `${s}/${slot}/${Buffer.from(k).toString('hex')}`,
  listGet() { return []; },
  listAdd(s, slot, v) { calls.push(['listAdd', s, slot, Buffer.from(v).toString()]); },
  listUpdate() {}, listClear() {},
  mapGet(s, slot, k) { return this.maps.get(this.key(s, slot, k))?.slice(); },
  mapPut(s, slot, k, v) { this.maps.set(this.key(s, slot, k), v.slice()); },
  mapRemove() {}, mapEntries() { return []; }, mapClear() {},
};

const enc = new TextEncoder();
const b = (s) => enc.encode(s);
const MIN = -(2n ** 63n);
const ctx = { watermark: MIN, processingTime: 1700000000000n };
const task = {
  jobName: 'job', operatorId: 'op', subtaskIndex: 1, parallelism: 2, maxParallelism: 128,
  parameters: [['greeting', 'hi']],
};

function records(...recs) {
  const w = new wire.Writer(8);
  for (const [ts, key, value] of recs) { w.ts(ts); w.bytes(key); w.bytes(value); }
  return w.result();
}

weir.map('greet', { input: codecs.string, output: codecs.string }, class {
  open(c) { this.greeting = c.parameter('greeting'); this.sub = c.task.subtaskIndex; }
  map(s, c) { return `${this.greeting} ${s} (${this.sub}, wm ${c.watermark === Number(MIN)})`; }
});
weir.flatMap('fan', { input: codecs.string, sideOutputs: ['odd'] }, (s, c, out) => out.sideOutput('odd', s));
weir.keyedProcess('visits', { input: codecs.string, output: codecs.u64 }, class {
  open(c) {
    this.n = c.valueState('n', codecs.u64, { millis: 1000, refreshOnRead: true });
    this.pages = c.listState('pages', codecs.string);
    this.seen = c.mapState('seen', codecs.string, codecs.bool);
  }
  processElement(page, c, out) {
    this.pages.add(page);
    if (!this.seen.has(page)) this.seen.set(page, true);
    this.n.set(this.n.get(0) + 1);
    out.collect(this.n.get());
    c.registerProcessingTimeTimer(c.processingTime + 10);
  }
});
weir.reduce('sum', { codec: codecs.u64 }, (a, x) => a + x);

test('registry lists every function with its kind and side outputs', () => {
  const fns = glue.registry.functions();
  assert.deepEqual(fns.find((f) => f.name === 'fan'), { name: 'fan', kind: 'flat-map', sideOutputs: ['odd'] });
  assert.deepEqual(fns.find((f) => f.name === 'sum'), { name: 'sum', kind: 'reduce', sideOutputs: [] });
});

test('open errors are function-error variants', () => {
  assert.throws(() => glue.transform.TransformFunction.open('nope', task), (e) => e.tag === 'unknown-function' && /this component has: greet \(map\)/.test(e.val));
  assert.throws(() => glue.keyed.KeyedFunction.open('greet', task), (e) => e.tag === 'unknown-function' && /not a keyed function/.test(e.val));
  assert.throws(() => glue.window.WindowFunction.open('visits', task), (e) => e.tag === 'unknown-function');
});

test('a transform sees the task and parameters; results are views valid until the next call', () => {
  const f = glue.transform.TransformFunction.open('greet', task);
  const out = f.processBatch(ctx, records([1, b('k'), b('you')]));
  const r = new wire.Reader(out);
  assert.equal(r.u8(), wire.MAIN);
  assert.equal(r.ts(), 1);
  assert.equal(new TextDecoder().decode(r.bytes()), 'k');
  assert.equal(new TextDecoder().decode(r.bytes()), 'hi you (1, wm true)');
  assert.equal(f.snapshotState(), undefined);
  f.restoreState([]);
  assert.throws(() => f.processBatch(ctx, Uint8Array.of(1, 2, 3)), (e) => e.tag === 'decode' && /truncated/.test(e.val));
});

test('keyed: states with TTL as WIT records, list and map state through the import, timers', () => {
  const f = glue.keyed.KeyedFunction.open('visits', task);
  assert.deepEqual(f.states(), [
    { name: 'n', kind: 'value', codec: 'u64', ttl: { millis: 1000n, refreshOnRead: true } },
    { name: 'pages', kind: 'list', codec: 'string', ttl: undefined },
    { name: 'seen', kind: 'map', codec: 'string->bool', ttl: undefined },
  ]);
  const w = new wire.Writer(8);
  w.bytes(b('alice')); w.u32(wire.ABSENT); w.u32(2);
  w.ts(5); w.bytes(b('home')); w.ts(6); w.bytes(b('home'));
  const out = f.processBatch(ctx, w.result());
  const r = new wire.Reader(out);
  const got = [];
  while (!r.atEnd()) {
    const tag = r.u8();
    if (tag === wire.MAIN) { r.frame(); got.push(['main', r.t, codecs.u64.decode(r.v)]); }
    else if (tag === wire.VALUE_SET) got.push(['set', r.u32(), r.u32(), codecs.u64.decode(r.bytes())]);
    else if (tag === wire.TIMER_REGISTER) got.push(['timer', r.u32(), r.u8(), r.ts()]);
    else assert.fail(`tag ${tag}`);
  }
  assert.deepEqual(got, [['main', 5, 1], ['main', 6, 2], ['set', 0, 0, 2], ['timer', 0, 1, 1700000000010], ['timer', 0, 1, 1700000000010]]);
  assert.deepEqual(calls, [['listAdd', 1, 0, 'home'], ['listAdd', 1, 0, 'home']]);
  assert.equal(globalThis.__weirKeyedState.maps.size, 1);
  assert.throws(() => glue.keyed.KeyedFunction.open('sum', task).onTimers(ctx, new Uint8Array(0)), (e) => e.tag === 'user' && /no timers/.test(e.val));
});

test('a call frees its input, and host values once decoded, unless bytes views keep them', () => {
  const had = ArrayBuffer.prototype.transfer;
  if (had === undefined) {
    // Node 20 lacks ArrayBuffer.prototype.transfer (SpiderMonkey has it):
    // detach the same way.
    // eslint-disable-next-line no-extend-native
    ArrayBuffer.prototype.transfer = function transfer(n = 0) { structuredClone(this, { transfer: [this] }); return new ArrayBuffer(n); };
  }
  try {
    const f = glue.transform.TransformFunction.open('greet', task);
    const input = records([1, b('k'), b('you')]);
    const out = f.processBatch(ctx, input);
    assert.equal(input.buffer.byteLength, 0, 'the input is freed');
    assert.ok(out.length > 0, 'the result is not');
    // Host values: freed after decoding with a copying codec, kept for bytes.
    const host = globalThis.__weirKeyedState;
    const stored = [];
    host.mapGet = () => { const v = codecs.bool.encode(true); stored.push(v); return v; };
    const k = glue.keyed.KeyedFunction.open('visits', task);
    const w = new wire.Writer(8);
    w.bytes(b('bob')); w.u32(wire.ABSENT); w.u32(1); w.ts(1); w.bytes(b('cart'));
    k.processBatch(ctx, w.result());
    assert.equal(stored.length, 1);
    assert.equal(stored[0].buffer.byteLength, 0, 'a decoded map value is freed');
  } finally {
    if (had === undefined) delete ArrayBuffer.prototype.transfer;
  }
});
