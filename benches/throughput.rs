//! `cargo bench`: the throughput workloads of `nerve bench` (GEMM GFLOP/s, MLP
//! training and inference samples/s), run through the library. They do exactly
//! what shared/peers/torch/*.py do, so the figures compare with PyTorch's.
//!
//!   cargo bench                     # every workload
//!   cargo bench -- mlp              # one workload
//!   cargo bench -- mlp --json       # one JSON line instead of the table
//!   cargo bench -- --threads 1      # on one worker thread
//!   cargo bench -- --quick          # smoke run (figures not comparable)

use nerve::cli::bench::{check_llm, run_workloads, select, Options, Report};

/// As the `nerve` binary: large buffers at cache-line alignment.
#[global_allocator]
static ALLOC: nerve::kernels::memory::AlignedAlloc = nerve::kernels::memory::AlignedAlloc;

fn main() {
    // As the `nerve` command line does before any command.
    nerve::kernels::memory::tune_allocator();
    let mut names = Vec::new();
    let (mut json, mut quick, mut threads) = (false, false, None);
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--bench" => {} // cargo passes this to every bench target
            "--json" => json = true,
            "--quick" => quick = true,
            "--threads" => {
                threads = args.next().and_then(|v| v.parse().ok());
                if threads.is_none() {
                    eprintln!("--threads needs a number");
                    std::process::exit(2);
                }
            }
            s if s.starts_with('-') => {} // other harness flags: ignored
            s => names.push(s.to_string()),
        }
    }
    if names.is_empty() {
        names.push("all".into());
    }
    let mut workloads = Vec::new();
    for n in &names {
        match select(n) {
            Ok(ws) => workloads.extend(ws),
            Err(e) => {
                eprintln!("error: {e}");
                std::process::exit(2);
            }
        }
    }
    let opts = Options::new(quick);
    if let Err(e) = check_llm(&mut workloads, &opts, names.iter().all(|n| n != "all")) {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
    let reports: Vec<Report> = match run_workloads(&workloads, threads, &opts, json) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(1);
        }
    };
    if json {
        for r in &reports {
            println!("{}", r.to_json());
        }
    }
}
