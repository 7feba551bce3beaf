// The batch drivers against hand-built batches: per-record failures, keyed
// state (value, list, map), timers, side outputs, aggregates and windows.
import { test, beforeEach } from 'node:test';
import assert from 'node:assert/strict';

import * as weir from '../src/index.js';
import * as wire from '../src/wire.js';
import { REGISTRY } from '../src/registry.js';
import { CallError, KeyedDriver, TransformDriver, WindowDriver } from '../src/drivers.js';

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

/** The keyed-state import: list and map state per (state, slot). */
class FakeHost {
  constructor() { this.lists = new Map(); this.maps = new Map(); }
  k(s, slot) { return `${s}/${slot}`; }
  listGet(s, slot) { return [...(this.lists.get(this.k(s, slot)) ?? [])]; }
  listAdd(s, slot, v) { const k = this.k(s, slot); this.lists.set(k, [...(this.lists.get(k) ?? []), v]); }
  listUpdate(s, slot, vs) { this.lists.set(this.k(s, slot), [...vs]); }
  listClear(s, slot) { this.lists.delete(this.k(s, slot)); }
  map(s, slot) { const k = this.k(s, slot); if (!this.maps.has(k)) this.maps.set(k, new Map()); return this.maps.get(k); }
  mapGet(s, slot, key) { return this.map(s, slot).get(hex(key)); }
  mapPut(s, slot, key, v) { this.map(s, slot).set(hex(key), v); }
  mapRemove(s, slot, key) { this.map(s, slot).delete(hex(key)); }
  mapEntries(s, slot) { return [...this.map(s, slot).entries()].sort().map(([k, v]) => [Uint8Array.from(Buffer.from(k, 'hex')), v]); }
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
