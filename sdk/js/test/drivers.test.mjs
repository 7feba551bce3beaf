// The batch drivers against hand-built batches: per-record failures, keyed
// state (value, list, map), timers, side outputs, aggregates and windows.
import { test, beforeEach } from 'node:test';
import assert from 'node:assert/strict';

import * as weir from '../src/index.js';
import * as wire from '../src/wire.js';
import { REGISTRY } from '../src/registry.js';
import { CallError, KeyedDriver, TransformDriver, WindowDriver, returnViews, task } from '../src/drivers.js';

const { codecs } = weir;
const enc = new TextEncoder();
const b = (s) => enc.encode(s);
const U64 = (n) => codecs.u64.encode(n);
const hex = (x) => Buffer.from(x).toString('hex');

function records(...recs) {
  const w = new wire.Writer(8);
  for (const [ts, key, value] of recs) { w.ts(ts); w.bytes(key); w.bytes(value); }
  return w.result();
}

function keyed(groups, valueStates) {
  const w = new wire.Writer(8);
  for (const [key, states, recs] of groups) {
    assert.equal(states.length, valueStates);
    w.bytes(key);
    for (const s of states) { if (s === null) w.u32(wire.ABSENT); else w.bytes(s); }
    w.u32(recs.length);
    for (const [ts, v] of recs) { w.ts(ts); w.bytes(v); }
  }
  return w.result();
}

function windowGroups(groups) {
  const w = new wire.Writer(8);
  for (const [key, start, end, acc, recs] of groups) {
    w.bytes(key); w.ts(start); w.ts(end);
    if (acc === null) w.u32(wire.ABSENT); else w.bytes(acc);
    w.u32(recs.length);
    for (const [ts, v] of recs) { w.ts(ts); w.bytes(v); }
  }
  return w.result();
}

/** Parses a result buffer into arrays (a reader independent of Writer). */
function entries(buf) {
  const r = new wire.Reader(buf);
  const out = [];
  const dec = new TextDecoder();
  while (!r.atEnd()) {
    const tag = r.u8();
    if (tag === wire.MAIN) out.push(['main', r.ts(), dec.decode(r.bytes()), hex(r.bytes())]);
    else if (tag === wire.SIDE) { const name = dec.decode(r.take(r.u16())); out.push(['side', name, r.ts(), dec.decode(r.bytes()), hex(r.bytes())]); }
    else if (tag === wire.VALUE_SET) out.push(['set', r.u32(), r.u32(), hex(r.bytes())]);
    else if (tag === wire.VALUE_CLEAR) out.push(['clear', r.u32(), r.u32()]);
    else if (tag === wire.TIMER_REGISTER || tag === wire.TIMER_DELETE) out.push([tag === wire.TIMER_REGISTER ? 'timer' : 'untimer', r.u32(), r.u8(), r.ts()]);
    else if (tag === wire.RECORD_FAILED) out.push(['failed', r.u32(), r.u32(), r.u8(), dec.decode(r.bytes())]);
    else assert.fail(`unknown tag ${tag}`);
  }
  return out;
}

/** The keyed-state import: list and map state per (state, slot). Like the
 * real host (the component bindings), it copies what it is given (the SDK
 * passes views of a scratch buffer it reuses) and returns fresh buffers
 * (the SDK may free them once decoded). */
