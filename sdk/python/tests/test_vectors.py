"""The golden vectors of wit/vectors, read by the Python SDK."""

import importlib.util
import json
import pathlib
import sys
import unittest

ROOT = pathlib.Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT / "sdk" / "python"))

from weir import codecs, wire  # noqa: E402
from weir.errors import DecodeError  # noqa: E402

VECTORS = ROOT / "wit" / "vectors"


def load(name):
    return json.loads((VECTORS / name).read_text())


def unhex(h):
    return bytes.fromhex(h)


def ts(v):
    return wire.NO_TIMESTAMP if v is None else int(v)


def value_of(codec, v):
    """A vector's value as Python holds it."""
    if codec == "bytes":
        return unhex(v)
    if codec[0] in "ui" and codec[1:].isdigit():
        return int(v)
    return v


class Codecs(unittest.TestCase):
    def test_every_case_decodes_and_encodes(self):
        for case in load("codecs.json")["cases"]:
            with self.subTest(case=case):
                codec = codecs.BY_NAME[case["codec"]]
                data = unhex(case["hex"])
                expected = value_of(case["codec"], case["value"])
                self.assertEqual(codec.decode(data), expected)
                if case["codec"] not in ("json", "msgpack") or case.get("canonical"):
                    self.assertEqual(codec.encode(expected), data)

    def test_invalid_bytes_fail_to_decode(self):
        for case in load("codecs.json")["invalid"]:
            with self.subTest(case=case):
                with self.assertRaises(DecodeError):
                    codecs.BY_NAME[case["codec"]].decode(unhex(case["hex"]))

    def test_out_of_range_values_fail_to_encode(self):
        from weir.errors import UserError

        for codec, value in [(codecs.U64, -1), (codecs.U8, 256), (codecs.I64, 1 << 63), (codecs.U32, "1")]:
            with self.subTest(codec=codec, value=value), self.assertRaises(UserError):
                codec.encode(value)


class Records(unittest.TestCase):
    def test_batches_decode(self):
        for batch in load("records.json")["batches"]:
            with self.subTest(batch=batch["name"]):
                got = [(t, bytes(k), bytes(v)) for t, k, v in wire.records(unhex(batch["hex"]))]
                want = [(ts(r["ts"]), unhex(r["key_hex"]), unhex(r["value_hex"])) for r in batch["records"]]
                self.assertEqual(got, want)

    def test_invalid_batches_are_errors(self):
        for batch in load("records.json")["invalid"]:
            with self.subTest(batch=batch["name"]), self.assertRaises(DecodeError):
                list(wire.records(unhex(batch["hex"])))


class KeyedInput(unittest.TestCase):
    def test_groups_decode(self):
        for case in load("keyed.json")["inputs"]:
            with self.subTest(case=case["name"]):
                got = []
                for slot, key, states, reader, n in wire.key_groups(unhex(case["hex"]), case["value_states"]):
                    records = [reader.ts_value() for _ in range(n)]
                    got.append((slot, key, states, records))
                want = [
                    (
                        i,
                        unhex(g["key_hex"]),
                        [None if s is None else unhex(s) for s in g["states"]],
                        [(ts(r["ts"]), unhex(r["value_hex"])) for r in g["records"]],
                    )
                    for i, g in enumerate(case["groups"])
                ]
                self.assertEqual(got, want)


class Windows(unittest.TestCase):
    def test_groups_decode(self):
        for case in load("windows.json")["inputs"]:
            got = []
            for _slot, key, start, end, acc, reader, n in wire.window_groups(unhex(case["hex"])):
                got.append((key, start, end, acc, [reader.ts_value() for _ in range(n)]))
            want = [
                (
                    unhex(g["key_hex"]),
                    int(g["start"]),
                    int(g["end"]),
                    None if g["acc_hex"] is None else unhex(g["acc_hex"]),
                    [(ts(r["ts"]), unhex(r["value_hex"])) for r in g["records"]],
                )
                for g in case["groups"]
            ]
            self.assertEqual(got, want)


class Results(unittest.TestCase):
    def test_entries_encode(self):
        domains = {"event-time": wire.EVENT_TIME, "processing-time": wire.PROCESSING_TIME}
        for case in load("results.json")["results"]:
            w = wire.Writer()
            for e in case["entries"]:
                tag = e["tag"]
                if tag == "main":
                    w.main(ts(e["ts"]), unhex(e["key_hex"]), unhex(e["value_hex"]))
                elif tag == "side":
                    w.side(e["output"], ts(e["ts"]), unhex(e["key_hex"]), unhex(e["value_hex"]))
                elif tag == "value-set":
                    w.value_set(e["slot"], e["state"], unhex(e["value_hex"]))
                elif tag == "value-clear":
                    w.value_clear(e["slot"], e["state"])
                elif tag in ("timer-register", "timer-delete"):
                    op = wire.TIMER_REGISTER if tag == "timer-register" else wire.TIMER_DELETE
                    w.timer(op, e["slot"], domains[e["domain"]], int(e["time"]))
                elif tag == "record-failed":
                    w.failed(e["slot"], e["index"], e["kind"], e["message"])
                else:
                    self.fail(f"unknown tag {tag}")
            self.assertEqual(w.getvalue().hex(), case["hex"])

    def test_timestamps_encode(self):
        for case in load("results.json")["timestamps"]:
            w = wire.Writer()
            for t in case["times"]:
                w.timestamp(int(t))
            self.assertEqual(w.getvalue().hex(), case["hex"])


def load_wordcount():
    """The Python WordCount example, registered into the SDK's registry."""
    from weir import registry

    registry.REGISTRY.clear()
    path = ROOT / "functions-examples" / "wordcount-python" / "app.py"
    spec = importlib.util.spec_from_file_location("wordcount_app", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class WordCountBehaviour(unittest.TestCase):
    """The example's functions give the golden outputs byte for byte."""

    def setUp(self):
        load_wordcount()
        self.vectors = load("wordcount.json")

    def test_tokenize_and_format(self):
        from weir.drivers import TransformDriver

        for name in ("tokenize", "format"):
            with self.subTest(function=name):
                v = self.vectors[name]
                out = TransformDriver(name).process_batch(0, 0, unhex(v["input_hex"]))
                self.assertEqual(out.hex(), v["output_hex"])

    def test_count_declares_the_accumulator_and_reduces(self):
        from weir.drivers import KeyedDriver

        v = self.vectors["count"]
        d = KeyedDriver("count")
        self.assertEqual(
            [{"name": s.name, "kind": s.kind, "codec": s.codec} for s in d.states()], v["states"]
        )
        self.assertEqual(d.process_batch(0, 0, unhex(v["input_hex"])).hex(), v["output_hex"])


if __name__ == "__main__":
    unittest.main()
