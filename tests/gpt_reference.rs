//! LayerNorm, RMSNorm, attention and the GPT against PyTorch, on the inputs
//! and reference values of tests/fixtures/gpt_reference.json (made by
//! tests/fixtures/gpt_reference.py; float64 torch results from float32
//! inputs): outputs, attention weights, the gradients of the inputs and of
//! every parameter, 3 AdamW steps with clipping and nanoGPT's schedule, and a
//! nanoGPT state_dict saved as safetensors loaded by name.

use std::collections::HashMap;
use std::sync::OnceLock;

use serde_json::Value;

use nerve::data::{Batch, BatchTargets, Inputs, TokenBatch};
use nerve::io::{load_safetensors, load_state_dict_into, save_safetensors};
use nerve::models::{DataSpec, Gpt, GptConfig, Model, Task};
use nerve::nn::attention::multihead::MhaArgs;
use nerve::nn::attention::{scaled_dot_product_attention, AttnOptions};
use nerve::nn::{
    cross_entropy, CausalSelfAttention, LayerNorm, Module, MultiheadAttention, RMSNorm, Reduction,
};
use nerve::schema::Source;
use nerve::train::config::TrainConfig;
use nerve::train::{NoObserver, Trainer};
use nerve::Tensor;

const RTOL: f32 = 1e-4;
const ATOL: f32 = 1e-5;

fn fixture() -> &'static Value {
    static DATA: OnceLock<Value> = OnceLock::new();
    DATA.get_or_init(|| {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/gpt_reference.json"
        );
        let text = std::fs::read_to_string(path).unwrap_or_else(|e| {
            panic!("cannot read {path}: {e} (run tests/fixtures/gpt_reference.py)")
        });
        serde_json::from_str(&text).expect("valid JSON")
    })
}

fn tensor(v: &Value) -> Tensor {
    let shape: Vec<usize> = v["shape"]
        .as_array()
        .expect("shape")
        .iter()
        .map(|d| d.as_u64().expect("dim") as usize)
        .collect();
    let data: Vec<f32> = v["data"]
        .as_array()
        .expect("data")
        .iter()
        .map(|x| x.as_f64().expect("number") as f32)
        .collect();
    Tensor::from_vec(data, &shape)
}

fn opt_tensor(v: &Value) -> Option<Tensor> {
    (!v.is_null()).then(|| tensor(v))
}

/// Every mismatch between `got` and the reference, as lines.
fn compare(what: &str, got: &Tensor, want: &Value, errs: &mut Vec<String>) {
    compare_tol(what, got, want, 1.0, errs)
}

fn compare_tol(what: &str, got: &Tensor, want: &Value, scale: f32, errs: &mut Vec<String>) {
    let want = tensor(want);
    if got.numel() != want.numel() {
        errs.push(format!(
            "{what}: shape {:?} vs {:?}",
            got.shape(),
            want.shape()
        ));
        return;
    }
    let (g, w) = (got.to_vec(), want.to_vec());
    let worst = g
        .iter()
        .zip(&w)
        .enumerate()
        .map(|(i, (a, b))| (i, (a - b).abs() / (scale * (ATOL + RTOL * b.abs()))))
        .fold((0, 0.0f32), |m, x| if x.1 > m.1 { x } else { m });
    if worst.1 > 1.0 || g.iter().any(|v| !v.is_finite()) {
        errs.push(format!(
            "{what}: element {} is {} vs {} (torch)",
            worst.0, g[worst.0], w[worst.0]
        ));
    }
}

fn done(errs: Vec<String>) {
    assert!(
        errs.is_empty(),
        "{} mismatches:\n{}",
        errs.len(),
        errs.join("\n")
    );
}

/// Loads torch's named tensors into `m` by name; every name must match.
fn load(m: &dyn Module, params: &Value) {
    let loaded: Vec<(String, Tensor)> = params
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p[0].as_str().unwrap().to_string(), tensor(&p[1])))
        .collect();
    load_state_dict_into(&m.named_parameters(), &loaded, "fixture").expect("same names");
}

