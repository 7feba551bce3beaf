//! Job parameters and runner options given after the job file (on the
//! command line, or as a REST request's `programArgsList`).

use crate::spec::StateBackendKind;
use std::path::PathBuf;
use std::time::Duration;

/// Arguments that cannot be read, with what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ArgsError(pub String);

type Result<T> = std::result::Result<T, ArgsError>;

macro_rules! bail {
    ($($t:tt)*) => { return Err(ArgsError(format!($($t)*))) };
}

/// What followed the job file on the command line.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Trailing {
    /// `--name value` job parameters.
    pub params: Vec<(String, String)>,
    /// `--parallelism N` given after the job file.
    pub parallelism: Option<u32>,
    /// `--quiet` given after the job file.
    pub quiet: bool,
    /// `--checkpoint-interval 1s`.
    pub checkpoint_interval: Option<Duration>,
    /// `--checkpoint-dir <dir>`.
    pub checkpoint_dir: Option<PathBuf>,
    /// `--state-backend memory|rocksdb`.
    pub state_backend: Option<StateBackendKind>,
    /// `--state-memory-mb N`.
    pub state_memory_mb: Option<u32>,
    /// `--restore <checkpoint dir>`.
    pub restore: Option<PathBuf>,
    /// `--from-savepoint <path>`.
    pub from_savepoint: Option<PathBuf>,
    /// `--allow-non-restored-state`.
    pub allow_non_restored_state: bool,
    /// `--savepoint-dir <dir>`: where savepoints go by default.
    pub savepoint_dir: Option<PathBuf>,
    /// `--overwrite`: a fresh run may replace earlier part files.
    pub overwrite: bool,
    /// `--fuse-chained-calls true|false`.
    pub fuse_chained_calls: Option<bool>,
}

/// Parses a duration: `1500ms`, `2s`, `1.5s`, `3m`, or plain milliseconds.
pub fn duration(text: &str) -> Result<Duration> {
    let t = text.trim();
    let (num, unit) = match t.find(|c: char| c.is_ascii_alphabetic()) {
        Some(i) => (&t[..i], &t[i..]),
        None => (t, "ms"),
    };
    let v: f64 = num.parse().map_err(|_| {
        ArgsError(format!(
            "'{text}' is not a duration (write 500ms, 2s or 1m)"
        ))
    })?;
    let ms = match unit {
        "ms" => v,
        "s" => v * 1000.0,
        "m" | "min" => v * 60_000.0,
        _ => bail!("'{text}': unknown unit '{unit}' (use ms, s or m)"),
    };
    if !(ms.is_finite() && ms >= 0.0) {
        bail!("'{text}' is not a duration");
    }
    Ok(Duration::from_millis(ms as u64))
}

/// Parses `--name value` and `--name=value` pairs; runner options may be
/// mixed in.
pub fn parse(args: &[String]) -> Result<Trailing> {
    let mut t = Trailing::default();
    let mut i = 0;
    while i < args.len() {
        let arg = &args[i];
        let Some(name) = arg.strip_prefix("--") else {
            bail!("unexpected argument '{arg}': job parameters are written --name value");
        };
        if name == "quiet" {
            t.quiet = true;
            i += 1;
            continue;
        }
        if name == "allow-non-restored-state" {
            t.allow_non_restored_state = true;
            i += 1;
            continue;
        }
        if name == "overwrite" {
            t.overwrite = true;
            i += 1;
            continue;
        }
        let (name, value) = match name.split_once('=') {
            Some((n, v)) => (n.to_owned(), v.to_owned()),
            None => {
                let Some(v) = args.get(i + 1) else {
                    bail!("parameter --{name} needs a value");
                };
                i += 1;
                (name.to_owned(), v.clone())
            }
        };
        i += 1;
        match name.as_str() {
            "parallelism" => {
                t.parallelism = Some(value.parse().map_err(|_| {
                    ArgsError(format!("--parallelism needs a number, got '{value}'"))
                })?)
            }
            "checkpoint-interval" => t.checkpoint_interval = Some(duration(&value)?),
            "checkpoint-dir" => t.checkpoint_dir = Some(PathBuf::from(value)),
            "state-backend" => {
                t.state_backend = Some(match value.as_str() {
                    "memory" => StateBackendKind::Memory,
                    "rocksdb" => StateBackendKind::Rocksdb,
                    other => bail!("--state-backend is memory or rocksdb, got '{other}'"),
                })
            }
            "state-memory-mb" => {
                t.state_memory_mb = Some(value.parse().map_err(|_| {
                    ArgsError(format!("--state-memory-mb needs a number, got '{value}'"))
                })?)
            }
            "fuse-chained-calls" => {
                t.fuse_chained_calls = Some(value.parse().map_err(|_| {
                    ArgsError(format!(
                        "--fuse-chained-calls is true or false, got '{value}'"
                    ))
                })?)
            }
            "restore" => t.restore = Some(PathBuf::from(value)),
            "from-savepoint" => t.from_savepoint = Some(PathBuf::from(value)),
            "savepoint-dir" => t.savepoint_dir = Some(PathBuf::from(value)),
            _ => t.params.push((name, value)),
        }
    }
    Ok(t)
}

impl Trailing {
    /// The overrides of the job file these arguments make.
    pub fn overrides(&self) -> crate::graph::Overrides {
        crate::graph::Overrides {
            parameters: self.params.clone(),
            parallelism: self.parallelism,
            checkpoint_interval: self.checkpoint_interval,
            checkpoint_dir: self.checkpoint_dir.clone(),
            state_backend: self.state_backend,
            state_memory_mb: self.state_memory_mb,
            fuse_chained_calls: self.fuse_chained_calls,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| (*x).to_owned()).collect()
    }

    #[test]
    fn pairs_and_runner_options() {
        let t = parse(&s(&[
            "--input",
            "a.txt",
            "--output=out",
            "--parallelism",
            "4",
        ]))
        .expect("ok");
        assert_eq!(
            t.params,
            vec![
                ("input".into(), "a.txt".into()),
                ("output".into(), "out".into())
            ]
        );
        assert_eq!(t.parallelism, Some(4));
    }

    #[test]
    fn checkpoint_options() {
        let t = parse(&s(&[
            "--checkpoint-interval",
            "1s",
            "--checkpoint-dir",
            "chk",
            "--state-backend=rocksdb",
            "--restore",
            "chk",
            "--allow-non-restored-state",
        ]))
        .expect("ok");
        assert_eq!(t.checkpoint_interval, Some(Duration::from_secs(1)));
        assert_eq!(t.state_backend, Some(StateBackendKind::Rocksdb));
        assert!(t.allow_non_restored_state);
        assert!(t.params.is_empty());
        assert_eq!(duration("250").expect("ms"), Duration::from_millis(250));
        assert_eq!(duration("1.5s").expect("s"), Duration::from_millis(1500));
        assert!(duration("3 parsecs").is_err());
        assert!(parse(&s(&["--state-backend", "disk"])).is_err());
    }

    #[test]
    fn missing_value_and_bare_words_are_errors() {
        assert!(parse(&s(&["--input"])).is_err());
        assert!(parse(&s(&["input"])).is_err());
        assert!(parse(&s(&["--parallelism", "x"])).is_err());
    }
}
