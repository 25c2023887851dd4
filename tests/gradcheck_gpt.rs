//! The transformer's ops against central finite differences: LayerNorm,
//! RMSNorm, fused attention with its masks (causal, key padding, additive,
//! dropout), the mask ops, a block, and the GPT's loss with respect to its
//! parameters. Also: the fused attention equals attention written out of
//! plain ops (matmul, masked_fill, softmax).

use nerve::models::{DataSpec, GptConfig, Task};
use nerve::nn::attention::{
    attention, attention_qkv, scaled_dot_product_attention, Arrangement, AttnOptions,
};
use nerve::nn::norm::{layer_norm, rms_norm};
use nerve::nn::transformer::Block;
use nerve::nn::{cross_entropy, Module, Reduction};
use nerve::{gradcheck, manual_seed, Generator, Tensor};

const TOL: f32 = 1e-2;
const EPS: f32 = 1e-2;

fn rnd(shape: &[usize], seed: u64) -> Tensor {
    Tensor::randn_with(shape, 0.0, 0.8, &mut Generator::new(seed))
}

fn check(name: &str, f: impl Fn(&[Tensor]) -> Tensor, inputs: &[Tensor]) {
    let r = gradcheck(f, inputs, EPS);
    assert!(r.checked > 0, "{name}: nothing checked");
    assert!(
        r.passed(TOL),
        "{name}: worst relative error {} at (input {}, element {})",
        r.max_rel_error,
        r.worst.0,
        r.worst.1
    );
}

#[test]
fn layer_norm_with_and_without_weight_and_bias() {
    let x = rnd(&[3, 2, 6], 1);
    let (w, b) = (rnd(&[6], 2).add_scalar(1.0), rnd(&[6], 3));
    check(
        "layer_norm",
        |t| layer_norm(&t[0], 6, Some(&t[1]), Some(&t[2]), 1e-5),
        &[x.clone(), w.clone(), b],
    );
    check(
        "layer_norm_no_bias",
        |t| layer_norm(&t[0], 6, Some(&t[1]), None, 1e-5),
        &[x.clone(), w],
    );
    check(
        "layer_norm_plain",
        |t| layer_norm(&t[0], 12, None, None, 1e-5),
        &[x],
    );
}

#[test]
fn rms_norm_with_and_without_weight() {
    let x = rnd(&[4, 5], 4);
    check(
        "rms_norm",
        |t| rms_norm(&t[0], 5, Some(&t[1]), 1e-6),
        &[x.clone(), rnd(&[5], 5).add_scalar(1.0)],
    );
    check("rms_norm_plain", |t| rms_norm(&t[0], 5, None, 1e-6), &[x]);
}

#[test]
fn packed_causal_attention() {
    // [B, T, 3E] with 2 heads of 3.
    check(
        "attention_qkv",
        |t| attention_qkv(&t[0], 2, 0.0, false),
        &[rnd(&[2, 5, 18], 6)],
    );
}

#[test]
fn attention_with_padding_bias_and_layouts() {
    let (b, l, s, e, h) = (2, 3, 4, 6, 2);
    // Key 3 of sequence 1 is padding; the bias forbids (0, 1).
    let mut kp = vec![false; b * s];
    kp[s + 3] = true;
    let mut bias: Vec<f32> = (0..l * s).map(|i| (i % 3) as f32 * 0.3 - 0.3).collect();
    bias[1] = f32::NEG_INFINITY;
    let opts = AttnOptions {
        key_padding_mask: Some(kp),
        attn_bias: Some(bias),
        ..AttnOptions::default()
    };
    for arr in [Arrangement::BatchFirst, Arrangement::SeqFirst] {
        let shape = |n: usize| match arr {
            Arrangement::BatchFirst => vec![b, n, e],
            _ => vec![n, b, e],
        };
        check(
            &format!("attention {arr:?}"),
            |t| attention(&t[0], &t[1], &t[2], h, arr, &opts).0,
            &[rnd(&shape(l), 7), rnd(&shape(s), 8), rnd(&shape(s), 9)],
        );
    }
    // PyTorch's [B, H, L, d] operands, causal, another scale.
    let opts = AttnOptions {
        is_causal: true,
        scale: Some(0.7),
        ..AttnOptions::default()
    };
    check(
        "sdpa heads",
        |t| scaled_dot_product_attention(&t[0], &t[1], &t[2], &opts),
        &[
            rnd(&[2, 2, 4, 3], 10),
            rnd(&[2, 2, 4, 3], 11),
            rnd(&[2, 2, 4, 3], 12),
        ],
    );
}

#[test]
fn attention_dropout_draws_the_same_masks_backward() {
    // The same seed before each call: the same masks, so the function is
    // deterministic and its gradient can be checked.
    check(
        "attention dropout",
        |t| {
            manual_seed(42);
            attention_qkv(&t[0], 2, 0.3, true)
        },
        &[rnd(&[2, 6, 12], 13)],
    );
    // Dropout changes the output in training and not in evaluation.
    let x = rnd(&[1, 6, 12], 14);
    let a = attention_qkv(&x, 2, 0.5, true).to_vec();
    let b = attention_qkv(&x, 2, 0.5, false).to_vec();
    let c = attention_qkv(&x, 2, 0.0, true).to_vec();
    assert_ne!(a, b);
    assert_eq!(b, c);
}