/// Compares the gradient of each named parameter with torch's.
fn compare_grads(what: &str, m: &dyn Module, grads: &Value, errs: &mut Vec<String>) {
    let mine: HashMap<String, Tensor> = m.named_parameters().into_iter().collect();
    let refs = grads.as_array().unwrap();
    assert_eq!(mine.len(), refs.len(), "{what}: parameter count");
    for g in refs {
        let name = g[0].as_str().unwrap();
        let p = mine
            .get(name)
            .unwrap_or_else(|| panic!("{what}: no parameter '{name}'"));
        match p.grad() {
            Some(gr) => compare(&format!("{what} grad {name}"), &gr, &g[1], errs),
            None => errs.push(format!("{what}: no gradient for {name}")),
        }
    }
}

#[test]
fn layer_norm_and_rms_norm_match_pytorch() {
    let mut errs = Vec::new();
    for c in fixture()["layer_norm"].as_array().unwrap() {
        let name = c["name"].as_str().unwrap();
        let n = c["n"].as_u64().unwrap() as usize;
        let w = opt_tensor(&c["weight"]);
        let b = opt_tensor(&c["bias"]);
        let mut ln = LayerNorm::with_options(
            &[n],
            c["eps"].as_f64().unwrap() as f32,
            w.is_some(),
            b.is_some(),
        );
        if let (Some(p), Some(v)) = (&ln.weight, &w) {
            p.copy_from(v);
        }
        if let (Some(p), Some(v)) = (&ln.bias, &b) {
            p.copy_from(v);
        }
        ln.eval();
        let x = tensor(&c["x"]).requires_grad_(true);
        let y = ln.forward(&x);
        compare(&format!("layer_norm {name} y"), &y, &c["y"], &mut errs);
        y.mul(&tensor(&c["cot"])).sum().backward();
        compare(
            &format!("layer_norm {name} grad x"),
            &x.grad().unwrap(),
            &c["grad_x"],
            &mut errs,
        );
        for (p, key) in [(&ln.weight, "grad_weight"), (&ln.bias, "grad_bias")] {
            if let Some(p) = p {
                compare(
                    &format!("layer_norm {name} {key}"),
                    &p.grad().unwrap(),
                    &c[key],
                    &mut errs,
                );
            }
        }
    }
    for c in fixture()["rms_norm"].as_array().unwrap() {
        let name = c["name"].as_str().unwrap();
        let n = c["n"].as_u64().unwrap() as usize;
        let rms = RMSNorm::with_options(&[n], c["eps"].as_f64().map(|e| e as f32), true);
        rms.weight
            .as_ref()
            .unwrap()
            .copy_from(&tensor(&c["weight"]));
        let x = tensor(&c["x"]).requires_grad_(true);
        let y = rms.forward(&x);
        compare(&format!("rms_norm {name} y"), &y, &c["y"], &mut errs);
        y.mul(&tensor(&c["cot"])).sum().backward();
        compare(
            &format!("rms_norm {name} grad x"),
            &x.grad().unwrap(),
            &c["grad_x"],
            &mut errs,
        );
        compare(
            &format!("rms_norm {name} grad weight"),
            &rms.weight.as_ref().unwrap().grad().unwrap(),
            &c["grad_weight"],
            &mut errs,
        );
    }
    done(errs);
}

#[test]
fn causal_self_attention_matches_nanogpt() {
    let c = &fixture()["causal_attention"];
    let mut m = CausalSelfAttention::new(
        c["n_embd"].as_u64().unwrap() as usize,
        c["n_head"].as_u64().unwrap() as usize,
        c["bias"].as_bool().unwrap(),
        0.0,
    );
    load(&m, &c["params"]);
    m.eval();
    let mut errs = Vec::new();
    let x = tensor(&c["x"]).requires_grad_(true);
    let y = m.forward(&x);
    compare("attention y", &y, &c["y"], &mut errs);
    y.mul(&tensor(&c["cot"])).sum().backward();
    compare(
        "attention grad x",
        &x.grad().unwrap(),
        &c["grad_x"],
        &mut errs,
    );
    compare_grads("attention", &m, &c["grads"], &mut errs);
    done(errs);
}

