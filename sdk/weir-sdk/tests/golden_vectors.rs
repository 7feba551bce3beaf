//! The golden vectors in `wit/vectors/`: every guest SDK reads them in its
//! own tests, so the SDKs stay byte-compatible without the host.
//!
//! This test builds each vector from its description with the Rust encoders
//! (`weir-wire` and the SDK's codecs) and checks the committed files hold
//! exactly that. `WEIR_BLESS_VECTORS=1 cargo test -p weir-sdk --test
//! golden_vectors` rewrites them after a deliberate format change (which
//! the versioning policy in `wit/CONTRACT.md` governs).

use serde_json::{Value, json};
use std::path::PathBuf;
use weir_sdk::{Data, Json, MsgPack};
use weir_wire::{GroupWriter, WindowGroupWriter};

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn enc<T: Data>(v: T) -> Vec<u8> {
    let mut out = Vec::new();
    v.encode(&mut out).expect("a vector value encodes");
    out
}

/// A timestamp as the vectors spell it: decimal text, null for none.
fn ts(t: i64) -> Value {
    if t == weir_wire::NO_TIMESTAMP {
        Value::Null
    } else {
        json!(t.to_string())
    }
}

fn codec_case<T: Data>(value: Value, v: T) -> Value {
    json!({ "codec": T::codec(), "value": value, "hex": hex(&enc(v)) })
}

fn int_cases() -> Vec<Value> {
    vec![
        codec_case(json!("0"), 0u8),
        codec_case(json!("255"), 255u8),
        codec_case(json!("65535"), u16::MAX),
        codec_case(json!("4294967295"), u32::MAX),
        codec_case(json!("1"), 1u64),
        codec_case(json!("9007199254740993"), 9_007_199_254_740_993u64),
        codec_case(json!("18446744073709551615"), u64::MAX),
        codec_case(json!("-128"), i8::MIN),
        codec_case(json!("-2"), -2i16),
        codec_case(json!("-2147483648"), i32::MIN),
        codec_case(json!("-1"), -1i64),
        codec_case(json!("9223372036854775807"), i64::MAX),
        codec_case(json!("-9223372036854775808"), i64::MIN),
    ]
}

fn codecs() -> Value {
    let mut cases = vec![
        codec_case(json!("héllo, wörld"), String::from("héllo, wörld")),
        codec_case(json!(""), String::new()),
        codec_case(json!("00ff10"), vec![0u8, 0xff, 0x10]),
        codec_case(json!(true), true),
        codec_case(json!(false), false),
        codec_case(Value::Null, ()),
        codec_case(json!(1.5), 1.5f64),
        codec_case(json!(-0.25), -0.25f32),
    ];
    cases.extend(int_cases());
    let doc =
        json!({"word": "straße", "count": 3, "tags": ["a", "b\"c\n"], "ok": true, "none": null});
    cases.push(json!({
        "codec": "json",
        "value": doc.clone(),
        "hex": hex(&enc(Json(doc))),
        "canonical": true,
    }));
    cases.push(json!({
        "codec": "json",
        "value": [1, -2, 3],
        "hex": hex(&enc(Json(json!([1, -2, 3])))),
        "canonical": true,
    }));
    // Decoders accept any valid JSON, whitespace included.
    cases.push(json!({
        "codec": "json",
        "value": {"a": [1, 2]},
        "hex": hex(b"{ \"a\" : [1, 2] }"),
        "canonical": false,
    }));
    // MessagePack, the portable binary codec: integers in their smallest
    // form, floats as float64, maps with string keys.
    for value in [
        json!({"word": "straße", "count": 3, "tags": ["a", "b"], "ok": true, "none": null}),
        json!([
            0,
            127,
            128,
            255,
            256,
            65535,
            65536,
            4294967296u64,
            -1,
            -32,
            -33,
            -128,
            -129,
            -32768,
            -32769,
            -2147483649i64
        ]),
        json!({"pi": 1.5, "long": "a string longer than thirty-one bytes, so str8"}),
        json!([]),
    ] {
        cases.push(json!({
            "codec": "msgpack",
            "value": value.clone(),
            "hex": hex(&enc(MsgPack(value))),
            "canonical": true,
        }));
    }
    json!({
        "cases": cases,
        "invalid": [
            {"codec": "msgpack", "hex": "9201"},
            {"codec": "msgpack", "hex": "c1"},
            {"codec": "u64", "hex": "010203"},
            {"codec": "u32", "hex": "0102030405"},
            {"codec": "i64", "hex": ""},
            {"codec": "bool", "hex": "02"},
            {"codec": "bool", "hex": "0000"},
            {"codec": "string", "hex": "fffe"},
            {"codec": "json", "hex": hex(b"{\"a\":")},
        ],
    })
}