class FakeHost {
  constructor() { this.lists = new Map(); this.maps = new Map(); this.calls = 0; }
  k(s, slot) { this.calls++; return `${s}/${slot}`; }
  listGet(s, slot) { return (this.lists.get(this.k(s, slot)) ?? []).map((v) => v.slice()); }
  listAdd(s, slot, v) { const k = this.k(s, slot); this.lists.set(k, [...(this.lists.get(k) ?? []), v.slice()]); }
  listUpdate(s, slot, vs) { this.lists.set(this.k(s, slot), vs.map((v) => v.slice())); }
  listClear(s, slot) { this.lists.delete(this.k(s, slot)); }
  map(s, slot) { const k = this.k(s, slot); if (!this.maps.has(k)) this.maps.set(k, new Map()); return this.maps.get(k); }
  mapGet(s, slot, key) { return this.map(s, slot).get(hex(key))?.slice(); }
  mapPut(s, slot, key, v) { this.map(s, slot).set(hex(key), v.slice()); }
  mapRemove(s, slot, key) { this.map(s, slot).delete(hex(key)); }
  mapEntries(s, slot) { return [...this.map(s, slot).entries()].sort().map(([k, v]) => [Uint8Array.from(Buffer.from(k, 'hex')), v.slice()]); }
  mapClear(s, slot) { this.maps.delete(this.k(s, slot)); }
}

beforeEach(() => {
  REGISTRY.clear();
  weir.map('length', { input: codecs.string, output: codecs.u64 }, (s) => {
    if (s === 'boom') throw new Error('no boom');
    return s.length;
  });
  weir.filter('even', { input: codecs.u64 }, (n) => n % 2 === 0);
  weir.flatMap('split', { input: codecs.string, sideOutputs: ['short'] }, (s, ctx, out) => {
    for (const w of s.split(' ')) {
      if (w.length < 3) out.sideOutput('short', w); else out.collectWithTimestamp(ctx.timestamp + 1, w);
    }
    if (s.endsWith('!')) throw new weir.UserError('shouting');
  });
  weir.timestampAssigner('leading', { input: codecs.string }, (s) => Number(s.split(' ')[0]));
  weir.keyedProcess('visits', { input: codecs.string, sideOutputs: ['odd'] }, class {
    open(ctx) {
      this.count = ctx.valueState('count', codecs.u64);
      this.pages = ctx.listState('pages', codecs.string);
      this.byPage = ctx.mapState('by-page', codecs.string, codecs.u64);
      this.note = ctx.valueState('note', codecs.string);
    }
    processElement(page, ctx, out) {
      if (page === 'bad') { out.collect('partial'); throw new weir.UserError('bad page'); }
      const n = this.count.get(0) + 1;
      this.count.set(n);
      this.pages.add(page);
      this.byPage.set(page, this.byPage.get(page, 0) + 1);
      ctx.registerEventTimeTimer(ctx.timestamp + 100);
      if (n % 2) out.sideOutput('odd', page);
    }
    onTimer(ts, ctx, out) {
      out.collect(`${ctx.keyStr}@${ts}:${ctx.timeDomain}:${this.count.get()}:${this.pages.get().join(',')}`);
      this.note.clear();
      ctx.deleteProcessingTimeTimer(ts + 5);
    }
  });
  weir.aggregate('avg', { input: codecs.u64, acc: codecs.json, output: codecs.f64 }, class {
    createAccumulator() { return [0, 0]; }
    add(v, acc) { acc[0] += v; acc[1] += 1; if (v === 13) throw new weir.UserError('unlucky'); return acc; }
    getResult(acc) { return acc[0] / acc[1]; }
  });
  const sum = weir.reduce('sum', { codec: codecs.u64 }, (a, x) => a + x);
  const render = weir.processWindow('render', { input: codecs.u64 }, (window, elements, ctx, out) => {
    out.collect(`${ctx.keyStr}[${window.start},${window.end})=${elements.reduce((a, x) => a + x, 0)}`);
  });
  weir.windowAggregate('sum-rendered', sum, render);
});

test('map keeps key and timestamp and reports a failed record', () => {
  const out = new TransformDriver('length').processBatch(0, 0, records([5, b('k'), b('abc')], [6, b('j'), b('boom')], [7, b(''), b('')]));
  assert.deepEqual(entries(out), [['main', 5, 'k', hex(U64(3))], ['failed', 0, 1, 0, 'Error: no boom'], ['main', 7, '', hex(U64(0))]]);
});

