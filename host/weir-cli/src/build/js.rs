//! JavaScript packages to components with componentize-js.
//!
//! A package is a directory with `package.json`; its `main` (default
//! `index.js`) registers functions with the Weir SDK (`import * as weir
//! from '@weir/sdk'`). esbuild bundles it with the SDK, componentize-js
//! (SpiderMonkey) makes the component; both are installed once, pinned,
//! into the tools cache. The SDK (`sdk/js`) and the WIT ship inside this
//! binary. The `http` and `fetch-event` features are left out, so the
//! component imports only what Weir links (WASI without HTTP).

use super::tools;
use anyhow::{Context, Result, bail};
use std::path::{Path, PathBuf};
use std::process::Command;

/// The npm packages builds use, pinned.
pub const TOOLS: &[&str] = &["@bytecodealliance/componentize-js@0.23.0", "esbuild@0.25.0"];

macro_rules! sdk_files {
    ($($path:literal),* $(,)?) => {
        &[$(($path, include_str!(concat!("../../../../sdk/js/", $path)))),*]
    };
}

/// The SDK's sources, as `sdk/js` has them.
const SDK: &[(&str, &str)] = sdk_files![
    "src/api.js",
    "src/codecs.js",
    "src/drivers.js",
    "src/errors.js",
    "src/glue.js",
    "src/index.js",
    "src/msgpack.js",
    "src/registry.js",
    "src/wire.js",
];

/// What `package.json` says about the build.
struct Package {
    name: String,
    main: PathBuf,
}

fn read_package(dir: &Path) -> Result<Package> {
    let path = dir.join("package.json");
    let text =
        std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    let doc: serde_json::Value =
        serde_json::from_str(&text).with_context(|| format!("parsing {}", path.display()))?;
    let name = doc["name"]
        .as_str()
        .map(|n| n.rsplit('/').next().unwrap_or(n).to_owned())
        .filter(|n| {
            !n.is_empty()
                && n.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
        })
        .with_context(|| {
            format!(
                "{} needs a \"name\" (letters, digits, - _ .)",
                path.display()
            )
        })?;
    let main = dir.join(doc["main"].as_str().unwrap_or("index.js"));
    if !main.is_file() {
        bail!(
            "{} names {} as its main module, which does not exist",
            path.display(),
            main.display()
        );
    }
    Ok(Package { name, main })
}

/// The tools directory, installing the pinned packages first if needed.
fn install_tools(cache: &Path) -> Result<PathBuf> {
    let key = TOOLS.join(" ");
    let dir = cache.join(format!(
        "js-build-{:016x}",
        xxhash_rust::xxh3::xxh3_64(key.as_bytes())
    ));
    let done = dir.join(".complete");
    if done.is_file() {
        return Ok(dir);
    }
    eprintln!("installing {key} into {} (once)", dir.display());
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    tools::run(
        Command::new("npm")
            .args([
                "install",
                "--no-audit",
                "--no-fund",
                "--loglevel=error",
                "--prefix",
            ])
            .arg(&dir)
            .args(TOOLS),
        &format!("npm install {key} (needs Node.js and npm)"),
    )?;
    std::fs::write(&done, key)?;
    Ok(dir)
}

/// Builds the JavaScript package in `dir` to `<dir>/target/<name>.wasm`.
pub fn build(dir: &Path) -> Result<PathBuf> {
    let package = read_package(dir)?;
    let cache = tools::cache_dir()?;
    std::fs::create_dir_all(&cache).with_context(|| format!("creating {}", cache.display()))?;
    let bin = install_tools(&cache)?.join("node_modules/.bin");
    let sdk = tools::write_tree(&cache, "js-sdk", SDK)?;
    let wit = tools::write_tree(&cache, "wit", &[("weir.wit", tools::WIT)])?;
    let target = dir.join("target");
    let entry_dir = target.join("weir-entry");
    std::fs::create_dir_all(&entry_dir)
        .with_context(|| format!("creating {}", entry_dir.display()))?;
    let main = package.main.canonicalize()?;
    let glue = sdk.join("src/glue.js");
    let entry = entry_dir.join("entry.js");
    std::fs::write(
        &entry,
        format!(
            "import {};\nexport {{ registry, transform, keyed, window }} from {};\n",
            serde_json::to_string(&main.to_string_lossy())?,
            serde_json::to_string(&glue.to_string_lossy())?
        ),
    )?;
    let bundle = entry_dir.join("bundle.js");
    let index = sdk.join("src/index.js");
    tools::run(
        Command::new(bin.join("esbuild"))
            .arg(&entry)
            .args([
                "--bundle",
                "--format=esm",
                "--platform=neutral",
                "--log-level=warning",
            ])
            .arg(format!("--alias:@weir/sdk={}", index.display()))
            .arg(format!("--alias:weir={}", index.display()))
            .arg("--external:weir:function/*")
            .arg(format!("--outfile={}", bundle.display())),
        &format!("esbuild bundling {}", package.main.display()),
    )?;
    let out = target.join(format!("{}.wasm", package.name));
    let partial = target.join(format!(
        "{}.wasm.partial-{}",
        package.name,
        std::process::id()
    ));
    let built = tools::run(
        Command::new(bin.join("componentize-js"))
            .arg(&bundle)
            .arg("-w")
            .arg(&wit)
            .args(["-n", "functions", "-d", "http", "-d", "fetch-event", "-o"])
            .arg(&partial),
        &format!("componentize-js building {}", dir.display()),
    );
    if built.is_err() {
        let _ = std::fs::remove_file(&partial);
    }
    built?;
    std::fs::rename(&partial, &out).with_context(|| format!("writing {}", out.display()))?;
    Ok(out)
}
