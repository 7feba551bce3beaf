//! Window functions.
//!
//! Timestamped words (`tumbling-word-count.toml`): text lines
//! `<ts_ms> <word>`. `leading-timestamp` reads the event time from the
//! line, `word-key` keys each line by its word, and a window function counts
//! per word and window:
//!
//! - `count-words`: an incremental count rendered with its window
//!   (`window_aggregate`): `{"word": "w", "window_start": 0, "count": 7}`;
//! - `count-reduce`: the same count as a plain reduce of `1`s (the result
//!   is a `u64`; `render-count` renders it from the record's key and
//!   timestamp, the window's last millisecond, and the job parameter
//!   `window_size_ms`);
//! - `count-elements`: a process-window function that counts the elements
//!   it is given.
//!
//! Clicks per session (`session-clicks.toml`): JSON lines
//! `{"user": "u1", "url": "/a", "ts": 1000}`; `session-clicks` is a
//! process-window function over a user's session:
//! `{"user": "u1", "window_start": 1000, "window_end": 1801000, "clicks": 3}`.

use serde::{Deserialize, Serialize};
use weir_sdk::{
    AggregateFunction, Collector, Context, Error, FlatMapFunction, Json, MapFunction,
    ProcessWindowFunction, ReduceFunction, Result, TimestampAssigner, Window,
};

/// Splits `<ts_ms> <word>` into its two parts.
fn parse(line: &str) -> Option<(i64, &str)> {
    let line = line.trim();
    let (ts, word) = line.split_once(char::is_whitespace)?;
    Some((ts.parse().ok()?, word.trim()))
}

/// The event time of a `<ts_ms> <word>` line.
#[derive(Default)]
pub struct LeadingTimestamp;

impl TimestampAssigner for LeadingTimestamp {
    type In = String;

    fn extract_timestamp(&mut self, line: &String, _current: Option<i64>) -> Result<i64> {
        parse(line)
            .map(|(ts, _)| ts)
            .ok_or_else(|| Error::msg(format!("expected '<ts_ms> <word>', got '{line}'")))
    }
}

/// Keys each `<ts_ms> <word>` line by its word (the line passes on).
#[derive(Default)]
pub struct WordKey;

impl FlatMapFunction for WordKey {
    type In = String;
    type Out = String;

    fn flat_map(
        &mut self,
        line: String,
        _: &Context<'_>,
        out: &mut Collector<'_, String>,
    ) -> Result<()> {
        match parse(&line) {
            Some((_, word)) if !word.is_empty() => out.collect_keyed(word.as_bytes(), &line),
            _ => Err(Error::msg(format!(
                "expected '<ts_ms> <word>', got '{line}'"
            ))),
        }
    }
}

/// Counts records (without decoding them: `()` reads any value).
#[derive(Default)]
pub struct CountAgg;

impl AggregateFunction for CountAgg {
    type In = ();
    type Acc = u64;
    type Out = u64;

    fn create_accumulator(&mut self) -> Result<u64> {
        Ok(0)
    }

    fn add(&mut self, _: (), acc: u64) -> Result<u64> {
        Ok(acc + 1)
    }

    fn get_result(&mut self, acc: &u64) -> Result<u64> {
        Ok(*acc)
    }

    fn merge(&mut self, a: u64, b: u64) -> Result<u64> {
        Ok(a + b)
    }
}

/// A word's count in a window.
#[derive(Serialize, Deserialize)]
pub struct WordCount {
    /// The word.
    pub word: String,
    /// The window's start, ms.
    pub window_start: i64,
    /// Records of the word in the window.
    pub count: u64,
}

/// Renders a pre-aggregated count with its window.
#[derive(Default)]
pub struct RenderWindowCount;

impl ProcessWindowFunction for RenderWindowCount {
    type In = u64;
    type Out = Json<WordCount>;

