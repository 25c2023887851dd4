//! The dashboard: every run directory under a folder, read from its files
//! (run.json, config.toml, metrics.csv) each time the page asks, so a run
//! that `nerve train` is writing in another terminal updates live. A run
//! whose files are missing or broken is listed with the reason; the others
//! are shown as usual.
//!
//! ```text
//! GET /api/runs                       the runs, their status and final metrics
//! GET /api/runs/metrics?run=REL       metrics.csv as columns and rows
//! GET /api/runs/config?run=REL        config.toml
//! GET /api/runs/confusion?run=REL     a classifier's confusion matrix (test or validation split)
//! GET /api/runs/samples?run=REL       a language model's sample text
//! ```

use std::collections::HashMap;
use std::path::{Component, Path, PathBuf};
use std::time::SystemTime;

use parking_lot::Mutex;
use serde_json::{json, Value};

use super::http::{percent_decode, Reply, Req};
use crate::config::Config;
use crate::train::task::Task;
use crate::train::{load_run, parse_metrics, RunPaths};

/// How deep below the folder runs are looked for.
const MAX_DEPTH: usize = 3;

/// A run's files that mark a run directory.
const MARKERS: &[&str] = &[
    "run.json",
    "metrics.csv",
    "config.toml",
    "model.safetensors",
];

/// (kind, run, model file time): what a cached answer was computed from.
type CacheKey = (String, String, Option<SystemTime>);

pub struct Dashboard {
    root: PathBuf,
    /// Confusion matrices and samples, by (kind, run, model file time).
    cache: Mutex<HashMap<CacheKey, Value>>,
}

fn mtime(p: &Path) -> Option<SystemTime> {
    std::fs::metadata(p).and_then(|m| m.modified()).ok()
}

fn secs(t: Option<SystemTime>) -> Option<f64> {
    t.and_then(|t| t.duration_since(SystemTime::UNIX_EPOCH).ok())
        .map(|d| d.as_secs_f64())
}

/// metrics.csv as {columns, rows} (empty cells are null).
pub fn metrics_json(text: &str) -> Value {
    let mut lines = text.lines().filter(|l| !l.trim().is_empty());
    let columns: Vec<&str> = lines.next().unwrap_or_default().split(',').collect();
    let rows: Vec<Vec<Value>> = lines
        .map(|l| {
            l.split(',')
                .map(|c| match c.trim().parse::<f64>() {
                    Ok(v) if v.is_finite() => json!(v),
                    _ => Value::Null,
                })
                .collect()
        })
        .collect();
    json!({ "columns": columns, "rows": rows })
}

impl Dashboard {
    pub fn new(root: PathBuf) -> Dashboard {
        Dashboard {
            root,
            cache: Mutex::new(HashMap::new()),
        }
    }

    /// The run directories under the folder, relative, sorted.
    fn find_runs(&self) -> Vec<String> {
        fn walk(dir: &Path, rel: &str, depth: usize, out: &mut Vec<String>) {
            let Ok(entries) = std::fs::read_dir(dir) else {
                return;
            };
            let mut subdirs = Vec::new();
            let mut is_run = false;
            for e in entries.flatten() {
                let name = e.file_name().to_string_lossy().into_owned();
                let ft = e.file_type();
                if ft.as_ref().is_ok_and(|t| t.is_dir()) && !name.starts_with('.') {
                    subdirs.push(name);
                } else if MARKERS.contains(&name.as_str()) {
                    is_run = true;
                }
            }
            if is_run && !rel.is_empty() {
                out.push(rel.to_string());
                return;
            }
            if depth == MAX_DEPTH {
                return;
            }
            for s in subdirs {
                let r = if rel.is_empty() {
                    s.clone()
                } else {
                    format!("{rel}/{s}")
                };
                walk(&dir.join(&s), &r, depth + 1, out);
            }
        }
        let mut out = Vec::new();
        walk(&self.root, "", 0, &mut out);
        if out.is_empty() && MARKERS.iter().any(|m| self.root.join(m).is_file()) {
            out.push(".".into());
        }
        out.sort();
        out
    }

