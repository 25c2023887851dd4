//! A playground session's settings, read from the page's JSON with a
//! message for every value out of range (a width of 0 or 10⁹, a learning
//! rate that is not a number), so a bad request is refused and the session
//! keeps what it had.

use serde::Serialize;
use serde_json::Value;

use crate::data::synthetic;

/// The activations the page offers.
pub const ACTIVATIONS: &[&str] = &["tanh", "relu", "leaky_relu", "sigmoid", "gelu", "linear"];
/// The optimizers the page offers.
pub const OPTIMIZERS: &[&str] = &["sgd", "adam", "adamw", "rmsprop"];
/// The most hidden layers and neurons a layer.
pub const MAX_LAYERS: usize = 8;
pub const MAX_WIDTH: usize = 64;
/// The most points a dataset.
pub const MAX_SAMPLES: usize = 2000;

/// What the page chose.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct PlaygroundConfig {
    /// xor, circles, moons, spirals or blobs.
    pub dataset: String,
    /// The standard deviation of the noise added to the points.
    pub noise: f32,
    pub samples: usize,
    /// The share of the points trained on (the rest is the test set).
    pub train_fraction: f32,
    /// The neurons of each hidden layer.
    pub hidden: Vec<usize>,
    pub activation: String,
    pub optimizer: String,
    pub lr: f32,
    pub batch_size: usize,
    pub l1: f32,
    pub l2: f32,
    /// Dropout after each hidden layer's activation.
    pub dropout: f32,
    /// Seed of the points and the initial weights.
    pub seed: u64,
}

impl Default for PlaygroundConfig {
    fn default() -> Self {
        PlaygroundConfig {
            dataset: "spirals".into(),
            noise: 0.05,
            samples: 400,
            train_fraction: 0.5,
            hidden: vec![8, 8],
            activation: "tanh".into(),
            optimizer: "adam".into(),
            lr: 0.03,
            batch_size: 10,
            l1: 0.0,
            l2: 0.0,
            dropout: 0.0,
            seed: 1,
        }
    }
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

fn number(key: &str, v: &Value, lo: f64, hi: f64) -> Result<f64, String> {
    let x = v
        .as_f64()
        .ok_or_else(|| format!("{key} must be a number, found {} {v}", type_name(v)))?;
    if !(x.is_finite() && x >= lo && x <= hi) {
        return Err(format!("{key} must be between {lo} and {hi}, found {x}"));
    }
    Ok(x)
}

fn count(key: &str, v: &Value, lo: usize, hi: usize) -> Result<usize, String> {
    let bad = || format!("{key} must be a whole number between {lo} and {hi}, found {v}");
    let x = v.as_f64().ok_or_else(bad)?;
    if x.fract() != 0.0 || x < lo as f64 || x > hi as f64 {
        return Err(bad());
    }
    Ok(x as usize)
}

fn name(key: &str, v: &Value, names: &[&str]) -> Result<String, String> {
    let s = v
        .as_str()
        .ok_or_else(|| format!("{key} must be a name, found {} {v}", type_name(v)))?;
    if !names.contains(&s) {
        return Err(format!(
            "{key}: unknown \"{s}\" (choose one of {})",
            names.join(", ")
        ));
    }
    Ok(s.to_string())
}

impl PlaygroundConfig {
    /// `base` with the keys of the JSON object `v` changed; every key checked.
    pub fn updated(base: &PlaygroundConfig, v: &Value) -> Result<PlaygroundConfig, String> {
        let obj = v
            .as_object()
            .ok_or_else(|| format!("the settings must be a JSON object, found {}", type_name(v)))?;
        let mut c = base.clone();
        for (k, v) in obj {
            match k.as_str() {
                "dataset" => c.dataset = name(k, v, synthetic::CLASSIFICATION_SETS)?,
                "noise" => c.noise = number(k, v, 0.0, 1.0)? as f32,
                "samples" => c.samples = count(k, v, 20, MAX_SAMPLES)?,
                "train_fraction" => c.train_fraction = number(k, v, 0.1, 0.9)? as f32,
                "hidden" => {
                    let list = v.as_array().ok_or_else(|| {
                        format!(
                            "hidden must be a list of layer widths like [8, 8], found {} {v}",
                            type_name(v)
                        )
                    })?;
                    if list.len() > MAX_LAYERS {
                        return Err(format!(
                            "hidden: at most {MAX_LAYERS} hidden layers, found {}",
                            list.len()
                        ));
                    }
                    c.hidden = list
                        .iter()
                        .enumerate()
                        .map(|(i, w)| count(&format!("hidden[{i}] (neurons)"), w, 1, MAX_WIDTH))
                        .collect::<Result<_, _>>()?;
                }
                "activation" => c.activation = name(k, v, ACTIVATIONS)?,
                "optimizer" => c.optimizer = name(k, v, OPTIMIZERS)?,
                "lr" => {
                    let lr = number(k, v, 0.0, 10.0)?;
                    if lr == 0.0 {
                        return Err("lr must be above 0, found 0".into());
                    }
                    c.lr = lr as f32
                }
                "batch_size" => c.batch_size = count(k, v, 1, MAX_SAMPLES)?,
                "l1" => c.l1 = number(k, v, 0.0, 1.0)? as f32,
                "l2" => c.l2 = number(k, v, 0.0, 1.0)? as f32,
                "dropout" => c.dropout = number(k, v, 0.0, 0.9)? as f32,
                "seed" => c.seed = count(k, v, 0, u32::MAX as usize)? as u64,
                other => {
                    let keys = [
                        "dataset",
                        "noise",
                        "samples",
                        "train_fraction",
                        "hidden",
                        "activation",
                        "optimizer",
                        "lr",
                        "batch_size",
                        "l1",
                        "l2",
                        "dropout",
                        "seed",
                    ];
                    let hint = crate::config::suggest(other, &keys);
                    return Err(format!("unknown setting '{other}'{hint}"));
                }
            }
        }
        Ok(c)
    }

    /// The number of classes of the dataset.
    pub fn classes(&self) -> usize {
        if self.dataset == "blobs" {
            3
        } else {
            2
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn upd(v: Value) -> Result<PlaygroundConfig, String> {
        PlaygroundConfig::updated(&PlaygroundConfig::default(), &v)
    }

    #[test]
    fn bad_values_are_refused_with_the_reason() {
        let e = upd(json!({"hidden": [8, 0]})).unwrap_err();
        assert!(
            e.contains("hidden[1]") && e.contains("between 1 and 64") && e.contains("found 0"),
            "{e}"
        );
        let e = upd(json!({"hidden": [1_000_000_000]})).unwrap_err();
        assert!(e.contains("found 1000000000"), "{e}");
        let e = upd(json!({"lr": "fast"})).unwrap_err();
        assert!(
            e.contains("lr must be a number") && e.contains("\"fast\""),
            "{e}"
        );
        let e = upd(json!({"lrr": 0.1})).unwrap_err();
        assert!(e.contains("did you mean 'lr'"), "{e}");
        let e = upd(json!({"dataset": "spiral"})).unwrap_err();
        assert!(e.contains("spirals"), "{e}");
        assert!(upd(json!([1])).is_err());
        let ok = upd(json!({"hidden": [4, 4, 4], "lr": 0.1, "activation": "relu"})).unwrap();
        assert_eq!(ok.hidden, vec![4, 4, 4]);
    }
}
