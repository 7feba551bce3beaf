//! Rust function crates to wasm32-wasip2 components.
//!
//! The first route is the ordinary one: the rustup `wasm32-wasip2` target.
//! When it is not installed (machines that cannot download rustup
//! components), Debian's `rustc-web` builds the target with the standard
//! library compiled from source, linking through `wasm-ld-19` and Debian's
//! `wasi-libc` (see scripts/setup-wasm-toolchain).

use anyhow::{Context, Result, bail};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

const TARGET: &str = "wasm32-wasip2";
const DEBIAN_RUSTC: &str = "/usr/bin/rustc";
const DEBIAN_WASI_LIBC: &str = "/usr/lib/wasm32-wasi";
const DEBIAN_WASM_LD: &str = "/usr/bin/wasm-ld-19";

/// Whether the active rustup toolchain has the target's standard library.
fn rustup_target_installed() -> bool {
    let out = Command::new("rustc")
        .args(["--print", "sysroot"])
        .stderr(Stdio::null())
        .output();
    match out {
        Ok(o) if o.status.success() => {
            let sysroot = String::from_utf8_lossy(&o.stdout).trim().to_owned();
            Path::new(&sysroot)
                .join("lib/rustlib")
                .join(TARGET)
                .join("lib")
                .is_dir()
        }
        _ => false,
    }
}

fn debian_route_available() -> bool {
    Path::new(DEBIAN_RUSTC).is_file()
        && Path::new(DEBIAN_WASI_LIBC).is_dir()
        && Path::new(DEBIAN_WASM_LD).is_file()
}

/// Builds the crate or workspace in `dir`; returns the component files.
pub fn build(dir: &Path, release: bool) -> Result<Vec<PathBuf>> {
    if !dir.join("Cargo.toml").is_file() {
        bail!("{} has no Cargo.toml", dir.display());
    }
    let mut cmd = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    cmd.current_dir(dir).args([
        "build",
        "--target",
        TARGET,
        "--message-format=json-render-diagnostics",
    ]);
    if release {
        cmd.arg("--release");
    }
    // A host build may have set these for itself; they do not apply here.
    cmd.env_remove("RUSTFLAGS")
        .env_remove("CARGO_BUILD_RUSTFLAGS");
    // WEIR_WASM_ROUTE=debian forces the fallback (to test it where the
    // rustup target is installed too).
    let force_debian = std::env::var("WEIR_WASM_ROUTE").is_ok_and(|v| v == "debian");
    if rustup_target_installed() && !force_debian {
        tracing::info!("building with the rustup {TARGET} target");
    } else if debian_route_available() {
        tracing::info!("building with Debian's rustc and std from source");
        let bin = dir.join("target/weir-toolchain-bin");
        std::fs::create_dir_all(&bin).context("creating the linker shim directory")?;
        let shim = bin.join("wasm-ld");
        if !shim.exists() {
            std::os::unix::fs::symlink(DEBIAN_WASM_LD, &shim).context("linking wasm-ld")?;
        }
        let path = std::env::var("PATH").unwrap_or_default();
        let bin = bin.canonicalize().context("resolving the shim directory")?;
        cmd.env("PATH", format!("{}:{path}", bin.display()))
            .env("RUSTC", DEBIAN_RUSTC)
            .env("RUSTC_BOOTSTRAP", "1")
            .env("RUSTFLAGS", format!("-L {DEBIAN_WASI_LIBC}"))
            .args(["-Zbuild-std=std,panic_abort"]);
    } else {
        bail!(
            "no {TARGET} toolchain: run `rustup target add {TARGET}`, or on a machine that \
             cannot download it, `scripts/setup-wasm-toolchain` (installs Debian's rustc-web, \
             rust-web-src, lld-19 and wasi-libc)"
        );
    }
    let out = cmd
        .stderr(Stdio::inherit())
        .output()
        .context("running cargo")?;
    let mut wasm = Vec::new();
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let Ok(msg) = serde_json::from_str::<serde_json::Value>(line) else {
            continue;
        };
        if msg["reason"] == "compiler-artifact"
            && let Some(files) = msg["filenames"].as_array()
        {
            wasm.extend(
                files
                    .iter()
                    .filter_map(|f| f.as_str())
                    .filter(|f| f.ends_with(".wasm"))
                    .map(PathBuf::from),
            );
        }
    }
    if !out.status.success() {
        bail!("cargo build for {TARGET} failed in {}", dir.display());
    }
    Ok(wasm)
}