struct Rec<'a>(i64, &'a [u8], &'a [u8]);

fn record_batch(name: &str, recs: &[Rec<'_>]) -> Value {
    let mut buf = Vec::new();
    for r in recs {
        weir_wire::put_record(&mut buf, r.0, r.1, r.2);
    }
    let records: Vec<Value> = recs
        .iter()
        .map(|r| json!({"ts": ts(r.0), "key_hex": hex(r.1), "value_hex": hex(r.2)}))
        .collect();
    json!({"name": name, "hex": hex(&buf), "records": records})
}

fn records() -> Value {
    let nt = weir_wire::NO_TIMESTAMP;
    let mut truncated = Vec::new();
    weir_wire::put_record(&mut truncated, 1, b"key", b"value");
    truncated.pop();
    let mut huge = 0i64.to_le_bytes().to_vec();
    huge.extend_from_slice(&u32::MAX.to_le_bytes());
    json!({
        "batches": [
            record_batch("empty", &[]),
            record_batch("one line without a key", &[Rec(nt, b"", b"To be, or not to be")]),
            record_batch("keys and timestamps", &[
                Rec(1_700_000_000_000, b"user-1", &enc(42u64)),
                Rec(-5, b"\xff\x00", b""),
                Rec(nt, b"w", "ünïcode".as_bytes()),
            ]),
        ],
        "invalid": [
            {"name": "truncated value", "hex": hex(&truncated)},
            {"name": "length beyond the buffer", "hex": hex(&huge)},
            {"name": "half a timestamp", "hex": "01020304"},
        ],
    })
}

struct KeyGroup<'a> {
    key: &'a [u8],
    states: Vec<Option<Vec<u8>>>,
    records: Vec<(i64, Vec<u8>)>,
}