#[test]
fn scaled_dot_product_attention_matches_pytorch() {
    let mut errs = Vec::new();
    for c in fixture()["sdpa"].as_array().unwrap() {
        let name = c["name"].as_str().unwrap();
        let (q, k, v) = (
            tensor(&c["q"]).requires_grad_(true),
            tensor(&c["k"]).requires_grad_(true),
            tensor(&c["v"]).requires_grad_(true),
        );
        let opts = AttnOptions {
            is_causal: c["is_causal"].as_bool().unwrap(),
            attn_bias: opt_tensor(&c["mask"]).map(|m| m.to_vec()),
            ..AttnOptions::default()
        };
        let y = scaled_dot_product_attention(&q, &k, &v, &opts);
        compare(&format!("sdpa {name} y"), &y, &c["y"], &mut errs);
        y.mul(&tensor(&c["cot"])).sum().backward();
        for (t, key) in [(&q, "grad_q"), (&k, "grad_k"), (&v, "grad_v")] {
            compare(
                &format!("sdpa {name} {key}"),
                &t.grad().unwrap(),
                &c[key],
                &mut errs,
            );
        }
    }
    done(errs);
}

#[test]
fn multihead_attention_matches_pytorch() {
    let mut errs = Vec::new();
    for c in fixture()["mha"].as_array().unwrap() {
        let name = c["name"].as_str().unwrap();
        let mut m = MultiheadAttention::new(
            c["embed_dim"].as_u64().unwrap() as usize,
            c["num_heads"].as_u64().unwrap() as usize,
            0.0,
            true,
            c["batch_first"].as_bool().unwrap(),
        );
        load(&m, &c["params"]);
        m.eval();
        let bools = |v: &Value| -> Option<Vec<bool>> {
            v.as_array()
                .map(|a| a.iter().map(|b| b.as_bool().unwrap()).collect())
        };
        let args = MhaArgs {
            key_padding_mask: bools(&c["key_padding_mask"]),
            attn_mask: bools(&c["attn_mask"]).map(|m| MhaArgs::bool_mask(&m)),
            ..MhaArgs::default()
        };
        let (q, k, v) = (
            tensor(&c["query"]).requires_grad_(true),
            tensor(&c["key"]).requires_grad_(true),
            tensor(&c["value"]).requires_grad_(true),
        );
        let (y, w) = m.forward_attn(&q, &k, &v, &args);
        compare(&format!("mha {name} y"), &y, &c["y"], &mut errs);
        compare(
            &format!("mha {name} weights"),
            &w.unwrap(),
            &c["weights"],
            &mut errs,
        );
        y.mul(&tensor(&c["cot"])).sum().backward();
        for (t, key) in [(&q, "grad_query"), (&k, "grad_key"), (&v, "grad_value")] {
            compare(
                &format!("mha {name} {key}"),
                &t.grad().unwrap(),
                &c[key],
                &mut errs,
            );
        }
        compare_grads(&format!("mha {name}"), &m, &c["grads"], &mut errs);
    }
    done(errs);
}

fn gpt_of(cfg: &Value, seq_len: usize) -> Gpt {
    let gc = GptConfig {
        n_layer: cfg["n_layer"].as_u64().unwrap() as usize,
        n_head: cfg["n_head"].as_u64().unwrap() as usize,
        n_embd: cfg["n_embd"].as_u64().unwrap() as usize,
        block_size: cfg["block_size"].as_u64().unwrap() as usize,
        dropout: 0.0,
        bias: cfg["bias"].as_bool().unwrap(),
    };
    let v = cfg["vocab_size"].as_u64().unwrap() as usize;
    gc.build(&DataSpec {
        sample_shape: vec![seq_len],
        task: Task::Language,
        num_outputs: v,
        vocab_size: Some(v),
        carry_state: false,
    })
    .unwrap()
}

fn ids_of(v: &Value) -> Vec<u32> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|i| i.as_u64().unwrap() as u32)
        .collect()
}

