//! One playground session: a 2-D dataset split into training and test
//! points, a small network and its `Trainer`, stepped batch by batch, and
//! what the page shows of it: the decision boundary over the plane, each
//! hidden neuron's output over the plane, the weights, the loss curves and
//! the diagnostics nerve prints in words.

use std::fmt::Write as _;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use serde_json::json;

use super::config::PlaygroundConfig;
use crate::autograd::no_grad;
use crate::data::{synthetic, Batch, BatchTargets, Dataset, Inputs};
use crate::models::{DataSpec, LayerSpec, Model, SequentialConfig, SequentialModel};
use crate::nn::Module;
use crate::optim::config::OptimizerConfig;
use crate::optim::LrScheduler;
use crate::schema::Source;
use crate::tensor::{manual_seed, Generator, Tensor};
use crate::train::diagnostics::Diagnostics;
use crate::train::task::{batch_loss, Task};
use crate::train::{StepObserver, Trainer};

/// Cells along each side of the decision-boundary grid.
pub const GRID: usize = 50;
/// Cells along each side of a neuron's heat map.
pub const HEAT: usize = 20;
/// Loss-curve points kept (older ones are thinned out).
pub const MAX_HISTORY: usize = 2000;

/// Building a network draws its weights from nerve's global generator:
/// one build at a time, so a session's seed gives its weights.
static BUILD: Mutex<()> = Mutex::new(());

/// The whole points of a split as one batch.
struct Split {
    data: Dataset,
    x: Tensor,
    y: BatchTargets,
    classes: Vec<usize>,
}

impl Split {
    fn new(data: Dataset) -> Split {
        let idx: Vec<usize> = (0..data.len()).collect();
        let (x, y) = data.batch(&idx);
        let classes = match &data.targets {
            crate::data::Targets::Classes(c) => c.clone(),
            _ => Vec::new(),
        };
        Split {
            data,
            x,
            y,
            classes,
        }
    }
}

/// One point of the loss curves: step, train loss, test loss, train and test accuracy.
type Point = [f32; 5];

pub struct Session {
    pub cfg: PlaygroundConfig,
    train: Split,
    test: Split,
    trainer: Trainer,
    diag: Diagnostics,
    /// Layer indices of the linear layers, and of each hidden layer's output.
    linear_at: Vec<usize>,
    hidden_out: Vec<usize>,
    order: Vec<usize>,
    pos: usize,
    rng: Generator,
    pub epoch: usize,
    epoch_loss: f64,
    epoch_batches: usize,
    /// The diagnostics look every this many epochs (at least ~250 steps:
    /// `nerve train`'s rules count epochs, and a playground epoch is short).
    pub epochs_per_check: usize,
    checks: usize,
    history: Vec<Point>,
    record_every: usize,
    /// Changes when the history is thinned out (the page then reloads it).
    history_version: u64,
    /// Half the side of the square shown.
    extent: f32,
    points_json: String,
    /// Why training stopped by itself (a loss that became NaN).
    pub stopped: Option<String>,
    snapshot: Option<(usize, Instant, String)>,
}

struct Watch<'a>(&'a mut Diagnostics);

impl StepObserver for Watch<'_> {
    fn batch_done(&mut self, _: &Batch, _: &Tensor, loss: f32) {
        self.0.observe_batch_loss(loss);
    }
    fn gradients_ready(&mut self) {
        self.0.record_gradients();
    }
}

fn spec(kind: &str) -> LayerSpec {
    LayerSpec {
        kind: kind.into(),
        ..LayerSpec::default()
    }
}

