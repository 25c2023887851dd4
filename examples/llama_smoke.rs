//! Runs SmolLM2 on fixed token ids and prints the top-5 and greedy ids.
use nerve::models::llama::Llama;
fn main() {
    let path = std::env::args()
        .nth(1)
        .unwrap_or("models/SmolLM2-135M-Instruct.Q4_1.gguf".into());
    let m = Llama::from_gguf(&path).unwrap();
    let ids: Vec<u32> = std::env::args()
        .nth(2)
        .unwrap_or("504,3575,282,4649,314".into())
        .split(',')
        .map(|s| s.parse().unwrap())
        .collect();
    let mut cache = m.new_cache(1024);
    let t0 = std::time::Instant::now();
    let mut logits = m.forward(&ids, &mut cache).unwrap();
    let mut idx: Vec<usize> = (0..logits.len()).collect();
    idx.sort_by(|&a, &b| logits[b].partial_cmp(&logits[a]).unwrap());
    println!(
        "top5 {:?} {:?}",
        &idx[..5],
        idx[..5].iter().map(|&i| logits[i]).collect::<Vec<_>>()
    );
    let mut out = vec![];
    let t1 = std::time::Instant::now();
    for _ in 0..32 {
        let next = (0..logits.len())
            .max_by(|&a, &b| logits[a].partial_cmp(&logits[b]).unwrap())
            .unwrap() as u32;
        out.push(next);
        logits = m.forward(&[next], &mut cache).unwrap();
    }
    println!("greedy {:?}", out);
    println!(
        "prompt {:?} decode {:.1} tok/s",
        t1 - t0,
        32.0 / t1.elapsed().as_secs_f64()
    );
}