test('filter passes the input bytes; a bad value fails its record as decode', () => {
  assert.deepEqual(entries(new TransformDriver('even').processBatch(0, 0, records([1, b('a'), U64(2)], [2, b('b'), U64(3)]))), [['main', 1, 'a', hex(U64(2))]]);
  assert.deepEqual(entries(new TransformDriver('even').processBatch(0, 0, records([1, b('a'), b('xyz')])))[0].slice(0, 4), ['failed', 0, 0, 1]);
});

test('flat-map side outputs, and a failed record emits nothing', () => {
  const out = new TransformDriver('split').processBatch(0, 0, records([10, b('k'), b('hello to you')], [20, b('k'), b('loud words!')]));
  assert.deepEqual(entries(out), [
    ['main', 11, 'k', hex(b('hello'))], ['side', 'short', 10, 'k', hex(b('to'))], ['main', 11, 'k', hex(b('you'))], ['failed', 0, 1, 0, 'shouting'],
  ]);
});

test('a timestamp assigner writes one i64 per record', () => {
  const out = new TransformDriver('leading').processBatch(0, 0, records([0, b(''), b('17 a')], [0, b(''), b('-3 b')]));
  const w = new wire.Writer(8); w.ts(17); w.ts(-3);
  assert.equal(hex(out), hex(w.result()));
});

test('unknown and wrong-kind functions name what exists; truncated batches fail the call', () => {
  assert.throws(() => new TransformDriver('nope'), (e) => e instanceof CallError && e.kind === 'unknown-function' && e.message.includes('length (map)'));
  assert.throws(() => new KeyedDriver('length'), (e) => e.kind === 'unknown-function');
  assert.throws(() => new KeyedDriver('sum-rendered'), (e) => e.kind === 'unknown-function');
  const batch = records([5, b('k'), b('abc')]);
  assert.throws(() => new TransformDriver('length').processBatch(0, 0, batch.subarray(0, batch.length - 1)), (e) => e.kind === 'decode');
});

test('keyed process: value states, list and map state, timers and failures per group', () => {
  const host = new FakeHost();
  const d = new KeyedDriver('visits', undefined, host);
  assert.deepEqual(d.states().map((s) => [s.name, s.kind, s.codec]), [
    ['count', 'value', 'u64'], ['pages', 'list', 'string'], ['by-page', 'map', 'string->u64'], ['note', 'value', 'string']]);
  const got = entries(d.processBatch(0, 0, keyed([
    [b('alice'), [U64(4), null], [[1000, b('home')], [1001, b('bad')], [1002, b('home')]]],
    [b('bob'), [null, b('x')], [[50, b('cart')]]],
  ], 2)));
  assert.deepEqual(got, [
    ['side', 'odd', 1000, 'alice', hex(b('home'))], ['failed', 0, 1, 0, 'bad page'], ['set', 0, 0, hex(U64(6))],
    ['timer', 0, 0, 1100], ['timer', 0, 0, 1102],
    ['side', 'odd', 50, 'bob', hex(b('cart'))], ['set', 1, 0, hex(U64(1))], ['timer', 1, 0, 150],
  ]);
  assert.deepEqual(host.listGet(1, 0).map((x) => new TextDecoder().decode(x)), ['home', 'home']);
  const fired = entries(d.onTimers(0, 0, keyed([[b('alice'), [U64(6), b('n')], [[1100, Uint8Array.of(0)], [1200, Uint8Array.of(1)]]]], 2)));
  assert.deepEqual(fired, [
    ['main', 1100, 'alice', hex(b('alice@1100:event-time:6:home,home'))],
    ['main', 1200, 'alice', hex(b('alice@1200:processing-time:6:home,home'))],
    ['clear', 0, 3], ['untimer', 0, 1, 1105], ['untimer', 0, 1, 1205],
  ]);
});

