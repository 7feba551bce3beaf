//! The batch format: a guest's result buffer (and any other buffer) is
//! untrusted; every reader returns an error or a value, never panics or
//! reads out of bounds, and always terminates.
#![no_main]

use libfuzzer_sys::fuzz_target;
use weir_core::Batch;
use weir_wire::{Entries, GroupReader, Records, WindowGroupReader};

fuzz_target!(|data: &[u8]| {
    for e in Entries::new(data) {
        if e.is_err() {
            break;
        }
    }
    for r in Records::new(data) {
        if r.is_err() {
            break;
        }
    }
    let states = data.first().map_or(0, |b| usize::from(b % 4));
    let mut groups = GroupReader::new(data, states);
    while let Ok(Some((_, n))) = groups.next_group(|_, _| {}) {
        let mut ok = true;
        for _ in 0..n.min(1 << 16) {
            if groups.record().is_err() {
                ok = false;
                break;
            }
        }
        if !ok {
            break;
        }
    }
    let mut windows = WindowGroupReader::new(data);
    while let Ok(Some(g)) = windows.next_group() {
        let mut ok = true;
        for _ in 0..g.records.min(1 << 16) {
            if windows.record().is_err() {
                ok = false;
                break;
            }
        }
        if !ok {
            break;
        }
    }
    if let Ok(b) = Batch::from_bytes(data.to_vec()) {
        let parts = b.split(64).expect("a checked batch splits");
        assert_eq!(parts.iter().map(Batch::len).sum::<usize>(), b.len());
    }
});
