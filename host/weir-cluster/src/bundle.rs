//! Application bundles: a zip (what Flink calls a jar) holding job files
//! and the components they name, with a manifest. `weir package` writes
//! one; the coordinator stores it by digest and workers load jobs from it.
//!
//! Components named `registry:<name>[@<digest>]` are not packaged: the
//! coordinator's component registry supplies them when the job runs.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use weir_core::JobGraph;
use weir_core::graph::Overrides;
use weir_core::spec::JobSpec;

/// The manifest's name inside a bundle.
pub const MANIFEST: &str = "weir-bundle.json";

/// Largest bundle accepted (uploads and unpacking).
pub const MAX_BUNDLE_BYTES: u64 = 512 * 1024 * 1024;

/// What a bundle holds.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Manifest {
    /// The job files, by name inside the bundle.
    pub entries: Vec<String>,
    /// Each packaged component (by its name in `[components]`) and where it
    /// is inside the bundle.
    pub components: BTreeMap<String, String>,
}

/// Why a bundle cannot be made or read.
#[derive(Debug, thiserror::Error)]
pub enum BundleError {
    /// The job file is invalid.
    #[error(transparent)]
    Job(#[from] weir_core::error::JobError),
    /// Reading or writing files failed.
    #[error("{0}")]
    Io(String),
    /// Not a bundle this version reads.
    #[error("not a Weir application bundle: {0}")]
    Invalid(String),
}

fn io(what: impl std::fmt::Display) -> impl Fn(std::io::Error) -> BundleError {
    move |e| BundleError::Io(format!("{what}: {e}"))
}

fn zip_err(e: zip::result::ZipError) -> BundleError {
    BundleError::Invalid(e.to_string())
}

/// The job parameters a job file uses in file paths (sources, sinks):
/// their values name files, to be resolved where the job is submitted.
pub fn path_parameters(job: &Path) -> Result<Vec<String>, BundleError> {
    let text = std::fs::read_to_string(job).map_err(io(job.display()))?;
    let spec: JobSpec = toml::from_str(&text).map_err(|e| {
        BundleError::Invalid(format!("{}: {}", job.display(), e.to_string().trim_end()))
    })?;
    let mut paths: Vec<&str> = Vec::new();
    for s in &spec.sources {
        if let weir_core::spec::SourceSpec::File(f) = s {
            paths.push(&f.path);
        }
    }
    for s in &spec.sinks {
        if let weir_core::spec::SinkSpec::File(f) = s {
            paths.push(&f.path);
        }
    }
    let mut names = Vec::new();
    for p in paths {
        let mut rest = p;
        while let Some(i) = rest.find("${") {
            let after = &rest[i + 2..];
            let Some(j) = after.find('}') else { break };
            names.push(after[..j].to_owned());
            rest = &after[j + 1..];
        }
    }
    names.sort();
    names.dedup();
    Ok(names)
}

/// The registry name of a component reference, if it is one.
pub fn registry_ref(path: &str) -> Option<&str> {
    path.strip_prefix("registry:")
}

/// Packages a job file and every component it names (but registry ones)
/// into a bundle. The job is validated first, with `overrides`.
pub fn package(job: &Path, overrides: &Overrides) -> Result<Vec<u8>, BundleError> {
    let text = std::fs::read_to_string(job).map_err(io(job.display()))?;
    let mut spec: JobSpec = toml::from_str(&text).map_err(|e| {
        BundleError::Invalid(format!("{}: {}", job.display(), e.to_string().trim_end()))
    })?;
    let base = job.parent().unwrap_or(Path::new(".")).to_owned();
    // Registry components are checked where the registry is.
    let registry: Vec<String> = spec
        .components
        .iter()
        .filter(|(_, p)| registry_ref(p).is_some())
        .map(|(n, _)| n.clone())
        .collect();
    // The coordinator gives checkpoints without a directory one under its
    // storage: checked here as if they had one.
    let mut checked = overrides.clone();
    if checked.checkpoint_interval.is_some() && checked.checkpoint_dir.is_none() {
        checked.checkpoint_dir = Some(base.join("coordinator-storage"));
    }
    let graph = if registry.is_empty() {
        Some(JobGraph::from_spec(spec.clone(), &base, &checked)?)
    } else {
        spec.components.retain(|n, _| !registry.contains(n));
        None
    };
    let entry = job
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "job.toml".into());
    let mut manifest = Manifest {
        entries: vec![entry.clone()],
        components: BTreeMap::new(),
    };
    let mut files: Vec<(String, Vec<u8>)> = vec![(entry, text.into_bytes())];
    let resolved: BTreeMap<String, PathBuf> = match &graph {
        Some(g) => g.components.clone(),
        None => spec
            .components
            .iter()
            .map(|(n, p)| (n.clone(), base.join(p)))
            .collect(),
    };
    for (name, path) in resolved {
        let inside = format!("components/{name}.wasm");
        let bytes = std::fs::read(&path).map_err(io(path.display()))?;
        manifest.components.insert(name, inside.clone());
        files.push((inside, bytes));
    }
    write_zip(&manifest, &files)
}

