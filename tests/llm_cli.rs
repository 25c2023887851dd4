//! The LLM commands end to end: `generate --model`, `chat` (scripted stdin,
//! /reset, /exit, history past the window), `summary PATH.gguf`, `bench llm`,
//! and bad model files, each a clear message and exit code 1.
//!
//! Most use a tiny hand-made llama (tests/common/gguf.rs) and need nothing
//! else; the ones that need the real SmolLM2 file print SKIPPED without it
//! (`bash scripts/fetch-smollm2.sh` fetches it; CI does).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

mod common;

use common::gguf::{tiny_llama, Meta};
use common::{assert_fails, nerve, scratch, stderr, stdout};

fn write(dir: &Path, name: &str, bytes: &[u8]) -> String {
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap();
    p.display().to_string()
}

/// Runs nerve with `input` on stdin.
fn nerve_stdin(args: &[&str], input: &str) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_nerve"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run nerve");
    // A command that fails before it reads closes the pipe early.
    let _ = child.stdin.take().unwrap().write_all(input.as_bytes());
    child.wait_with_output().unwrap()
}

fn real_model() -> Option<PathBuf> {
    let p = common::repo("models/SmolLM2-135M-Instruct.Q4_1.gguf");
    if p.exists() {
        Some(p)
    } else {
        eprintln!(
            "SKIPPED: {} is absent; run `bash scripts/fetch-smollm2.sh` to fetch it",
            p.display()
        );
        None
    }
}

#[test]
fn tiny_model_generates_and_summarises() {
    let d = scratch("llm_tiny_generate");
    let m = write(&d, "tiny.gguf", &tiny_llama().to_bytes());
    let o = nerve(&[
        "generate", "--model", &m, "--prompt", "Hello", "--tokens", "10", "--seed", "3",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).starts_with("Hello"), "{}", stdout(&o));
    assert!(stderr(&o).contains("5 prompt tokens at"), "{}", stderr(&o));
    // The same seed gives the same text.
    let again = nerve(&[
        "generate", "--model", &m, "--prompt", "Hello", "--tokens", "10", "--seed", "3",
    ]);
    assert_eq!(stdout(&o), stdout(&again));
    let s = nerve(&["summary", &m]);
    assert!(s.status.success(), "{}", stderr(&s));
    let text = stdout(&s);
    for want in [
        "architecture: llama, 1 blocks, width 32",
        "blk.0.attn_k.weight",
        "Q8_0",
        "16 x 32",
        "tokenizer.chat_template",
    ] {
        assert!(text.contains(want), "summary lacks {want:?}:\n{text}");
    }
}

#[test]
fn chat_with_scripted_stdin_resets_and_exits() {
    let d = scratch("llm_tiny_chat");
    let m = write(&d, "tiny.gguf", &tiny_llama().to_bytes());
    let o = nerve_stdin(
        &["chat", "--model", &m, "--tokens", "5", "--seed", "1"],
        "hello\nhow are you?\n/reset\nhi again\n/exit\nthis line is never read\n",
    );
    let (out, err) = (stdout(&o), stderr(&o));
    assert!(o.status.success(), "{err}");
    assert!(out.contains("(new conversation)"), "{out}");
    // Three replies, each with its speed line, then the totals.
    assert_eq!(err.matches("prompt tokens at").count(), 4, "{err}");
    assert!(err.contains("[total: "), "{err}");
    assert!(err.contains("resident memory"), "{err}");
    // The second turn added only its own tokens to the cache; after /reset
    // the context starts again from the system message.
    let contexts: Vec<usize> = err
        .lines()
        .filter_map(|l| l.split("; context ").nth(1))
        .filter_map(|c| c.split('/').next()?.parse().ok())
        .collect();
    assert_eq!(contexts.len(), 3, "{err}");
    assert!(
        contexts[1] > contexts[0] && contexts[2] < contexts[1],
        "{contexts:?}"
    );
    // End of input ends the chat too.
    let o = nerve_stdin(&["chat", "--model", &m, "--tokens", "3"], "one message\n");
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stderr(&o).contains("[total: "));
}