fn keyed_input(name: &str, value_states: usize, groups: &[KeyGroup<'_>]) -> Value {
    let mut buf = Vec::new();
    for g in groups {
        let mut w = GroupWriter::start(&mut buf, g.key);
        for s in &g.states {
            w.state(&mut buf, s.as_deref());
        }
        w.begin_records(&mut buf);
        for (t, v) in &g.records {
            w.record(&mut buf, *t, v);
        }
        w.finish(&mut buf);
    }
    let described: Vec<Value> = groups
        .iter()
        .map(|g| {
            json!({
                "key_hex": hex(g.key),
                "states": g.states.iter().map(|s| s.as_deref().map(hex)).collect::<Vec<_>>(),
                "records": g.records.iter()
                    .map(|(t, v)| json!({"ts": ts(*t), "value_hex": hex(v)}))
                    .collect::<Vec<_>>(),
            })
        })
        .collect();
    json!({"name": name, "value_states": value_states, "hex": hex(&buf), "groups": described})
}

fn keyed() -> Value {
    json!({"inputs": [
        keyed_input("no value states", 0, &[
            KeyGroup { key: b"a", states: vec![], records: vec![(10, enc(1u64)), (11, enc(1u64))] },
            KeyGroup { key: b"bb", states: vec![], records: vec![] },
        ]),
        keyed_input("two value states, one absent", 2, &[
            KeyGroup {
                key: b"user-7",
                states: vec![Some(enc(5u64)), None],
                records: vec![(weir_wire::NO_TIMESTAMP, enc(String::from("click")))],
            },
            KeyGroup {
                key: b"",
                states: vec![None, Some(Vec::new())],
                records: vec![(3, Vec::new())],
            },
        ]),
        keyed_input("timers: one byte of domain per record", 0, &[
            KeyGroup {
                key: b"k",
                states: vec![],
                records: vec![
                    (1000, vec![weir_wire::domain::EVENT_TIME]),
                    (2000, vec![weir_wire::domain::PROCESSING_TIME]),
                ],
            },
        ]),
    ]})
}

fn results() -> Value {
    let mut buf = Vec::new();
    let mut described = Vec::new();
    weir_wire::put_main(&mut buf, 7, b"k", b"v");
    described.push(json!({"tag": "main", "ts": "7", "key_hex": hex(b"k"), "value_hex": hex(b"v")}));
    weir_wire::put_main(&mut buf, weir_wire::NO_TIMESTAMP, b"", b"");
    described.push(json!({"tag": "main", "ts": null, "key_hex": "", "value_hex": ""}));
    weir_wire::put_side(&mut buf, "late", -1, b"k2", b"x");
    described.push(json!({"tag": "side", "output": "late", "ts": "-1", "key_hex": hex(b"k2"), "value_hex": hex(b"x")}));
    weir_wire::put_value_set(&mut buf, 3, 1, &enc(9u64));
    described
        .push(json!({"tag": "value-set", "slot": 3, "state": 1, "value_hex": hex(&enc(9u64))}));
    weir_wire::put_value_clear(&mut buf, 0, 2);
    described.push(json!({"tag": "value-clear", "slot": 0, "state": 2}));
    weir_wire::put_timer(
        &mut buf,
        weir_wire::tag::TIMER_REGISTER,
        1,
        weir_wire::domain::EVENT_TIME,
        60_000,
    );
    described
        .push(json!({"tag": "timer-register", "slot": 1, "domain": "event-time", "time": "60000"}));
    weir_wire::put_timer(
        &mut buf,
        weir_wire::tag::TIMER_DELETE,
        1,
        weir_wire::domain::PROCESSING_TIME,
        -3,
    );
    described
        .push(json!({"tag": "timer-delete", "slot": 1, "domain": "processing-time", "time": "-3"}));
    weir_wire::put_failed(&mut buf, 0, 4, weir_wire::failure::USER, "bad input: ü");
    described.push(json!({"tag": "record-failed", "slot": 0, "index": 4, "kind": "user", "message": "bad input: ü"}));
    weir_wire::put_failed(&mut buf, 2, 0, weir_wire::failure::DECODE, "not UTF-8");
    described.push(json!({"tag": "record-failed", "slot": 2, "index": 0, "kind": "decode", "message": "not UTF-8"}));
    let mut times = Vec::new();
    for t in [0i64, -1, 1_700_000_000_123] {
        times.extend_from_slice(&t.to_le_bytes());
    }
    json!({
        "results": [{"name": "one of each entry", "hex": hex(&buf), "entries": described}],
        "timestamps": [{"times": ["0", "-1", "1700000000123"], "hex": hex(&times)}],
    })
}

fn windows() -> Value {
    let mut buf = Vec::new();
    let w = WindowGroupWriter::start(&mut buf, b"w", 0, 1000, None);
    let mut w = w;
    w.record(&mut buf, 5, &enc(1u64));
    w.record(&mut buf, 999, &enc(1u64));
    w.finish(&mut buf);
    let w = WindowGroupWriter::start(&mut buf, b"", -2000, -1000, Some(&enc(41u64)));
    w.finish(&mut buf);
    json!({"inputs": [{
        "name": "a new window and one with an accumulator",
        "hex": hex(&buf),
        "groups": [
            {"key_hex": hex(b"w"), "start": "0", "end": "1000", "acc_hex": null,
             "records": [{"ts": "5", "value_hex": hex(&enc(1u64))}, {"ts": "999", "value_hex": hex(&enc(1u64))}]},
            {"key_hex": "", "start": "-2000", "end": "-1000", "acc_hex": hex(&enc(41u64)), "records": []},
        ],
    }]})
}

/// Behaviour every SDK's WordCount example must show, byte for byte.
fn wordcount() -> Value {
    let line = "Hello, wörld! HELLO_1 hello\tend";
    let mut input = Vec::new();
    weir_wire::put_record(&mut input, 100, b"", line.as_bytes());
    let mut tokens = Vec::new();
    for w in ["hello", "w", "rld", "hello_1", "hello", "end"] {
        weir_wire::put_main(&mut tokens, 100, w.as_bytes(), &enc(1u64));
    }
    let count = keyed_input(
        "count",
        1,
        &[
            KeyGroup {
                key: b"hello",
                states: vec![None],
                records: vec![(1, enc(1u64)), (2, enc(1u64))],
            },
            KeyGroup {
                key: b"end",
                states: vec![Some(enc(41u64))],
                records: vec![(3, enc(1u64))],
            },
        ],
    );
    let mut counted = Vec::new();
    weir_wire::put_main(&mut counted, 1, b"hello", &enc(1u64));
    weir_wire::put_main(&mut counted, 2, b"hello", &enc(2u64));
    weir_wire::put_value_set(&mut counted, 0, 0, &enc(2u64));
    weir_wire::put_main(&mut counted, 3, b"end", &enc(42u64));
    weir_wire::put_value_set(&mut counted, 1, 0, &enc(42u64));
    let mut to_format = Vec::new();
    weir_wire::put_record(&mut to_format, 3, b"end", &enc(42u64));
    let mut formatted = Vec::new();
    weir_wire::put_main(&mut formatted, 3, b"end", b"(end,42)");
    json!({
        "tokenize": {"kind": "flat-map", "input_hex": hex(&input), "output_hex": hex(&tokens)},
        "count": {"kind": "reduce", "states": [{"name": "weir.acc", "kind": "value", "codec": "u64"}],
                  "input_hex": count["hex"], "output_hex": hex(&counted)},
        "format": {"kind": "flat-map", "input_hex": hex(&to_format), "output_hex": hex(&formatted)},
    })
}

fn vectors_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../wit/vectors")
}

