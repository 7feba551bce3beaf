//! `weir build <dir>`: a function project to a WebAssembly component.
//!
//! The project's files say its language: `Cargo.toml` a Rust crate (or
//! workspace), `pyproject.toml` or `app.py` a Python project,
//! `package.json` a JavaScript package. Python and JavaScript builds
//! install their pinned build tool once into the tools cache
//! ([`tools::cache_dir`]) and build offline after that; the SDK and the WIT
//! they build against ship inside this binary, so a build uses the very
//! contract this `weir` links.

mod js;
mod python;
mod rust;
mod tools;

use anyhow::{Result, bail};
use std::path::{Path, PathBuf};

/// The languages `weir build` recognises.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Language {
    /// A crate or workspace built for wasm32-wasip2.
    Rust,
    /// A Python module built with componentize-py.
    Python,
    /// A JavaScript package built with componentize-js.
    JavaScript,
}

/// Which language the project in `dir` is written in.
pub fn detect(dir: &Path) -> Result<Language> {
    if dir.join("Cargo.toml").is_file() {
        Ok(Language::Rust)
    } else if dir.join("pyproject.toml").is_file() || dir.join("app.py").is_file() {
        Ok(Language::Python)
    } else if dir.join("package.json").is_file() {
        Ok(Language::JavaScript)
    } else if !dir.is_dir() {
        bail!("{} is not a directory", dir.display())
    } else {
        bail!(
            "{} has no Cargo.toml (Rust), pyproject.toml or app.py (Python) or package.json (JavaScript): nothing to build",
            dir.display()
        )
    }
}

/// Builds the project in `dir`; returns the component files.
pub fn build(dir: &Path, release: bool) -> Result<Vec<PathBuf>> {
    match detect(dir)? {
        Language::Rust => rust::build(dir, release),
        Language::Python => python::build(dir).map(|p| vec![p]),
        Language::JavaScript => js::build(dir).map(|p| vec![p]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn project(files: &[&str]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().expect("tmp");
        for f in files {
            std::fs::write(dir.path().join(f), "").expect("file");
        }
        dir
    }

    #[test]
    fn the_project_files_name_the_language() {
        assert_eq!(
            detect(project(&["Cargo.toml"]).path()).ok(),
            Some(Language::Rust)
        );
        assert_eq!(
            detect(project(&["app.py"]).path()).ok(),
            Some(Language::Python)
        );
        assert_eq!(
            detect(project(&["pyproject.toml"]).path()).ok(),
            Some(Language::Python)
        );
        assert_eq!(
            detect(project(&["package.json"]).path()).ok(),
            Some(Language::JavaScript)
        );
        // A crate with a JS toolchain beside it is still a crate.
        assert_eq!(
            detect(project(&["Cargo.toml", "package.json"]).path()).ok(),
            Some(Language::Rust)
        );
    }

    #[test]
    fn a_directory_without_a_project_is_a_clear_error() {
        let e = detect(project(&["README.md"]).path()).expect_err("nothing to build");
        assert!(e.to_string().contains("nothing to build"), "{e}");
        let e = detect(Path::new("/no/such/dir")).expect_err("missing");
        assert!(e.to_string().contains("is not a directory"), "{e}");
    }
}