#[test]
fn chat_drops_the_oldest_exchanges_when_the_window_is_full() {
    let d = scratch("llm_tiny_chat_window");
    let m = write(&d, "tiny.gguf", &tiny_llama().to_bytes());
    // A 64-token window, replies of up to 8: each turn of ~25 tokens soon
    // fills it; a message of 100 bytes (100 tokens) never fits.
    let long = "x".repeat(100);
    let o = nerve_stdin(
        &[
            "chat", "--model", &m, "--ctx", "64", "--tokens", "8", "--system", "s",
        ],
        &format!("first one\nsecond one\nthird one\n{long}\nfourth\n"),
    );
    let (out, err) = (stdout(&o), stderr(&o));
    assert!(o.status.success(), "{err}");
    assert!(
        err.contains("the oldest 1 exchange(s) are dropped"),
        "{err}"
    );
    assert!(
        out.contains("does not fit the context window of 64 tokens"),
        "{out}"
    );
    for l in err
        .lines()
        .filter(|l| l.starts_with('[') && l.contains("; context "))
    {
        let c: usize = l
            .split("context ")
            .nth(1)
            .unwrap()
            .split('/')
            .next()
            .unwrap()
            .parse()
            .unwrap();
        assert!(c <= 64, "{l}");
    }
}

#[test]
fn missing_model_names_the_fetch_script() {
    let o = nerve(&["chat", "--model", "no/such/model.gguf"]);
    assert_fails(
        &o,
        &[
            "no/such/model.gguf does not exist",
            "scripts/fetch-smollm2.sh",
        ],
    );
    let o = nerve(&["generate", "--model", "no/such/model.gguf", "--prompt", "x"]);
    assert_fails(&o, &["does not exist", "scripts/fetch-smollm2.sh"]);
    let o = nerve(&["bench", "llm", "--model", "no/such/model.gguf"]);
    assert_fails(&o, &["does not exist", "scripts/fetch-smollm2.sh"]);
}

#[test]
fn bad_model_files_are_clear_errors() {
    let d = scratch("llm_bad_files");
    let mut cases: Vec<(String, Vec<&str>)> = Vec::new();
    // Not GGUF at all.
    cases.push((
        write(&d, "text.gguf", b"this is a text file, not a model\n"),
        vec!["text.gguf", "not a GGUF file"],
    ));
    // Another architecture, named.
    let mut g = tiny_llama();
    g.set("general.architecture", Meta::Str("gpt2".into()));
    cases.push((
        write(&d, "gpt2.gguf", &g.to_bytes()),
        vec!["architecture is `gpt2`", "llama"],
    ));
    // A type nerve reads but cannot compute with, named with its tensor.
    let mut g = tiny_llama();
    let t = g.tensor_mut("blk.0.attn_q.weight");
    t.type_id = 6; // Q5_0: 22 bytes per block
    t.bytes.truncate(32 * 22);
    cases.push((
        write(&d, "q5_0.gguf", &g.to_bytes()),
        vec![
            "tensor `blk.0.attn_q.weight` has type Q5_0",
            "cannot compute with",
        ],
    ));
    // A type id nerve does not know (an i-quant), named with its tensor.
    let mut g = tiny_llama();
    g.tensor_mut("blk.0.ffn_up.weight").type_id = 16;
    cases.push((
        write(&d, "iq.gguf", &g.to_bytes()),
        vec!["tensor `blk.0.ffn_up.weight` has ggml type id 16"],
    ));
    // Truncated: the header is whole, a tensor's bytes are not.
    let full = tiny_llama().to_bytes();
    cases.push((
        write(&d, "cut_data.gguf", &full[..full.len() - 100]),
        vec!["run past the end of the file", "truncated"],
    ));
    // Truncated in the header.
    cases.push((
        write(&d, "cut_header.gguf", &full[..300]),
        vec!["truncated or corrupt"],
    ));
    // A string whose length is larger than the file.
    let mut g = tiny_llama();
    let mut raw = (1u64 << 40).to_le_bytes().to_vec();
    raw.extend(b"abc");
    g.set("general.name", Meta::Raw(8, raw));
    cases.push((
        write(&d, "long_string.gguf", &g.to_bytes()),
        vec![
            "metadata `general.name` has length 1099511627776",
            "bytes left",
        ],
    ));
    // An array whose length is larger than the file.
    let mut g = tiny_llama();
    let mut raw = 8u32.to_le_bytes().to_vec();
    raw.extend(u64::MAX.to_le_bytes());
    g.set("tokenizer.ggml.merges", Meta::Raw(9, raw));
    cases.push((
        write(&d, "long_array.gguf", &g.to_bytes()),
        vec!["metadata `tokenizer.ggml.merges` has length 18446744073709551615"],
    ));
    for (path, want) in &cases {
        for cmd in [
            vec!["generate", "--model", path, "--prompt", "hi"],
            vec!["chat", "--model", path],
        ] {
            let o = nerve_stdin(&cmd, "hello\n");
            let mut w = want.clone();
            w.push(path.rsplit('/').next().unwrap());
            assert_fails(&o, &w);
        }
    }
    // summary lists what it can, and refuses what it cannot read.
    let o = nerve(&["summary", &cases[0].0]);
    assert_fails(&o, &["not a GGUF file"]);
    let o = nerve(&["summary", &cases[1].0]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("architecture: gpt2 (nerve runs llama models only)"));
}

