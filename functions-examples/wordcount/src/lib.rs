//! Flink's streaming WordCount, as Weir functions.
//!
//! `tokenize` splits lines into lower-cased words (maximal runs of ASCII
//! letters, digits and `_`) and keys each by the word; `count` sums them with
//! a reduce and `format` renders `(word,count)`; `count-with-state` does both
//! in one keyed process function with a `ValueState`.

use serde::{Deserialize, Serialize};
use weir_sdk::{
    Collector, Context, Error, FilterFunction, FlatMapFunction, Json, KeyedProcessFunction,
    MapFunction, OpenContext, ReduceFunction, Result, ValueState,
};

/// Splits lines into words, emitting `1` keyed by the lower-cased word.
#[derive(Default)]
pub struct Tokenize {
    word: Vec<u8>,
}

impl FlatMapFunction for Tokenize {
    type In = String;
    type Out = u64;

    fn flat_map(
        &mut self,
        line: String,
        _: &Context<'_>,
        out: &mut Collector<'_, u64>,
    ) -> Result<()> {
        for &b in line.as_bytes() {
            if b.is_ascii_alphanumeric() || b == b'_' {
                self.word.push(b.to_ascii_lowercase());
            } else if !self.word.is_empty() {
                out.collect_keyed(&self.word, &1)?;
                self.word.clear();
            }
        }
        if !self.word.is_empty() {
            out.collect_keyed(&self.word, &1)?;
            self.word.clear();
        }
        Ok(())
    }
}

/// Adds up counts per word.
#[derive(Default)]
pub struct Count;

impl ReduceFunction for Count {
    type T = u64;

    fn reduce(&mut self, acc: u64, value: u64) -> Result<u64> {
        Ok(acc + value)
    }
}

/// Renders a count keyed by its word as `(word,count)`.
#[derive(Default)]
pub struct Format {
    line: String,
}

impl FlatMapFunction for Format {
    type In = u64;
    type Out = String;

    fn flat_map(
        &mut self,
        count: u64,
        ctx: &Context<'_>,
        out: &mut Collector<'_, String>,
    ) -> Result<()> {
        render(&mut self.line, ctx.key(), count);
        out.collect(&self.line)
    }
}

/// Writes `(word,count)` into `line`, reusing its allocation. Hand-written
/// rather than `write!`: `core::fmt` costs ~150 ns per call inside Wasm
/// (see BENCHMARKS.md); the native baseline uses the same routine.
fn render(line: &mut String, word: &[u8], count: u64) {
    line.clear();
    line.push('(');
    // Keys are the tokenizer's ASCII words; anything else is shown lossily.
    match std::str::from_utf8(word) {
        Ok(w) => line.push_str(w),
        Err(_) => line.push_str(&String::from_utf8_lossy(word)),
    }
    line.push(',');
    push_decimal(line, count);
    line.push(')');
}

fn push_decimal(line: &mut String, mut n: u64) {
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    loop {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    for &d in &digits[i..] {
        line.push(char::from(d));
    }
}

/// Counts words with a `ValueState` and emits `(word,count)` per word seen.
#[derive(Default)]
pub struct CountWithState {
    count: Option<ValueState<u64>>,
    line: String,
}

impl KeyedProcessFunction for CountWithState {
    type In = u64;
    type Out = String;

    fn open(&mut self, ctx: &mut OpenContext<'_>) -> Result<()> {
        self.count = Some(ctx.value_state("count"));
        Ok(())
    }

    fn process_element(
        &mut self,
        n: u64,
        ctx: &Context<'_>,
        out: &mut Collector<'_, String>,
    ) -> Result<()> {
        let state = self
            .count
            .as_ref()
            .ok_or_else(|| Error::msg("not opened"))?;
        let count = state.get()?.unwrap_or(0) + n;
        state.set(&count)?;
        render(&mut self.line, ctx.key(), count);
        out.collect(&self.line)
    }
}

/// A count as JSON.
#[derive(Serialize, Deserialize)]
pub struct WordCount {
    /// The word.
    pub word: String,
    /// Occurrences so far.
    pub count: u64,
}

/// Renders a count keyed by its word as `{"word": ..., "count": ...}`.
#[derive(Default)]
pub struct FormatJson;

impl MapFunction for FormatJson {
    type In = u64;
    type Out = Json<WordCount>;

    fn map(&mut self, count: u64, ctx: &Context<'_>) -> Result<Json<WordCount>> {
        Ok(Json(WordCount {
            word: String::from_utf8_lossy(ctx.key()).into_owned(),
            count,
        }))
    }
}

/// Keeps words of at least `min_length` characters (job parameter, default 6).
#[derive(Default)]
pub struct LongWords {
    min_length: usize,
}

impl FilterFunction for LongWords {
    type T = u64;

    fn open(&mut self, ctx: &mut OpenContext<'_>) -> Result<()> {
        self.min_length = match ctx.parameter("min_length") {
            Some(v) => v.parse().map_err(|_| {
                Error::msg(format!(
                    "parameter 'min_length' must be a number, got '{v}'"
                ))
            })?,
            None => 6,
        };
        Ok(())
    }

    fn filter(&mut self, _count: &u64, ctx: &Context<'_>) -> Result<bool> {
        Ok(ctx.key().len() >= self.min_length)
    }
}

weir_sdk::export_functions! {
    "long-words" => filter(LongWords),
    "format-json" => map(FormatJson),
    "tokenize" => flat_map(Tokenize),
    "count" => reduce(Count),
    "format" => flat_map(Format),
    "count-with-state" => keyed_process(CountWithState),
}
