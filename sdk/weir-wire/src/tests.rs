use super::*;

#[test]
fn records_round_trip() {
    let mut buf = Vec::new();
    put_record(&mut buf, 5, b"k", b"hello");
    put_record(&mut buf, NO_TIMESTAMP, b"", b"");
    let got: Vec<_> = Records::new(&buf).collect::<Result<_, _>>().expect("valid");
    assert_eq!(got.len(), 2);
    assert_eq!(got[0].key, b"k");
    assert_eq!(got[0].value, b"hello");
    assert_eq!(got[0].timestamp(), Some(5));
    assert_eq!(got[1].timestamp(), None);
}

#[test]
fn main_with_encodes_in_place() {
    let mut a = Vec::new();
    put_main(&mut a, 3, b"k", b"value");
    let mut b = Vec::new();
    put_main_with(&mut b, 3, b"k", |buf| buf.extend_from_slice(b"value"));
    assert_eq!(a, b);
}

#[test]
fn frame_is_the_whole_record() {
    let mut buf = Vec::new();
    put_record(&mut buf, 5, b"k", b"v");
    let r = Records::new(&buf).next().expect("one").expect("valid");
    assert_eq!(r.frame, &buf[..]);
}

#[test]
fn truncated_record_is_an_error_not_a_panic() {
    let mut buf = Vec::new();
    put_record(&mut buf, 1, b"key", b"value");
    for cut in 0..buf.len() {
        let r: Result<Vec<_>, _> = Records::new(&buf[..cut]).collect();
        if cut == 0 {
            assert!(r.expect("empty is fine").is_empty());
        } else {
            assert!(r.is_err(), "cut at {cut} must fail");
        }
    }
}

#[test]
fn huge_length_prefix_is_rejected() {
    let mut buf = Vec::new();
    buf.extend_from_slice(&0i64.to_le_bytes());
    buf.extend_from_slice(&u32::MAX.to_le_bytes());
    let r: Result<Vec<_>, _> = Records::new(&buf).collect();
    assert_eq!(r.expect_err("must fail").offset, 12);
}

#[test]
fn entries_round_trip() {
    let mut buf = Vec::new();
    put_main(&mut buf, 1, b"a", b"x");
    put_side(&mut buf, "late", 2, b"b", b"y");
    put_value_set(&mut buf, 3, 1, b"v");
    put_value_clear(&mut buf, 4, 0);
    let got: Vec<_> = Entries::new(&buf).collect::<Result<_, _>>().expect("valid");
    assert_eq!(
        got,
        vec![
            Entry::Main(RecordRef {
                ts: 1,
                key: b"a",
                value: b"x",
                frame: &buf[1..19],
            }),
            Entry::Side {
                output: "late",
                record: RecordRef {
                    ts: 2,
                    key: b"b",
                    value: b"y",
                    frame: &buf[26..44],
                }
            },
            Entry::ValueSet {
                slot: 3,
                state: 1,
                value: b"v"
            },
            Entry::ValueClear { slot: 4, state: 0 },
        ]
    );
}

#[test]
fn unknown_entry_tag_is_an_error() {
    let buf = [9u8, 0, 0];
    let r: Result<Vec<_>, _> = Entries::new(&buf).collect();
    assert_eq!(r.expect_err("must fail").what, "a known entry tag");
}

#[test]
fn groups_round_trip() {
    let mut buf = Vec::new();
    let mut g = GroupWriter::start(&mut buf, b"word");
    g.state(&mut buf, Some(b"7"));
    g.state(&mut buf, None);
    g.begin_records(&mut buf);
    g.record(&mut buf, 10, b"a");
    g.record(&mut buf, 11, b"b");
    g.finish(&mut buf);
    let mut r = GroupReader::new(&buf, 2);
    let mut states = Vec::new();
    let (key, n) = r
        .next_group(|i, v| states.push((i, v.map(<[u8]>::to_vec))))
        .expect("valid")
        .expect("one group");
    assert_eq!(key, b"word");
    assert_eq!(n, 2);
    assert_eq!(states, vec![(0, Some(b"7".to_vec())), (1, None)]);
    assert_eq!(r.record().expect("r1"), (10, &b"a"[..]));
    assert_eq!(r.record().expect("r2"), (11, &b"b"[..]));
    assert!(r.next_group(|_, _| {}).expect("end").is_none());
}

