//! GEMM throughput: `C = A·B`, row-major, contiguous, preallocated output, as
//! shared/peers/torch/gemm.py measures it: square sizes 128..2048 and the
//! products of one training step of the 784-128-10 MLP at batch 64 and 256.
//! GFLOP/s = 2·M·N·K / median seconds per call.

use serde_json::{json, Map, Value};

use super::{round, time_per_call, Options, Report, Workload};
use crate::kernels::{matmul, MatLayout};
use crate::tensor::Generator;

pub const WORKLOAD: Workload = Workload {
    name: "gemm",
    about: "C = A·B GFLOP/s, square 128..2048 and the MLP's shapes",
    run,
};

const SQUARE: [usize; 5] = [128, 256, 512, 1024, 2048];
const IN: usize = 784;
const HID: usize = 128;
const OUT: usize = 10;

/// (name, M, K, N) of the products in one training step of 784-128-10 at
/// batch `b`; the names are the peer's.
pub fn mlp_shapes(b: usize) -> Vec<(String, usize, usize, usize)> {
    vec![
        (format!("b{b}_fwd1 x[{b}x784]@W1[784x128]"), b, IN, HID),
        (format!("b{b}_fwd2 h[{b}x128]@W2[128x10]"), b, HID, OUT),
        (format!("b{b}_bwd_dh dy[{b}x10]@W2t[10x128]"), b, OUT, HID),
        (format!("b{b}_bwd_dW2 ht[128x{b}]@dy[{b}x10]"), HID, b, OUT),
        (format!("b{b}_bwd_dW1 xt[784x{b}]@dh[{b}x128]"), IN, b, HID),
    ]
}

/// Seconds per call and GFLOP/s of one `[m,k]·[k,n]` product with uniform
/// [0, 1) operands.
pub fn measure(m: usize, k: usize, n: usize, opts: &Options) -> (f64, f64) {
    let mut g = Generator::new((m * 1_000_003 + k * 1009 + n) as u64);
    let a: Vec<f32> = (0..m * k).map(|_| g.uniform(0.0, 1.0)).collect();
    let b: Vec<f32> = (0..k * n).map(|_| g.uniform(0.0, 1.0)).collect();
    let mut c = vec![0.0f32; m * n];
    let (min_rep_s, reps) = if opts.quick { (0.02, 3) } else { (0.25, 7) };
    let t = time_per_call(
        || {
            matmul(
                m,
                k,
                n,
                &a,
                MatLayout::Normal,
                &b,
                MatLayout::Normal,
                &mut c,
                false,
            );
            std::hint::black_box(&mut c);
        },
        min_rep_s,
        reps,
        3,
    );
    (t, 2.0 * (m * n * k) as f64 / t / 1e9)
}

fn entry(t: f64, gflops: f64) -> Value {
    json!({"gflops": round(gflops, 2), "us_per_call": round(t * 1e6, 2)})
}

fn run(opts: &Options) -> Report {
    let mut r = Report::new("gemm");
    let sizes: &[usize] = if opts.quick { &SQUARE[..2] } else { &SQUARE };
    let threads = rayon::current_num_threads();

    let mut square = Map::new();
    for &s in sizes {
        let (t, gf) = measure(s, s, s, opts);
        r.row(
            format!("square, {threads} threads"),
            format!("{s}x{s}x{s}"),
            gf,
            "GFLOP/s",
            format!("{:.1} us/call", t * 1e6),
        );
        square.insert(s.to_string(), entry(t, gf));
    }

    let mut shapes = Map::new();
    for b in [64, 256] {
        for (name, m, k, n) in mlp_shapes(b) {
            let (t, gf) = measure(m, k, n, opts);
            r.row(
                "MLP 784-128-10 step",
                name.clone(),
                gf,
                "GFLOP/s",
                format!("{:.2} us/call", t * 1e6),
            );
            shapes.insert(name, entry(t, gf));
        }
    }

    let mut single = Map::new();
    let one = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .expect("a one-thread pool");
    for &s in sizes {
        let (t, gf) = one.install(|| measure(s, s, s, opts));
        r.row(
            "square, 1 thread",
            format!("{s}x{s}x{s}"),
            gf,
            "GFLOP/s",
            format!("{:.1} us/call", t * 1e6),
        );
        single.insert(s.to_string(), entry(t, gf));
    }

    r.json.insert("square".into(), Value::Object(square));
    r.json.insert("mlp_shapes".into(), Value::Object(shapes));
    r.json
        .insert("square_1thread".into(), Value::Object(single));
    r
}
