//! Job parameters and runner options given after the job file.

use anyhow::{Result, bail};

/// What followed the job file on the command line.
#[derive(Debug, Default, PartialEq)]
pub struct Trailing {
    /// `--name value` job parameters.
    pub params: Vec<(String, String)>,
    /// `--parallelism N` given after the job file.
    pub parallelism: Option<u32>,
    /// `--quiet` given after the job file.
    pub quiet: bool,
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
        if name == "parallelism" {
            t.parallelism = Some(
                value
                    .parse()
                    .map_err(|_| anyhow::anyhow!("--parallelism needs a number, got '{value}'"))?,
            );
        } else {
            t.params.push((name, value));
        }
    }
    Ok(t)
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
    fn missing_value_and_bare_words_are_errors() {
        assert!(parse(&s(&["--input"])).is_err());
        assert!(parse(&s(&["input"])).is_err());
        assert!(parse(&s(&["--parallelism", "x"])).is_err());
    }
}