test('aggregate emits results and keeps the accumulator of the last good record', () => {
  const d = new KeyedDriver('avg');
  assert.deepEqual(d.states().map((s) => [s.name, s.codec]), [['weir.acc', 'json']]);
  const got = entries(d.processBatch(0, 0, keyed([[b('k'), [null], [[1, U64(2)], [2, U64(13)], [3, U64(4)]]]], 1)));
  assert.deepEqual(got, [
    ['main', 1, 'k', hex(codecs.f64.encode(2))], ['failed', 0, 1, 0, 'unlucky'],
    ['main', 3, 'k', hex(codecs.f64.encode(3))], ['set', 0, 0, hex(b('[6,2]'))],
  ]);
});

test('state is unreachable outside a key', () => {
  const d = new KeyedDriver('visits', undefined, new FakeHost());
  assert.throws(() => d.obj.count.get(), { name: 'UserError' });
});

test('windows: reduce accumulates, merges and emits; a renderer sees the result; process-window sees every element', () => {
  const d = new WindowDriver('sum');
  assert.deepEqual(entries(d.accumulate(0, 0, windowGroups([[b('w'), 0, 10, null, [[1, U64(2)], [2, U64(3)]]], [b('v'), 0, 10, U64(7), [[3, U64(1)]]]]))),
    [['set', 0, 0, hex(U64(5))], ['set', 1, 0, hex(U64(8))]]);
  assert.deepEqual(entries(d.merge(0, 0, windowGroups([[b('w'), 0, 20, U64(5), [[0, U64(8)]]]]))), [['set', 0, 0, hex(U64(13))]]);
  assert.deepEqual(entries(d.emit(0, 0, windowGroups([[b('w'), 0, 20, U64(13), []]]))), [['main', 19, 'w', hex(U64(13))]]);
  const r = new WindowDriver('sum-rendered');
  assert.deepEqual(entries(r.emit(0, 0, windowGroups([[b('w'), 0, 20, U64(13), []], [b('x'), 0, 20, null, []]]))), [['main', 19, 'w', hex(b('w[0,20)=13'))]]);
  const p = new WindowDriver('render');
  assert.deepEqual(entries(p.emit(0, 0, windowGroups([[b('k'), 100, 200, null, [[150, U64(1)], [160, U64(2)]]]]))), [['main', 199, 'k', hex(b('k[100,200)=3'))]]);
  assert.throws(() => p.accumulate(0, 0, windowGroups([[b('k'), 100, 200, null, [[150, U64(1)]]]])), (e) => e instanceof CallError);
});

test('64-bit integers: numbers within ±2^53−1, bigints beyond, the same bytes either way', () => {
  const d64 = (c, v) => hex(c.encode(v));
  for (const v of [0, 1, 2 ** 32 - 1, 2 ** 32, 2 ** 53 - 1, -1, -(2 ** 32), -(2 ** 53 - 1), -123456789012]) {
    assert.equal(d64(codecs.i64, v), d64(codecs.i64, BigInt(v)));
    assert.equal(codecs.i64.decode(codecs.i64.encode(v)), v);
    if (v >= 0) { assert.equal(d64(codecs.u64, v), d64(codecs.u64, BigInt(v))); assert.equal(codecs.u64.decode(codecs.u64.encode(v)), v); }
  }
  assert.equal(codecs.u64.decode(codecs.u64.encode(2n ** 64n - 1n)), 2n ** 64n - 1n);
  assert.equal(codecs.u64.decode(codecs.u64.encode(2n ** 53n)), 2n ** 53n);
  assert.equal(codecs.i64.decode(codecs.i64.encode(-(2n ** 63n))), -(2n ** 63n));
  assert.equal(codecs.i64.decode(codecs.i64.encode(-(2n ** 53n))), -(2n ** 53n));
  for (const [c, v] of [[codecs.u64, 2n ** 64n], [codecs.i64, -(2n ** 63n) - 1n], [codecs.u64, 2 ** 53], [codecs.u32, 2 ** 32], [codecs.i8, 128], [codecs.u16, -1], [codecs.u8, 1.5], [codecs.i32, '7']]) {
    assert.throws(() => c.encode(v), { name: 'UserError' }, `${c.name} ${v}`);
  }
  assert.equal(codecs.u32.decode(codecs.u32.encode(4000000000)), 4000000000);
  assert.equal(codecs.i16.decode(codecs.i16.encode(-2)), -2);
  assert.equal(codecs.i8.decode(codecs.i8.encode(-128)), -128);
  assert.throws(() => codecs.json.encode({ big: 2n ** 60n }), { name: 'UserError' });
  assert.equal(new TextDecoder().decode(codecs.json.encode({ n: 5n })), '{"n":5}');
});

