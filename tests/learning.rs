//! End to end: short training runs that must actually learn (thresholds a
//! broken forward, backward or optimizer cannot pass), the symmetry trap of
//! all-equal initial weights, and results that do not depend on the number of
//! threads.

use nerve::nn::init::{self, FanMode};
use nerve::nn::{functional as F, Linear, Module, Perceptron, ReLU, Reduction, Sequential, Tanh};
use nerve::optim::{Adam, Optimizer, SGD};
use nerve::{manual_seed, no_grad, Generator, Tensor};

const XOR_X: [f32; 8] = [0.0, 0.0, 0.0, 1.0, 1.0, 0.0, 1.0, 1.0];
const XOR_Y: [usize; 4] = [0, 1, 1, 0];

fn truth_table_inputs() -> Tensor {
    Tensor::from_vec(XOR_X.to_vec(), &[4, 2])
}

// ---------------------------------------------------------------------------
// The perceptron
// ---------------------------------------------------------------------------

fn perceptron_on(labels: [f32; 4]) -> (Perceptron, Option<usize>, Vec<f32>) {
    let x = truth_table_inputs();
    let mut p = Perceptron::new(2, 0.1);
    let epochs = p.fit(&x, &labels, 100);
    let pred = p.predict(&x);
    (p, epochs, pred)
}

#[test]
fn perceptron_learns_and() {
    let labels = [0.0, 0.0, 0.0, 1.0];
    let (p, epochs, pred) = perceptron_on(labels);
    let epochs = epochs.expect("the perceptron must converge on AND (linearly separable)");
    assert!(epochs <= 100);
    assert_eq!(
        pred, labels,
        "AND predictions (w {:?}, b {})",
        p.weights, p.bias
    );
}

#[test]
fn perceptron_learns_or() {
    let labels = [0.0, 1.0, 1.0, 1.0];
    let (p, epochs, pred) = perceptron_on(labels);
    assert!(
        epochs.is_some(),
        "the perceptron must converge on OR (linearly separable)"
    );
    assert_eq!(
        pred, labels,
        "OR predictions (w {:?}, b {})",
        p.weights, p.bias
    );
}

#[test]
fn perceptron_cannot_learn_xor() {
    let labels = [0.0, 1.0, 1.0, 0.0];
    let (p, epochs, pred) = perceptron_on(labels);
    assert_eq!(
        epochs, None,
        "XOR is not linearly separable: fit must not report convergence"
    );
    let wrong = pred.iter().zip(labels).filter(|(a, b)| **a != *b).count();
    assert!(
        wrong >= 1,
        "a single neuron cannot classify XOR, yet predicted {pred:?} (w {:?}, b {})",
        p.weights,
        p.bias
    );
}

// ---------------------------------------------------------------------------
// A hidden layer solves XOR
// ---------------------------------------------------------------------------

fn accuracy(logits: &Tensor, targets: &[usize]) -> f32 {
    let pred = logits.argmax_rows();
    let right = pred.iter().zip(targets).filter(|(a, b)| a == b).count();
    right as f32 / targets.len() as f32
}

/// Full-batch training with cross-entropy; returns the final loss.
fn train_ce(
    net: &dyn Module,
    opt: &mut dyn Optimizer,
    x: &Tensor,
    y: &[usize],
    steps: usize,
) -> f32 {
    let mut last = f32::NAN;
    for _ in 0..steps {
        opt.zero_grad();
        let loss = F::cross_entropy(&net.forward(x), y, Reduction::Mean);
        loss.backward();
        opt.step();
        last = loss.item();
    }
    last
}