/// Attention written out of plain ops, nanoGPT's "manual" path:
/// (q·kᵀ)/√d, masked_fill(tril == 0, −∞), softmax, ·v.
fn manual_attention(qkv: &Tensor, heads: usize) -> Tensor {
    let (b, t, e3) = (qkv.shape()[0], qkv.shape()[1], qkv.shape()[2]);
    let e = e3 / 3;
    let d = e / heads;
    let parts = qkv.split(e, 2);
    let split = |x: &Tensor| {
        x.reshape(&[b, t, heads, d])
            .transpose(1, 2)
            .reshape(&[b * heads, t, d])
    };
    let (q, k, v) = (split(&parts[0]), split(&parts[1]), split(&parts[2]));
    let att = q
        .matmul(&k.transpose(1, 2))
        .mul_scalar(1.0 / (d as f32).sqrt());
    let future = Tensor::ones(&[t, t]).tril(0).add_scalar(-1.0).neg(); // 1 above the diagonal
    let att = att.masked_fill(&future, f32::NEG_INFINITY).softmax(-1);
    att.matmul(&v)
        .reshape(&[b, heads, t, d])
        .transpose(1, 2)
        .reshape(&[b, t, e])
}

#[test]
fn fused_attention_equals_the_plain_ops_forward_and_backward() {
    let x = rnd(&[2, 7, 24], 15).requires_grad_(true);
    let fused = attention_qkv(&x, 4, 0.0, false);
    let plain = manual_attention(&x, 4);
    for (a, b) in fused.to_vec().iter().zip(plain.to_vec()) {
        assert!((a - b).abs() < 1e-5, "{a} vs {b}");
    }
    let cot = rnd(&[2, 7, 8], 16);
    fused.mul(&cot).sum().backward();
    let g1 = x.grad().unwrap().to_vec();
    x.zero_grad();
    plain.mul(&cot).sum().backward();
    let g2 = x.grad().unwrap().to_vec();
    for (a, b) in g1.iter().zip(&g2) {
        assert!((a - b).abs() < 1e-5, "{a} vs {b}");
    }
    // The plain path's ops have their own gradients checked.
    check(
        "manual attention",
        |t| manual_attention(&t[0], 2),
        &[rnd(&[1, 4, 12], 17)],
    );
    check(
        "where",
        |t| Tensor::where_(&Tensor::ones(&[3, 3]).tril(-1), &t[0], &t[1]),
        &[rnd(&[3, 3], 18), rnd(&[3], 19)],
    );
    check(
        "chunk",
        |t| {
            let c = t[0].chunk(3, 1);
            c[0].mul(&c[2]).add(&c[1].narrow(1, 0, 1))
        },
        &[rnd(&[2, 6], 20)],
    );
}

/// Checks the gradient of the scalar `loss()` with respect to each of
/// `params` in turn: the parameter's values are the checked input, and the
/// analytic gradient is the one autograd leaves on the model's own tensor.
fn check_params(what: &str, params: &[(String, Tensor)], loss: impl Fn() -> Tensor) {
    for (name, p) in params {
        let r = gradcheck(
            |t| {
                p.copy_from(&t[0]);
                p.zero_grad();
                let l = loss();
                if nerve::is_grad_enabled() {
                    l.backward();
                }
                // The loss, plus a term that is zero in value and carries the
                // model's gradient to the checked input.
                let g = p.grad().unwrap_or_else(|| Tensor::zeros(p.shape()));
                Tensor::scalar(l.item()).add(&t[0].sub(&t[0].detach()).mul(&g).sum())
            },
            &[p.detach_copy()],
            // A GPT's residual stream starts small (weights N(0, 0.02)), so
            // the layer norms make the loss curve sharply: a smaller step.
            1e-3,
        );
        assert!(
            r.passed(TOL),
            "{what} {name}: worst relative error {} at element {}",
            r.max_rel_error,
            r.worst.1
        );
    }
}

#[test]
fn a_block_and_its_parameters() {
    manual_seed(21);
    let block = Block::new(8, 2, true, 0.0);
    check(
        "block input",
        |t| block.forward(&t[0]),
        &[rnd(&[2, 4, 8], 22)],
    );
    let x = rnd(&[2, 4, 8], 23);
    let cot = rnd(&[2, 4, 8], 24);
    check_params("block", &block.named_parameters(), || {
        block.forward(&x).mul(&cot).sum()
    });
}

#[test]
fn gpt_loss_with_respect_to_every_parameter() {
    manual_seed(23);
    let cfg = GptConfig {
        n_layer: 2,
        n_head: 2,
        n_embd: 8,
        block_size: 6,
        dropout: 0.0,
        bias: true,
    };
    let gpt = cfg
        .build(&DataSpec {
            sample_shape: vec![5],
            task: Task::Language,
            num_outputs: 7,
            vocab_size: Some(7),
            carry_state: false,
        })
        .unwrap();
    let ids: Vec<u32> = vec![1, 4, 2, 6, 0, 3, 3, 5, 1, 2];
    let targets: Vec<usize> = vec![4, 2, 6, 0, 3, 3, 5, 1, 2, 0];
    let named = gpt.named_parameters();
    assert_eq!(
        named.len(),
        2 + 2 * 12 + 2,
        "wte (tied), wpe, 12 per block, ln_f"
    );
    check_params("gpt", &named, || {
        cross_entropy(&gpt.logits(&ids, 2), &targets, Reduction::Mean)
    });
}