test('in-place encodings equal encode()', () => {
  const cases = [[codecs.string, 'héllo ✓'], [codecs.string, ''], [codecs.bytes, b('xyz')], [codecs.u8, 7], [codecs.i64, -5], [codecs.u64, 2n ** 63n],
    [codecs.f32, 1.5], [codecs.f64, -0.25], [codecs.bool, true], [codecs.unit, null], [codecs.json, { a: [1, 'x'] }], [codecs.msgpack, { a: 1 }]];
  for (const [c, v] of cases) {
    const w = new wire.Writer(2);
    w.value(c, v);
    const direct = c.encode(v);
    assert.equal(hex(w.result()), hex(Uint8Array.of(...new Uint8Array(new Uint32Array([direct.length]).buffer), ...direct)), c.name);
  }
});

test('results are copies unless views are asked for; a buffer grows and is reused', () => {
  const d = new TransformDriver('length');
  const big = 'x'.repeat(100000);
  const first = d.processBatch(0, 0, records(...Array.from({ length: 20 }, (_, i) => [i, b(big), b('abc')])));
  assert.equal(first.length, 20 * (1 + 8 + 4 + 100000 + 4 + 8));
  const again = d.processBatch(0, 0, records([1, b('k'), b('abcd')]));
  assert.deepEqual(entries(again), [['main', 1, 'k', hex(U64(4))]]);
  assert.equal(entries(first).length, 20, 'the first result survives the second call');
  returnViews(true);
  try {
    const v1 = d.processBatch(0, 0, records([1, b('k'), b('ab')]));
    assert.deepEqual(entries(v1), [['main', 1, 'k', hex(U64(2))]]);
    assert.notEqual(v1.byteLength, v1.buffer.byteLength, 'a view of the reused buffer');
  } finally {
    returnViews(false);
  }
});

test('timestamps: negative, none and bigint ones round-trip; keyed-by strings are UTF-8', () => {
  weir.flatMap('rekey', { input: codecs.string, output: codecs.string }, (s, ctx, out) => {
    out.collectKeyed(`ü-${s}`, s);
    out.collectWithTimestamp(ctx.timestamp === null ? 2n ** 60n : ctx.timestamp - 1, s);
  });
  const out = entries(new TransformDriver('rekey').processBatch(0, 0, records([-5, b('k'), b('a')], [null, b('k'), b('b')])));
  assert.deepEqual(out, [
    ['main', -5, 'ü-a', hex(b('a'))], ['main', -6, 'k', hex(b('a'))],
    ['main', null, 'ü-b', hex(b('b'))], ['main', 2n ** 60n, 'k', hex(b('b'))],
  ]);
});

test('an undeclared side output and a bad output value fail only their record', () => {
  weir.flatMap('sneaky', { input: codecs.string, output: codecs.u8 }, (s, ctx, out) => {
    out.collect(1);
    if (s === 'side') out.sideOutput('nope', 1);
    if (s === 'big') out.collect(300);
  });
  const got = entries(new TransformDriver('sneaky').processBatch(0, 0, records([1, b(''), b('side')], [2, b(''), b('big')], [3, b(''), b('ok')])));
  assert.equal(got.length, 3);
  assert.deepEqual(got[0].slice(0, 4), ['failed', 0, 0, 0]);
  assert.match(got[0][4], /side output 'nope' is not declared/);
  assert.deepEqual(got[1].slice(0, 4), ['failed', 0, 1, 0]);
  assert.match(got[1][4], /300 does not fit u8/);
  assert.deepEqual(got[2], ['main', 3, '', '01']);
});

