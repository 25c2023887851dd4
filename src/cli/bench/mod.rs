//! `nerve bench`: throughput of the same workloads as the PyTorch reference
//! scripts (shared/peers/torch/*.py), so the two figures make a fair ratio.
//!
//! Each workload is one file here with a `WORKLOAD` constant; adding one is a
//! new file plus one line in [`WORKLOADS`]. A workload returns a [`Report`]:
//! rows for the human-readable table and a JSON object whose field names
//! follow the matching peer script's.

pub mod cnn;
pub mod dist;
pub mod gemm;
pub mod gpt;
pub mod llm;
pub mod lstm;
pub mod mlp;

use std::time::Instant;

use clap::Args;
use serde_json::{json, Map, Value};

use crate::error::{Error, Result};

/// Every workload, in the order `all` runs them.
/// (`all` runs `llm` only when its model file is there.)
pub const WORKLOADS: &[Workload] = &[
    gemm::WORKLOAD,
    mlp::WORKLOAD,
    cnn::WORKLOAD,
    lstm::WORKLOAD,
    gpt::WORKLOAD,
    llm::WORKLOAD,
];

#[derive(Args, Debug, Clone)]
pub struct BenchArgs {
    /// Which workload to run: gemm, mlp, cnn, lstm, gpt, llm, or all.
    #[arg(default_value = "all")]
    pub workload: String,
    /// Print one JSON line instead of the table.
    #[arg(long)]
    pub json: bool,
    /// Worker threads for the parallel kernels (default: all cores, or RAYON_NUM_THREADS).
    #[arg(long, value_name = "N", allow_negative_numbers = true)]
    pub threads: Option<usize>,
    /// A fast smoke run: fewer repetitions and samples. Its figures are not
    /// comparable with the reference scripts.
    #[arg(long)]
    pub quick: bool,
    /// The GGUF model of the `llm` workload.
    #[arg(long, value_name = "PATH.gguf", default_value = crate::cli::llm::DEFAULT_MODEL)]
    pub model: std::path::PathBuf,
}

/// Settings every workload sees.
#[derive(Debug, Clone)]
pub struct Options {
    /// Fewer repetitions and samples (smoke test).
    pub quick: bool,
    /// The model file of the `llm` workload.
    pub model: std::path::PathBuf,
}

impl Options {
    pub fn new(quick: bool) -> Options {
        Options {
            quick,
            model: crate::cli::llm::DEFAULT_MODEL.into(),
        }
    }
}

/// Checks the `llm` workload's model before anything runs: an explicit
/// `llm` with a missing or bad model is an error (naming the fetch script);
/// `all` leaves `llm` out when the model is absent, with a note.
pub fn check_llm(
    workloads: &mut Vec<&'static Workload>,
    opts: &Options,
    explicit: bool,
) -> Result<()> {
    if !workloads.iter().any(|w| w.name == llm::WORKLOAD.name) {
        return Ok(());
    }
    if !opts.model.exists() && !explicit {
        eprintln!(
            "note: llm left out: {} is absent (`bash scripts/fetch-smollm2.sh` fetches it)",
            opts.model.display()
        );
        workloads.retain(|w| w.name != llm::WORKLOAD.name);
        return Ok(());
    }
    if !opts.model.exists() {
        return Err(Error::new(format!(
            "model file {} does not exist; run `bash scripts/fetch-smollm2.sh` to download \
             SmolLM2-135M-Instruct, or give --model PATH.gguf",
            opts.model.display()
        )));
    }
    llm::open(&opts.model).map(|_| ())
}

/// One named benchmark.
#[derive(Debug)]
pub struct Workload {
    /// The name on the command line (and of the peer script).
    pub name: &'static str,
    /// One line: what it measures.
    pub about: &'static str,
    /// Runs it.
    pub run: fn(&Options) -> Report,
}

/// One line of the table: `section  case  value unit  note`.
#[derive(Debug, Clone)]
pub struct Row {
    pub section: String,
    pub case: String,
    pub value: f64,
    pub unit: &'static str,
    pub note: String,
}

/// What a workload measured.
#[derive(Debug, Clone)]
pub struct Report {
    pub name: &'static str,
    pub rows: Vec<Row>,
    /// Fields of the JSON object, after `bench`, `nerve` and `threads`.
    pub json: Map<String, Value>,
}

impl Report {
    pub fn new(name: &'static str) -> Report {
        Report {
            name,
            rows: Vec::new(),
            json: Map::new(),
        }
    }

    /// Adds a table row.
    pub fn row(
        &mut self,
        section: impl Into<String>,
        case: impl Into<String>,
        value: f64,
        unit: &'static str,
        note: impl Into<String>,
    ) {
        self.rows.push(Row {
            section: section.into(),
            case: case.into(),
            value,
            unit,
            note: note.into(),
        });
    }

    /// The JSON object, in the peers' layout.
    pub fn to_json(&self) -> Value {
        let mut m = Map::new();
        m.insert("bench".into(), json!(self.name));
        m.insert("nerve".into(), json!(env!("CARGO_PKG_VERSION")));
        m.insert("threads".into(), json!(rayon::current_num_threads()));
        m.extend(self.json.clone());
        Value::Object(m)
    }
}

