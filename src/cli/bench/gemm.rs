//! GEMM throughput: `C = A·B`, row-major, preallocated output, as
//! shared/peers/torch/gemm.py measures it (square sizes 128..2048 and the
//! products of one training step of the 784-128-10 MLP at batch 64 and 256),
//! plus the products the models run (conv im2col, LSTM gates, GPT layers,
//! transposed operands, tall-skinny and short-wide, one row), which
//! benches/torch_gemm_shapes.py times in PyTorch under the same names.
//!
//! GFLOP/s = 2·M·N·K / median seconds per call. Every figure is also given
//! as a percentage of this machine's FMA ceiling (kernels::gemm::peak), which
//! the report measures first, with the CPU and the kernel path it ran on, so
//! that figures from different machines can be read side by side.

use serde_json::{json, Map, Value};

use super::{round, time_per_call, Options, Report, Workload};
use crate::kernels::gemm::{cpu_description, fma_ceiling, matmul, Path};
use crate::kernels::MatLayout;
use crate::tensor::Generator;

pub const WORKLOAD: Workload = Workload {
    name: "gemm",
    about: "C = A·B GFLOP/s: square 128..2048, the MLP's and the models' shapes",
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

/// One product the models run: `a` stored transposed when `ta`, `b` when `tb`
/// (`x·Wᵀ` of a Linear layer is `tb`; a weight gradient `dyᵀ·x` is `ta`).
#[derive(Clone, Copy, Debug)]
pub struct Shape {
    pub section: &'static str,
    pub name: &'static str,
    pub m: usize,
    pub k: usize,
    pub n: usize,
    pub ta: bool,
    pub tb: bool,
}

const fn shape(
    section: &'static str,
    name: &'static str,
    (m, k, n): (usize, usize, usize),
    ta: bool,
    tb: bool,
) -> Shape {
    Shape {
        section,
        name,
        m,
        k,
        n,
        ta,
        tb,
    }
}

const CONV: &str = "LeNet-5 conv, im2col, 1 sample";
const LSTM: &str = "LSTM 64-128, batch 32";
const GPT: &str = "GPT 128 wide, 32x64 tokens";
const TRANS: &str = "transposed operands";
const TALL: &str = "tall-skinny, short-wide";
const ROW: &str = "one row (decoding a token)";

/// The models' products; benches/torch_gemm_shapes.py has the same list.
pub const MODEL_SHAPES: [Shape; 27] = [
    shape(
        CONV,
        "conv1 W[6x25]@cols[25x784]",
        (6, 25, 784),
        false,
        false,
    ),
    shape(
        CONV,
        "conv2 W[16x150]@cols[150x100]",
        (16, 150, 100),
        false,
        false,
    ),
    shape(
        CONV,
        "conv2 dWt cols[150x100]@dYt[100x16]",
        (150, 100, 16),
        false,
        true,
    ),
    shape(
        CONV,
        "conv2 dcols Wt[150x16]@dY[16x100]",
        (150, 16, 100),
        true,
        false,
    ),
    shape(LSTM, "x@W_iht [32x64]@[64x512]", (32, 64, 512), false, true),
    shape(
        LSTM,
        "h@W_hht [32x128]@[128x512]",
        (32, 128, 512),
        false,
        true,
    ),
    shape(
        LSTM,
        "dW_hh dGt@h [512x32]@[32x128]",
        (512, 32, 128),
        true,
        false,
    ),
    shape(
        GPT,
        "qkv x@Wt [2048x128]@[128x384]",
        (2048, 128, 384),
        false,
        true,
    ),
    shape(
        GPT,
        "mlp up x@Wt [2048x128]@[128x512]",
        (2048, 128, 512),
        false,
        true,
    ),
    shape(
        GPT,
        "mlp down h@Wt [2048x512]@[512x128]",
        (2048, 512, 128),
        false,
        true,
    ),
    shape(
        GPT,
        "lm head x@Wt [2048x128]@[128x65]",
        (2048, 128, 65),
        false,
        true,
    ),
    shape(
        GPT,
        "dW up dYt@x [512x2048]@[2048x128]",
        (512, 2048, 128),
        true,
        false,
    ),
    shape(
        GPT,
        "qkv dx dY@W [2048x384]@[384x128]",
        (2048, 384, 128),
        false,
        false,
    ),
    shape(
        GPT,
        "qkv dW dYt@x [384x2048]@[2048x128]",
        (384, 2048, 128),
        true,
        false,
    ),
    shape(
        GPT,
        "qkv x@Wt, 12x64 tokens [768x128]@[128x384]",
        (768, 128, 384),
        false,
        true,
    ),
    shape(
        TRANS,
        "x@W1t [256x784]@[784x128]",
        (256, 784, 128),
        false,
        true,
    ),
    shape(
        TRANS,
        "x@W1t [64x784]@[784x128]",
        (64, 784, 128),
        false,
        true,
    ),
    shape(TRANS, "At@B 512^3", (512, 512, 512), true, false),
    shape(TRANS, "A@Bt 512^3", (512, 512, 512), false, true),
    shape(TRANS, "At@Bt 512^3", (512, 512, 512), true, true),
    shape(
        TALL,
        "x@W1t [10000x784]@[784x128]",
        (10000, 784, 128),
        false,
        true,
    ),
    shape(TALL, "[8192x64]@[64x16]", (8192, 64, 16), false, false),
    shape(
        TALL,
        "[16x1024]@[1024x4096]",
        (16, 1024, 4096),
        false,
        false,
    ),
    shape(ROW, "x@Wt [1x128]@[128x384]", (1, 128, 384), false, true),
    shape(ROW, "x@Wt [1x576]@[576x1536]", (1, 576, 1536), false, true),
    shape(
        ROW,
        "x@W [1x1024]@[1024x4096]",
        (1, 1024, 4096),
        false,
        false,
    ),
    shape(
        ROW,
        "x@Wt [1x2048]@[2048x2048]",
        (1, 2048, 2048),
        false,
        true,
    ),
];

fn layout(t: bool) -> MatLayout {
    if t {
        MatLayout::Transposed
    } else {
        MatLayout::Normal
    }
}

/// Seconds per call and GFLOP/s of one `[m,k]·[k,n]` product with uniform
/// [0, 1) operands laid out as `la`, `lb`.
pub fn measure_layout(
    (m, k, n): (usize, usize, usize),
    la: MatLayout,
    lb: MatLayout,
    opts: &Options,
) -> (f64, f64) {
    let mut g = Generator::new((m * 1_000_003 + k * 1009 + n) as u64);
    let a: Vec<f32> = (0..m * k).map(|_| g.uniform(0.0, 1.0)).collect();
    let b: Vec<f32> = (0..k * n).map(|_| g.uniform(0.0, 1.0)).collect();
    let mut c = vec![0.0f32; m * n];
    let (min_rep_s, reps) = if opts.quick { (0.02, 3) } else { (0.25, 7) };
    let t = time_per_call(
        || {
            matmul(m, k, n, &a, la, &b, lb, &mut c, false);
            std::hint::black_box(&mut c);
        },
        min_rep_s,
        reps,
        3,
    );
    (t, 2.0 * (m * n * k) as f64 / t / 1e9)
}

/// [`measure_layout`] with both operands row-major.
pub fn measure(m: usize, k: usize, n: usize, opts: &Options) -> (f64, f64) {
    measure_layout((m, k, n), MatLayout::Normal, MatLayout::Normal, opts)
}

/// The ceilings a report divides by.
struct Ceiling {
    threads: usize,
    /// GFLOP/s on all threads, and on one.
    all: f64,
    one: f64,
}

impl Ceiling {
    fn pct(&self, gflops: f64, threads: usize) -> f64 {
        let c = if threads == 1 { self.one } else { self.all };
        100.0 * gflops / c
    }
}

fn entry(t: f64, gflops: f64, pct: f64) -> Value {
    json!({
        "gflops": round(gflops, 2),
        "us_per_call": round(t * 1e6, 2),
        "pct_of_ceiling": round(pct, 1),
    })
}

fn note(t: f64, pct: f64) -> String {
    format!("{:>9.1} us/call  {pct:>5.1}% of ceiling", t * 1e6)
}

fn run(opts: &Options) -> Report {
    let mut r = Report::new("gemm");
    let threads = rayon::current_num_threads();
    let path = Path::selected();
    let cpu = cpu_description();
    let ceiling = Ceiling {
        threads,
        all: fma_ceiling(path, threads),
        one: fma_ceiling(path, 1),
    };
    let lanes = path.lanes();
    r.row(
        "machine",
        format!("{cpu}, kernels: {}", path.name()),
        ceiling.all,
        "GFLOP/s",
        format!(
            "FMA ceiling, {}-bit vectors, {} threads ({:.1} on 1)",
            lanes * 32,
            ceiling.threads,
            ceiling.one
        ),
    );
    let sizes: &[usize] = if opts.quick { &SQUARE[..2] } else { &SQUARE };

    let mut square = Map::new();
    for &s in sizes {
        let (t, gf) = measure(s, s, s, opts);
        let pct = ceiling.pct(gf, threads);
        r.row(
            format!("square, {threads} threads"),
            format!("{s}x{s}x{s}"),
            gf,
            "GFLOP/s",
            note(t, pct),
        );
        square.insert(s.to_string(), entry(t, gf, pct));
    }

    let mut mlp = Map::new();
    for b in [64, 256] {
        for (name, m, k, n) in mlp_shapes(b) {
            let (t, gf) = measure(m, k, n, opts);
            let pct = ceiling.pct(gf, threads);
            r.row(
                "MLP 784-128-10 step",
                name.clone(),
                gf,
                "GFLOP/s",
                note(t, pct),
            );
            mlp.insert(name, entry(t, gf, pct));
        }
    }

    let mut models = Map::new();
    let shapes: &[Shape] = if opts.quick {
        &MODEL_SHAPES[..4]
    } else {
        &MODEL_SHAPES
    };
    for s in shapes {
        let (t, gf) = measure_layout((s.m, s.k, s.n), layout(s.ta), layout(s.tb), opts);
        let pct = ceiling.pct(gf, threads);
        r.row(s.section, s.name, gf, "GFLOP/s", note(t, pct));
        let mut e = entry(t, gf, pct);
        e["m"] = json!(s.m);
        e["k"] = json!(s.k);
        e["n"] = json!(s.n);
        e["a_transposed"] = json!(s.ta);
        e["b_transposed"] = json!(s.tb);
        models.insert(s.name.to_string(), e);
    }

    let mut single = Map::new();
    let one = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .expect("a one-thread pool");
    for &s in sizes {
        let (t, gf) = one.install(|| measure(s, s, s, opts));
        let pct = ceiling.pct(gf, 1);
        r.row(
            "square, 1 thread",
            format!("{s}x{s}x{s}"),
            gf,
            "GFLOP/s",
            note(t, pct),
        );
        single.insert(s.to_string(), entry(t, gf, pct));
    }

    r.json.insert("cpu".into(), json!(cpu));
    r.json.insert("isa".into(), json!(path.name()));
    r.json.insert(
        "fma_ceiling_gflops".into(),
        json!({
            "threads": round(ceiling.all, 1),
            "1": round(ceiling.one, 1),
            "vector_bits": lanes * 32,
        }),
    );
    r.json.insert("square".into(), Value::Object(square));
    r.json.insert("mlp_shapes".into(), Value::Object(mlp));
    r.json.insert("model_shapes".into(), Value::Object(models));
    r.json
        .insert("square_1thread".into(), Value::Object(single));
    r
}
