//! The GPT end to end from the command line: a small GPT learns a text,
//! generates from it (a prompt longer than its context slides, and says so),
//! draws its attention, and every bad input (sizes, a context longer than
//! the text, a checkpoint that does not fit, generation options) is a clear
//! message with exit code 1 that damages nothing.

mod common;

use std::fs;
use std::path::Path;

use common::{assert_fails, nerve, scratch, stderr, stdout, train_text};

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

fn config(data: &str, model: &str, steps: usize) -> String {
    format!(
        "[data]\ndataset = \"text\"\npath = \"{data}\"\nval_fraction = 0.1\n\
         [model]\narch = \"gpt\"\n{model}\n\
         [train]\nmax_iters = {steps}\nbatch_size = 8\noptimizer = \"adamw\"\nlr = 3e-3\n\
         betas = [0.9, 0.99]\nweight_decay = 0.1\ndecay_1d = false\nschedule = \"cosine\"\n\
         warmup_steps = 10\nmin_lr = 3e-4\ngrad_clip = 1.0\neval_interval = {steps}\neval_iters = 4\nkeep_best = true\n"
    )
}

const SMALL: &str = "n_layer = 2\nn_head = 2\nn_embd = 32\nblock_size = 16\nbias = false";

#[test]
fn a_small_gpt_learns_generates_and_draws_its_attention() {
    let d = scratch("gpt_learns");
    let data = corpus(&d);
    let r = train_text(&d, "gpt", &config(&data, SMALL, 400)).unwrap();
    // ln(vocab) ≈ 3.3 nats at the start.
    let val = r.history.last().unwrap().val_loss.unwrap();
    assert!(val < 0.9, "validation loss {val}");
    let run = d.join("run");
    let rs = run.to_str().unwrap();
    // keep_best: the best weights are committed with the checkpoint, and
    // no staged file (NAME.next) is left behind.
    assert!(run.join("best.safetensors").exists(), "keep_best");
    let staged: Vec<_> = fs::read_dir(&run)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".next"))
        .collect();
    assert!(staged.is_empty(), "staged files left: {staged:?}");
    let args = [
        "generate", rs, "--prompt", "JULIET:", "--tokens", "60", "--seed", "3",
    ];
    let a = nerve(&args);
    assert!(a.status.success(), "{}", stderr(&a));
    let text = stdout(&a);
    assert!(
        text.starts_with("JULIET:") && text.chars().count() >= 67,
        "{text:?}"
    );
    assert_eq!(text, stdout(&nerve(&args)), "same seed, same text");
    // Every slide works; 1 is nanoGPT's window.
    for s in ["1", "16"] {
        let o = nerve(&["generate", rs, "--tokens", "40", "--slide", s]);
        assert!(o.status.success(), "--slide {s}: {}", stderr(&o));
    }
    // A prompt longer than the context: the model sees its end, and says so.
    let long = "ROMEO: speak again, bright angel. JULIET: good night, good night!";
    let o = nerve(&["generate", rs, "--prompt", long, "--tokens", "10"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("more than the context window of 16: the model sees its last 16"),
        "{}",
        stderr(&o)
    );
    // nerve eval over the whole validation text.
    let e = nerve(&["eval", rs, "--split", "val", "--json"]);
    let v: serde_json::Value = serde_json::from_str(stdout(&e).trim()).unwrap();
    assert!(
        (v["loss"].as_f64().unwrap() - val as f64).abs() < 0.5,
        "{v}"
    );
    // The attention picture.
    let png = d.join("attention.png");
    let o = nerve(&[
        "attention",
        rs,
        "--prompt",
        "ROMEO: speak",
        "--out",
        png.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("2 layers x 2 heads, 12 characters"));
    assert!(fs::metadata(&png).unwrap().len() > 1000);
    // Its prompt is cut to the window too.
    let o = nerve(&[
        "attention",
        rs,
        "--prompt",
        long,
        "--out",
        png.to_str().unwrap(),
    ]);
    assert!(o.status.success() && stderr(&o).contains("drawing its last 16"));
    // The summary names nanoGPT's blocks.
    let s = nerve(&["summary", rs]);
    assert!(stdout(&s).contains("h.1: Block"), "{}", stdout(&s));
}

#[test]
fn bad_gpt_inputs_are_clear_errors() {
    let d = scratch("gpt_bad");
    let data = corpus(&d);
    let write = |name: &str, text: &str| {
        let p = d.join(name);
        fs::write(&p, text).unwrap();
        p.display().to_string()
    };
    let c = write(
        "heads.toml",
        &config(&data, &SMALL.replace("n_embd = 32", "n_embd = 33"), 5),
    );
    assert_fails(
        &nerve(&["train", &c]),
        &[
            "model.n_embd = 33 must be divisible by model.n_head = 2",
            "n_embd = 32 or 34",
        ],
    );
    // A context longer than the validation text (10% of ~3,500 characters).
    let c = write(
        "block.toml",
        &config(
            &data,
            &SMALL.replace("block_size = 16", "block_size = 512"),
            5,
        ),
    );
    assert_fails(
        &nerve(&["train", &c]),
        &["model.block_size = 512", "validation", "smaller block_size"],
    );
    // A window longer than the position table.
    let c = write(
        "seq.toml",
        &config(&data, SMALL, 5).replace("val_fraction", "seq_len = 32\nval_fraction"),
    );
    assert_fails(
        &nerve(&["train", &c]),
        &["data.seq_len = 32 is longer than model.block_size = 16"],
    );
    let c = write(
        "key.toml",
        &config(&data, &format!("{SMALL}\nn_heads = 2"), 5),
    );
    assert_fails(
        &nerve(&["train", &c]),
        &["n_heads", "did you mean 'n_head'"],
    );

    // A trained run, then every bad generation option; the run is untouched.
    train_text(&d, "ok", &config(&data, SMALL, 3)).unwrap();
    let run = d.join("run");
    let before = fs::read(run.join("model.safetensors")).unwrap();
    let r = run.to_str().unwrap();
    let cases: &[(&[&str], &[&str])] = &[
        (
            &["--prompt", "ROMEO: ¿qué?"],
            &["--prompt", "'¿'", "vocabulary"],
        ),
        (&["--tokens", "0"], &["--tokens must be at least 1"]),
        (&["--temperature", "-1"], &["--temperature", "found -1"]),
        (&["--top-p", "1.5"], &["--top-p must be in (0, 1]"]),
        (&["--top-k", "0"], &["--top-k must be at least 1"]),
        (
            &["--slide", "0"],
            &["--slide must be between 1 and the context window (16)"],
        ),
        (
            &["--slide", "17"],
            &["--slide must be between 1 and the context window (16)"],
        ),
        (
            &["--ctx", "8"],
            &["--ctx 8 is for a GGUF model", "model.block_size (16)"],
        ),
        (&["--threads", "0"], &["--threads must be at least 1"]),
    ];
    for (extra, want) in cases {
        let mut args = vec!["generate", r];
        args.extend_from_slice(extra);
        assert_fails(&nerve(&args), want);
    }
    assert_fails(
        &nerve(&["attention", r, "--prompt", ""]),
        &["--prompt is empty"],
    );
    let gif = d.join("attention.gif");
    assert_fails(
        &nerve(&[
            "attention",
            r,
            "--prompt",
            "ROMEO",
            "--out",
            gif.to_str().unwrap(),
        ]),
        &["attention.gif", "must end in .png"],
    );
    assert!(!gif.exists());
    // Sizes that make no model.
    for (from, to, want) in [
        (
            "n_head = 2",
            "n_head = 0",
            "model.n_head must be at least 1, found 0",
        ),
        (
            "n_layer = 2",
            "n_layer = 0",
            "model.n_layer must be at least 1, found 0",
        ),
        (
            "block_size = 16",
            "block_size = 0",
            "model.block_size must be at least 1",
        ),
        (
            "bias = false",
            "bias = false\ndropout = 1.5",
            "model.dropout must be in [0, 1), found 1.5",
        ),
    ] {
        let c = write("sizes.toml", &config(&data, &SMALL.replace(from, to), 5));
        assert_fails(&nerve(&["train", &c]), &[want]);
    }
    assert_eq!(before, fs::read(run.join("model.safetensors")).unwrap());
    // A checkpoint that does not fit its config: the first mismatch named.
    let cfg = run.join("config.toml");
    let text = fs::read_to_string(&cfg).unwrap();
    fs::write(&cfg, text.replace("n_embd = 32", "n_embd = 16")).unwrap();
    assert_fails(
        &nerve(&["generate", r, "--tokens", "5"]),
        &[
            "model.safetensors",
            "'transformer.wte.weight' has shape",
            "the model expects",
        ],
    );
    fs::write(&cfg, text.replace("n_layer = 2", "n_layer = 3")).unwrap();
    assert_fails(
        &nerve(&["generate", r, "--tokens", "5"]),
        &["missing tensor 'transformer.h.2.ln_1.weight'"],
    );
    fs::write(&cfg, &text).unwrap();
    assert!(nerve(&["generate", r, "--tokens", "5"]).status.success());
    // A damaged checkpoint or vocabulary: named, every command that reads it.
    let weights = fs::read(run.join("model.safetensors")).unwrap();
    fs::write(run.join("model.safetensors"), &weights[..1000]).unwrap();
    for args in [
        &["generate", r, "--tokens", "5"][..],
        &["eval", r, "--split", "val"],
        &["attention", r, "--prompt", "ROMEO"],
    ] {
        assert_fails(&nerve(args), &["model.safetensors", "truncated"]);
    }
    fs::write(run.join("model.safetensors"), &weights).unwrap();
    let vocab = fs::read(run.join("vocab.json")).unwrap();
    fs::remove_file(run.join("vocab.json")).unwrap();
    assert_fails(
        &nerve(&["generate", r, "--tokens", "5"]),
        &["vocab.json", "no such file"],
    );
    fs::write(run.join("vocab.json"), vocab).unwrap();
    // attention on a model without attention.
    let rnn = write(
        "rnn.toml",
        &format!(
            "[data]\ndataset = \"text\"\npath = \"{data}\"\nseq_len = 16\n[model]\narch = \"char_rnn\"\n\
             hidden_size = 16\n[train]\nmax_steps = 2\nbatch_size = 4\n"
        ),
    );
    let rnn_run = d.join("rnn_run");
    let o = nerve(&["train", &rnn, "--out", rnn_run.to_str().unwrap(), "--quiet"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_fails(
        &nerve(&["attention", rnn_run.to_str().unwrap(), "--prompt", "ROMEO"]),
        &["\"char_rnn\" model", "model.arch = \"gpt\""],
    );
    assert_fails(
        &nerve(&["generate", rnn_run.to_str().unwrap(), "--slide", "2"]),
        &["--slide", "no context window"],
    );
}
