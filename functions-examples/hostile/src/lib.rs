//! Functions that misbehave on purpose. Weir's sandbox tests run them to show
//! that a guest can never crash or hang the host: each must fail its job with
//! a clear error naming the operator, the sub-task and the cause.

use weir_sdk::{
    Collector, Context, Error, FlatMapFunction, KeyedProcessFunction, ListState, MapFunction,
    OpenContext, Result, ValueState,
};

/// Loops forever on the first record (stopped by the call deadline).
#[derive(Default)]
pub struct Spin;

impl MapFunction for Spin {
    type In = String;
    type Out = String;
    fn map(&mut self, v: String, _: &Context<'_>) -> Result<String> {
        let mut x: u64 = v.len() as u64;
        loop {
            x = std::hint::black_box(x.wrapping_mul(6364136223846793005).wrapping_add(1));
            if x == 42 && std::hint::black_box(false) {
                return Ok(v);
            }
        }
    }
}

/// Allocates without bound (stopped by the memory cap).
#[derive(Default)]
pub struct MemoryBomb {
    hoard: Vec<Vec<u8>>,
}

impl MapFunction for MemoryBomb {
    type In = String;
    type Out = String;
    fn map(&mut self, v: String, _: &Context<'_>) -> Result<String> {
        loop {
            let mut block = vec![0u8; 1 << 20];
            block[0] = std::hint::black_box(1);
            self.hoard.push(block);
            if std::hint::black_box(self.hoard.len()) == usize::MAX {
                return Ok(v);
            }
        }
    }
}

#[inline(never)]
#[allow(unconditional_recursion)]
fn descend(depth: u64, pad: &mut [u8; 64]) -> u64 {
    pad[(depth % 64) as usize] = depth as u8;
    let mut next = *pad;
    std::hint::black_box(&mut next);
    descend(depth + 1, &mut next) + u64::from(next[0])
}

/// Recurses without bound (stopped by the stack limit).
#[derive(Default)]
pub struct Recurse;

impl MapFunction for Recurse {
    type In = String;
    type Out = String;
    fn map(&mut self, v: String, _: &Context<'_>) -> Result<String> {
        let mut pad = [0u8; 64];
        let n = descend(0, &mut pad);
        Ok(format!("{v}{n}"))
    }
}

/// Panics on a record that says `boom`, passes others through.
#[derive(Default)]
pub struct PanicOnBoom;

impl MapFunction for PanicOnBoom {
    type In = String;
    type Out = String;
    fn map(&mut self, v: String, _: &Context<'_>) -> Result<String> {
        if v.contains("boom") {
            panic!("the record said boom");
        }
        Ok(v)
    }
}

/// Returns an error on a record that says `bad`, passes others through.
#[derive(Default)]
pub struct FailOnBad;

impl MapFunction for FailOnBad {
    type In = String;
    type Out = String;
    fn map(&mut self, v: String, _: &Context<'_>) -> Result<String> {
        if v.contains("bad") {
            return Err(Error::msg(format!("refusing record '{v}'")));
        }
        Ok(v)
    }
}

/// Refuses numbers divisible by 7 (with an error), passes the others:
/// a function that fails on some records, deterministically.
#[derive(Default)]
pub struct RefuseSevens;

impl MapFunction for RefuseSevens {
    type In = String;
    type Out = String;
    fn map(&mut self, v: String, _: &Context<'_>) -> Result<String> {
        let n: u64 = v
            .trim()
            .parse()
            .map_err(|_| Error::msg(format!("'{v}' is not a number")))?;
        if n % 7 == 0 {
            return Err(Error::msg(format!("{n} is a multiple of 7")));
        }
        Ok(v)
    }
}

/// Takes about a millisecond per record (a slow consumer for backpressure
/// tests).
#[derive(Default)]
pub struct Slow;

impl MapFunction for Slow {
    type In = String;
    type Out = String;
    fn map(&mut self, v: String, _: &Context<'_>) -> Result<String> {
        let start = std::time::Instant::now();
        while start.elapsed() < std::time::Duration::from_millis(1) {
            std::hint::spin_loop();
        }
        Ok(v)
    }
}

/// Reaches for the world outside the sandbox, one request per record, and
/// reports what it got instead of failing, so a test can see what a job
/// granted: `env NAME` reads an environment variable, `read PATH` a file,
/// `write PATH TEXT` creates a file, `list PATH` a directory.
#[derive(Default)]
pub struct Reach;