fn write_zip(manifest: &Manifest, files: &[(String, Vec<u8>)]) -> Result<Vec<u8>, BundleError> {
    let mut out = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let opts = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    let json = serde_json::to_vec_pretty(manifest)
        .map_err(|e| BundleError::Io(format!("manifest: {e}")))?;
    out.start_file(MANIFEST, opts).map_err(zip_err)?;
    out.write_all(&json).map_err(io(MANIFEST))?;
    for (name, bytes) in files {
        out.start_file(name.as_str(), opts).map_err(zip_err)?;
        out.write_all(bytes).map_err(io(name))?;
    }
    Ok(out.finish().map_err(zip_err)?.into_inner())
}

/// The components a bundle's job files take from the registry: (name in
/// `[components]`, registry reference), for those not packaged.
pub fn registry_refs(bundle: &[u8]) -> Result<Vec<(String, String)>, BundleError> {
    let m = manifest(bundle)?;
    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(bundle)).map_err(zip_err)?;
    let mut out = Vec::new();
    for entry in &m.entries {
        let mut text = String::new();
        zip.by_name(entry)
            .map_err(zip_err)?
            .take(16 * 1024 * 1024)
            .read_to_string(&mut text)
            .map_err(io(entry))?;
        let spec: JobSpec = toml::from_str(&text)
            .map_err(|e| BundleError::Invalid(format!("{entry}: {}", e.to_string().trim_end())))?;
        for (name, p) in spec.components {
            if let (Some(r), false) = (registry_ref(&p), m.components.contains_key(&name)) {
                out.push((name, r.to_owned()));
            }
        }
    }
    out.sort();
    out.dedup();
    Ok(out)
}

/// A copy of `bundle` with `extra` components (name, bytes) packed in.
pub fn with_components(bundle: &[u8], extra: &[(String, Vec<u8>)]) -> Result<Vec<u8>, BundleError> {
    let mut m = manifest(bundle)?;
    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(bundle)).map_err(zip_err)?;
    let mut files = Vec::new();
    for i in 0..zip.len() {
        let mut f = zip.by_index(i).map_err(zip_err)?;
        if f.is_dir() || f.name() == MANIFEST {
            continue;
        }
        let mut bytes = Vec::new();
        f.read_to_end(&mut bytes).map_err(io(f.name().to_owned()))?;
        files.push((f.name().to_owned(), bytes));
    }
    for (name, bytes) in extra {
        let inside = format!("registry/{name}.wasm");
        m.components.insert(name.clone(), inside.clone());
        files.push((inside, bytes.clone()));
    }
    write_zip(&m, &files)
}

