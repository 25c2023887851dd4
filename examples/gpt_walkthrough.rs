//! One forward pass of a trained GPT, step by step, with its real sizes:
//! characters → ids → vectors → blocks → logits → softmax with temperature →
//! a sampled character. docs/gpt.md walks through its output.
//!
//!   cargo run --release --example gpt_walkthrough -- runs/gpt-shakespeare "ROMEO:"

use std::path::PathBuf;

use nerve::data::CharTokenizer;
use nerve::io::{load_safetensors, load_state_dict_into};
use nerve::models::{Gpt, GptConfig, Sampler, SamplingOptions};
use nerve::nn::Module;
use nerve::train::RunPaths;
use nerve::{no_grad, Result, Tensor};

fn show(c: char) -> String {
    match c {
        '\n' => "\\n".into(),
        ' ' => "' '".into(),
        c => c.to_string(),
    }
}

fn first(t: &[f32], n: usize) -> String {
    let v: Vec<String> = t.iter().take(n).map(|x| format!("{x:+.3}")).collect();
    format!("[{}, ...]", v.join(", "))
}

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let dir = PathBuf::from(args.get(1).map_or("runs/gpt-shakespeare", |s| s.as_str()));
    let prompt = args.get(2).map_or("ROMEO:", |s| s.as_str()).to_string();
    let paths = RunPaths::new(&dir);
    let cfg = nerve::config::Config::load(paths.config())?;
    let nerve::models::ModelConfig::Gpt(gc) = &cfg.model else {
        return Err(nerve::Error::new(format!(
            "{} is not a GPT run",
            dir.display()
        )));
    };
    let vocab = CharTokenizer::load(paths.vocab())?;
    let gc: GptConfig = gc.clone();
    let (e, heads) = (gc.n_embd, gc.n_head);
    let mut gpt = Gpt::new(gc.clone(), vocab.vocab_size(), gc.block_size);
    let file = paths.model();
    load_state_dict_into(
        &gpt.state_dict(),
        &load_safetensors(&file)?,
        &file.display().to_string(),
    )?;
    gpt.eval();

    println!(
        "1. characters -> ids (a vocabulary of {} characters)",
        vocab.vocab_size()
    );
    let ids = vocab.encode(&prompt)?;
    let t = ids.len();
    for (c, id) in prompt.chars().zip(&ids) {
        println!("   {:>4} -> {id}", show(c));
    }

    no_grad(|| {
        println!("\n2. ids -> vectors of n_embd = {e}: token vector (wte, [{}, {e}]) + position vector (wpe, [{}, {e}])",
            vocab.vocab_size(), gc.block_size);
        let tr = &gpt.transformer;
        let tok = tr.wte.forward(&ids, &[1, t]);
        let pos: Vec<u32> = (0..t as u32).collect();
        let x0 = tok.add(&tr.wpe.forward(&pos, &[t]));
        let last = |x: &Tensor| x.reshape(&[t, e]).narrow(0, t - 1, 1).to_vec();
        let c_last = show(prompt.chars().last().unwrap_or(' '));
        println!(
            "   wte[{}] ({c_last}) = {}",
            ids[t - 1],
            first(&last(&tok), 6)
        );
        println!(
            "   wpe[{}]        = {}",
            t - 1,
            first(&last(&tr.wpe.forward(&pos, &[t]).reshape(&[1, t, e])), 6)
        );
        println!("   x = the sum, [1, {t}, {e}]: {}", first(&last(&x0), 6));

        println!("\n3. {} blocks, each: x += attention(ln_1(x)); x += mlp(ln_2(x)) ({heads} heads of {})", gc.n_layer, e / heads);
        let chars: Vec<char> = prompt.chars().collect();
        let mut x = x0;
        for (l, b) in tr.h.0.iter().enumerate() {
            let (y, w) = b.forward_with_weights(&x);
            x = y;
            let looks: Vec<String> = (0..heads)
                .map(|h| {
                    let row = &w[(h * t + t - 1) * t..(h * t + t) * t];
                    let (j, p) =
                        row.iter()
                            .enumerate()
                            .fold((0, 0.0f32), |m, (j, &p)| if p > m.1 { (j, p) } else { m });
                    format!("head {h}: {} ({:.0}%)", show(chars[j]), p * 100.0)
                })
                .collect();
            let v = last(&x);
            let norm = v.iter().map(|a| a * a).sum::<f32>().sqrt();
            println!(
                "   block {l}: the last position looks most at {}; |x| = {norm:.2}",
                looks.join(", ")
            );
        }

        let h = tr.ln_f.forward(&x);
        let logits = gpt
            .lm_head
            .forward(&h.reshape(&[t, e]).narrow(0, t - 1, 1))
            .to_vec();
        println!("\n4. ln_f, then lm_head (wte again, [{}, {e}]): logits [{t}, {}], one score per character; the last row:", vocab.vocab_size(), vocab.vocab_size());
        let mut order: Vec<usize> = (0..logits.len()).collect();
        order.sort_by(|&a, &b| logits[b].total_cmp(&logits[a]));
        let top: Vec<String> = order
            .iter()
            .take(5)
            .map(|&i| {
                format!(
                    "{} {:+.2}",
                    show(vocab.decode(&[i as u32]).chars().next().unwrap_or('?')),
                    logits[i]
                )
            })
            .collect();
        println!("   highest: {}", top.join(", "));

        println!("\n5. softmax(logits / T): the probability of each next character");
        for temp in [0.5f32, 1.0, 2.0] {
            let m = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
            let ex: Vec<f32> = logits.iter().map(|z| ((z - m) / temp).exp()).collect();
            let s: f32 = ex.iter().sum();
            let top: Vec<String> = order
                .iter()
                .take(5)
                .map(|&i| {
                    format!(
                        "{} {:.1}%",
                        show(vocab.decode(&[i as u32]).chars().next().unwrap_or('?')),
                        100.0 * ex[i] / s
                    )
                })
                .collect();
            println!("   T = {temp}: {}", top.join(", "));
        }

        println!("\n6. a draw from the T = 0.8 distribution (seed 1):");
        let mut s = Sampler::new(SamplingOptions {
            temperature: 0.8,
            top_k: None,
            top_p: None,
            seed: 1,
        })?;
        let next = s.sample(&logits);
        println!(
            "   {} -> {}",
            next,
            show(vocab.decode(&[next]).chars().next().unwrap_or('?'))
        );
        Ok(())
    })
}
