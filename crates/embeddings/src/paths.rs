//! Where the model files are: the cache `cargo xtask fetch-models` fills.

use std::path::{Path, PathBuf};

use crate::EmbedError;

/// The directory of the MiniLM files inside the cache.
const MODEL_DIR: &str = "all-MiniLM-L6-v2";
/// The model with int8 activations, beside `model.onnx`.
const DYNAMIC_INT8_MODEL: &str = "model.dynamic-int8.onnx";
/// The ONNX Runtime library inside the cache (the version `ort` is built for).
const LIBRARY: &str = "onnxruntime/libonnxruntime.so.1.31.1";

/// The three files [`OnnxEmbedder`](crate::OnnxEmbedder) needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelPaths {
    /// The ONNX model (`model.onnx`).
    pub model: PathBuf,
    /// The tokenizer (`tokenizer.json`).
    pub tokenizer: PathBuf,
    /// ONNX Runtime's shared library.
    pub onnxruntime: PathBuf,
}

impl ModelPaths {
    /// The files inside the cache directory `cache`.
    #[must_use]
    pub fn in_cache(cache: &Path) -> Self {
        Self {
            model: cache.join(MODEL_DIR).join("model.onnx"),
            tokenizer: cache.join(MODEL_DIR).join("tokenizer.json"),
            onnxruntime: cache.join(LIBRARY),
        }
    }

    /// The cache directory: `$PALISADE_MODELS_DIR`, else `$XDG_CACHE_HOME/palisade/models`,
    /// else `~/.cache/palisade/models` (the rule `cargo xtask fetch-models` follows).
    ///
    /// # Errors
    /// [`EmbedError::NoCacheDir`] if none of those variables is set.
    pub fn cache_dir() -> Result<PathBuf, EmbedError> {
        let var = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty()).map(PathBuf::from);
        if let Some(dir) = var("PALISADE_MODELS_DIR") {
            return Ok(dir);
        }
        if let Some(dir) = var("XDG_CACHE_HOME") {
            return Ok(dir.join("palisade").join("models"));
        }
        var("HOME")
            .map(|home| home.join(".cache").join("palisade").join("models"))
            .ok_or(EmbedError::NoCacheDir)
    }

    /// The files in [`ModelPaths::cache_dir`]; `PALISADE_ONNXRUNTIME_LIB` overrides the
    /// library's path (e.g. a system-wide ONNX Runtime 1.31).
    ///
    /// # Errors
    /// [`EmbedError::NoCacheDir`].
    pub fn from_env() -> Result<Self, EmbedError> {
        let mut paths = Self::in_cache(&Self::cache_dir()?);
        if let Some(library) = std::env::var_os("PALISADE_ONNXRUNTIME_LIB").filter(|v| !v.is_empty()) {
            paths.onnxruntime = PathBuf::from(library);
        }
        Ok(paths)
    }

    /// The same files, with the model whose activations are int8 as well as its weights
    /// (`model.dynamic-int8.onnx`, which `cargo xtask fetch-models` derives from
    /// `model.onnx`): each weight product quantizes its input per call and multiplies in
    /// int8, and the exporter's no-op NaN guards after each attention softmax are gone.
    /// About twice as fast at a 128-token window, at a cosine of 0.97 or more to the
    /// exported model's vectors. For a classifier measured with it (the injection
    /// detector's learned layer), not for vectors compared with ones stored earlier.
    ///
    /// Use it only where [`ModelPaths::int8_activations_supported`] says so.
    #[must_use]
    pub fn with_int8_activations(mut self) -> Self {
        self.model.set_file_name(DYNAMIC_INT8_MODEL);
        self
    }

    /// Whether this CPU multiplies int8 with VNNI (AVX512-VNNI or AVX-VNNI), where ONNX
    /// Runtime's int8 products are exact. Without it they use an instruction that can
    /// saturate, and the variant's agreement with the exported model (measured on a VNNI
    /// machine) is not assured: callers should keep the exported model there.
    #[must_use]
    pub fn int8_activations_supported() -> bool {
        #[cfg(target_arch = "x86_64")]
        {
            std::arch::is_x86_feature_detected!("avx512vnni")
                || std::arch::is_x86_feature_detected!("avxvnni")
        }
        #[cfg(not(target_arch = "x86_64"))]
        {
            false
        }
    }

    /// Checks that every file exists and is a readable regular file, naming the first
    /// that is not and the fix.
    ///
    /// # Errors
    /// [`EmbedError::LibraryMissing`] or [`EmbedError::ModelMissing`].
    pub fn check(&self) -> Result<(), EmbedError> {
        let problem = |path: &Path| match std::fs::metadata(path) {
            Ok(meta) if meta.is_file() => std::fs::File::open(path).err().map(|e| e.to_string()),
            Ok(_) => Some("not a regular file".to_owned()),
            Err(error) => Some(error.to_string()),
        };
        if let Some(reason) = problem(&self.onnxruntime) {
            return Err(EmbedError::LibraryMissing { path: self.onnxruntime.clone(), reason });
        }
        for path in [&self.model, &self.tokenizer] {
            if let Some(reason) = problem(path) {
                return Err(EmbedError::ModelMissing { path: path.clone(), reason });
            }
        }
        Ok(())
    }
}