#[test]
fn mlp_2_8_2_tanh_adam_learns_xor() {
    manual_seed(1);
    let net = Sequential::new()
        .add(Linear::new(2, 8))
        .add(Tanh)
        .add(Linear::new(8, 2));
    let mut opt = Adam::new(net.parameters(), 0.05);
    let x = truth_table_inputs();
    let before = no_grad(|| F::cross_entropy(&net.forward(&x), &XOR_Y, Reduction::Mean)).item();
    let loss = train_ce(&net, &mut opt, &x, &XOR_Y, 300);
    let acc = no_grad(|| accuracy(&net.forward(&x), &XOR_Y));
    assert_eq!(
        acc, 1.0,
        "XOR accuracy after 300 Adam steps (loss {before} -> {loss})"
    );
    assert!(loss < 0.05, "XOR loss after 300 steps: {before} -> {loss}");
}

#[test]
fn mlp_2_4_1_tanh_sgd_learns_xor_with_bce() {
    manual_seed(2);
    let net = Sequential::new()
        .add(Linear::new(2, 4))
        .add(Tanh)
        .add(Linear::new(4, 1));
    let mut opt = SGD::new(net.parameters(), 0.5).momentum(0.9);
    let x = truth_table_inputs();
    let y = Tensor::from_vec(vec![0.0, 1.0, 1.0, 0.0], &[4, 1]);
    let mut loss = f32::NAN;
    for _ in 0..400 {
        opt.zero_grad();
        let l = F::binary_cross_entropy_with_logits(&net.forward(&x), &y, Reduction::Mean);
        l.backward();
        opt.step();
        loss = l.item();
    }
    let out = no_grad(|| net.forward(&x).sigmoid()).to_vec();
    let pred: Vec<f32> = out
        .iter()
        .map(|&p| if p > 0.5 { 1.0 } else { 0.0 })
        .collect();
    assert_eq!(
        pred,
        [0.0, 1.0, 1.0, 0.0],
        "XOR probabilities {out:?} after 400 SGD steps (loss {loss})"
    );
    assert!(loss < 0.1, "XOR BCE loss after 400 steps: {loss}");
}

// ---------------------------------------------------------------------------
// Symmetry: equal initial weights stay equal
// ---------------------------------------------------------------------------

/// A 2-8-2 tanh network whose layers are initialised by `init_w`, biases zero.
fn mlp_2_8_2(init_w: impl Fn(&Tensor)) -> (Sequential, Tensor, Tensor) {
    let l1 = Linear::new(2, 8);
    let l2 = Linear::new(8, 2);
    for l in [&l1, &l2] {
        init_w(&l.weight);
        init::zeros_(l.bias.as_ref().unwrap());
    }
    let (w1, w2) = (l1.weight.clone(), l2.weight.clone());
    let net = Sequential::new().add(l1).add(Tanh).add(l2);
    (net, w1, w2)
}

/// Largest difference between any hidden unit's incoming weights and unit 0's,
/// also counting the outgoing weights (columns of the second layer).
fn hidden_unit_spread(w1: &Tensor, w2: &Tensor) -> f32 {
    let (a, b) = (w1.to_vec(), w2.to_vec());
    let (hidden, inputs) = (w1.shape()[0], w1.shape()[1]);
    let outputs = w2.shape()[0];
    let mut spread = 0.0f32;
    for h in 1..hidden {
        for i in 0..inputs {
            spread = spread.max((a[h * inputs + i] - a[i]).abs());
        }
        for o in 0..outputs {
            spread = spread.max((b[o * hidden + h] - b[o * hidden]).abs());
        }
    }
    spread
}

fn check_symmetric_training(name: &str, init_w: impl Fn(&Tensor), must_move: bool) {
    let (net, w1, w2) = mlp_2_8_2(init_w);
    let start = w1.to_vec();
    let mut opt = SGD::new(net.parameters(), 0.5).momentum(0.9);
    let x = truth_table_inputs();
    train_ce(&net, &mut opt, &x, &XOR_Y, 200);
    let spread = hidden_unit_spread(&w1, &w2);
    assert!(
        spread <= 1e-6,
        "{name}: hidden units started identical and must stay identical, but differ by {spread}"
    );
    if must_move {
        let moved = w1
            .to_vec()
            .iter()
            .zip(&start)
            .fold(0.0f32, |m, (a, b)| m.max((a - b).abs()));
        assert!(
            moved > 1e-2,
            "{name}: the hidden weights should have been trained (moved {moved})"
        );
    }
    // Identical hidden units act as one: a 2-1-2 tanh network draws a single
    // line through the plane and cannot separate XOR.
    let acc = no_grad(|| accuracy(&net.forward(&x), &XOR_Y));
    assert!(
        acc <= 0.75,
        "{name}: a network with identical hidden units solved XOR (accuracy {acc})"
    );
}