impl Session {
    /// A fresh session for these settings (already checked).
    pub fn new(cfg: PlaygroundConfig) -> Result<Session, String> {
        let mut o = synthetic::SyntheticOptions::defaults(&cfg.dataset)
            .ok_or_else(|| format!("dataset: unknown \"{}\"", cfg.dataset))?;
        o.samples = cfg.samples;
        o.noise = cfg.noise;
        o.seed = cfg.seed;
        o.classes = cfg.classes();
        let all = synthetic::generate(&cfg.dataset, &o).map_err(|e| e.to_string())?;
        let (train, test) = all.split(1.0 - cfg.train_fraction, cfg.seed ^ 0x7e57);
        if train.is_empty() || test.is_empty() {
            return Err("samples: too few points to hold out a test set".into());
        }
        let mut layers = Vec::new();
        for &w in &cfg.hidden {
            layers.push(LayerSpec {
                out: Some(w),
                ..spec("linear")
            });
            if cfg.activation != "linear" {
                layers.push(spec(&cfg.activation));
            }
            if cfg.dropout > 0.0 {
                layers.push(LayerSpec {
                    p: Some(cfg.dropout),
                    ..spec("dropout")
                });
            }
        }
        let classes = cfg.classes();
        layers.push(LayerSpec {
            out: Some(classes),
            ..spec("linear")
        });
        let seq = SequentialConfig {
            task: Some("classification".into()),
            init: "default".into(),
            layers,
        };
        let data_spec = DataSpec {
            sample_shape: vec![2],
            task: Task::Classification,
            num_outputs: classes,
            vocab_size: None,
            carry_state: false,
        };
        let model: SequentialModel = {
            let _one = BUILD.lock();
            manual_seed(cfg.seed);
            seq.build(&data_spec).map_err(|e| e.to_string())?
        };
        let mut t = toml::Table::new();
        t.insert("lr".into(), toml::Value::Float(cfg.lr as f64));
        let opt = OptimizerConfig::from_table(&cfg.optimizer, t, &Source::NONE)
            .map_err(|e| e.to_string())?;
        let kinds = model.layer_kinds.clone();
        let linear_at: Vec<usize> = kinds
            .iter()
            .enumerate()
            .filter(|(_, k)| *k == "linear")
            .map(|(i, _)| i)
            .collect();
        let hidden_out = linear_at.windows(2).map(|w| w[1] - 1).collect();
        let diag = Diagnostics::new(model.layer_groups(), kinds, cfg.lr, false);
        let optimizer = opt.build(model.parameters());
        let trainer = Trainer::new(
            Box::new(model),
            optimizer,
            LrScheduler::constant(),
            cfg.lr,
            Task::Classification,
        )
        .penalties(cfg.l1, cfg.l2);
        let extent = all
            .x
            .iter()
            .fold(0.0f32, |m, v| m.max(v.abs()))
            .mul_add(1.1, 0.0)
            .max(0.5);
        let extent = (extent * 10.0).ceil() / 10.0;
        let points_json = points_json(&train, &test);
        let mut rng = Generator::new(cfg.seed ^ 0xba7c);
        let mut order: Vec<usize> = (0..train.len()).collect();
        rng.shuffle(&mut order);
        let cfg_batches = train.len().div_ceil(cfg.batch_size).max(1);
        let mut s = Session {
            cfg,
            train: Split::new(train),
            test: Split::new(test),
            trainer,
            diag,
            linear_at,
            hidden_out,
            order,
            pos: 0,
            rng,
            epoch: 1,
            epoch_loss: 0.0,
            epoch_batches: 0,
            epochs_per_check: 250usize.div_ceil(cfg_batches).max(1),
            checks: 0,
            history: Vec::new(),
            record_every: 5,
            history_version: 0,
            extent,
            points_json,
            stopped: None,
            snapshot: None,
        };
        s.diag.start_epoch(1);
        s.record();
        Ok(s)
    }

    fn model(&self) -> &SequentialModel {
        self.trainer
            .model
            .as_sequential()
            .expect("a playground network is sequential")
    }

    /// Steps done.
    pub fn steps(&self) -> usize {
        self.trainer.steps_done
    }

    /// One optimizer step on the next batch; false when the loss became
    /// NaN or infinite (training stops, the weights are as before).
    pub fn step(&mut self) -> bool {
        if self.stopped.is_some() {
            return false;
        }
        if self.pos >= self.order.len() {
            self.end_epoch();
        }
        let end = (self.pos + self.cfg.batch_size).min(self.order.len());
        let (x, y) = self.train.data.batch(&self.order[self.pos..end]);
        self.pos = end;
        let batch = Batch {
            inputs: Inputs::Features(x),
            targets: y,
        };
        self.trainer.model.train(true);
        let r = self
            .trainer
            .step(std::slice::from_ref(&batch), &mut Watch(&mut self.diag));
        match r {
            Ok(o) => {
                self.epoch_loss += o.loss as f64;
                self.epoch_batches += 1;
            }
            Err(e) => {
                self.stopped = Some(format!(
                    "the loss became {} at step {}: training stopped. The learning rate {} is too high; lower it (or press reset)",
                    e.loss,
                    self.steps() + 1,
                    self.cfg.lr
                ));
                return false;
            }
        }
        if self.steps().is_multiple_of(self.record_every) {
            self.record();
        }
        true
    }

    /// Steps for about `budget`; false if training stopped.
    pub fn run_for(&mut self, budget: Duration) -> bool {
        let t = Instant::now();
        while t.elapsed() < budget {
            if !self.step() {
                return false;
            }
        }
        true
    }