/// The workloads a name selects (`all` selects every one).
pub fn select(name: &str) -> Result<Vec<&'static Workload>> {
    if name == "all" {
        return Ok(WORKLOADS.iter().collect());
    }
    WORKLOADS
        .iter()
        .find(|w| w.name == name)
        .map(|w| vec![w])
        .ok_or_else(|| {
            let names: Vec<&str> = WORKLOADS.iter().map(|w| w.name).collect();
            Error::new(format!(
                "unknown benchmark '{name}'; valid: {}, all",
                names.join(", ")
            ))
        })
}

/// Runs the selected workloads on a pool of `threads` workers (rayon's default
/// when `None`), printing each table as it finishes unless `json`; returns the reports.
pub fn run_workloads(
    workloads: &[&'static Workload],
    threads: Option<usize>,
    opts: &Options,
    json: bool,
) -> Result<Vec<Report>> {
    let mut b = rayon::ThreadPoolBuilder::new();
    if let Some(n) = threads {
        if n == 0 {
            return Err(Error::new("--threads must be at least 1"));
        }
        b = b.num_threads(n);
    }
    let pool = b
        .build()
        .map_err(|e| Error::new(format!("cannot start {threads:?} worker threads: {e}")))?;
    Ok(pool.install(|| {
        workloads
            .iter()
            .map(|w| {
                if !json {
                    println!(
                        "{}: {} ({} threads)",
                        w.name,
                        w.about,
                        rayon::current_num_threads()
                    );
                }
                let r = (w.run)(opts);
                if !json {
                    print_table(&r);
                    println!();
                }
                r
            })
            .collect()
    }))
}

/// `nerve bench [gemm|mlp|all] [--json] [--threads N] [--quick]`.
pub fn run(args: BenchArgs) -> Result<()> {
    if dist::is_dist(&args.workload) {
        return dist::run(&args.workload, args.threads, args.quick);
    }
    let mut ws = select(&args.workload)?;
    let opts = Options {
        quick: args.quick,
        model: args.model.clone(),
    };
    check_llm(&mut ws, &opts, args.workload != "all")?;
    let reports = run_workloads(&ws, args.threads, &opts, args.json)?;
    if args.json {
        let line = if reports.len() == 1 {
            reports[0].to_json()
        } else {
            let mut m = Map::new();
            m.insert("bench".into(), json!("all"));
            for r in &reports {
                m.insert(r.name.into(), r.to_json());
            }
            Value::Object(m)
        };
        println!("{line}");
    }
    Ok(())
}

/// Prints a report as an aligned table.
pub fn print_table(r: &Report) {
    let w_sec = r.rows.iter().map(|x| x.section.len()).max().unwrap_or(0);
    let w_case = r.rows.iter().map(|x| x.case.len()).max().unwrap_or(0);
    let mut last = "";
    for row in &r.rows {
        let sec = if row.section == last {
            ""
        } else {
            row.section.as_str()
        };
        last = &row.section;
        println!(
            "  {sec:<w_sec$}  {:<w_case$}  {:>12} {:<9} {}",
            row.case,
            fmt_value(row.value),
            row.unit,
            row.note
        );
    }
}

fn fmt_value(v: f64) -> String {
    if v >= 1000.0 {
        // thousands separators: 123,456.7
        crate::viz::thousands(v.round() as u64)
    } else {
        format!("{v:.2}")
    }
}

/// Seconds since `t0`.
pub fn secs(t0: Instant) -> f64 {
    t0.elapsed().as_secs_f64()
}

/// The median of some timings.
pub fn median(v: &[f64]) -> f64 {
    let mut s = v.to_vec();
    s.sort_by(|a, b| a.total_cmp(b));
    let n = s.len();
    if n == 0 {
        return f64::NAN;
    }
    if n % 2 == 1 {
        s[n / 2]
    } else {
        0.5 * (s[n / 2 - 1] + s[n / 2])
    }
}

/// Median seconds per call of `f`, calibrated as in the peers' gemm.py: after
/// `warmup` calls, the calls per repetition double until one repetition takes
/// at least `min_rep_s / 5`, then are scaled so a repetition lasts about
/// `min_rep_s`; `reps` repetitions are timed.
pub fn time_per_call(mut f: impl FnMut(), min_rep_s: f64, reps: usize, warmup: usize) -> f64 {
    for _ in 0..warmup {
        f();
    }
    let mut n = 1usize;
    let dt = loop {
        let t0 = Instant::now();
        for _ in 0..n {
            f();
        }
        let dt = secs(t0);
        if dt >= min_rep_s / 5.0 {
            break dt;
        }
        n *= 2;
    };
    let iters = ((n as f64 * min_rep_s / dt).round() as usize).max(1);
    let per_call: Vec<f64> = (0..reps)
        .map(|_| {
            let t0 = Instant::now();
            for _ in 0..iters {
                f();
            }
            secs(t0) / iters as f64
        })
        .collect();
    median(&per_call)
}

/// Rounds to `d` decimals (for JSON, like the peers' `round`).
pub fn round(v: f64, d: i32) -> f64 {
    let p = 10f64.powi(d);
    (v * p).round() / p
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_of_odd_and_even() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), 2.5);
    }

    #[test]
    fn select_names_and_rejects_unknown() {
        assert_eq!(select("all").unwrap().len(), WORKLOADS.len());
        assert_eq!(select("mlp").unwrap()[0].name, "mlp");
        let e = select("resnet").unwrap_err();
        assert!(e.message().contains("gemm"), "{}", e.message());
    }

    #[test]
    fn thousands_separators() {
        assert_eq!(fmt_value(1234567.4), "1,234,567");
        assert_eq!(fmt_value(999.0), "999.00");
    }
}