    fn process(
        &mut self,
        window: Window,
        counts: Vec<u64>,
        ctx: &Context<'_>,
        out: &mut Collector<'_, Json<WordCount>>,
    ) -> Result<()> {
        out.collect(&Json(WordCount {
            word: ctx.key_str().unwrap_or_default().to_owned(),
            window_start: window.start,
            count: counts.iter().sum(),
        }))
    }
}

/// Maps each keyed line to `1`.
#[derive(Default)]
pub struct One;

impl MapFunction for One {
    type In = String;
    type Out = u64;

    fn map(&mut self, _: String, _: &Context<'_>) -> Result<u64> {
        Ok(1)
    }
}

/// Adds counts.
#[derive(Default)]
pub struct Sum;

impl ReduceFunction for Sum {
    type T = u64;

    fn reduce(&mut self, a: u64, b: u64) -> Result<u64> {
        Ok(a + b)
    }
}

/// Renders a window's reduced count from its key and timestamp (the
/// window's last millisecond).
#[derive(Default)]
pub struct RenderCount;

impl MapFunction for RenderCount {
    type In = u64;
    type Out = Json<WordCount>;

    fn map(&mut self, count: u64, ctx: &Context<'_>) -> Result<Json<WordCount>> {
        let end = ctx.timestamp().map_or(0, |t| t + 1);
        let size: i64 = ctx
            .task()
            .parameter("window_size_ms")
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        Ok(Json(WordCount {
            word: ctx.key_str().unwrap_or_default().to_owned(),
            window_start: end - size,
            count,
        }))
    }
}

/// Counts the elements of a window (a process-window function).
#[derive(Default)]
pub struct CountElements;

impl ProcessWindowFunction for CountElements {
    type In = String;
    type Out = Json<WordCount>;

    fn process(
        &mut self,
        window: Window,
        elements: Vec<String>,
        ctx: &Context<'_>,
        out: &mut Collector<'_, Json<WordCount>>,
    ) -> Result<()> {
        out.collect(&Json(WordCount {
            word: ctx.key_str().unwrap_or_default().to_owned(),
            window_start: window.start,
            count: elements.len() as u64,
        }))
    }
}

/// A click.
#[derive(Serialize, Deserialize)]
pub struct Click {
    /// Who clicked.
    pub user: String,
    /// What.
    pub url: String,
    /// When, ms since the epoch.
    pub ts: i64,
}

/// A user's clicks in one session.
#[derive(Serialize, Deserialize)]
pub struct SessionClicks {
    /// The user.
    pub user: String,
    /// First click, ms.
    pub window_start: i64,
    /// Last click plus the gap, ms.
    pub window_end: i64,
    /// Clicks in the session.
    pub clicks: u64,
}

/// Counts a user's clicks per session window.
#[derive(Default)]
pub struct SessionClicksFn;

impl ProcessWindowFunction for SessionClicksFn {
    type In = Json<Click>;
    type Out = Json<SessionClicks>;

    fn process(
        &mut self,
        window: Window,
        clicks: Vec<Json<Click>>,
        ctx: &Context<'_>,
        out: &mut Collector<'_, Json<SessionClicks>>,
    ) -> Result<()> {
        let user = clicks
            .first()
            .map(|c| c.0.user.clone())
            .unwrap_or_else(|| ctx.key_str().unwrap_or_default().to_owned());
        out.collect(&Json(SessionClicks {
            user,
            window_start: window.start,
            window_end: window.end,
            clicks: clicks.len() as u64,
        }))
    }
}

weir_sdk::export_functions! {
    "leading-timestamp" => timestamp_assigner(LeadingTimestamp),
    "word-key" => flat_map(WordKey),
    "count-words" => window_aggregate(CountAgg, RenderWindowCount),
    "one" => map(One),
    "count-reduce" => reduce(Sum),
    "count-reduce-rendered" => window_reduce(Sum, RenderWindowCount),
    "render-count" => map(RenderCount),
    "count-elements" => process_window(CountElements),
    "session-clicks" => process_window(SessionClicksFn),
}