fn reach(request: &str) -> std::result::Result<String, String> {
    let mut parts = request.splitn(3, ' ');
    let (verb, arg) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let err = |e: std::io::Error| e.to_string();
    match verb {
        "env" => std::env::var(arg).map_err(|e| e.to_string()),
        "read" => std::fs::read_to_string(arg).map_err(err),
        "write" => std::fs::write(arg, parts.next().unwrap_or(""))
            .map(|()| "written".to_owned())
            .map_err(err),
        "list" => {
            let mut names = std::fs::read_dir(arg)
                .map_err(err)?
                .map(|e| e.map(|e| e.file_name().to_string_lossy().into_owned()))
                .collect::<std::io::Result<Vec<_>>>()
                .map_err(err)?;
            names.sort();
            Ok(names.join(","))
        }
        _ => Err(format!("unknown request '{request}'")),
    }
}

impl MapFunction for Reach {
    type In = String;
    type Out = String;
    fn map(&mut self, request: String, _: &Context<'_>) -> Result<String> {
        Ok(match reach(&request) {
            Ok(v) => format!("{request} -> ok {v}"),
            Err(e) => format!("{request} -> denied {e}"),
        })
    }
}

/// Sleeps for an hour in a blocking WASI call on the first record
/// (stopped by the call deadline, though no guest code runs meanwhile).
#[derive(Default)]
pub struct Sleep;

impl MapFunction for Sleep {
    type In = String;
    type Out = String;
    fn map(&mut self, v: String, _: &Context<'_>) -> Result<String> {
        std::thread::sleep(std::time::Duration::from_secs(3600));
        Ok(v)
    }
}

/// Prints a line per record to standard output (and every 1000th to
/// standard error), passing records through.
#[derive(Default)]
pub struct Print {
    seen: u64,
}

impl MapFunction for Print {
    type In = String;
    type Out = String;
    fn map(&mut self, v: String, _: &Context<'_>) -> Result<String> {
        println!("print saw record {}: {v}", self.seen);
        if self.seen % 1000 == 0 {
            eprintln!("print is at record {}", self.seen);
        }
        self.seen += 1;
        Ok(v)
    }
}

/// Appends 1 KiB elements to its list state in a loop, forever (stopped
/// by the state budget).
#[derive(Default)]
pub struct HoardList {
    hoard: Option<ListState<Vec<u8>>>,
}

impl KeyedProcessFunction for HoardList {
    type In = String;
    type Out = String;
    fn open(&mut self, ctx: &mut OpenContext<'_>) -> Result<()> {
        self.hoard = Some(ctx.list_state("hoard"));
        Ok(())
    }
    fn process_element(
        &mut self,
        v: String,
        _: &Context<'_>,
        _: &mut Collector<'_, String>,
    ) -> Result<()> {
        let hoard = self
            .hoard
            .as_ref()
            .ok_or_else(|| Error::msg("not opened"))?;
        let block = vec![7u8; 1024];
        loop {
            hoard.add(&block)?;
            if std::hint::black_box(v.len()) == usize::MAX {
                return Ok(());
            }
        }
    }
}

/// Emits every record a thousand times (a careless fan-out: the host must
/// keep each call's result within the guest's memory).
#[derive(Default)]
pub struct FanOut;

impl weir_sdk::FlatMapFunction for FanOut {
    type In = String;
    type Out = String;
    fn flat_map(
        &mut self,
        v: String,
        _: &Context<'_>,
        out: &mut Collector<'_, String>,
    ) -> Result<()> {
        for _ in 0..1000 {
            out.collect(&v)?;
        }
        Ok(())
    }
}

/// Registers an event-time timer for every key and emits the key when it
/// fires (at the end of input, all at once).
#[derive(Default)]
pub struct RemindEveryKey;

impl KeyedProcessFunction for RemindEveryKey {
    type In = u64;
    type Out = String;
    fn process_element(
        &mut self,
        _: u64,
        ctx: &Context<'_>,
        _: &mut Collector<'_, String>,
    ) -> Result<()> {
        ctx.register_event_time_timer(1_000)
    }
    fn on_timer(
        &mut self,
        _: i64,
        ctx: &Context<'_>,
        out: &mut Collector<'_, String>,
    ) -> Result<()> {
        out.collect(&ctx.key_str().unwrap_or("?").to_owned())
    }
}