#[test]
fn all_zero_weights_keep_hidden_units_identical() {
    check_symmetric_training("zeros_", init::zeros_, false);
}

#[test]
fn all_constant_weights_keep_hidden_units_identical() {
    check_symmetric_training("constant_(0.3)", |w| init::constant_(w, 0.3), true);
}

#[test]
fn kaiming_init_breaks_symmetry_and_learns_xor() {
    manual_seed(5);
    let (net, w1, w2) = mlp_2_8_2(|w| init::kaiming_uniform_(w, 0.0, FanMode::FanIn, "relu"));
    let spread = hidden_unit_spread(&w1, &w2);
    assert!(spread > 0.1, "Kaiming rows should differ, spread {spread}");
    let mut opt = Adam::new(net.parameters(), 0.05);
    let x = truth_table_inputs();
    let loss = train_ce(&net, &mut opt, &x, &XOR_Y, 300);
    let acc = no_grad(|| accuracy(&net.forward(&x), &XOR_Y));
    assert_eq!(acc, 1.0, "Kaiming-initialised 2-8-2 on XOR: loss {loss}");
    assert!(hidden_unit_spread(&w1, &w2) > 0.1);
}

// ---------------------------------------------------------------------------
// A 4-3-2 network on a tiny flower data set
// ---------------------------------------------------------------------------

/// Two kinds of flower measured by (sepal length, sepal width, petal length,
/// petal width) in cm: small-petalled ones and large-petalled ones, 20 each,
/// scattered around their species' typical sizes; each feature standardised
/// to mean 0 and standard deviation 1 (as a data pipeline would).
fn flowers() -> (Tensor, Vec<usize>) {
    let centres = [[5.0f32, 3.4, 1.5, 0.25], [6.5, 2.9, 5.5, 2.0]];
    let spread = [0.35f32, 0.3, 0.3, 0.15];
    let mut g = Generator::new(11);
    let (mut x, mut y) = (Vec::new(), Vec::new());
    for i in 0..40 {
        let class = i % 2;
        for f in 0..4 {
            x.push(g.normal(centres[class][f], spread[f]));
        }
        y.push(class);
    }
    for f in 0..4 {
        let col: Vec<f32> = x.iter().skip(f).step_by(4).copied().collect();
        let mean = col.iter().sum::<f32>() / col.len() as f32;
        let var = col.iter().map(|v| (v - mean).powi(2)).sum::<f32>() / col.len() as f32;
        let std = var.sqrt();
        x.iter_mut()
            .skip(f)
            .step_by(4)
            .for_each(|v| *v = (*v - mean) / std);
    }
    (Tensor::from_vec(x, &[40, 4]), y)
}

#[test]
fn mlp_4_3_2_learns_the_flower_toy() {
    manual_seed(3);
    let (x, y) = flowers();
    let net = Sequential::new()
        .add(Linear::new(4, 3))
        .add(ReLU)
        .add(Linear::new(3, 2));
    assert_eq!(net.num_parameters(), 4 * 3 + 3 + 3 * 2 + 2);
    let before = no_grad(|| accuracy(&net.forward(&x), &y));
    let mut opt = Adam::new(net.parameters(), 0.05);
    let loss = train_ce(&net, &mut opt, &x, &y, 200);
    let acc = no_grad(|| accuracy(&net.forward(&x), &y));
    assert_eq!(
        acc, 1.0,
        "flower toy accuracy {before} -> {acc}, final loss {loss}"
    );
    assert!(loss < 0.1, "flower toy loss {loss}");
}