#[test]
fn the_committed_vectors_are_what_the_rust_encoders_write() {
    let files = [
        ("codecs.json", codecs()),
        ("records.json", records()),
        ("keyed.json", keyed()),
        ("results.json", results()),
        ("windows.json", windows()),
        ("wordcount.json", wordcount()),
    ];
    let bless = std::env::var_os("WEIR_BLESS_VECTORS").is_some_and(|v| v == "1");
    for (name, value) in files {
        let path = vectors_dir().join(name);
        let text = serde_json::to_string_pretty(&value).expect("serializes") + "\n";
        if bless {
            std::fs::create_dir_all(vectors_dir()).expect("creates wit/vectors");
            std::fs::write(&path, &text).expect("writes a vector file");
        }
        let committed = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
        assert_eq!(
            committed, text,
            "{name} differs from what the Rust encoders write"
        );
    }
}

#[test]
fn every_invalid_codec_vector_fails_to_decode_in_rust() {
    let v = codecs();
    for case in v["invalid"].as_array().expect("a list") {
        let bytes: Vec<u8> = (0..case["hex"].as_str().expect("hex").len() / 2)
            .map(|i| {
                u8::from_str_radix(&case["hex"].as_str().expect("hex")[2 * i..2 * i + 2], 16)
                    .expect("hex digits")
            })
            .collect();
        let failed = match case["codec"].as_str().expect("codec") {
            "u64" => u64::decode(&bytes).is_err(),
            "u32" => u32::decode(&bytes).is_err(),
            "i64" => i64::decode(&bytes).is_err(),
            "bool" => bool::decode(&bytes).is_err(),
            "string" => String::decode(&bytes).is_err(),
            "json" => Json::<Value>::decode(&bytes).is_err(),
            "msgpack" => MsgPack::<Value>::decode(&bytes).is_err(),
            other => panic!("no Rust decoder named {other} in this test"),
        };
        assert!(failed, "{case} must fail to decode");
    }
}