#[test]
fn gpt_matches_nanogpt_logits_loss_gradients_and_three_adamw_steps() {
    for c in fixture()["gpt"].as_array().unwrap() {
        let what = if c["config"]["bias"].as_bool().unwrap() {
            "gpt with bias"
        } else {
            "gpt without bias"
        };
        let (b, t) = (
            c["batch"].as_u64().unwrap() as usize,
            c["len"].as_u64().unwrap() as usize,
        );
        let mut gpt = gpt_of(&c["config"], t);
        load(&gpt, &c["params"]);
        gpt.eval();
        // The state_dict has nanoGPT's names, the tied weight under both.
        let names: Vec<String> = gpt.state_dict().into_iter().map(|(n, _)| n).collect();
        let want: Vec<String> = c["state_dict_keys"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| k.as_str().unwrap().to_string())
            .collect();
        let (mut a, mut bb) = (names.clone(), want.clone());
        a.sort();
        bb.sort();
        assert_eq!(a, bb, "{what}: state_dict names");

        let mut errs = Vec::new();
        let ids = ids_of(&c["ids"]);
        let targets: Vec<usize> = ids_of(&c["targets"]).iter().map(|&i| i as usize).collect();
        let logits = gpt.logits(&ids, b);
        compare(&format!("{what} logits"), &logits, &c["logits"], &mut errs);
        let loss = cross_entropy(&logits, &targets, Reduction::Mean);
        let want_loss = c["loss"].as_f64().unwrap() as f32;
        if (loss.item() - want_loss).abs() > 1e-5 {
            errs.push(format!("{what} loss {} vs {want_loss}", loss.item()));
        }
        loss.backward();
        compare_grads(what, &gpt, &c["grads"], &mut errs);
        gpt.zero_grad();

        // Three AdamW steps, configured as [train] of a nanoGPT run.
        let a = &c["adamw"];
        let toml_text = format!(
            "optimizer = \"adamw\"\nlr = {}\nbetas = [0.9, 0.99]\nweight_decay = 0.1\ndecay_1d = false\n\
             schedule = \"cosine\"\nwarmup_steps = {}\nmin_lr = {}\ndecay_steps = {}\nmax_iters = 3\n",
            a["lr"], a["warmup_steps"], a["min_lr"], a["decay_steps"]
        );
        let tc = TrainConfig::from_table(toml::from_str(&toml_text).unwrap(), &Source::NONE)
            .expect("train config");
        let clip = a["clip"].as_f64().unwrap() as f32;
        let opt = tc.optimizer.build(gpt.parameters());
        let mut trainer = Trainer::new(
            Box::new(gpt),
            opt,
            tc.schedule.build(3),
            tc.optimizer.lr(),
            Task::Language,
        )
        .clip_grad_norm(Some(clip));
        trainer.model.train(true);
        let batch = Batch {
            inputs: Inputs::Tokens(TokenBatch::new(ids.clone(), b, t)),
            targets: BatchTargets::Classes(targets.clone()),
        };
        for it in 0..3 {
            trainer.set_schedule_position(it);
            let out = trainer
                .step(std::slice::from_ref(&batch), &mut NoObserver)
                .unwrap();
            let (wl, wlr, wn) = (
                a["losses"][it].as_f64().unwrap() as f32,
                a["lrs"][it].as_f64().unwrap() as f32,
                a["grad_norms"][it].as_f64().unwrap() as f32,
            );
            if (out.loss - wl).abs() > 1e-4 || (out.lr - wlr).abs() > 1e-7 {
                errs.push(format!(
                    "{what} step {it}: loss {} lr {} vs {wl} {wlr}",
                    out.loss, out.lr
                ));
            }
            let n = out.grad_norm.unwrap();
            if (n - wn).abs() > 1e-3 * wn {
                errs.push(format!("{what} step {it}: grad norm {n} vs {wn}"));
            }
        }
        let mine: HashMap<String, Tensor> = trainer.model.named_parameters().into_iter().collect();
        let e = c["config"]["n_embd"].as_u64().unwrap() as usize;
        for p in a["params"].as_array().unwrap() {
            let name = p[0].as_str().unwrap();
            if name.ends_with("attn.c_attn.bias") {
                // The key bias adds q·b to every score of a row, which the
                // softmax cancels: its gradient is exactly 0, computed as
                // rounding noise (1e-17 in torch's float64, 1e-8 in f32),
                // and Adam divides that noise by its own size, so the key
                // part moves at random by ±lr. Compare the q and v parts.
                let (got, want) = (mine[name].to_vec(), tensor(&p[1]).to_vec());
                let keep = |v: &[f32]| -> Vec<f32> {
                    v.iter()
                        .enumerate()
                        .filter(|(i, _)| !(e..2 * e).contains(i))
                        .map(|(_, &x)| x)
                        .collect()
                };
                let (kg, kw) = (keep(&got), keep(&want));
                let want_v = serde_json::json!({"shape": [kw.len()], "data": kw});
                compare_tol(
                    &format!("{what} after 3 AdamW steps {name} (q, v)"),
                    &Tensor::from_vec(kg.clone(), &[kg.len()]),
                    &want_v,
                    3.0,
                    &mut errs,
                );
                continue;
            }
            // Three steps of Adam move a weight by up to ~3·lr; the start
            // matched to 1e-4, so compare with a little more room.
            compare_tol(
                &format!("{what} after 3 AdamW steps {name}"),
                &mine[name],
                &p[1],
                3.0,
                &mut errs,
            );
        }
        done(errs);
    }
}