// ---------------------------------------------------------------------------
// The same numbers on 1 and 2 threads
// ---------------------------------------------------------------------------

/// Loss and every parameter gradient of a 784-128-10 ReLU network on a batch of 256.
fn forward_backward(net: &Sequential, x: &Tensor, y: &[usize]) -> (f32, Vec<Vec<f32>>) {
    net.zero_grad();
    let loss = F::cross_entropy(&net.forward(x), y, Reduction::Mean);
    loss.backward();
    let grads = net
        .parameters()
        .iter()
        .map(|p| p.grad().expect("every parameter gets a gradient").to_vec())
        .collect();
    (loss.item(), grads)
}

#[test]
fn one_and_two_threads_give_the_same_loss_and_gradients() {
    manual_seed(9);
    let net = Sequential::new()
        .add(Linear::new(784, 128))
        .add(ReLU)
        .add(Linear::new(128, 10));
    let x = Tensor::rand(&[256, 784], 0.0, 1.0);
    let mut g = Generator::new(4);
    let y: Vec<usize> = (0..256).map(|_| g.below(10)).collect();
    let run = |threads: usize| {
        rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap()
            .install(|| {
                assert_eq!(rayon::current_num_threads(), threads);
                forward_backward(&net, &x, &y)
            })
    };
    let (l1, g1) = run(1);
    let (l2, g2) = run(2);
    assert!(l1.is_finite() && l1 > 1.0, "loss {l1}");
    assert!(
        (l1 - l2).abs() <= 1e-6 * l1.abs().max(1.0),
        "loss on 1 thread {l1}, on 2 threads {l2}"
    );
    let names: Vec<String> = net.named_parameters().into_iter().map(|p| p.0).collect();
    for ((name, a), b) in names.iter().zip(&g1).zip(&g2) {
        assert!(a.iter().any(|&v| v != 0.0), "{name}: gradient is all zero");
        let worst = a
            .iter()
            .zip(b)
            .map(|(p, q)| (p - q).abs() / p.abs().max(1e-3))
            .fold(0.0f32, f32::max);
        assert!(
            worst <= 1e-6,
            "{name}: gradients on 1 and 2 threads differ (worst relative {worst:e})"
        );
    }
}

// ---------------------------------------------------------------------------
// Full-batch gradient descent on a tiny linear regression
// ---------------------------------------------------------------------------

#[test]
fn full_batch_gradient_descent_fits_a_line() {
    manual_seed(4);
    let mut g = Generator::new(8);
    let n = 32;
    let mut xs = Vec::new();
    let mut ys = Vec::new();
    for _ in 0..n {
        let (a, b) = (g.uniform(-1.0, 1.0), g.uniform(-1.0, 1.0));
        xs.extend([a, b]);
        ys.push(3.0 * a - 2.0 * b + 0.5 + g.normal(0.0, 0.05));
    }
    let x = Tensor::from_vec(xs, &[n, 2]);
    let y = Tensor::from_vec(ys, &[n, 1]);
    let model = Linear::new(2, 1);
    let mut opt = SGD::new(model.parameters(), 0.1);
    let mse = || F::mse_loss(&model.forward(&x), &y, Reduction::Mean);
    let first = no_grad(mse).item();
    for _ in 0..100 {
        opt.zero_grad();
        let l = mse();
        l.backward();
        opt.step();
    }
    let last = no_grad(mse).item();
    assert!(
        last < 0.1 * first,
        "full-batch GD must cut the loss by more than 90%: {first} -> {last}"
    );
    let w = model.weight.to_vec();
    let b = model.bias.as_ref().unwrap().item();
    assert!(
        (w[0] - 3.0).abs() < 0.2 && (w[1] + 2.0).abs() < 0.2 && (b - 0.5).abs() < 0.1,
        "fitted y = {}·a + {}·b + {b}, true 3, -2, 0.5",
        w[0],
        w[1]
    );
}
