//! Text, the char-RNN and generation, end to end: a small LSTM learns a
//! text, the vocabulary is in the run directory, generation streams and
//! repeats with its seed, the state carries (token-by-token logits equal a
//! whole-prefix pass), and every bad input is a clear message with exit 1
//! that damages nothing.

mod common;

use std::fs;
use std::path::Path;

use common::{assert_fails, nerve, repo, scratch, stdout, train_text};
use nerve::data::CharTokenizer;
use nerve::models::{generate, Sampler, SamplingOptions};
use nerve::train::load_run;

/// A small text with structure to learn.
fn corpus(d: &Path) -> String {
    let lines = [
        "ROMEO: speak again, bright angel.\n",
        "JULIET: what's in a name? that which we call a rose\n",
        "ROMEO: by any other word would smell as sweet.\n",
        "JULIET: good night, good night! parting is such sweet sorrow.\n",
    ];
    let text: String = (0..60).map(|i| lines[i % 4]).collect();
    let p = d.join("play.txt");
    fs::write(&p, text).unwrap();
    p.display().to_string()
}

fn config(data: &str, extra_data: &str, cell: &str, steps: usize) -> String {
    format!(
        "[data]\ndataset = \"text\"\npath = \"{data}\"\nseq_len = 32\n{extra_data}\n\
         [model]\narch = \"char_rnn\"\ncell = \"{cell}\"\nembedding_dim = 16\nhidden_size = 64\nnum_layers = 2\n\
         [train]\nmax_steps = {steps}\nbatch_size = 16\nlr = 1e-2\nclip_grad_norm = 5.0\neval_interval = {steps}\n"
    )
}

#[test]
fn a_char_lstm_learns_a_text_and_writes_it() {
    let d = scratch("text_learns");
    let data = corpus(&d);
    let r = train_text(&d, "lstm", &config(&data, "", "lstm", 150)).unwrap();
    let first = r.history.first().unwrap();
    // ln(vocab) ≈ 3.3 nats at the start; a model that learnt the lines is far below.
    let val = r.history.last().unwrap().val_loss.unwrap();
    assert!(val < 1.0, "validation loss {val} (history {:?})", first);
    let run = d.join("run");
    let vocab = CharTokenizer::load(run.join("vocab.json")).unwrap();
    assert_eq!(
        vocab,
        CharTokenizer::from_text(&fs::read_to_string(&data).unwrap())
    );
    // Generation from the run: greedy continues a line as the text does.
    let loaded = load_run(&run).unwrap();
    let lm = loaded.model.as_language_model().unwrap();
    let prompt = vocab.encode("JULIET: good night, good ").unwrap();
    let mut greedy = Sampler::new(SamplingOptions {
        temperature: 0.0,
        ..SamplingOptions::default()
    })
    .unwrap();
    let out = vocab.decode(&generate(lm, &prompt, 5, &mut greedy, |_| true));
    assert_eq!(out, "night", "greedy continuation");
    // The CLI: prompt first, then the text; the same seed, the same text.
    let args = [
        "generate",
        run.to_str().unwrap(),
        "--prompt",
        "ROMEO:",
        "--tokens",
        "80",
        "--temperature",
        "0.8",
        "--seed",
        "7",
    ];
    let a = nerve(&args);
    assert!(a.status.success(), "{}", String::from_utf8_lossy(&a.stderr));
    let text = stdout(&a);
    assert!(
        text.starts_with("ROMEO:") && text.chars().count() >= 86,
        "{text:?}"
    );
    assert_eq!(text, stdout(&nerve(&args)), "same seed, same text");
    // nerve eval on a language model.
    let e = nerve(&["eval", run.to_str().unwrap(), "--split", "val", "--json"]);
    let v: serde_json::Value = serde_json::from_str(stdout(&e).trim()).unwrap();
    let (loss, ppl) = (
        v["loss"].as_f64().unwrap(),
        v["perplexity"].as_f64().unwrap(),
    );
    assert!((ppl - loss.exp()).abs() < 1e-3 * ppl, "{v}");
    assert!((v["bits_per_char"].as_f64().unwrap() - loss / 2f64.ln()).abs() < 1e-4);
}

#[test]
fn the_state_carries_token_by_token() {
    let d = scratch("text_state");
    let data = corpus(&d);
    for cell in ["lstm", "gru", "rnn"] {
        train_text(&d, cell, &config(&data, "", cell, 3)).unwrap();
        let loaded = load_run(d.join("run")).unwrap();
        let lm = loaded.model.as_language_model().unwrap();
        let ids: Vec<u32> = vec![3, 1, 4, 1, 5, 9, 2, 6];
        // Feeding the prefix at once and one token at a time: the same logits.
        let mut all = lm.decoder();
        let whole = all.feed(&ids);
        let mut one = lm.decoder();
        let mut last = Vec::new();
        for &t in &ids {
            last = one.feed(&[t]);
        }
        let diff = whole
            .iter()
            .zip(&last)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0f32, f32::max);
        assert!(
            diff < 1e-5,
            "{cell}: token-by-token logits differ by {diff}"
        );
        assert_eq!(one.position(), ids.len());
    }
}

#[test]
fn consecutive_windows_carry_the_state_between_batches() {
    let d = scratch("text_tbptt");
    let data = corpus(&d);
    let cfg = config(&data, "windows = \"sequential\"", "lstm", 120);
    let r = train_text(&d, "tbptt", &cfg).unwrap();
    let val = r.history.last().unwrap().val_loss.unwrap();
    assert!(val < 1.2, "validation loss {val}");
}

