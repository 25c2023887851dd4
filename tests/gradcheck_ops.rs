//! Every differentiable op, activation, loss and Linear against central finite
//! differences (worst relative error below 1e-2 in f32).

use nerve::nn::{functional as F, Reduction};
use nerve::{gradcheck, Generator, Tensor};

const TOL: f32 = 1e-2;
const EPS: f32 = 1e-2;

fn rnd(shape: &[usize], seed: u64) -> Tensor {
    Tensor::randn_with(shape, 0.0, 1.0, &mut Generator::new(seed))
}

/// Values kept away from 0 (for log, sqrt, div, abs, relu kinks).
fn positive(shape: &[usize], seed: u64) -> Tensor {
    Tensor::rand_with(shape, 0.5, 2.0, &mut Generator::new(seed))
}

/// Values whose magnitude is at least 0.2 (away from the kinks at 0).
fn away_from_zero(shape: &[usize], seed: u64) -> Tensor {
    let t = rnd(shape, seed);
    let v = t
        .to_vec()
        .into_iter()
        .map(|x| {
            if x.abs() < 0.2 {
                x.signum() * 0.2 + x
            } else {
                x
            }
        })
        .collect();
    Tensor::from_vec(v, shape)
}

fn check(name: &str, f: impl Fn(&[Tensor]) -> Tensor, inputs: &[Tensor]) {
    let r = gradcheck(f, inputs, EPS);
    assert!(r.checked > 0, "{name}: nothing checked");
    assert!(
        r.passed(TOL),
        "{name}: worst relative error {} at {:?}",
        r.max_rel_error,
        r.worst
    );
}

#[test]
fn binary_ops_with_broadcasting() {
    let a = rnd(&[3, 4], 1);
    let b = rnd(&[4], 2);
    let c = rnd(&[3, 1], 3);
    check("add", |x| x[0].add(&x[1]), &[a.clone(), b.clone()]);
    check("sub", |x| x[0].sub(&x[1]), &[a.clone(), c.clone()]);
    check("mul", |x| x[0].mul(&x[1]), &[a.clone(), b.clone()]);
    check(
        "div",
        |x| x[0].div(&x[1]),
        &[a.clone(), positive(&[3, 1], 4)],
    );
    check(
        "mul general broadcast",
        |x| x[0].mul(&x[1]),
        &[rnd(&[2, 1, 3], 5), rnd(&[4, 1], 6)],
    );
    check(
        "operators",
        |x| &(&x[0] * &x[1]) + &x[0],
        &[a, rnd(&[3, 4], 7)],
    );
}

#[test]
fn unary_ops() {
    let x = rnd(&[2, 5], 10);
    let p = positive(&[2, 5], 11);
    let z = away_from_zero(&[2, 5], 12);
    check("neg", |t| t[0].neg(), std::slice::from_ref(&x));
    check("exp", |t| t[0].exp(), std::slice::from_ref(&x));
    check("log", |t| t[0].log(), std::slice::from_ref(&p));
    check("sqrt", |t| t[0].sqrt(), std::slice::from_ref(&p));
    check("powf", |t| t[0].powf(2.5), std::slice::from_ref(&p));
    check("abs", |t| t[0].abs(), std::slice::from_ref(&z));
    check("clamp", |t| t[0].clamp(-0.5, 0.5), std::slice::from_ref(&z));
    check(
        "add_scalar",
        |t| t[0].add_scalar(3.0),
        std::slice::from_ref(&x),
    );
    check(
        "mul_scalar",
        |t| t[0].mul_scalar(-2.0),
        std::slice::from_ref(&x),
    );
}

#[test]
fn activations() {
    let x = rnd(&[3, 4], 20);
    let z = away_from_zero(&[3, 4], 21);
    check("relu", |t| t[0].relu(), std::slice::from_ref(&z));
    check(
        "leaky_relu",
        |t| t[0].leaky_relu(0.1),
        std::slice::from_ref(&z),
    );
    check("sigmoid", |t| t[0].sigmoid(), std::slice::from_ref(&x));
    check("tanh", |t| t[0].tanh(), std::slice::from_ref(&x));
    check("gelu", |t| t[0].gelu(), std::slice::from_ref(&x));
    check("gelu_tanh", |t| t[0].gelu_tanh(), std::slice::from_ref(&x));
    check(
        "softmax last",
        |t| t[0].softmax(-1),
        std::slice::from_ref(&x),
    );
    check(
        "softmax dim 0",
        |t| t[0].softmax(0),
        std::slice::from_ref(&x),
    );
    check(
        "softmax temperature",
        |t| t[0].softmax_with_temperature(1, 0.5),
        std::slice::from_ref(&x),
    );
    check(
        "log_softmax",
        |t| t[0].log_softmax(1),
        std::slice::from_ref(&x),
    );
    check(
        "log_softmax dim 0",
        |t| t[0].log_softmax(0),
        std::slice::from_ref(&x),
    );
}

#[test]
fn reductions() {
    let x = rnd(&[2, 3, 4], 30);
    check("sum", |t| t[0].sum(), std::slice::from_ref(&x));
    check("mean", |t| t[0].mean(), std::slice::from_ref(&x));
    check(
        "sum_dim 1",
        |t| t[0].sum_dim(1, false),
        std::slice::from_ref(&x),
    );
    check(
        "sum_dim keepdim",
        |t| t[0].sum_dim(-1, true),
        std::slice::from_ref(&x),
    );
    check(
        "mean_dim",
        |t| t[0].mean_dim(0, false),
        std::slice::from_ref(&x),
    );
    check(
        "max_dim",
        |t| t[0].max_dim(2, false).0,
        std::slice::from_ref(&x),
    );
    check("max", |t| t[0].max(), std::slice::from_ref(&x));
    check("expand", |t| t[0].expand(&[2, 3, 4]), &[rnd(&[3, 1], 31)]);
    check(
        "sum_to_shape",
        |t| t[0].sum_to_shape(&[3, 1]),
        std::slice::from_ref(&x),
    );
}

