//! What an operator does with the parts of a function's result that are
//! not plain records: side outputs the function must have declared, and
//! records the function failed on, which fail the job or, with
//! `on_error = "dead-letter"`, go to the operator's `dead-letter` side
//! output with the operator, the error and the record.

use crate::failure::Failure;
use base64::Engine as _;
use weir_core::spec::DEAD_LETTER_OUTPUT;
use weir_core::{Batch, Outputs};
use weir_wasm::CallError;
use weir_wire::{NO_TIMESTAMP, failure};

/// Where an operator runs, for dead-letter records.
#[derive(Debug, Clone)]
pub(crate) struct DeadLetters {
    pub(crate) operator: String,
    pub(crate) subtask: u32,
}

/// A record as a dead letter shows it.
pub(crate) struct Rejected<'a> {
    pub(crate) ts: i64,
    pub(crate) key: &'a [u8],
    pub(crate) value: &'a [u8],
    /// A timer that failed, not a record (its value is meaningless).
    pub(crate) timer: bool,
}

/// Text as JSON when it is UTF-8, else base64 under `<name>_base64`.
fn bytes_field(obj: &mut serde_json::Map<String, serde_json::Value>, name: &str, bytes: &[u8]) {
    match std::str::from_utf8(bytes) {
        Ok(s) => {
            obj.insert(name.to_owned(), s.into());
        }
        Err(_) => {
            obj.insert(
                format!("{name}_base64"),
                base64::engine::general_purpose::STANDARD
                    .encode(bytes)
                    .into(),
            );
        }
    }
}

impl DeadLetters {
    /// Appends the dead letter of `r` failing with `error` to `out`: a JSON
    /// object `{"operator", "subtask", "kind", "error", "timestamp",
    /// "key", "value"}` (`key_base64` / `value_base64` when not UTF-8), with
    /// the record's own key and timestamp.
    pub(crate) fn push(&self, out: &mut Batch, kind: &str, error: &str, r: &Rejected<'_>) {
        let mut obj = serde_json::Map::new();
        obj.insert("operator".into(), self.operator.as_str().into());
        obj.insert("subtask".into(), self.subtask.into());
        obj.insert("kind".into(), kind.into());
        obj.insert("error".into(), error.into());
        obj.insert(
            "timestamp".into(),
            (r.ts != NO_TIMESTAMP)
                .then_some(r.ts)
                .map_or(serde_json::Value::Null, Into::into),
        );
        bytes_field(&mut obj, "key", r.key);
        if r.timer {
            obj.insert("timer".into(), true.into());
        } else {
            bytes_field(&mut obj, "value", r.value);
        }
        let text = serde_json::Value::Object(obj).to_string();
        out.push(r.ts, r.key, text.as_bytes());
    }
}

/// How an operator checks a function's result entries.
#[derive(Debug, Clone, Default)]
pub(crate) struct Outcomes {
    /// The side outputs the function declared.
    pub(crate) side_outputs: Vec<String>,
    /// Set aside failed records (else they fail the job).
    pub(crate) dead_letters: Option<DeadLetters>,
    /// Whether a dead letter was logged yet.
    logged: bool,
}

/// A short, printable view of a record's value for messages.
pub(crate) fn snippet(value: &[u8]) -> String {
    let s = String::from_utf8_lossy(value);
    if s.chars().count() > 80 {
        format!("{}…", s.chars().take(80).collect::<String>())
    } else {
        s.into_owned()
    }
}

impl Outcomes {
    /// Outcomes of a function with `side_outputs`, setting failed records
    /// aside when `dead_letters` is given.
    pub(crate) fn new(side_outputs: Vec<String>, dead_letters: Option<DeadLetters>) -> Self {
        Outcomes {
            side_outputs,
            dead_letters,
            logged: false,
        }
    }

    /// Fails unless the function declared the side output `name`.
    pub(crate) fn check_side(&self, name: &str) -> Result<(), Failure> {
        if self.side_outputs.iter().any(|s| s == name) {
            return Ok(());
        }
        Err(CallError::BadResult(format!(
            "the function emitted to side output '{name}', which it does not declare (it declares: {})",
            if self.side_outputs.is_empty() {
                "none".to_owned()
            } else {
                self.side_outputs.join(", ")
            }
        ))
        .into())
    }

    /// The function failed on `r`: fails the job, or sets the record aside.
    pub(crate) fn failed(
        &mut self,
        out: &mut Outputs,
        kind: u8,
        message: &str,
        r: &Rejected<'_>,
    ) -> Result<(), Failure> {
        let what = if r.timer {
            format!("a timer at {} of key '{}'", r.ts, snippet(r.key))
        } else if r.key.is_empty() {
            format!("record '{}'", snippet(r.value))
        } else {
            format!("record '{}' of key '{}'", snippet(r.value), snippet(r.key))
        };
        let Some(dl) = &self.dead_letters else {
            let message = format!("on {what}: {message}");
            return Err(if kind == failure::DECODE {
                CallError::Decode(message)
            } else {
                CallError::Function(message)
            }
            .into());
        };
        let kind = if kind == failure::DECODE {
            "decode"
        } else {
            "user"
        };
        if !self.logged {
            self.logged = true;
            tracing::warn!(
                "operator '{}' (sub-task {}): the function failed on {what}, which goes to '{DEAD_LETTER_OUTPUT}' (only the first is logged): {message}",
                dl.operator,
                dl.subtask + 1
            );
        }
        dl.push(out.side(DEAD_LETTER_OUTPUT), kind, message, r);
        Ok(())
    }

    /// A record the host could not process (no event timestamp, no key
    /// field): fails the job with `message`, or sets the record aside.
    pub(crate) fn rejected(
        &mut self,
        out: &mut Outputs,
        message: String,
        r: &Rejected<'_>,
    ) -> Result<(), Failure> {
        match &self.dead_letters {
            None => Err(Failure::user(message)),
            Some(dl) => {
                dl.push(out.side(DEAD_LETTER_OUTPUT), "rejected", &message, r);
                Ok(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dead_letters_carry_the_record_and_the_error() {
        let dl = DeadLetters {
            operator: "parse".into(),
            subtask: 1,
        };
        let mut b = Batch::default();
        dl.push(
            &mut b,
            "decode",
            "not a number",
            &Rejected {
                ts: 5,
                key: b"k",
                value: &[0xff, 0x00],
                timer: false,
            },
        );
        let r = b.iter().next().expect("one").expect("frame");
        assert_eq!((r.ts, r.key), (5, &b"k"[..]));
        let v: serde_json::Value = serde_json::from_slice(r.value).expect("json");
        assert_eq!(v["operator"], "parse");
        assert_eq!(v["subtask"], 1);
        assert_eq!(v["kind"], "decode");
        assert_eq!(v["error"], "not a number");
        assert_eq!(v["timestamp"], 5);
        assert_eq!(v["key"], "k");
        assert_eq!(v["value_base64"], "/wA=");
    }
}