    fn end_epoch(&mut self) {
        self.epoch += 1;
        self.rng.shuffle(&mut self.order);
        self.pos = 0;
        if !(self.epoch - 1).is_multiple_of(self.epochs_per_check) {
            return;
        }
        let loss = (self.epoch_loss / self.epoch_batches.max(1) as f64) as f32;
        let (test_loss, _) = self.evaluate(false);
        self.trainer.model.eval();
        let seq = self
            .trainer
            .model
            .as_sequential()
            .expect("a playground network is sequential");
        let probe = &self.train.x;
        self.diag
            .end_epoch(loss, Some(test_loss), Some(&seq.net), Some(probe));
        self.checks += 1;
        self.epoch_loss = 0.0;
        self.epoch_batches = 0;
        self.diag.start_epoch(self.checks + 1);
    }

    /// (loss, accuracy) on the training or test points.
    fn evaluate(&self, train: bool) -> (f32, f32) {
        let s = if train { &self.train } else { &self.test };
        let model = &self.trainer.model;
        no_grad(|| {
            let out = model.forward(&s.x);
            let loss = batch_loss(Task::Classification, &out, &s.y).item();
            let k = out.shape()[1];
            let d = out.data();
            let correct = s
                .classes
                .iter()
                .enumerate()
                .filter(|(i, &c)| argmax(&d[i * k..(i + 1) * k]) == c)
                .count();
            (loss, correct as f32 / s.classes.len().max(1) as f32)
        })
    }

    fn record(&mut self) {
        self.trainer.model.eval();
        let (tl, ta) = self.evaluate(true);
        let (vl, va) = self.evaluate(false);
        self.history.push([self.steps() as f32, tl, vl, ta, va]);
        if self.history.len() > MAX_HISTORY {
            let kept: Vec<Point> = self.history.iter().step_by(2).copied().collect();
            self.history = kept;
            self.record_every *= 2;
            self.history_version += 1;
        }
    }

    /// The points (sent once per dataset).
    pub fn points_json(&self) -> &str {
        &self.points_json
    }

    /// What the page shows now, as JSON: computed again when the network
    /// changed and the last one is older than 80 ms.
    pub fn snapshot(&mut self) -> &str {
        let fresh = self.snapshot.as_ref().is_some_and(|(step, at, _)| {
            *step == self.steps() || at.elapsed() < Duration::from_millis(80)
        });
        if !fresh {
            let s = self.compute_snapshot();
            self.snapshot = Some((self.steps(), Instant::now(), s));
        }
        &self.snapshot.as_ref().expect("just set").2
    }

    /// Forgets the cached snapshot (after a change of state the page must see).
    pub fn invalidate(&mut self) {
        self.snapshot = None;
    }

    /// The loss-curve points from index `since` on (all if the version changed).
    pub fn history_json(&self, since: usize, version: Option<u64>) -> String {
        let from = if version == Some(self.history_version) {
            since.min(self.history.len())
        } else {
            0
        };
        let mut s = format!(
            "{{\"version\":{},\"from\":{from},\"points\":[",
            self.history_version
        );
        for (i, p) in self.history[from..].iter().enumerate() {
            if i > 0 {
                s.push(',');
            }
            let _ = write!(
                s,
                "[{},{},{},{},{}]",
                p[0],
                finite(p[1]),
                finite(p[2]),
                p[3],
                p[4]
            );
        }
        s.push_str("]}");
        s
    }

    fn grid(n: usize, extent: f32) -> Tensor {
        let mut v = Vec::with_capacity(n * n * 2);
        for r in 0..n {
            // Row 0 is the top of the picture: the largest x2.
            let y = extent - (r as f32 + 0.5) / n as f32 * 2.0 * extent;
            for c in 0..n {
                let x = -extent + (c as f32 + 0.5) / n as f32 * 2.0 * extent;
                v.push(x);
                v.push(y);
            }
        }
        Tensor::from_vec(v, &[n * n, 2])
    }

