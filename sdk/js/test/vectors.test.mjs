// The golden vectors of wit/vectors, read by the JavaScript SDK.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import { register } from 'node:module';

import * as codecs from '../src/codecs.js';
import * as wire from '../src/wire.js';
import { REGISTRY } from '../src/registry.js';
import { KeyedDriver, TransformDriver } from '../src/drivers.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const load = (name) => JSON.parse(readFileSync(path.join(root, 'wit/vectors', name), 'utf8'));
const unhex = (h) => Uint8Array.from(Buffer.from(h, 'hex'));
const hex = (b) => Buffer.from(b).toString('hex');
const ts = (v) => (v === null ? null : Number(v));

/** Imports an example, resolving its `@weir/sdk` to this SDK (as the build's
 * bundler does). */
export async function importExample(rel) {
  const sdk = new URL('../src/index.js', import.meta.url).href;
  const hook = `export async function resolve(s, c, next) {
    return s === '@weir/sdk' ? { url: ${JSON.stringify(sdk)}, shortCircuit: true } : next(s, c);
  }`;
  register(`data:text/javascript,${encodeURIComponent(hook)}`);
  return import(path.join(root, rel));
}

/** A vector's value as JS holds it. */
function valueOf(codec, v) {
  if (codec === 'bytes') return unhex(v);
  if (/^[ui](8|16|32)$/.test(codec)) return Number(v);
  if (codec === 'u64' || codec === 'i64') {
    const b = BigInt(v);
    return b <= BigInt(Number.MAX_SAFE_INTEGER) && b >= -BigInt(Number.MAX_SAFE_INTEGER) ? Number(b) : b;
  }
  return v;
}

test('every codec case decodes and encodes', () => {
  for (const c of load('codecs.json').cases) {
    const codec = codecs.byName[c.codec];
    const want = valueOf(c.codec, c.value);
    assert.deepEqual(codec.decode(unhex(c.hex)), want, JSON.stringify(c));
    if (!['json', 'msgpack'].includes(c.codec) || c.canonical) {
      assert.equal(hex(codec.encode(want)), c.hex, JSON.stringify(c));
    }
  }
});

test('invalid bytes fail to decode', () => {
  for (const c of load('codecs.json').invalid) {
    assert.throws(() => codecs.byName[c.codec].decode(unhex(c.hex)), { name: 'DecodeError' }, JSON.stringify(c));
  }
});

test('out-of-range values fail to encode', () => {
  for (const [codec, v] of [[codecs.u64, -1], [codecs.u8, 256], [codecs.i64, 2n ** 63n], [codecs.u32, '1'], [codecs.u64, 1.5]]) {
    assert.throws(() => codec.encode(v), { name: 'UserError' });
  }
});

test('record batches decode, invalid ones are errors', () => {
  const v = load('records.json');
  for (const b of v.batches) {
    const got = [];
    wire.forEachRecord(unhex(b.hex), (t, k, val) => got.push([t, hex(k), hex(val)]));
    assert.deepEqual(got, b.records.map((r) => [ts(r.ts), r.key_hex, r.value_hex]), b.name);
  }
  for (const b of v.invalid) {
    assert.throws(() => wire.forEachRecord(unhex(b.hex), () => {}), { name: 'DecodeError' }, b.name);
  }
});

test('keyed groups decode', () => {
  for (const c of load('keyed.json').inputs) {
    const got = [];
    wire.forEachKeyGroup(unhex(c.hex), c.value_states, (slot, key, states, r, n) => {
      const recs = [];
      for (let i = 0; i < n; i++) { const [t, v] = r.tsValue(); recs.push([t, hex(v)]); }
      got.push([slot, hex(key), states.map((s) => (s === null ? null : hex(s))), recs]);
    });
    assert.deepEqual(got, c.groups.map((g, i) => [i, g.key_hex, g.states, g.records.map((r) => [ts(r.ts), r.value_hex])]), c.name);
  }
});

test('window groups decode', () => {
  for (const c of load('windows.json').inputs) {
    const got = [];
    wire.forEachWindowGroup(unhex(c.hex), (slot, key, start, end, acc, r, n) => {
      const recs = [];
      for (let i = 0; i < n; i++) { const [t, v] = r.tsValue(); recs.push([t, hex(v)]); }
      got.push([hex(key), start, end, acc === null ? null : hex(acc), recs]);
    });
    assert.deepEqual(got, c.groups.map((g) => [g.key_hex, Number(g.start), Number(g.end), g.acc_hex, g.records.map((r) => [ts(r.ts), r.value_hex])]));
  }
});

test('result entries and timestamps encode', () => {
  const v = load('results.json');
  const domains = { 'event-time': wire.EVENT_TIME, 'processing-time': wire.PROCESSING_TIME };
  for (const c of v.results) {
    const w = new wire.Writer(8);
    for (const e of c.entries) {
      switch (e.tag) {
        case 'main': w.main(ts(e.ts), unhex(e.key_hex), unhex(e.value_hex)); break;
        case 'side': w.sideBytes(e.output, ts(e.ts), unhex(e.key_hex), unhex(e.value_hex)); break;
        case 'value-set': w.valueSet(e.slot, e.state, unhex(e.value_hex)); break;
        case 'value-clear': w.valueClear(e.slot, e.state); break;
        case 'timer-register': w.timer(wire.TIMER_REGISTER, e.slot, domains[e.domain], Number(e.time)); break;
        case 'timer-delete': w.timer(wire.TIMER_DELETE, e.slot, domains[e.domain], Number(e.time)); break;
        case 'record-failed': w.failed(e.slot, e.index, e.kind, e.message); break;
        default: assert.fail(`unknown tag ${e.tag}`);
      }
    }
    assert.equal(hex(w.result()), c.hex);
  }
  for (const c of v.timestamps) {
    const w = new wire.Writer(8);
    for (const t of c.times) w.timestamp(Number(t));
    assert.equal(hex(w.result()), c.hex);
  }
});

test('the WordCount example gives the golden outputs', async () => {
  REGISTRY.clear();
  await importExample('functions-examples/wordcount-js/index.js');
  const v = load('wordcount.json');
  for (const name of ['tokenize', 'format']) {
    const out = new TransformDriver(name).processBatch(0, 0, unhex(v[name].input_hex));
    assert.equal(hex(out), v[name].output_hex, name);
  }
  const d = new KeyedDriver('count');
  assert.deepEqual(d.states().map(({ name, kind, codec }) => ({ name, kind, codec })), v.count.states);
  assert.equal(hex(d.processBatch(0, 0, unhex(v.count.input_hex))), v.count.output_hex);
});
