//! Streams every weight matrix of SmolLM2 through the one-token product, in
//! file order, 30 times, and prints GB/s: the quantised kernel against the
//! machine's memory bandwidth (the floor of decoding).
//!   cargo run --release --example quant_stream
//!   ONLY=blk.3.ffn_up.weight ...   one matrix 100 times (in L2: the kernel's own speed)
//!   COPY=1 ...                     the weights copied to the heap first (vs the file mapping)
//!   RAYON_NUM_THREADS=1 ...        one thread
use nerve::io::gguf::GgufFile;
use nerve::kernels::quant::Q8Activations;
use std::time::Instant;
fn main() {
    let f = GgufFile::open("models/SmolLM2-135M-Instruct.Q4_1.gguf").unwrap();
    let names: Vec<String> = f
        .header()
        .tensors
        .iter()
        .filter(|t| t.dims.len() == 2)
        .map(|t| t.name.clone())
        .collect();
    let only = std::env::var("ONLY").ok();
    let names: Vec<String> = match &only {
        Some(o) => names
            .into_iter()
            .filter(|n| n == o)
            .cycle()
            .take(100)
            .collect(),
        None => names,
    };
    let mats: Vec<_> = names.iter().map(|n| f.quant_tensor(n).unwrap()).collect();
    let mats: Vec<_> = if std::env::var("COPY").is_ok() {
        mats.iter()
            .map(|m| {
                nerve::tensor::QuantTensor::from_bytes(
                    m.dtype(),
                    m.rows(),
                    m.cols(),
                    m.bytes().to_vec(),
                )
            })
            .collect()
    } else {
        mats
    };
    let bytes: usize = mats.iter().map(|m| m.bytes().len()).sum();
    let mut acts = std::collections::HashMap::new();
    for m in &mats {
        acts.entry(m.cols()).or_insert_with(|| {
            let x: Vec<f32> = (0..m.cols())
                .map(|i| ((i * 37 % 101) as f32 - 50.0) / 7.0)
                .collect();
            let mut a = Q8Activations::default();
            a.quantize(&x, m.cols());
            a
        });
    }
    let mut out = vec![0.0f32; 49152];
    let mut t = vec![];
    for _ in 0..30 {
        let t0 = Instant::now();
        for m in &mats {
            m.matmul(&acts[&m.cols()], &mut out[..m.rows()]);
        }
        t.push(t0.elapsed().as_secs_f64());
    }
    t.sort_by(f64::total_cmp);
    println!(
        "{} MB: median {:.2} ms = {:.1} GB/s, best {:.1} GB/s",
        bytes >> 20,
        t[15] * 1e3,
        bytes as f64 / t[15] / 1e9,
        bytes as f64 / t[0] / 1e9
    );
}