#[test]
fn matrix_products() {
    check(
        "matmul 2d",
        |t| t[0].matmul(&t[1]),
        &[rnd(&[3, 4], 40), rnd(&[4, 5], 41)],
    );
    check(
        "matmul batched",
        |t| t[0].matmul(&t[1]),
        &[rnd(&[2, 3, 4], 42), rnd(&[2, 4, 2], 43)],
    );
    check(
        "matmul nd x 2d",
        |t| t[0].matmul(&t[1]),
        &[rnd(&[2, 3, 4], 44), rnd(&[4, 2], 45)],
    );
    check(
        "linear",
        |t| F::linear(&t[0], &t[1], Some(&t[2])),
        &[rnd(&[5, 4], 46), rnd(&[3, 4], 47), rnd(&[3], 48)],
    );
    check(
        "linear no bias",
        |t| F::linear(&t[0], &t[1], None),
        &[rnd(&[2, 3, 4], 49), rnd(&[3, 4], 50)],
    );
}

#[test]
fn shape_ops() {
    let x = rnd(&[2, 3, 4], 60);
    check(
        "reshape",
        |t| t[0].reshape(&[6, 4]).mul(&t[0].reshape(&[6, 4])),
        std::slice::from_ref(&x),
    );
    check(
        "permute",
        |t| t[0].permute(&[2, 0, 1]),
        std::slice::from_ref(&x),
    );
    check(
        "transpose",
        |t| t[0].transpose(0, 2),
        std::slice::from_ref(&x),
    );
    check("narrow", |t| t[0].narrow(1, 1, 2), std::slice::from_ref(&x));
    // Along the first dimension narrow is a view; a view of a view, then an op.
    check(
        "narrow view",
        |t| {
            t[0].narrow(0, 1, 2)
                .narrow(0, 1, 1)
                .mul(&t[0].narrow(0, 0, 1))
        },
        &[rnd(&[3, 2, 4], 64)],
    );
    check(
        "cat",
        |t| Tensor::cat(&[t[0].clone(), t[1].clone()], 1),
        &[x.clone(), rnd(&[2, 2, 4], 61)],
    );
    check(
        "stack",
        |t| Tensor::stack(&[t[0].clone(), t[1].clone()], 0),
        &[rnd(&[3], 62), rnd(&[3], 63)],
    );
    check(
        "index_select",
        |t| t[0].index_select(1, &[2, 0, 2]),
        std::slice::from_ref(&x),
    );
    check(
        "gather",
        |t| t[0].gather(1, &[0, 2, 1, 1], &[2, 2]),
        &[rnd(&[2, 3], 64)],
    );
    check(
        "flatten",
        |t| t[0].flatten(1).exp(),
        std::slice::from_ref(&x),
    );
}

#[test]
fn losses() {
    let logits = rnd(&[4, 3], 70);
    let targets = [0usize, 2, 1, 2];
    for r in [Reduction::Mean, Reduction::Sum, Reduction::None] {
        check(
            "cross_entropy",
            |t| F::cross_entropy(&t[0], &targets, r),
            std::slice::from_ref(&logits),
        );
        check(
            "nll_loss",
            |t| F::nll_loss(&t[0].log_softmax(1), &targets, r),
            std::slice::from_ref(&logits),
        );
    }
    let y = Tensor::from_vec(vec![0.0, 1.0, 1.0, 0.0, 0.5, 1.0], &[2, 3]);
    check(
        "mse",
        |t| F::mse_loss(&t[0], &t[1], Reduction::Mean),
        &[rnd(&[2, 3], 71), rnd(&[2, 3], 72)],
    );
    let probs = Tensor::rand_with(&[2, 3], 0.1, 0.9, &mut Generator::new(73));
    check(
        "bce",
        |t| F::binary_cross_entropy(&t[0], &y, Reduction::Mean),
        &[probs],
    );
    check(
        "bce_with_logits",
        |t| F::binary_cross_entropy_with_logits(&t[0], &y, Reduction::Sum),
        &[rnd(&[2, 3], 74)],
    );
    check(
        "l1 penalty",
        nerve::nn::l1_penalty,
        &[away_from_zero(&[3, 2], 75)],
    );
    check(
        "l2 penalty",
        nerve::nn::l2_penalty,
        &[rnd(&[3, 2], 76), rnd(&[2], 77)],
    );
}

#[test]
fn gradcheck_catches_a_wrong_gradient() {
    // A deliberately wrong backward (relu's with the identity's derivative) must fail.
    let x = Tensor::from_vec(vec![-1.0, -0.5, 0.5, 1.0], std::slice::from_ref(&4));
    let r = gradcheck(
        |t| {
            t[0].clamp(0.0, f32::INFINITY)
                .add(&t[0].relu().mul_scalar(0.0))
        },
        std::slice::from_ref(&x),
        EPS,
    );
    assert!(r.passed(TOL));
    let wrong = gradcheck(
        |t| t[0].detach().relu().add(&t[0].mul_scalar(0.0)),
        &[x],
        EPS,
    );
    assert!(
        !wrong.passed(TOL),
        "gradcheck must notice a missing gradient"
    );
}
