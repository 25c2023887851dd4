//! Losses (PyTorch's names and semantics) and regularisation penalties.
//!
//! MSE:  mean (ŷ - y)²
//! Cross-entropy on logits z with class c:  -log softmax(z)_c = logsumexp(z) - z_c
//!   fused; gradient softmax(z) - onehot(c)
//! BCE on probabilities p:  -(y·log p + (1-y)·log(1-p)), logs clamped at -100
//! BCE with logits x:  max(x,0) - x·y + log(1 + e^-|x|)  (stable for any x)
//! L1 penalty: Σ|w|   L2 penalty: Σw²

use crate::kernels::log_softmax_rows;
use crate::tensor::Tensor;

/// How per-element losses are combined.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Reduction {
    /// The mean over elements (PyTorch's default).
    #[default]
    Mean,
    /// The sum over elements.
    Sum,
    /// Every element's loss, unreduced.
    None,
}

fn reduce(t: Tensor, r: Reduction) -> Tensor {
    match r {
        Reduction::Mean => t.mean(),
        Reduction::Sum => t.sum(),
        Reduction::None => t,
    }
}

fn check_same(op: &str, a: &Tensor, b: &Tensor) {
    assert_eq!(
        a.shape(),
        b.shape(),
        "{op}: input shape {:?} and target shape {:?} differ",
        a.shape(),
        b.shape()
    );
}

/// Mean squared error.
pub fn mse_loss(input: &Tensor, target: &Tensor, reduction: Reduction) -> Tensor {
    check_same("mse_loss", input, target);
    let d = input.sub(target);
    reduce(d.mul(&d), reduction)
}

/// Cross-entropy between logits `[N, C]` and integer class targets (length N),
/// fused with log-softmax so it stays finite for logits like 1e4.
pub fn cross_entropy(logits: &Tensor, targets: &[usize], reduction: Reduction) -> Tensor {
    let s = logits.shape();
    assert!(
        s.len() == 2,
        "cross_entropy: logits must be [N, C], got {:?}",
        s
    );
    let (n, c) = (s[0], s[1]);
    assert_eq!(
        targets.len(),
        n,
        "cross_entropy: {} targets for {} rows of logits",
        targets.len(),
        n
    );
    if let Some(&bad) = targets.iter().find(|&&t| t >= c) {
        panic!("cross_entropy: target class {bad} is out of range for {c} classes");
    }
    let mut logp = vec![0.0f32; n * c];
    log_softmax_rows(&logits.data(), &mut logp, c);
    let per: Vec<f32> = (0..n).map(|i| -logp[i * c + targets[i]]).collect();
    let (out, out_shape) = match reduction {
        Reduction::Mean => (
            vec![per.iter().map(|&v| v as f64).sum::<f64>() as f32 / n.max(1) as f32],
            vec![],
        ),
        Reduction::Sum => (
            vec![per.iter().map(|&v| v as f64).sum::<f64>() as f32],
            vec![],
        ),
        Reduction::None => (per, vec![n]),
    };
    let t = targets.to_vec();
    Tensor::from_op(out, out_shape, "cross_entropy", &[logits], move |g| {
        let gd = g.data();
        let mut gx = vec![0.0f32; n * c];
        for i in 0..n {
            let gi = match reduction {
                Reduction::Mean => gd[0] / n as f32,
                Reduction::Sum => gd[0],
                Reduction::None => gd[i],
            };
            let row = &mut gx[i * c..(i + 1) * c];
            for j in 0..c {
                row[j] = logp[i * c + j].exp() * gi;
            }
            row[t[i]] -= gi;
        }
        vec![Some(Tensor::from_vec(gx, &[n, c]))]
    })
}

/// Negative log-likelihood of log-probabilities `[N, C]` at the target classes.
pub fn nll_loss(log_probs: &Tensor, targets: &[usize], reduction: Reduction) -> Tensor {
    let s = log_probs.shape();
    assert!(s.len() == 2, "nll_loss: input must be [N, C], got {:?}", s);
    assert_eq!(
        targets.len(),
        s[0],
        "nll_loss: {} targets for {} rows",
        targets.len(),
        s[0]
    );
    let picked = log_probs.gather(1, targets, &[s[0], 1]).reshape(&[s[0]]);
    reduce(picked.neg(), reduction)
}

/// Binary cross-entropy on probabilities in [0, 1] (PyTorch clamps the logs at -100).
pub fn binary_cross_entropy(probs: &Tensor, target: &Tensor, reduction: Reduction) -> Tensor {
    check_same("binary_cross_entropy", probs, target);
    let (pd, yd) = (probs.data(), target.data());
    let per: Vec<f32> = pd
        .iter()
        .zip(yd.iter())
        .map(|(&p, &y)| -(y * p.ln().max(-100.0) + (1.0 - y) * (1.0 - p).ln().max(-100.0)))
        .collect();
    drop((pd, yd));
    let (p, y) = (probs.detach(), target.detach());
    let per = Tensor::from_op(
        per,
        probs.size(),
        "binary_cross_entropy",
        &[probs],
        move |g| {
            let (gd, pd, yd) = (g.data(), p.data(), y.data());
            let eps = 1e-12f32;
            let gx: Vec<f32> = (0..gd.len())
                .map(|i| gd[i] * (pd[i] - yd[i]) / ((pd[i] * (1.0 - pd[i])).max(eps)))
                .collect();
            vec![Some(Tensor::from_vec(gx, p.shape()))]
        },
    );
    reduce(per, reduction)
}

/// Binary cross-entropy on logits, fused with the sigmoid (numerically stable).
pub fn binary_cross_entropy_with_logits(
    logits: &Tensor,
    target: &Tensor,
    reduction: Reduction,
) -> Tensor {
    check_same("binary_cross_entropy_with_logits", logits, target);
    let (xd, yd) = (logits.data(), target.data());
    let per: Vec<f32> = xd
        .iter()
        .zip(yd.iter())
        .map(|(&x, &y)| x.max(0.0) - x * y + (-x.abs()).exp().ln_1p())
        .collect();
    drop((xd, yd));
    let (x, y) = (logits.detach(), target.detach());
    let per = Tensor::from_op(
        per,
        logits.size(),
        "binary_cross_entropy_with_logits",
        &[logits],
        move |g| {
            let (gd, xd, yd) = (g.data(), x.data(), y.data());
            let gx: Vec<f32> = (0..gd.len())
                .map(|i| gd[i] * (crate::tensor::sigmoid(xd[i]) - yd[i]))
                .collect();
            vec![Some(Tensor::from_vec(gx, x.shape()))]
        },
    );
    reduce(per, reduction)
}

/// L1 penalty Σ|w| over the given parameters (add `λ·penalty` to the loss).
pub fn l1_penalty(params: &[Tensor]) -> Tensor {
    params
        .iter()
        .map(|p| p.abs().sum())
        .reduce(|a, b| a.add(&b))
        .unwrap_or_else(|| Tensor::scalar(0.0))
}

/// L2 penalty Σw² over the given parameters.
pub fn l2_penalty(params: &[Tensor]) -> Tensor {
    params
        .iter()
        .map(|p| p.mul(p).sum())
        .reduce(|a, b| a.add(&b))
        .unwrap_or_else(|| Tensor::scalar(0.0))
}