test('operator state: snapshotState and restoreState reach the function', () => {
  weir.map('counting', { input: codecs.string, output: codecs.u64 }, class {
    open(ctx) { this.n = 0; this.offset = Number(ctx.parameter('offset', '0')); }
    map() { this.n += 1; return this.n + this.offset; }
    snapshotState() { return codecs.u64.encode(this.n); }
    restoreState(states) { this.n = states.reduce((a, s) => a + codecs.u64.decode(s), 0); }
  });
  const d = new TransformDriver('counting', { ...task(), parameters: { offset: '100' } });
  d.processBatch(0, 0, records([1, b(''), b('a')], [2, b(''), b('b')]));
  const snap = d.snapshotState();
  assert.equal(codecs.u64.decode(snap), 2);
  const e = new TransformDriver('counting');
  e.restoreState([snap, U64(5)]);
  assert.deepEqual(entries(e.processBatch(0, 0, records([1, b(''), b('c')]))), [['main', 1, '', hex(U64(8))]]);
  assert.equal(new TransformDriver('length').snapshotState(), undefined);
  weir.map('bad-snap', {}, class { map(s) { return s; } snapshotState() { return 'text'; } });
  assert.throws(() => new TransformDriver('bad-snap').snapshotState(), (e) => e instanceof CallError && /Uint8Array/.test(e.message));
});

test('state declarations: ids in order, TTL, map codec names, conflicts', () => {
  weir.keyedProcess('ttl', { input: codecs.u64 }, class {
    open(ctx) {
      this.a = ctx.valueState('a', codecs.json, { millis: 60000 });
      this.b = ctx.mapState('b', codecs.u32, codecs.msgpack, { millis: 5, refreshOnRead: true });
      this.a2 = ctx.valueState('a', codecs.json);
    }
    processElement() {}
  });
  const d = new KeyedDriver('ttl', undefined, new FakeHost());
  assert.deepEqual(d.states(), [
    { name: 'a', kind: 'value', codec: 'json', ttl: { millis: 60000, refreshOnRead: false } },
    { name: 'b', kind: 'map', codec: 'u32->msgpack', ttl: { millis: 5, refreshOnRead: true } },
  ]);
  assert.equal(d.obj.a2.id, 0);
  weir.keyedProcess('clash', {}, class { open(ctx) { ctx.valueState('x', codecs.u64); ctx.listState('x', codecs.u64); } processElement() {} });
  assert.throws(() => new KeyedDriver('clash'), (e) => e instanceof CallError && /open: .*declared twice/.test(e.message));
  weir.keyedProcess('bad-ttl', {}, class { open(ctx) { ctx.valueState('x', codecs.u64, { millis: -1 }); } processElement() {} });
  assert.throws(() => new KeyedDriver('bad-ttl'), /ttl is/);
  weir.map('stateless', {}, class { open(ctx) { ctx.valueState('x', codecs.u64); } map(s) { return s; } });
  assert.throws(() => new TransformDriver('stateless'), /only keyed functions have keyed state/);
});