// Well-behaved functions that chain (tests of fused calls, where one
// call runs `tally → sort-out → sequence`): every kind of result a stage
// can have, with keyed state, timers, side outputs, failed records and
// operator state.

/// Splits a line into words, each keyed by itself.
#[derive(Default)]
pub struct KeyWords;

impl FlatMapFunction for KeyWords {
    type In = String;
    type Out = String;
    fn flat_map(
        &mut self,
        line: String,
        _: &Context<'_>,
        out: &mut Collector<'_, String>,
    ) -> Result<()> {
        for w in line.split_whitespace() {
            out.collect_keyed(w.as_bytes(), &w.to_owned())?;
        }
        Ok(())
    }
}

/// Counts each key's records (`word=n` per record) and, from an
/// event-time timer at the end of input, emits `word final=n`.
#[derive(Default)]
pub struct Tally {
    count: Option<ValueState<u64>>,
}

impl KeyedProcessFunction for Tally {
    type In = String;
    type Out = String;
    fn open(&mut self, ctx: &mut OpenContext<'_>) -> Result<()> {
        self.count = Some(ctx.value_state("count"));
        Ok(())
    }
    fn process_element(
        &mut self,
        w: String,
        ctx: &Context<'_>,
        out: &mut Collector<'_, String>,
    ) -> Result<()> {
        let state = self
            .count
            .as_ref()
            .ok_or_else(|| Error::msg("not opened"))?;
        let n = state.get()?.unwrap_or(0) + 1;
        state.set(&n)?;
        ctx.register_event_time_timer(1_000)?;
        out.collect(&format!("{w}={n}"))
    }
    fn on_timer(
        &mut self,
        _: i64,
        ctx: &Context<'_>,
        out: &mut Collector<'_, String>,
    ) -> Result<()> {
        let state = self
            .count
            .as_ref()
            .ok_or_else(|| Error::msg("not opened"))?;
        let n = state.get()?.unwrap_or(0);
        out.collect(&format!("{} final={n}", ctx.key_str().unwrap_or("?")))
    }
}

/// Fails on records that mention "bad", sends those longer than 12
/// characters to the side output `long`, and passes the rest on.
#[derive(Default)]
pub struct SortOut;

impl FlatMapFunction for SortOut {
    type In = String;
    type Out = String;
    const SIDE_OUTPUTS: &'static [&'static str] = &["long"];
    fn flat_map(
        &mut self,
        v: String,
        _: &Context<'_>,
        out: &mut Collector<'_, String>,
    ) -> Result<()> {
        if v.contains("bad") {
            return Err(Error::msg(format!("no bad words: '{v}'")));
        }
        if v.len() > 12 {
            out.side_output("long", &v)
        } else {
            out.collect(&v)
        }
    }
}

/// Numbers the records of each instance, `subtask:n value`; `n` is
/// operator state, so a restored job numbers on without gaps or repeats.
#[derive(Default)]
pub struct Sequence {
    n: u64,
}

impl MapFunction for Sequence {
    type In = String;
    type Out = String;
    fn map(&mut self, v: String, ctx: &Context<'_>) -> Result<String> {
        self.n += 1;
        Ok(format!("{}:{} {v}", ctx.task().subtask_index, self.n))
    }
    fn snapshot_state(&mut self) -> Result<Option<Vec<u8>>> {
        Ok(Some(self.n.to_le_bytes().to_vec()))
    }
    fn restore_state(&mut self, states: Vec<Vec<u8>>) -> Result<()> {
        for s in states {
            let bytes: [u8; 8] = s
                .as_slice()
                .try_into()
                .map_err(|_| Error::msg("not a u64"))?;
            self.n = self.n.max(u64::from_le_bytes(bytes));
        }
        Ok(())
    }
}

weir_sdk::export_functions! {
    "sequence" => map(Sequence),
    "key-words" => flat_map(KeyWords),
    "tally" => keyed_process(Tally),
    "sort-out" => flat_map(SortOut),
    "fan-out" => flat_map(FanOut),
    "refuse-sevens" => map(RefuseSevens),
    "remind-every-key" => keyed_process(RemindEveryKey),
    "sleep" => map(Sleep),
    "print" => map(Print),
    "hoard-list" => keyed_process(HoardList),
    "reach" => map(Reach),
    "slow" => map(Slow),
    "spin" => map(Spin),
    "memory-bomb" => map(MemoryBomb),
    "recurse" => map(Recurse),
    "panic" => map(PanicOnBoom),
    "fail" => map(FailOnBad),
}
