//! The learned layer: a small multi-layer perceptron over a sentence embedding that
//! gives the probability that a text is an injection.
//!
//! The detector itself does no I/O and knows no model runtime: the caller embeds the
//! text (the `embeddings` crate's all-MiniLM-L6-v2: mean-pooled, L2-normalised, 384
//! dimensions), gives the vector to [`MlpHead::probability`], and passes the result to
//! [`super::InjectionDetector::scan_with_learned`].
//!
//! The weights file is JSON with dense layers stored `[out][in]`: `w_h1`/`b_h1`,
//! `w_h2`/`b_h2` (ReLU) and `w_out`/`b_out` (one output, sigmoid), the format of the
//! jailguard crate's `neural_binary_200k.json` (MIT OR Apache-2.0), which `cargo xtask
//! fetch-models` brings, sha256-pinned, from its crates.io package.

use serde_json::Value;

/// Why a weights file was refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HeadError {
    /// Not JSON.
    #[error("the head's weights are not JSON: {0}")]
    Json(#[from] serde_json::Error),
    /// A layer is missing or not a matrix/vector of numbers.
    #[error("the head's weights have no usable {0:?}")]
    Missing(&'static str),
    /// The layers' shapes do not chain, or a number is not finite.
    #[error("the head's layer {layer:?} is malformed: {reason}")]
    Shape {
        /// The layer's key.
        layer: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// The embedding given has the wrong length.
    #[error("the head takes {expected}-dimensional embeddings, not {got}")]
    Dimension {
        /// What the head takes.
        expected: usize,
        /// What it was given.
        got: usize,
    },
}

#[derive(Debug, Clone)]
struct Dense {
    /// Row-major `[out][in]`.
    weights: Vec<f32>,
    bias: Vec<f32>,
    inputs: usize,
}

impl Dense {
    fn forward(&self, input: &[f32], relu: bool) -> Vec<f32> {
        self.weights
            .chunks_exact(self.inputs)
            .zip(&self.bias)
            .map(|(row, bias)| {
                let sum = row.iter().zip(input).map(|(w, x)| w * x).sum::<f32>() + bias;
                if relu { sum.max(0.0) } else { sum }
            })
            .collect()
    }
}

/// A loaded head: three dense layers, ReLU between, sigmoid at the end.
#[derive(Debug, Clone)]
pub struct MlpHead {
    layers: [Dense; 3],
}

fn matrix(root: &Value, key: &'static str) -> Result<(Vec<f32>, usize, usize), HeadError> {
    let rows = root.get(key).and_then(Value::as_array).ok_or(HeadError::Missing(key))?;
    let width = rows.first().and_then(Value::as_array).map_or(0, Vec::len);
    if rows.is_empty() || width == 0 {
        return Err(HeadError::Shape { layer: key, reason: "empty".into() });
    }
    let mut flat = Vec::with_capacity(rows.len() * width);
    for row in rows {
        let row = row
            .as_array()
            .filter(|r| r.len() == width)
            .ok_or_else(|| HeadError::Shape { layer: key, reason: "rows of different lengths".into() })?;
        for value in row {
            flat.push(number(value, key)?);
        }
    }
    Ok((flat, rows.len(), width))
}

fn vector(root: &Value, key: &'static str) -> Result<Vec<f32>, HeadError> {
    root.get(key)
        .and_then(Value::as_array)
        .ok_or(HeadError::Missing(key))?
        .iter()
        .map(|v| number(v, key))
        .collect()
}

fn number(value: &Value, layer: &'static str) -> Result<f32, HeadError> {
    #[allow(clippy::cast_possible_truncation)]
    value
        .as_f64()
        .map(|v| v as f32)
        .filter(|v| v.is_finite())
        .ok_or_else(|| HeadError::Shape { layer, reason: "a weight is not a finite number".into() })
}

impl MlpHead {
    /// Parses a weights file (see the module docs).
    ///
    /// # Errors
    /// [`HeadError`] when the JSON is not three chaining dense layers with one output.
    pub fn from_json(json: &str) -> Result<Self, HeadError> {
        let root: Value = serde_json::from_str(json)?;
        let mut layers = Vec::with_capacity(3);
        let mut expected_inputs: Option<usize> = None;
        for (w, b) in [("w_h1", "b_h1"), ("w_h2", "b_h2"), ("w_out", "b_out")] {
            let (weights, outputs, inputs) = matrix(&root, w)?;
            let bias = vector(&root, b)?;
            if bias.len() != outputs {
                return Err(HeadError::Shape {
                    layer: b,
                    reason: format!("{} biases for {outputs} outputs", bias.len()),
                });
            }
            if let Some(expected) = expected_inputs
                && expected != inputs
            {
                return Err(HeadError::Shape {
                    layer: w,
                    reason: format!("takes {inputs} inputs, given {expected}"),
                });
            }
            expected_inputs = Some(outputs);
            layers.push(Dense { weights, bias, inputs });
        }
        if expected_inputs != Some(1) {
            return Err(HeadError::Shape { layer: "w_out", reason: "must have exactly one output".into() });
        }
        let [first, second, out] = <[Dense; 3]>::try_from(layers)
            .map_err(|_| HeadError::Shape { layer: "w_out", reason: "three layers expected".into() })?;
        Ok(Self { layers: [first, second, out] })
    }

    /// The embedding length the head takes.
    #[must_use]
    pub fn dimension(&self) -> usize {
        self.layers[0].inputs
    }

    /// The probability that the embedded text is an injection.
    ///
    /// # Errors
    /// [`HeadError::Dimension`] when `embedding` has the wrong length.
    pub fn probability(&self, embedding: &[f32]) -> Result<f32, HeadError> {
        if embedding.len() != self.dimension() {
            return Err(HeadError::Dimension { expected: self.dimension(), got: embedding.len() });
        }
        let hidden = self.layers[0].forward(embedding, true);
        let hidden = self.layers[1].forward(&hidden, true);
        let out = self.layers[2].forward(&hidden, false);
        Ok(out.first().map_or(0.5, |z| 1.0 / (1.0 + (-z).exp())))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    /// A 2 → 2 → 2 → 1 head whose answer can be worked out by hand.
    const TINY: &str = r#"{
        "w_h1": [[1.0, 0.0], [0.0, 1.0]], "b_h1": [0.0, 0.0],
        "w_h2": [[1.0, 1.0], [-1.0, 0.0]], "b_h2": [0.0, 0.0],
        "w_out": [[2.0, 1.0]], "b_out": [-1.0]
    }"#;

    #[test]
    fn forward_pass_matches_hand_arithmetic() {
        let head = MlpHead::from_json(TINY).unwrap();
        assert_eq!(head.dimension(), 2);
        // h1 = relu([0.5, -0.25]) = [0.5, 0]; h2 = relu([0.5, -0.5]) = [0.5, 0]; z = 1 - 1 = 0.
        assert!((head.probability(&[0.5, -0.25]).unwrap() - 0.5).abs() < 1e-6);
        // h1 = [1, 1]; h2 = [2, 0]; z = 4 - 1 = 3.
        let p = head.probability(&[1.0, 1.0]).unwrap();
        assert!((p - 1.0 / (1.0 + (-3.0f32).exp())).abs() < 1e-6);
    }

    #[test]
    fn malformed_weights_are_refused_with_a_reason() {
        let cases: &[(&str, &str)] = &[
            ("not json", "not JSON"),
            (r#"{"w_h1": [[1.0]]}"#, "b_h1"),
            (&TINY.replace(r#""b_h1": [0.0, 0.0]"#, r#""b_h1": [0.0]"#), "1 biases for 2 outputs"),
            (&TINY.replace(r#""w_out": [[2.0, 1.0]]"#, r#""w_out": [[2.0, 1.0, 3.0]]"#), "takes 3 inputs"),
            (
                &TINY.replace(
                    r#""w_out": [[2.0, 1.0]], "b_out": [-1.0]"#,
                    r#""w_out": [[2.0, 1.0], [1.0, 1.0]], "b_out": [-1.0, 0.0]"#,
                ),
                "one output",
            ),
            (&TINY.replace("[1.0, 0.0]", "[1.0]"), "different lengths"),
            (&TINY.replace("[1.0, 0.0]", r#"[1.0, "x"]"#), "finite"),
        ];
        for (json, reason) in cases {
            let error = MlpHead::from_json(json).unwrap_err().to_string();
            assert!(error.contains(reason), "{json}: {error}");
        }
        let head = MlpHead::from_json(TINY).unwrap();
        assert!(matches!(head.probability(&[1.0]), Err(HeadError::Dimension { expected: 2, got: 1 })));
    }
}