/// Reads a bundle's manifest, checking that what it names is there.
pub fn manifest(bundle: &[u8]) -> Result<Manifest, BundleError> {
    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(bundle)).map_err(zip_err)?;
    let mut text = String::new();
    zip.by_name(MANIFEST)
        .map_err(|_| BundleError::Invalid(format!("no {MANIFEST}")))?
        .take(1024 * 1024)
        .read_to_string(&mut text)
        .map_err(io(MANIFEST))?;
    let m: Manifest = serde_json::from_str(&text)
        .map_err(|e| BundleError::Invalid(format!("{MANIFEST}: {e}")))?;
    if m.entries.is_empty() {
        return Err(BundleError::Invalid("no job file".into()));
    }
    for name in m.entries.iter().chain(m.components.values()) {
        if zip.index_for_name(name).is_none() {
            return Err(BundleError::Invalid(format!("{name} is missing")));
        }
    }
    Ok(m)
}

/// Unpacks a bundle into `dir` (entries with unsafe paths are refused).
pub fn unpack(bundle: &[u8], dir: &Path) -> Result<Manifest, BundleError> {
    let m = manifest(bundle)?;
    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(bundle)).map_err(zip_err)?;
    let mut total = 0u64;
    for i in 0..zip.len() {
        let mut f = zip.by_index(i).map_err(zip_err)?;
        let Some(rel) = f.enclosed_name() else {
            return Err(BundleError::Invalid(format!("unsafe path {}", f.name())));
        };
        if f.is_dir() {
            continue;
        }
        total += f.size();
        if total > MAX_BUNDLE_BYTES {
            return Err(BundleError::Invalid("unpacks to more than 512 MiB".into()));
        }
        let to = dir.join(rel);
        if let Some(p) = to.parent() {
            std::fs::create_dir_all(p).map_err(io(p.display()))?;
        }
        let mut bytes = Vec::with_capacity(f.size() as usize);
        f.read_to_end(&mut bytes).map_err(io(f.name().to_owned()))?;
        std::fs::write(&to, bytes).map_err(io(to.display()))?;
    }
    Ok(m)
}

/// Loads job file `entry` of a bundle unpacked in `dir`: its packaged
/// components come from the bundle, registry ones from `registry`.
pub fn load_job(
    dir: &Path,
    manifest: &Manifest,
    entry: &str,
    overrides: &Overrides,
    registry: &dyn Fn(&str) -> Option<PathBuf>,
) -> Result<JobGraph, BundleError> {
    if !manifest.entries.iter().any(|e| e == entry) {
        return Err(BundleError::Invalid(format!(
            "no job file '{entry}' (it has: {})",
            manifest.entries.join(", ")
        )));
    }
    let path = dir.join(entry);
    let text = std::fs::read_to_string(&path).map_err(io(entry))?;
    let mut spec: JobSpec = toml::from_str(&text)
        .map_err(|e| BundleError::Invalid(format!("{entry}: {}", e.to_string().trim_end())))?;
    for (name, p) in spec.components.iter_mut() {
        if let Some(inside) = manifest.components.get(name) {
            *p = dir.join(inside).display().to_string();
        } else if let Some(r) = registry_ref(p) {
            let found = registry(r).ok_or_else(|| {
                BundleError::Invalid(format!(
                    "component '{name}': nothing named '{r}' in the component registry (weir upload <component.wasm> --name {r})"
                ))
            })?;
            *p = found.display().to_string();
        }
    }
    Ok(JobGraph::from_spec(spec, dir, overrides)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unsafe_and_incomplete_bundles_are_refused() {
        assert!(matches!(
            manifest(b"not a zip"),
            Err(BundleError::Invalid(_))
        ));
        let m = Manifest {
            entries: vec!["job.toml".into()],
            components: BTreeMap::new(),
        };
        let missing = write_zip(&m, &[]).expect("zip");
        assert!(
            matches!(manifest(&missing), Err(BundleError::Invalid(e)) if e.contains("job.toml"))
        );
        let evil = write_zip(
            &m,
            &[
                ("job.toml".into(), b"name = 'x'".to_vec()),
                ("../escape.txt".into(), b"x".to_vec()),
            ],
        )
        .expect("zip");
        let tmp = tempfile::tempdir().expect("tmp");
        assert!(matches!(
            unpack(&evil, &tmp.path().join("in")),
            Err(BundleError::Invalid(e)) if e.contains("unsafe")
        ));
        assert!(!tmp.path().join("escape.txt").exists());
    }
}
