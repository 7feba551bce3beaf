use super::*;

fn read_all(splits: Vec<FileSplit>) -> Vec<String> {
    let mut r = FileReader::new(splits, ReadOptions::default());
    let mut lines = Vec::new();
    loop {
        let mut out = Outputs::default();
        let status = r.poll(&mut out, 7).expect("reads");
        for rec in out.main.iter() {
            lines.push(String::from_utf8(rec.expect("frame").value.to_vec()).expect("utf8"));
        }
        if status == SourceStatus::Finished {
            return lines;
        }
    }
}

fn read_with(
    splits: Vec<FileSplit>,
    options: ReadOptions,
) -> Result<(Vec<String>, Vec<String>), ConnectorError> {
    let mut r = FileReader::new(splits, options);
    let (mut lines, mut malformed) = (Vec::new(), Vec::new());
    loop {
        let mut out = Outputs::default();
        let status = r.poll(&mut out, 64)?;
        for rec in out.main.iter() {
            lines.push(String::from_utf8_lossy(rec.expect("frame").value).into_owned());
        }
        for (_, b) in &out.side {
            for rec in b.iter() {
                malformed.push(String::from_utf8_lossy(rec.expect("frame").value).into_owned());
            }
        }
        if status == SourceStatus::Finished {
            return Ok((lines, malformed));
        }
    }
}

#[test]
fn over_long_lines_fail_or_go_aside_with_their_line_numbers() {
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("f.txt");
    let long = "x".repeat(5000);
    std::fs::write(&path, format!("short\n{long}\nfits-10-b\n{long}")).expect("write");
    let whole = |start: u64| FileSplit {
        path: path.clone(),
        start,
        end: std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0),
        position: start,
    };
    let options = |policy| ReadOptions {
        on_malformed: policy,
        max_line_bytes: 10,
        ..ReadOptions::default()
    };
    let e = read_with(vec![whole(0)], options(MalformedPolicy::Fail)).expect_err("too long");
    assert!(
        e.to_string().contains(":2")
            && e.to_string()
                .contains("5001 bytes long, more than the source's max_line_bytes = 10"),
        "{e}"
    );
    let (lines, bad) =
        read_with(vec![whole(0)], options(MalformedPolicy::DeadLetter)).expect("reads");
    assert_eq!(lines, vec!["short", "fits-10-b"]);
    assert_eq!(bad.len(), 2);
    let first: serde_json::Value = serde_json::from_str(&bad[0]).expect("json");
    assert_eq!(first["line"], 2);
    assert_eq!(
        first["text"].as_str().map(str::len),
        Some(10),
        "the kept prefix"
    );
    let second: serde_json::Value = serde_json::from_str(&bad[1]).expect("json");
    assert_eq!(second["line"], 4);
    // A split starting mid-file finds its line numbers once.
    let (_, bad) = read_with(vec![whole(8)], options(MalformedPolicy::DeadLetter)).expect("reads");
    let only: serde_json::Value = serde_json::from_str(&bad[0]).expect("json");
    assert_eq!(only["line"], 4, "{bad:?}");
}

#[test]
fn every_line_once_whatever_the_split_points() {
    let dir = std::env::temp_dir().join(format!("weir-split-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let path = dir.join("f.txt");
    let text = "alpha\nbe\n\ngamma delta\r\nlast-no-newline";
    std::fs::write(&path, text).expect("write");
    let want: Vec<String> = text.lines().map(str::to_owned).collect();
    let len = text.len() as u64;
    for a in 0..=len {
        for b in a..=len {
            let splits = [(0, a), (a, b), (b, len)]
                .into_iter()
                .filter(|(s, e)| s < e)
                .map(|(start, end)| FileSplit {
                    path: path.clone(),
                    start,
                    end,
                    position: start,
                })
                .collect::<Vec<_>>();
            // Read the splits by separate readers, as parallel readers do.
            let mut got = Vec::new();
            for s in splits {
                got.extend(read_all(vec![s]));
            }
            assert_eq!(got, want, "split at {a} and {b}");
        }
    }
    // Stopping anywhere and resuming from the recorded position reads
    // every line once.
    for stop in 0..want.len() {
        let split = FileSplit {
            path: path.clone(),
            start: 0,
            end: len,
            position: 0,
        };
        let mut r = FileReader::new(vec![split], ReadOptions::default());
        let mut got = Vec::new();
        while got.len() < stop {
            let mut out = Outputs::default();
            r.poll(&mut out, 1).expect("reads");
            for rec in out.main.iter() {
                got.push(String::from_utf8(rec.expect("frame").value.to_vec()).expect("utf8"));
            }
        }
        let Some(SourceState::Files(left)) = r.position() else {
            panic!("a file reader has a position");
        };
        let resumed = left.iter().map(FileSplit::from_state).collect();
        got.extend(read_all(resumed));
        assert_eq!(got, want, "stopped after {stop} lines");
    }
    let _ = std::fs::remove_dir_all(&dir);
}
