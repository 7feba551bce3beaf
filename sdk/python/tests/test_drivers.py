"""The batch drivers against hand-built batches: per-record failures, keyed
state (value, list, map), timers, side outputs, aggregates and windows."""

import pathlib
import sys
import unittest

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))

import weir  # noqa: E402
from weir import codecs, registry, wire  # noqa: E402
from weir.drivers import CallError, KeyedDriver, TransformDriver, WindowDriver  # noqa: E402


def records(*recs):
    w = bytearray()
    for ts, key, value in recs:
        w += wire._I64.pack(ts) + wire._U32.pack(len(key)) + key + wire._U32.pack(len(value)) + value
    return bytes(w)


def keyed(groups, value_states):
    """groups: [(key, [state bytes or None], [(ts, value)])]"""
    w = bytearray()
    for key, states, recs in groups:
        assert len(states) == value_states
        w += wire._U32.pack(len(key)) + key
        for s in states:
            w += wire._U32.pack(wire.ABSENT) if s is None else wire._U32.pack(len(s)) + s
        w += wire._U32.pack(len(recs))
        for ts, v in recs:
            w += wire._I64.pack(ts) + wire._U32.pack(len(v)) + v
    return bytes(w)


def window_groups(groups):
    w = bytearray()
    for key, start, end, acc, recs in groups:
        w += wire._U32.pack(len(key)) + key + wire._I64.pack(start) + wire._I64.pack(end)
        w += wire._U32.pack(wire.ABSENT) if acc is None else wire._U32.pack(len(acc)) + acc
        w += wire._U32.pack(len(recs))
        for ts, v in recs:
            w += wire._I64.pack(ts) + wire._U32.pack(len(v)) + v
    return bytes(w)


def entries(buf):
    """Parses a result buffer into tuples (a reader independent of Writer)."""
    r = wire.Reader(buf)
    out = []
    while not r.at_end():
        tag = r.u8()
        if tag == wire.MAIN:
            out.append(("main", r.i64(), bytes(r.bytes()), bytes(r.bytes())))
        elif tag == wire.SIDE:
            name = bytes(r.take(r.u16())).decode()
            out.append(("side", name, r.i64(), bytes(r.bytes()), bytes(r.bytes())))
        elif tag == wire.VALUE_SET:
            out.append(("set", r.u32(), r.u32(), bytes(r.bytes())))
        elif tag == wire.VALUE_CLEAR:
            out.append(("clear", r.u32(), r.u32()))
        elif tag in (wire.TIMER_REGISTER, wire.TIMER_DELETE):
            out.append(("timer" if tag == wire.TIMER_REGISTER else "untimer", r.u32(), r.u8(), r.i64()))
        elif tag == wire.RECORD_FAILED:
            out.append(("failed", r.u32(), r.u32(), r.u8(), bytes(r.bytes()).decode()))
        else:
            raise AssertionError(f"unknown tag {tag}")
    return out


class FakeHost:
    """The keyed-state import: list and map state per (state, slot)."""

    def __init__(self):
        self.lists, self.maps = {}, {}

    def list_get(self, state, slot):
        return list(self.lists.get((state, slot), []))

    def list_add(self, state, slot, value):
        self.lists.setdefault((state, slot), []).append(value)

    def list_update(self, state, slot, values):
        self.lists[(state, slot)] = list(values)

    def list_clear(self, state, slot):
        self.lists.pop((state, slot), None)

    def map_get(self, state, slot, key):
        return self.maps.get((state, slot), {}).get(key)

    def map_put(self, state, slot, key, value):
        self.maps.setdefault((state, slot), {})[key] = value

    def map_remove(self, state, slot, key):
        self.maps.get((state, slot), {}).pop(key, None)

    def map_entries(self, state, slot):
        return sorted(self.maps.get((state, slot), {}).items())

    def map_clear(self, state, slot):
        self.maps.pop((state, slot), None)


U64 = codecs.U64.encode


