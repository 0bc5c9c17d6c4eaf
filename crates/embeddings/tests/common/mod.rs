//! Finds the model files; under `CI=true` their absence fails the test, otherwise the test
//! is skipped with a loud message naming the fix.
#![allow(dead_code, unreachable_pub, clippy::panic, clippy::print_stderr)]

use embeddings::ModelPaths;

pub fn model_paths() -> Option<ModelPaths> {
    let found = ModelPaths::from_env().and_then(|paths| paths.check().map(|()| paths));
    match found {
        Ok(paths) => Some(paths),
        Err(error) if std::env::var("CI").is_ok_and(|v| v == "true" || v == "1") => {
            panic!("the model files are required under CI=true: {error}")
        }
        Err(error) => {
            eprintln!("\n*** SKIPPING model tests: {error}\n*** Fetch them with: cargo xtask fetch-models\n");
            None
        }
    }
}

pub fn cosine(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}