#[test]
fn a_nanogpt_state_dict_in_safetensors_loads_and_gives_its_logits() {
    let c = &fixture()["nanogpt_file"];
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(c["file"].as_str().unwrap());
    let ids = ids_of(&c["ids"]);
    let mut gpt = gpt_of(&c["config"], ids.len());
    let loaded = load_safetensors(&path).unwrap();
    load_state_dict_into(&gpt.state_dict(), &loaded, &path.display().to_string()).unwrap();
    gpt.eval();
    let mut errs = Vec::new();
    compare(
        "nanoGPT file logits",
        &gpt.logits(&ids, 1),
        &c["logits"],
        &mut errs,
    );
    done(errs);
    // A file of another shape names the first tensor that does not fit.
    let mut cfg = c["config"].clone();
    cfg["n_embd"] = 32.into();
    let other = gpt_of(&cfg, ids.len());
    let e = load_state_dict_into(&other.state_dict(), &loaded, "nanogpt.safetensors")
        .unwrap_err()
        .to_string();
    assert!(
        e.contains(
            "'transformer.wte.weight' has shape [13, 16] in the file, the model expects [13, 32]"
        ),
        "{e}"
    );
}

/// Writes nerve GPTs (with and without bias) to
/// target/tmp/nerve_gpt{,_nobias}.safetensors with their logits beside them
/// (.json): `python tests/fixtures/gpt_reference.py --check-nerve-file FILE`
/// loads each into nanoGPT's GPT with strict=True and compares.
#[test]
fn writes_gpt_file_for_pytorch_check() {
    for (bias, file) in [(true, "nerve_gpt"), (false, "nerve_gpt_nobias")] {
        nerve::manual_seed(5);
        let cfg = serde_json::json!({"n_layer": 2, "n_head": 2, "n_embd": 16, "block_size": 8,
                                      "vocab_size": 9, "bias": bias});
        let mut gpt = gpt_of(&cfg, 8);
        gpt.eval();
        let ids = vec![1u32, 8, 0, 3, 3, 7];
        let logits = gpt.logits(&ids, 1).to_vec();
        let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"));
        let path = dir.join(format!("{file}.safetensors"));
        save_safetensors(&path, &gpt.state_dict(), None).unwrap();
        std::fs::write(
            dir.join(format!("{file}.json")),
            serde_json::json!({"n_head": 2, "ids": ids, "logits": logits}).to_string(),
        )
        .unwrap();
        let back = load_safetensors(&path).unwrap();
        let names: Vec<&str> = back.iter().map(|(n, _)| n.as_str()).collect();
        assert!(names.contains(&"lm_head.weight") && names.contains(&"transformer.wte.weight"));
        assert_eq!(names.contains(&"transformer.ln_f.bias"), bias);
        assert_eq!(gpt.arch(), "gpt");
    }
}