class Transforms(unittest.TestCase):
    def setUp(self):
        registry.REGISTRY.clear()

        @weir.map(input=codecs.STRING, output=codecs.U64)
        def length(s, ctx):
            if s == "boom":
                raise ValueError("no boom")
            return len(s)

        @weir.filter(input=codecs.U64)
        def even(n, ctx):
            return n % 2 == 0

        @weir.flat_map(input=codecs.STRING, side_outputs=["short"])
        def split(s, ctx, out):
            for w in s.split():
                if len(w) < 3:
                    out.side_output("short", w)
                else:
                    out.collect_with_timestamp(ctx.timestamp + 1, w)
            if s.endswith("!"):
                raise weir.UserError("shouting")

        @weir.timestamp_assigner(input=codecs.STRING)
        def leading(s, current):
            return int(s.split()[0])

    def test_map_keeps_key_and_timestamp_and_reports_a_failed_record(self):
        out = TransformDriver("length").process_batch(0, 0, records((5, b"k", b"abc"), (6, b"j", b"boom"), (7, b"", b"")))
        self.assertEqual(
            entries(out),
            [("main", 5, b"k", U64(3)), ("failed", 0, 1, 0, "ValueError: no boom"), ("main", 7, b"", U64(0))],
        )

    def test_filter_passes_the_input_bytes(self):
        out = TransformDriver("even").process_batch(0, 0, records((1, b"a", U64(2)), (2, b"b", U64(3))))
        self.assertEqual(entries(out), [("main", 1, b"a", U64(2))])

    def test_a_bad_value_is_a_decode_failure_of_that_record(self):
        out = TransformDriver("even").process_batch(0, 0, records((1, b"a", b"xyz")))
        self.assertEqual(entries(out)[0][:4], ("failed", 0, 0, 1))

    def test_flat_map_side_outputs_and_dropping_a_failed_records_output(self):
        out = TransformDriver("split").process_batch(0, 0, records((10, b"k", b"hello to you"), (20, b"k", b"loud words!")))
        self.assertEqual(
            entries(out),
            [
                ("main", 11, b"k", b"hello"),
                ("side", "short", 10, b"k", b"to"),
                ("main", 11, b"k", b"you"),
                ("failed", 0, 1, 0, "shouting"),
            ],
        )

    def test_timestamp_assigner_writes_one_i64_per_record(self):
        out = TransformDriver("leading").process_batch(0, 0, records((0, b"", b"17 a"), (0, b"", b"-3 b")))
        self.assertEqual(out, wire._I64.pack(17) + wire._I64.pack(-3))

    def test_unknown_and_wrong_kind_functions_name_what_exists(self):
        with self.assertRaises(CallError) as e:
            TransformDriver("nope")
        self.assertEqual(e.exception.kind, "unknown-function")
        self.assertIn("length (map)", e.exception.message)
        with self.assertRaises(CallError) as e:
            KeyedDriver("length")
        self.assertEqual(e.exception.kind, "unknown-function")

    def test_a_truncated_batch_fails_the_call(self):
        with self.assertRaises(CallError) as e:
            TransformDriver("length").process_batch(0, 0, records((5, b"k", b"abc"))[:-1])
        self.assertEqual(e.exception.kind, "decode")