    /// The directory of run `rel`, if it is one of the runs under the folder.
    fn run_dir(&self, rel: &str) -> Result<PathBuf, Reply> {
        let p = Path::new(rel);
        let plain = p
            .components()
            .all(|c| matches!(c, Component::Normal(_) | Component::CurDir));
        if rel.is_empty() || !plain || !self.find_runs().iter().any(|r| r == rel) {
            return Err(Reply::not_found(&format!(
                "run '{rel}' under {}",
                self.root.display()
            )));
        }
        Ok(self.root.join(p))
    }

    /// One run's entry: status, what it is, its last metrics row.
    fn entry(&self, rel: &str) -> Value {
        let dir = self.root.join(rel);
        let paths = RunPaths::new(&dir);
        let mut problems = Vec::new();
        let meta = match paths.load_meta() {
            Ok(m) => Some(m),
            Err(e) => {
                problems.push(e.to_string());
                None
            }
        };
        if let Err(e) = Config::load(paths.config()) {
            problems.push(e.to_string());
        }
        let metrics_file = paths.metrics();
        let mut last = Value::Null;
        let mut rows = 0;
        match std::fs::read_to_string(&metrics_file) {
            Ok(text) => match parse_metrics(&text, &metrics_file.display().to_string()) {
                Ok(r) => {
                    rows = r.len();
                    if let Some(l) = r.last() {
                        last = json!({
                            "epoch": l.epoch, "step": l.step, "train_loss": l.train_loss,
                            "train_accuracy": l.train_accuracy, "val_loss": l.val_loss,
                            "val_accuracy": l.val_accuracy,
                        });
                    }
                }
                Err(e) => problems.push(e.to_string()),
            },
            Err(e) => problems.push(format!(
                "cannot read {}: {}",
                metrics_file.display(),
                crate::error::describe_io(&e)
            )),
        }
        let modified = secs(mtime(&metrics_file));
        let now = secs(Some(SystemTime::now()));
        let recently = matches!((modified, now), (Some(m), Some(n)) if n - m < 120.0);
        let finished = meta.as_ref().is_some_and(|m| m.finished);
        json!({
            "run": rel,
            "status": if problems.is_empty() { "ok" } else { "broken" },
            "problems": problems,
            "training": !finished && recently && problems.is_empty(),
            "finished": finished,
            "arch": meta.as_ref().map(|m| m.arch.clone()),
            "task": meta.as_ref().map(|m| m.task().name()),
            "epochs_done": meta.as_ref().map(|m| m.epochs_done),
            "steps_done": meta.as_ref().map(|m| m.steps_done),
            "test_metrics": meta.as_ref().map(|m| json!(m.test_metrics)),
            "train_seconds": meta.as_ref().map(|m| m.train_seconds),
            "rows": rows,
            "last": last,
            "modified": modified,
        })
    }