test('reduce: a failure leaves the value as it was, even one changed in place', () => {
  weir.reduce('merge', { codec: codecs.json }, (acc, v) => {
    acc.items.push(...v.items);
    if (v.items.includes('bad')) throw new weir.UserError('bad item');
    return acc;
  });
  const d = new KeyedDriver('merge');
  const J = (o) => codecs.json.encode(o);
  const got = entries(d.processBatch(0, 0, keyed([[b('k'), [J({ items: ['s'] })], [[1, J({ items: ['a'] })], [2, J({ items: ['bad'] })], [3, J({ items: ['b'] })]]]], 1)));
  assert.deepEqual(got, [
    ['main', 1, 'k', hex(J({ items: ['s', 'a'] }))], ['failed', 0, 1, 0, 'bad item'],
    ['main', 3, 'k', hex(J({ items: ['s', 'a', 'b'] }))], ['set', 0, 0, hex(J({ items: ['s', 'a', 'b'] }))],
  ]);
  // A group whose every record fails writes no state; a bad stored value fails the call.
  const none = entries(d.processBatch(0, 0, keyed([[b('k'), [null], [[1, b('not json')]]]], 1)));
  assert.deepEqual(none.map((e) => e.slice(0, 4)), [['failed', 0, 0, 1]]);
  assert.throws(() => d.processBatch(0, 0, keyed([[b('k'), [b('{')], [[1, J({ items: [] })]]]], 1)), (e) => e.kind === 'decode' && /key 'k'/.test(e.message));
  assert.throws(() => d.onTimers(0, 0, keyed([], 1)), /no timers/);
});

test('keyed process: state set then cleared, a value the codec refuses, list update, map order and many groups', () => {
  const host = new FakeHost();
  weir.keyedProcess('lists', { input: codecs.string, output: codecs.string }, class {
    open(ctx) { this.v = ctx.valueState('v', codecs.u8); this.l = ctx.listState('l', codecs.string); this.m = ctx.mapState('m', codecs.string, codecs.i64); }
    processElement(s, ctx, out) {
      if (s === 'reset') { this.v.set(1); this.v.clear(); this.l.update(['x', 'y']); return; }
      if (s === 'big') { this.v.set(256); return; }
      this.v.set(this.v.get(0) + 1);
      this.m.set(s, -ctx.timestamp);
      out.collect([...this.m.keys()].join('') + this.m.values().join(''));
    }
  });
  const d = new KeyedDriver('lists', undefined, host);
  const groups = [];
  for (let g = 0; g < 50; g++) groups.push([b(`key${g}`), [g % 2 ? U64(1).subarray(0, 1) : null], [[g, b('b')], [g, b('a')], [g, b('big')]]]);
  groups.push([b('r'), [Uint8Array.of(9)], [[0, b('reset')]]]);
  const got = entries(d.processBatch(0, 0, keyed(groups, 1)));
  const g7 = got.filter((e) => e[1] === 7 || e[2] === 'key7');
  assert.deepEqual(g7, [['main', 7, 'key7', hex(b('b-7'))], ['main', 7, 'key7', hex(b('ab-7-7'))], ['failed', 7, 2, 0, '256 does not fit u8'], ['set', 7, 0, '03']]);
  assert.equal(got.filter((e) => e[0] === 'failed').length, 50);
  assert.match(got.find((e) => e[0] === 'failed')[4], /256 does not fit u8/);
  assert.deepEqual(got.slice(-1), [['clear', 50, 0]]);
  assert.deepEqual(host.listGet(1, 50).map((x) => new TextDecoder().decode(x)), ['x', 'y']);
});

