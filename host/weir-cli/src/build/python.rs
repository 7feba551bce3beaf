//! Python projects to components with componentize-py.
//!
//! A project is a directory with `app.py` or a `pyproject.toml` naming the
//! module (`[tool.weir] module`, default `app`) whose decorated functions
//! the component exports. componentize-py (pinned) is installed once into
//! a virtual environment in the tools cache; the Weir SDK (`sdk/python`)
//! and the WIT ship inside this binary.

use super::tools;
use anyhow::{Context, Result, bail};
use std::path::{Path, PathBuf};
use std::process::Command;

/// The componentize-py release builds are pinned to (bundles CPython 3.14).
pub const COMPONENTIZE_PY: &str = "componentize-py==0.25.1";

macro_rules! sdk_files {
    ($($path:literal),* $(,)?) => {
        &[$(($path, include_str!(concat!("../../../../sdk/python/", $path)))),*]
    };
}

/// The SDK's files, as `sdk/python` has them.
const SDK: &[(&str, &str)] = sdk_files![
    "weir/__init__.py",
    "weir/api.py",
    "weir/codecs.py",
    "weir/drivers.py",
    "weir/errors.py",
    "weir/msgpack.py",
    "weir/registry.py",
    "weir/wire.py",
    "weir/_glue.py",
    "componentize/transform.py",
    "componentize/keyed.py",
    "componentize/window.py",
];

/// What `pyproject.toml` says about the build.
#[derive(Debug)]
struct Project {
    name: String,
    module: String,
}

fn read_project(dir: &Path) -> Result<Project> {
    let fallback = dir
        .canonicalize()
        .ok()
        .and_then(|d| d.file_name().map(|n| n.to_string_lossy().into_owned()))
        .unwrap_or_else(|| "component".into());
    let path = dir.join("pyproject.toml");
    if !path.is_file() {
        return Ok(Project {
            name: fallback,
            module: "app".into(),
        });
    }
    let text =
        std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    let doc: toml::Table =
        toml::from_str(&text).with_context(|| format!("parsing {}", path.display()))?;
    let name = doc
        .get("project")
        .and_then(|p| p.get("name"))
        .and_then(|n| n.as_str())
        .map_or(fallback, str::to_owned);
    let module = doc
        .get("tool")
        .and_then(|t| t.get("weir"))
        .and_then(|w| w.get("module"))
        .and_then(|m| m.as_str())
        .unwrap_or("app")
        .to_owned();
    if module.is_empty()
        || !module
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.')
    {
        bail!(
            "[tool.weir] module in {} must be a Python module name, got '{module}'",
            path.display()
        );
    }
    let file = dir.join(format!("{}.py", module.replace('.', "/")));
    let package = dir.join(module.replace('.', "/")).join("__init__.py");
    if !file.is_file() && !package.is_file() {
        bail!(
            "{} has no module '{module}' ({} or {})",
            dir.display(),
            file.display(),
            package.display()
        );
    }
    Ok(Project { name, module })
}

/// The componentize-py executable, installing it first if needed.
fn componentize_py(cache: &Path) -> Result<PathBuf> {
    let venv = cache.join(format!("venv-{}", COMPONENTIZE_PY.replace("==", "-")));
    let exe = venv.join("bin/componentize-py");
    if exe.is_file() {
        return Ok(exe);
    }
    eprintln!(
        "installing {COMPONENTIZE_PY} into {} (once)",
        venv.display()
    );
    let python = std::env::var("PYTHON").unwrap_or_else(|_| "python3".into());
    tools::run(
        Command::new(&python).args(["-m", "venv"]).arg(&venv),
        "creating a Python virtual environment (Debian: apt-get install python3-venv)",
    )?;
    tools::run(
        Command::new(venv.join("bin/pip")).args(["install", "--quiet", COMPONENTIZE_PY]),
        &format!("pip install {COMPONENTIZE_PY}"),
    )?;
    if !exe.is_file() {
        bail!("{COMPONENTIZE_PY} installed no {}", exe.display());
    }
    Ok(exe)
}

/// Builds the Python project in `dir` to `<dir>/target/<name>.wasm`.
pub fn build(dir: &Path) -> Result<PathBuf> {
    let project = read_project(dir)?;
    let cache = tools::cache_dir()?;
    std::fs::create_dir_all(&cache).with_context(|| format!("creating {}", cache.display()))?;
    let exe = componentize_py(&cache)?;
    let sdk = tools::write_tree(&cache, "python-sdk", SDK)?;
    let wit = tools::write_tree(&cache, "wit", &[("weir.wit", tools::WIT)])?;
    let target = dir.join("target");
    let entry = target.join("weir-entry");
    std::fs::create_dir_all(&entry).with_context(|| format!("creating {}", entry.display()))?;
    std::fs::write(
        entry.join("weir_entry.py"),
        format!(
            "import {}  # noqa: F401  (registers the functions)\n\
             from weir._glue import Keyed, Registry, Transform, Window  # noqa: F401\n",
            project.module
        ),
    )?;
    let out = target.join(format!("{}.wasm", project.name));
    // Written aside and renamed: a job never loads half a component.
    let partial = target.join(format!(
        "{}.wasm.partial-{}",
        project.name,
        std::process::id()
    ));
    let started = std::time::Instant::now();
    let built = tools::run(
        Command::new(&exe)
            .arg("-d")
            .arg(&wit)
            .args(["-w", "functions", "componentize", "weir_entry", "-p"])
            .arg(&entry)
            .arg("-p")
            .arg(sdk.join("componentize"))
            .arg("-p")
            .arg(&sdk)
            .arg("-p")
            .arg(dir)
            .arg("-o")
            .arg(&partial),
        &format!("componentize-py building {}", dir.display()),
    );
    if built.is_err() {
        let _ = std::fs::remove_file(&partial);
    }
    built?;
    std::fs::rename(&partial, &out).with_context(|| format!("writing {}", out.display()))?;
    tracing::info!(elapsed = ?started.elapsed(), "built {}", out.display());
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_pyproject(text: &str, files: &[&str]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().expect("tmp");
        std::fs::write(dir.path().join("pyproject.toml"), text).expect("pyproject");
        for f in files {
            std::fs::write(dir.path().join(f), "").expect("file");
        }
        dir
    }

    #[test]
    fn pyproject_names_the_component_and_the_module() {
        let dir = with_pyproject(
            "[project]\nname = \"clicks\"\n[tool.weir]\nmodule = \"jobs\"\n",
            &["jobs.py"],
        );
        let p = read_project(dir.path()).expect("valid");
        assert_eq!((p.name.as_str(), p.module.as_str()), ("clicks", "jobs"));
    }

    #[test]
    fn a_missing_or_odd_module_is_refused_with_its_name() {
        let dir = with_pyproject("[tool.weir]\nmodule = \"jobs\"\n", &[]);
        let e = read_project(dir.path()).expect_err("no jobs.py");
        assert!(e.to_string().contains("has no module 'jobs'"), "{e}");
        let dir = with_pyproject("[tool.weir]\nmodule = \"../evil\"\n", &[]);
        let e = read_project(dir.path()).expect_err("not a module name");
        assert!(
            e.to_string().contains("must be a Python module name"),
            "{e}"
        );
        let dir = with_pyproject("[project\n", &[]);
        assert!(read_project(dir.path()).is_err(), "invalid TOML");
    }
}