    /// Handles `/api/runs<rest>`.
    pub fn handle(&self, req: &Req, rest: &str) -> Reply {
        if req.method != "GET" {
            return Reply::error(
                405,
                format!("{} /api/runs{rest}: only GET here", req.method),
            );
        }
        if rest.is_empty() || rest == "/" {
            if !self.root.is_dir() {
                return Reply::json(&json!({
                    "root": self.root.display().to_string(),
                    "runs": [],
                    "error": format!("the runs folder {} does not exist (any more); train a run with `nerve train CONFIG --out {}/NAME`", self.root.display(), self.root.display()),
                }));
            }
            let runs: Vec<Value> = self.find_runs().iter().map(|r| self.entry(r)).collect();
            return Reply::json(&json!({ "root": self.root.display().to_string(), "runs": runs }));
        }
        let rel = percent_decode(req.param("run").unwrap_or(""));
        let dir = match self.run_dir(&rel) {
            Ok(d) => d,
            Err(e) => return e,
        };
        let paths = RunPaths::new(&dir);
        match rest {
            "/metrics" => match std::fs::read_to_string(paths.metrics()) {
                Ok(t) => Reply::json(&metrics_json(&t)),
                Err(e) => Reply::error(
                    404,
                    format!(
                        "cannot read {}: {}",
                        paths.metrics().display(),
                        crate::error::describe_io(&e)
                    ),
                ),
            },
            "/config" => match std::fs::read_to_string(paths.config()) {
                Ok(t) => Reply::json(&json!({ "text": t })),
                Err(e) => Reply::error(
                    404,
                    format!(
                        "cannot read {}: {}",
                        paths.config().display(),
                        crate::error::describe_io(&e)
                    ),
                ),
            },
            "/confusion" | "/samples" => {
                let key = (rest.to_string(), rel.clone(), mtime(&paths.model()));
                if let Some(v) = self.cache.lock().get(&key) {
                    return Reply::json(v);
                }
                let r = if rest == "/confusion" {
                    confusion(&dir)
                } else {
                    samples(&dir)
                };
                match r {
                    Ok(v) => {
                        self.cache.lock().insert(key, v.clone());
                        Reply::json(&v)
                    }
                    Err(e) => Reply::error(422, e),
                }
            }
            _ => Reply::not_found(&format!("/api/runs{rest}")),
        }
    }
}

/// A classifier's confusion matrix on its test split (or validation split).
fn confusion(dir: &Path) -> Result<Value, String> {
    let run = load_run(dir).map_err(|e| e.to_string())?;
    if run.meta.task() != Task::Classification && run.meta.task() != Task::Binary {
        return Err(format!(
            "{} is a {} run; a confusion matrix is for classifiers",
            dir.display(),
            run.meta.task().name()
        ));
    }
    let splits =
        crate::train::load_splits(&run.config, Path::new(".")).map_err(|e| e.to_string())?;
    let (name, data) = match (splits.test, splits.val) {
        (Some(t), _) => ("test", t),
        (None, Some(v)) => ("validation", v),
        (None, None) => ("training", splits.train),
    };
    let m =
        crate::train::task::evaluate_task(run.model.as_ref(), run.meta.task(), &data, 1000, None);
    Ok(json!({
        "split": name,
        "classes": run.meta.class_names,
        "matrix": m.confusion,
        "accuracy": m.accuracy,
        "samples": m.total,
    }))
}

/// 300 characters sampled from a language model (seed 0, temperature 0.8),
/// after a new line.
fn samples(dir: &Path) -> Result<Value, String> {
    let run = load_run(dir).map_err(|e| e.to_string())?;
    let lm = run.model.as_language_model().ok_or_else(|| {
        format!(
            "{} is a {} model, not a language model",
            dir.display(),
            run.model.arch()
        )
    })?;
    let vocab =
        crate::data::CharTokenizer::load(RunPaths::new(dir).vocab()).map_err(|e| e.to_string())?;
    let opts = crate::models::SamplingOptions {
        temperature: 0.8,
        seed: 0,
        ..Default::default()
    };
    let mut sampler = crate::models::Sampler::new(opts).map_err(|e| e.to_string())?;
    // A new line starts the sample when the text has one; else no prompt.
    let (prompt_text, prompt) = match vocab.encode("\n") {
        Ok(ids) => ("\n", ids),
        Err(_) => ("", Vec::new()),
    };
    let ids = crate::models::generate(lm, &prompt, 300, &mut sampler, |_| true);
    Ok(json!({ "prompt": prompt_text, "text": vocab.decode(&ids), "temperature": 0.8, "seed": 0 }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metrics_become_columns_and_rows() {
        let v = metrics_json("epoch,lr,train_loss,val_loss\n1,0.1,0.5,\n2,0.1,0.4,0.45\n");
        assert_eq!(v["columns"].as_array().unwrap().len(), 4);
        assert_eq!(v["rows"].as_array().unwrap().len(), 2);
        assert!(v["rows"][0][3].is_null());
        assert_eq!(v["rows"][1][3], 0.45);
    }
}