test('aggregate windows: accumulate, merge (sessions) and emit through a renderer with side outputs', () => {
  const avg = weir.aggregate('avg-w', { input: codecs.u64, acc: codecs.json, output: codecs.f64 }, class {
    createAccumulator() { return [0, 0]; }
    add(v, acc) { return [acc[0] + v, acc[1] + 1]; }
    getResult(acc) { return acc[0] / acc[1]; }
    merge(a, c) { return [a[0] + c[0], a[1] + c[1]]; }
  });
  const show = weir.processWindow('show', { input: codecs.f64, output: codecs.string, sideOutputs: ['low'] }, class {
    open(ctx) { this.prefix = ctx.parameter('prefix', '>'); }
    process(window, [mean], ctx, out) {
      if (mean < 2) out.sideOutput('low', `${ctx.keyStr}`);
      else out.collect(`${this.prefix}${ctx.keyStr}@${window.maxTimestamp}:${mean}`);
    }
  });
  weir.windowAggregate('avg-shown', avg, show);
  assert.deepEqual(REGISTRY.get('avg-shown').sideOutputs, ['low']);
  const d = new WindowDriver('avg-shown');
  const J = (o) => hex(codecs.json.encode(o));
  assert.deepEqual(entries(d.accumulate(0, 0, windowGroups([[b('k'), 0, 10, null, [[1, U64(4)], [2, U64(2)]]]]))), [['set', 0, 0, J([6, 2])]]);
  assert.deepEqual(entries(d.merge(0, 0, windowGroups([[b('k'), 0, 30, codecs.json.encode([6, 2]), [[0, codecs.json.encode([3, 1])]]]]))), [['set', 0, 0, J([9, 3])]]);
  assert.deepEqual(entries(d.emit(0, 0, windowGroups([[b('k'), 0, 30, codecs.json.encode([9, 3]), []], [b('q'), 0, 30, codecs.json.encode([1, 1]), []]]))), [
    ['main', 29, 'k', hex(b('>k@29:3'))], ['side', 'low', 29, 'q', hex(b('q'))],
  ]);
  const plain = new WindowDriver('avg-w');
  assert.deepEqual(entries(plain.emit(0, 0, windowGroups([[b('k'), 0, 30, codecs.json.encode([9, 3]), []]]))), [['main', 29, 'k', hex(codecs.f64.encode(3))]]);
  assert.throws(() => plain.accumulate(0, 0, windowGroups([[b('k'), 0, 10, null, [[1, b('x')]]]])), (e) => e.kind === 'decode' && /window \[0, 10\)/.test(e.message));
});

test('registration: options may be left out; mistakes are reported at once', () => {
  weir.map('upper', (s) => s.toUpperCase());
  assert.deepEqual(entries(new TransformDriver('upper').processBatch(0, 0, records([1, b(''), b('ab')]))), [['main', 1, '', hex(b('AB'))]]);
  weir.filter('nonempty', (s) => s.length > 0);
  assert.deepEqual(entries(new TransformDriver('nonempty').processBatch(0, 0, records([1, b(''), b('')], [2, b(''), b('x')]))), [['main', 2, '', hex(b('x'))]]);
  weir.map('obj', { map: (s) => `<${s}>` });
  assert.deepEqual(entries(new TransformDriver('obj').processBatch(0, 0, records([1, b(''), b('z')]))), [['main', 1, '', hex(b('<z>'))]]);
  assert.throws(() => weir.map('upper', (s) => s), /two functions are named 'upper'/);
  assert.throws(() => weir.map('x', { input: 'string' }, (s) => s), /input must be a codec/);
  assert.throws(() => weir.map('', (s) => s), /needs a name/);
  weir.keyedProcess('no-method', {}, class { open() {} });
  assert.throws(() => new KeyedDriver('no-method'), /needs a processElement\(\) method/);
});

test('a codec of one\'s own: its methods keep their object, its name is the state\'s codec', () => {
  const upper = {
    name: 'upper-text',
    inner: codecs.string,
    encode(v) { return this.inner.encode(v.toUpperCase()); },
    decode(b) { return this.inner.decode(b).toLowerCase(); },
  };
  weir.keyedProcess('custom', { input: upper, output: upper }, class {
    open(ctx) { this.last = ctx.valueState('last', upper); }
    processElement(v, ctx, out) { out.collect(`${this.last.get('-')}>${v}`); this.last.set(v); }
  });
  const d = new KeyedDriver('custom');
  assert.deepEqual(d.states().map((s) => s.codec), ['upper-text']);
  assert.deepEqual(entries(d.processBatch(0, 0, keyed([[b('k'), [b('OLD')], [[1, b('NEW')]]]], 1))), [
    ['main', 1, 'k', hex(b('OLD>NEW'))], ['set', 0, 0, hex(b('NEW'))],
  ]);
});
