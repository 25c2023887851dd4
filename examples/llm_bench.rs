//! Decode and prompt throughput of SmolLM2 (the workload of
//! ../shared/peers/llama/smollm2.py): 128 greedy tokens one at a time after a
//! short prompt, and a 256-token prompt in one batch; median of 3 runs.
//! Usage: cargo run --release --example llm_bench [MODEL.gguf]
use nerve::data::BpeTokenizer;
use nerve::io::gguf::GgufFile;
use nerve::models::llama::Llama;
use std::time::Instant;

fn argmax(v: &[f32]) -> u32 {
    (0..v.len()).max_by(|&a, &b| v[a].total_cmp(&v[b])).unwrap() as u32
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    let path = std::env::args()
        .nth(1)
        .unwrap_or("models/SmolLM2-135M-Instruct.Q4_1.gguf".into());
    let f = GgufFile::open(&path).unwrap();
    let model = Llama::from_file(&f).unwrap();
    let tok = BpeTokenizer::from_gguf(&f).unwrap();
    let text = "A neuron computes a weighted sum of its inputs, adds a bias and applies an activation function. ".repeat(40);
    let ptoks: Vec<u32> = tok.encode(&text)[..256].to_vec();
    let mode = std::env::var("MODE").unwrap_or_default();
    let reps = if mode == "prompt" { 20 } else { 3 };
    let mut pt = vec![];
    for _ in 0..reps {
        let mut cache = model.new_cache(1024);
        let t0 = Instant::now();
        model.forward(&ptoks, &mut cache).unwrap();
        pt.push(t0.elapsed().as_secs_f64());
    }
    let short = tok.encode("The capital of France is");
    let mut dt = vec![];
    for _ in 0..(if mode == "prompt" { 0 } else { 3 }) {
        let mut cache = model.new_cache(1024);
        let mut logits = model.forward(&short, &mut cache).unwrap();
        let t0 = Instant::now();
        for _ in 0..128 {
            logits = model.forward(&[argmax(&logits)], &mut cache).unwrap();
        }
        dt.push(t0.elapsed().as_secs_f64());
    }
    println!(
        "{{\"bench\": \"llm\", \"engine\": \"nerve\", \"threads\": {}, \"prompt_tokens_per_s\": {:.1}, \"decode_tokens_per_s\": {:.1}}}",
        rayon::current_num_threads(),
        256.0 / median(pt),
        if dt.is_empty() { 0.0 } else { 128.0 / median(dt) }
    );
}