class Keyed(unittest.TestCase):
    def setUp(self):
        registry.REGISTRY.clear()

        @weir.keyed_process("visits", input=codecs.STRING, output=codecs.STRING, side_outputs=["odd"])
        class Visits:
            def open(self, ctx):
                self.count = ctx.value_state("count", codecs.U64)
                self.pages = ctx.list_state("pages", codecs.STRING)
                self.by_page = ctx.map_state("by-page", codecs.STRING, codecs.U64)
                self.note = ctx.value_state("note", codecs.STRING)

            def process_element(self, page, ctx, out):
                if page == "bad":
                    out.collect("partial")
                    raise weir.UserError("bad page")
                n = self.count.get(0) + 1
                self.count.set(n)
                self.pages.add(page)
                self.by_page.put(page, self.by_page.get(page, 0) + 1)
                ctx.register_event_time_timer(ctx.timestamp + 100)
                if n % 2:
                    out.side_output("odd", page)

            def on_timer(self, ts, ctx, out):
                out.collect(f"{ctx.key_str}@{ts}:{ctx.time_domain}:{self.count.get()}:{','.join(self.pages.get())}")
                self.note.clear()
                ctx.delete_processing_time_timer(ts + 5)

        @weir.aggregate("avg", input=codecs.U64, acc=codecs.JSON, output=codecs.F64)
        class Avg:
            def create_accumulator(self):
                return [0, 0]

            def add(self, v, acc):
                acc[0] += v
                acc[1] += 1
                if v == 13:
                    raise weir.UserError("unlucky")
                return acc

            def get_result(self, acc):
                return acc[0] / acc[1]

    def test_states_are_declared_in_order(self):
        d = KeyedDriver("visits", host=FakeHost())
        self.assertEqual([(s.name, s.kind, s.codec) for s in d.states()], [
            ("count", "value", "u64"), ("pages", "list", "string"),
            ("by-page", "map", "string->u64"), ("note", "value", "string")])

    def test_process_writes_value_states_timers_and_failures_per_group(self):
        host = FakeHost()
        d = KeyedDriver("visits", host=host)
        batch = keyed([
            (b"alice", [U64(4), None], [(1000, b"home"), (1001, b"bad"), (1002, b"home")]),
            (b"bob", [None, b"x"], [(50, b"cart")]),
        ], 2)
        got = entries(d.process_batch(0, 0, batch))
        self.assertEqual(got, [
            ("side", "odd", 1000, b"alice", b"home"),
            ("failed", 0, 1, 0, "bad page"),
            ("set", 0, 0, U64(6)),
            ("timer", 0, 0, 1100),
            ("timer", 0, 0, 1102),
            ("side", "odd", 50, b"bob", b"cart"),
            ("set", 1, 0, U64(1)),
            ("timer", 1, 0, 150),
        ])
        self.assertEqual(host.lists[(1, 0)], [b"home", b"home"])
        self.assertEqual(host.map_entries(2, 0), [(b"home", U64(2))])
        timers = keyed([(b"alice", [U64(6), b"n"], [(1100, bytes([wire.EVENT_TIME])), (1200, bytes([wire.PROCESSING_TIME]))])], 2)
        got = entries(d.on_timers(0, 0, timers))
        self.assertEqual(got, [
            ("main", 1100, b"alice", b"alice@1100:event-time:6:home,home"),
            ("main", 1200, b"alice", b"alice@1200:processing-time:6:home,home"),
            ("clear", 0, 3),
            ("untimer", 0, 1, 1105),
            ("untimer", 0, 1, 1205),
        ])

    def test_aggregate_emits_results_and_keeps_the_accumulator_of_the_last_good_record(self):
        d = KeyedDriver("avg")
        self.assertEqual([(s.name, s.codec) for s in d.states()], [("weir.acc", "json")])
        batch = keyed([(b"k", [None], [(1, U64(2)), (2, U64(13)), (3, U64(4))])], 1)
        got = entries(d.process_batch(0, 0, batch))
        F = codecs.F64.encode
        self.assertEqual(got, [
            ("main", 1, b"k", F(2.0)),
            ("failed", 0, 1, 0, "unlucky"),
            ("main", 3, b"k", F(3.0)),
            ("set", 0, 0, b"[6,2]"),
        ])

    def test_state_is_unreachable_outside_a_key(self):
        d = KeyedDriver("visits", host=FakeHost())
        obj = d.obj
        with self.assertRaises(weir.UserError):
            obj.count.get()


class Windows(unittest.TestCase):
    def setUp(self):
        registry.REGISTRY.clear()

        @weir.reduce("sum", codec=codecs.U64)
        def total(a, b):
            return a + b

        @weir.process_window("render", input=codecs.U64, output=codecs.STRING)
        def render(window, elements, ctx, out):
            out.collect(f"{ctx.key_str}[{window.start},{window.end})={sum(elements)}")

        weir.window_aggregate("sum-rendered", total, render)

    def test_reduce_accumulates_merges_and_emits(self):
        d = WindowDriver("sum")
        acc = entries(d.accumulate(0, 0, window_groups([(b"w", 0, 10, None, [(1, U64(2)), (2, U64(3))]), (b"v", 0, 10, U64(7), [(3, U64(1))])])))
        self.assertEqual(acc, [("set", 0, 0, U64(5)), ("set", 1, 0, U64(8))])
        merged = entries(d.merge(0, 0, window_groups([(b"w", 0, 20, U64(5), [(0, U64(8))])])))
        self.assertEqual(merged, [("set", 0, 0, U64(13))])
        emitted = entries(d.emit(0, 0, window_groups([(b"w", 0, 20, U64(13), [])])))
        self.assertEqual(emitted, [("main", 19, b"w", U64(13))])

    def test_a_process_window_renders_the_incremental_result(self):
        d = WindowDriver("sum-rendered")
        emitted = entries(d.emit(0, 0, window_groups([(b"w", 0, 20, U64(13), []), (b"x", 0, 20, None, [])])))
        self.assertEqual(emitted, [("main", 19, b"w", b"w[0,20)=13")])

    def test_a_process_window_sees_every_element(self):
        d = WindowDriver("render")
        emitted = entries(d.emit(0, 0, window_groups([(b"k", 100, 200, None, [(150, U64(1)), (160, U64(2))])])))
        self.assertEqual(emitted, [("main", 199, b"k", b"k[100,200)=3")])
        with self.assertRaises(CallError):
            d.accumulate(0, 0, window_groups([(b"k", 100, 200, None, [(150, U64(1))])]))

    def test_keyed_calls_do_not_run_window_aggregates(self):
        with self.assertRaises(CallError) as e:
            KeyedDriver("sum-rendered")
        self.assertEqual(e.exception.kind, "unknown-function")


if __name__ == "__main__":
    unittest.main()
