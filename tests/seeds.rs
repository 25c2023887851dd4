//! The seeds' worked examples, number by number.

use nerve::nn::{Linear, Module, Sequential};
use nerve::{no_grad, Tensor};

#[test]
fn one_neuron_weighted_sum_plus_bias() {
    let x = Tensor::from_vec(vec![32.0, 107.0, 56.0, 11.2], &[1, 4]);
    let w = Tensor::from_vec(vec![0.10, -0.29, -0.07, 0.46], &[1, 4]);
    let b = Tensor::from_vec(vec![0.25], &[1]);
    let neuron = Linear::from_weights(w, Some(b));
    let z = neuron.forward(&x);
    assert_eq!(z.shape(), [1, 1]);
    assert!(
        (z.item() - -26.35).abs() < 0.01,
        "weighted sum + bias = {}",
        z.item()
    );
    assert_eq!(z.relu().item(), 0.0);
}

#[test]
fn softmax_of_two_scores() {
    let p = Tensor::from_vec(vec![0.8, 0.2], &[2]).softmax(0).to_vec();
    assert!(
        (p[0] - 0.646).abs() < 1e-3 && (p[1] - 0.354).abs() < 1e-3,
        "{p:?}"
    );
    let sum: f32 = p.iter().sum();
    assert!((sum - 1.0).abs() < 1e-6);
}

#[test]
fn temperature_sharpens_and_flattens() {
    let x = Tensor::from_vec(vec![2.0, 1.0, 0.1], &[3]);
    let cold = x.softmax_with_temperature(0, 0.5).to_vec();
    let plain = x.softmax(0).to_vec();
    let hot = x.softmax_with_temperature(0, 5.0).to_vec();
    assert!(cold[0] > plain[0] && plain[0] > hot[0]);
    assert!((plain[0] - 0.659).abs() < 1e-3, "{plain:?}");
}

#[test]
fn two_linear_layers_without_activation_are_one_linear_layer() {
    nerve::manual_seed(3);
    let net = Sequential::new()
        .add(Linear::new(4, 5))
        .add(Linear::new(5, 3));
    let p = net.named_parameters();
    let (w1, b1, w2, b2) = (&p[0].1, &p[1].1, &p[2].1, &p[3].1);
    // W = W2·W1, b = W2·b1 + b2
    let (w, b) = no_grad(|| {
        (
            w2.matmul(w1),
            w2.matmul(&b1.reshape(&[5, 1])).reshape(&[3]).add(b2),
        )
    });
    let single = Linear::from_weights(w, Some(b));
    let x = Tensor::randn(&[6, 4], 0.0, 1.0);
    let (y2, y1) = no_grad(|| (net.forward(&x), single.forward(&x)));
    for (a, b) in y2.to_vec().iter().zip(y1.to_vec()) {
        assert!((a - b).abs() < 1e-5, "{a} vs {b}");
    }
}

#[test]
fn cross_entropy_is_finite_for_huge_logits() {
    let logits = Tensor::from_vec(vec![1e4, 0.0, -1e4], &[1, 3]).requires_grad_(true);
    let loss = nerve::nn::cross_entropy(&logits, &[0], nerve::nn::Reduction::Mean);
    assert!(
        loss.item().is_finite() && loss.item().abs() < 1e-6,
        "loss {}",
        loss.item()
    );
    let loss1 = nerve::nn::cross_entropy(&logits, &[1], nerve::nn::Reduction::Mean);
    assert!((loss1.item() - 1e4).abs() < 1.0, "loss {}", loss1.item());
    loss1.backward();
    let g = logits.grad().unwrap().to_vec();
    assert!(g.iter().all(|v| v.is_finite()));
    assert!(
        (g[0] - 1.0).abs() < 1e-6 && (g[1] + 1.0).abs() < 1e-6 && g[2].abs() < 1e-6,
        "{g:?}"
    );
}

#[test]
fn nan_is_never_hidden() {
    let x = Tensor::from_vec(vec![-1.0, 4.0], &[2]);
    let y = x.sqrt();
    assert!(y.to_vec()[0].is_nan());
    assert!(y.has_non_finite());
    let m = Tensor::from_vec(vec![1.0, f32::NAN, 0.5], &[1, 3]);
    assert!(m.max().item().is_nan(), "max must propagate NaN");
    assert!(m.softmax(1).has_non_finite());
}

#[test]
#[should_panic(expected = "matmul: [2, 3] x [4, 5]: inner dimensions 3 and 4 differ")]
fn matmul_shape_mismatch_names_both_shapes() {
    Tensor::zeros(&[2, 3]).matmul(&Tensor::zeros(&[4, 5]));
}

#[test]
#[should_panic(expected = "add: shapes [2, 3] and [4] cannot be broadcast together")]
fn broadcast_mismatch_names_both_shapes() {
    Tensor::zeros(&[2, 3]).add(&Tensor::zeros(&[4]));
}