#[test]
fn resuming_a_step_run_continues_it_exactly() {
    let d = scratch("text_resume");
    let data = corpus(&d);
    let cfg_path = d.join("c.toml");
    fs::write(
        &cfg_path,
        config(&data, "", "gru", 20).replace("eval_interval = 20", "eval_interval = 5"),
    )
    .unwrap();
    let cfg = cfg_path.to_str().unwrap();
    let full = d.join("full");
    let part = d.join("part");
    let o = nerve(&["train", cfg, "--out", full.to_str().unwrap(), "--quiet"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let o = nerve(&[
        "train",
        cfg,
        "--out",
        part.to_str().unwrap(),
        "--quiet",
        "--max-steps",
        "10",
    ]);
    assert!(o.status.success());
    let o = nerve(&[
        "train",
        cfg,
        "--out",
        part.to_str().unwrap(),
        "--quiet",
        "--resume",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let a = fs::read_to_string(full.join("metrics.csv")).unwrap();
    let b = fs::read_to_string(part.join("metrics.csv")).unwrap();
    // Same rows after the resume (wall-clock columns aside, there are none).
    assert_eq!(a, b);
    assert_eq!(
        fs::read(full.join("model.safetensors")).unwrap(),
        fs::read(part.join("model.safetensors")).unwrap()
    );
}

#[test]
fn bad_text_and_generation_inputs_are_clear_errors() {
    let d = scratch("text_bad");
    let data = corpus(&d);
    let write = |name: &str, text: &str| {
        let p = d.join(name);
        fs::write(&p, text).unwrap();
        p.display().to_string()
    };
    // Not UTF-8: the byte offset is named.
    let latin1 = d.join("latin1.txt");
    fs::write(&latin1, b"caf\xe9 au lait").unwrap();
    let c = write("c1.toml", &config(latin1.to_str().unwrap(), "", "lstm", 5));
    assert_fails(
        &nerve(&["train", &c, "--out", d.join("o1").to_str().unwrap()]),
        &["latin1.txt", "not UTF-8", "offset 3"],
    );
    // Empty corpus.
    let empty = write("empty.txt", "");
    let c = write("c2.toml", &config(&empty, "", "lstm", 5));
    assert_fails(&nerve(&["train", &c]), &["empty.txt", "empty"]);
    // A window longer than the text.
    let short = write("short.txt", "to be or not to be");
    let c = write("c3.toml", &config(&short, "", "lstm", 5));
    assert_fails(
        &nerve(&["train", &c]),
        &["data.seq_len = 32", "characters of training text"],
    );
    // An architecture that does not exist: the known ones listed.
    let c = write(
        "c4.toml",
        &config(&data, "", "lstm", 5).replace("char_rnn", "char_rnm"),
    );
    assert_fails(
        &nerve(&["train", &c]),
        &[
            "model.arch",
            "char_rnm",
            "did you mean 'char_rnn'",
            "sequential",
        ],
    );
    // Generation: a trained run, then every bad option; the run is untouched.
    train_text(&d, "ok", &config(&data, "", "lstm", 3)).unwrap();
    let run = d.join("run");
    let before = fs::read(run.join("model.safetensors")).unwrap();
    let r = run.to_str().unwrap();
    let cases: &[(&[&str], &[&str])] = &[
        (
            &["--prompt", "ROMEO: ¿qué?"],
            &["--prompt", "'¿'", "'é'", "vocabulary"],
        ),
        (&["--tokens", "0"], &["--tokens must be at least 1"]),
        (&["--temperature", "-1"], &["--temperature", "found -1"]),
        (&["--top-p", "1.5"], &["--top-p must be in (0, 1]"]),
        (&["--top-p", "0"], &["--top-p"]),
        (&["--top-k", "0"], &["--top-k must be at least 1"]),
    ];
    for (extra, want) in cases {
        let mut args = vec!["generate", r];
        args.extend_from_slice(extra);
        assert_fails(&nerve(&args), want);
    }
    assert_eq!(before, fs::read(run.join("model.safetensors")).unwrap());
    // generate on a run that is not a language model.
    let leaf = d.join("leaf");
    let o = nerve(&[
        "train",
        repo("examples/leaf-flower.toml").to_str().unwrap(),
        "--out",
        leaf.to_str().unwrap(),
        "--epochs",
        "1",
        "--quiet",
    ]);
    assert!(o.status.success());
    assert_fails(
        &nerve(&["generate", leaf.to_str().unwrap()]),
        &["needs a language model", "sequential"],
    );
}

#[test]
fn writes_char_rnn_file_for_pytorch_check() {
    // tests/fixtures/rnn_reference.py --check-nerve-file target/nerve_char_rnn.safetensors
    // loads this file into the equivalent torch module with strict=True.
    let d = scratch("text_torch_file");
    let data = corpus(&d);
    train_text(&d, "file", &config(&data, "", "lstm", 2)).unwrap();
    let dst = repo("target/nerve_char_rnn.safetensors");
    fs::copy(d.join("run/model.safetensors"), &dst).unwrap();
    let names: Vec<String> = nerve::io::load_safetensors(&dst)
        .unwrap()
        .into_iter()
        .map(|(n, _)| n)
        .collect();
    for want in [
        "embedding.weight",
        "rnn.weight_ih_l0",
        "rnn.bias_hh_l1",
        "head.weight",
        "head.bias",
    ] {
        assert!(
            names.iter().any(|n| n == want),
            "{want} missing from {names:?}"
        );
    }
}