    fn compute_snapshot(&mut self) -> String {
        self.trainer.model.eval();
        let (tl, ta) = self.evaluate(true);
        let (vl, va) = self.evaluate(false);
        let model = self.model();
        let e = self.extent;
        let (cls, conf) = no_grad(|| {
            let out = model.forward(&Self::grid(GRID, e));
            let p = out.softmax(-1);
            let k = p.shape()[1];
            let d = p.data();
            let mut cls = Vec::with_capacity(GRID * GRID);
            let mut conf = Vec::with_capacity(GRID * GRID);
            for i in 0..GRID * GRID {
                let row = &d[i * k..(i + 1) * k];
                let c = argmax(row);
                cls.push(c as u8);
                conf.push((row[c].clamp(0.0, 1.0) * 255.0).round() as u8);
            }
            (cls, conf)
        });
        let outs = no_grad(|| model.net.forward_all(&Self::grid(HEAT, e)));
        let layers = model.net.layers();
        let mut json_layers = Vec::new();
        for (h, &li) in self.linear_at.iter().enumerate() {
            let p = layers[li].named_parameters();
            let w = &p[0].1;
            let (o, i) = (w.shape()[0], w.shape()[1]);
            let wd = w.to_vec();
            let weights: Vec<Vec<f32>> = (0..o)
                .map(|r| wd[r * i..(r + 1) * i].iter().map(|v| round4(*v)).collect())
                .collect();
            let bias: Vec<f32> = p
                .get(1)
                .map(|b| b.1.to_vec().into_iter().map(round4).collect())
                .unwrap_or_else(|| vec![0.0; o]);
            // The neurons' outputs over the plane (hidden layers; the last
            // layer's is the boundary): 128 + 127·a / max|a| per cell.
            let heat: Vec<String> = match self.hidden_out.get(h) {
                Some(&oi) => {
                    let a = &outs[oi];
                    let d = a.data();
                    (0..o)
                        .map(|j| {
                            let vals: Vec<f32> = (0..HEAT * HEAT).map(|c| d[c * o + j]).collect();
                            let m = vals.iter().fold(0.0f32, |m, v| m.max(v.abs())).max(1e-6);
                            let bytes: Vec<u8> = vals
                                .iter()
                                .map(|v| (128.0 + 127.0 * v / m).round().clamp(0.0, 255.0) as u8)
                                .collect();
                            base64(&bytes)
                        })
                        .collect()
                }
                None => Vec::new(),
            };
            json_layers.push(json!({ "weights": weights, "bias": bias, "heat": heat }));
        }
        let diagnostics: Vec<String> = self.diag.found().iter().map(|d| d.to_string()).collect();
        json!({
            "step": self.steps(),
            "epoch": self.epoch,
            "train_loss": finite(tl),
            "test_loss": finite(vl),
            "train_accuracy": ta,
            "test_accuracy": va,
            "grid": { "n": GRID, "heat_n": HEAT, "extent": e, "cls": base64(&cls), "conf": base64(&conf) },
            "layers": json_layers,
            "diagnostics": diagnostics,
            "epochs_per_check": self.epochs_per_check,
            "stopped": self.stopped,
            "config": self.cfg,
            "classes": self.cfg.classes(),
            "parameters": model.num_parameters(),
        })
        .to_string()
    }
}

fn finite(v: f32) -> f32 {
    if v.is_finite() {
        v
    } else {
        -1.0
    }
}

fn round4(v: f32) -> f32 {
    (v * 1e4).round() / 1e4
}

fn argmax(row: &[f32]) -> usize {
    row.iter()
        .enumerate()
        .max_by(|a, b| a.1.total_cmp(b.1))
        .map_or(0, |(i, _)| i)
}

fn points_json(train: &Dataset, test: &Dataset) -> String {
    let pts = |d: &Dataset| -> Vec<[f32; 3]> {
        let classes = match &d.targets {
            crate::data::Targets::Classes(c) => c.clone(),
            _ => Vec::new(),
        };
        classes
            .iter()
            .enumerate()
            .map(|(i, &c)| [round4(d.x[2 * i]), round4(d.x[2 * i + 1]), c as f32])
            .collect()
    };
    json!({ "train": pts(train), "test": pts(test) }).to_string()
}

/// Standard base64 with padding.
pub fn base64(b: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut s = String::with_capacity(b.len().div_ceil(3) * 4);
    for c in b.chunks(3) {
        let n = (c[0] as u32) << 16
            | (*c.get(1).unwrap_or(&0) as u32) << 8
            | *c.get(2).unwrap_or(&0) as u32;
        s.push(T[(n >> 18) as usize & 63] as char);
        s.push(T[(n >> 12) as usize & 63] as char);
        s.push(if c.len() > 1 {
            T[(n >> 6) as usize & 63] as char
        } else {
            '='
        });
        s.push(if c.len() > 2 {
            T[n as usize & 63] as char
        } else {
            '='
        });
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_the_standard() {
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foobar"), "Zm9vYmFy");
    }

    #[test]
    fn a_session_learns_the_spirals() {
        let mut s = Session::new(PlaygroundConfig::default()).unwrap();
        let before = s.evaluate(false).1;
        let mut after = before;
        while s.steps() < 30000 && after <= 0.9 {
            for _ in 0..500 {
                assert!(s.step());
            }
            after = s.evaluate(false).1;
        }
        println!(
            "test accuracy {before} -> {after} after {} steps",
            s.steps()
        );
        assert!(after > 0.9, "test accuracy {before} -> {after}");
        let snap: serde_json::Value = serde_json::from_str(s.snapshot()).unwrap();
        assert_eq!(snap["step"], s.steps());
        assert_eq!(snap["layers"].as_array().unwrap().len(), 3);
        assert_eq!(snap["layers"][0]["heat"].as_array().unwrap().len(), 8);
        let h: serde_json::Value = serde_json::from_str(&s.history_json(0, None)).unwrap();
        assert!(h["points"].as_array().unwrap().len() > 100);
    }
}