#[test]
fn timer_entries_round_trip() {
    let mut buf = Vec::new();
    put_timer(&mut buf, tag::TIMER_REGISTER, 2, domain::EVENT_TIME, 1000);
    put_timer(&mut buf, tag::TIMER_DELETE, 0, domain::PROCESSING_TIME, -5);
    let got: Vec<_> = Entries::new(&buf).collect::<Result<_, _>>().expect("valid");
    assert_eq!(
        got,
        vec![
            Entry::TimerRegister {
                slot: 2,
                domain: 0,
                time: 1000
            },
            Entry::TimerDelete {
                slot: 0,
                domain: 1,
                time: -5
            },
        ]
    );
    let mut bad = Vec::new();
    put_timer(&mut bad, tag::TIMER_REGISTER, 0, 7, 1);
    assert!(Entries::new(&bad).next().expect("one").is_err());
}

#[test]
fn window_groups_round_trip() {
    let mut buf = Vec::new();
    let mut g = WindowGroupWriter::start(&mut buf, b"k", 1000, 2000, Some(b"acc"));
    g.record(&mut buf, 1500, b"x");
    g.finish(&mut buf);
    let g = WindowGroupWriter::start(&mut buf, b"", -5, 5, None);
    g.finish(&mut buf);
    let mut r = WindowGroupReader::new(&buf);
    let first = r.next_group().expect("valid").expect("first");
    assert_eq!(
        first,
        WindowGroup {
            key: b"k",
            start: 1000,
            end: 2000,
            acc: Some(b"acc"),
            records: 1
        }
    );
    assert_eq!(r.record().expect("record"), (1500, &b"x"[..]));
    let second = r.next_group().expect("valid").expect("second");
    assert_eq!((second.start, second.end, second.acc), (-5, 5, None));
    assert!(r.next_group().expect("end").is_none());
    // Truncated input is an error, never a panic.
    assert!(WindowGroupReader::new(&buf[..10]).next_group().is_err());
}

#[test]
fn failed_record_entries_round_trip_and_reject_bad_kinds() {
    let mut buf = Vec::new();
    put_failed(&mut buf, 2, 7, failure::DECODE, "not a number: 'x'");
    let got: Vec<_> = Entries::new(&buf).collect::<Result<_, _>>().expect("valid");
    assert_eq!(
        got,
        vec![Entry::Failed {
            slot: 2,
            index: 7,
            kind: failure::DECODE,
            message: "not a number: 'x'"
        }]
    );
    buf[9] = 9;
    let r: Result<Vec<_>, _> = Entries::new(&buf).collect();
    assert_eq!(r.expect_err("bad kind").what, "a known failure kind");
}

#[test]
fn stage_entries_round_trip_and_copy_whole() {
    let mut frame = Vec::new();
    put_record(&mut frame, 42, b"k", b"v");
    let mut buf = Vec::new();
    put_side(&mut buf, "odd", 1, b"", b"s");
    put_stage(&mut buf, 1, 3, 120);
    put_stage_failed(&mut buf, failure::USER, "bad", &frame);
    put_main(&mut buf, 5, b"", b"m");
    let mut entries = Entries::new(&buf);
    let mut spans = Vec::new();
    let mut got = Vec::new();
    loop {
        let before = entries.offset();
        let Some(e) = entries.next() else { break };
        got.push(e.expect("valid"));
        spans.push(before..entries.offset());
    }
    assert_eq!(
        got[1],
        Entry::Stage {
            stage: 1,
            records: 3,
            bytes: 120
        }
    );
    match got[2] {
        Entry::StageFailed {
            kind,
            message,
            record,
        } => {
            assert_eq!((kind, message), (failure::USER, "bad"));
            assert_eq!(
                (record.ts, record.key, record.value),
                (42, &b"k"[..], &b"v"[..])
            );
        }
        other => panic!("not a stage failure: {other:?}"),
    }
    // Spans tile the buffer, so entries can be copied whole.
    assert_eq!(spans.first().map(|s| s.start), Some(0));
    assert_eq!(spans.last().map(|s| s.end), Some(buf.len()));
    assert!(spans.windows(2).all(|w| w[0].end == w[1].start));
    // A truncated marker is an error, never a panic.
    let cut = spans[1].start + 6;
    assert!(Entries::new(&buf[spans[1].start..cut]).any(|e| e.is_err()));
}