#[test]
fn a_prompt_longer_than_the_window_is_refused() {
    let d = scratch("llm_long_prompt");
    let m = write(&d, "tiny.gguf", &tiny_llama().to_bytes());
    let long = "word ".repeat(60); // 300 byte tokens > 256
    let o = nerve(&["generate", "--model", &m, "--prompt", &long]);
    assert_fails(&o, &["--prompt has 300 tokens", "context window of 256"]);
    let o = nerve(&[
        "generate",
        "--model",
        &m,
        "--prompt",
        &long[..100],
        "--ctx",
        "64",
    ]);
    assert_fails(
        &o,
        &["--prompt has 100 tokens", "context window of 64 (--ctx"],
    );
    let o = nerve(&[
        "generate", "--model", &m, "--prompt", "hi", "--ctx", "100000",
    ]);
    assert_fails(
        &o,
        &["--ctx must be between 16 and the model's context window of 256"],
    );
    // Generation past the window slides (the decoder keeps the last half).
    let o = nerve(&[
        "generate",
        "--model",
        &m,
        "--prompt",
        "hi",
        "--tokens",
        "150",
        "--ctx",
        "32",
        "--temperature",
        "1.5",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
}

#[test]
fn chat_replies_match_generate_on_the_whole_conversation() {
    let Some(model) = real_model() else { return };
    let model = model.display().to_string();
    let o = nerve_stdin(
        &[
            "chat",
            "--model",
            &model,
            "--temperature",
            "0",
            "--tokens",
            "24",
        ],
        "What is 2 + 2?\nAnd what is 3 + 3?\n",
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    let replies: Vec<&str> = out.lines().filter(|l| !l.is_empty()).collect();
    assert!(!replies.is_empty(), "{out}");
    // Turn one: the same text as plain greedy completion of the rendered
    // prompt (the ChatML of the file's template, its default system message).
    let sys = "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n";
    let p1 = format!("{sys}<|im_start|>user\nWhat is 2 + 2?<|im_end|>\n<|im_start|>assistant\n");
    let g = nerve(&[
        "generate",
        "--model",
        &model,
        "--prompt",
        &p1,
        "--temperature",
        "0",
        "--tokens",
        "24",
    ]);
    assert!(g.status.success(), "{}", stderr(&g));
    let reply1 = stdout(&g)[p1.len()..].trim_end().to_string();
    assert!(
        out.starts_with(&reply1),
        "chat:\n{out}\ngenerate:\n{reply1}"
    );
}

#[test]
fn bench_llm_prints_one_json_line() {
    let Some(model) = real_model() else { return };
    let o = nerve(&[
        "bench",
        "llm",
        "--quick",
        "--json",
        "--model",
        &model.display().to_string(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_str(stdout(&o).trim()).unwrap();
    assert!(v["decode_tokens_per_s"].as_f64().unwrap() > 0.0);
    assert!(v["prompt_tokens_per_s"].as_f64().unwrap() > 0.0);
    assert_eq!(v["weight_bytes_per_token"].as_u64(), Some(96_575_076));
}

/// The megabytes after `key` in `line` ("KV cache 1.2 MB").
fn mb_after(line: &str, key: &str) -> f64 {
    let rest = &line[line.find(key).unwrap_or_else(|| panic!("{key} in {line}")) + key.len()..];
    rest.trim_start()
        .split(' ')
        .next()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("a number after {key} in {line}"))
}

#[test]
fn chat_stays_within_the_file_the_cache_and_a_margin() {
    // The weights stay in the mapped file (never copied to f32), so the
    // resident peak of a conversation is at most the file, the KV cache and
    // a margin for the program, the tokenizer's tables and the buffers of
    // one forward pass (measured about 20 MB; see docs/llm.md).
    let Some(model) = real_model() else { return };
    let o = nerve_stdin(
        &[
            "chat",
            "--model",
            &model.display().to_string(),
            "--temperature",
            "0",
            "--tokens",
            "48",
        ],
        "Hello! Who are you?\nWhat is a neural network?\nGive me three colours.\n/reset\nWhat is 2 + 2?\n",
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let err = stderr(&o);
    let total = err
        .lines()
        .find(|l| l.starts_with("[total:"))
        .unwrap_or_else(|| panic!("no total line in {err}"));
    let (file, cache, peak) = (
        mb_after(total, "model file"),
        mb_after(total, "KV cache"),
        mb_after(total, "(peak"),
    );
    const MARGIN_MB: f64 = 48.0;
    assert!(
        peak <= file + cache + MARGIN_MB,
        "peak resident {peak} MB > file {file} + cache {cache} + {MARGIN_MB} MB: {total}"
    );
}
