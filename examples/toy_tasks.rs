//! The output layer follows the task, with the library API: a binary
//! classifier on the two moons (one sigmoid output, binary cross-entropy) and
//! a regression of y = sin(x) (linear output, mean squared error), each on a
//! built-in synthetic dataset, scored with the task's metrics.
//!
//!     cargo run --release --example toy_tasks
//!
//! In PyTorch terms: nn.Linear(16, 1) + F.binary_cross_entropy_with_logits for
//! the first, nn.Linear(32, 1) + F.mse_loss for the second.

use nerve::data::{synthetic, DataLoader, Dataset};
use nerve::manual_seed;
use nerve::nn::{Linear, Module, ReLU, Sequential, Tanh};
use nerve::optim::{Adam, Optimizer};
use nerve::train::task::{batch_loss, evaluate_task, Task};

/// Mini-batch training with the task's loss.
fn fit(
    model: &mut Sequential,
    task: Task,
    data: &Dataset,
    epochs: usize,
    lr: f32,
) -> nerve::Result<()> {
    let mut opt = Adam::new(model.parameters(), lr);
    let loader = DataLoader::new(data.len(), 32)?.seed(0);
    model.train(true);
    for epoch in 1..=epochs {
        for idx in loader.epoch(epoch) {
            let (x, y) = data.batch(&idx);
            let loss = batch_loss(task, &model.forward(&x), &y);
            opt.zero_grad();
            loss.backward();
            opt.step();
        }
    }
    model.eval();
    Ok(())
}

fn main() -> nerve::Result<()> {
    manual_seed(0);

    // Binary: 2 features -> 16 ReLU -> 1 logit; p = sigmoid(logit).
    let moons = synthetic::moons(600, 0.1, 1);
    let (train, test) = moons.split(0.25, 0);
    let mut clf = Sequential::new()
        .add(Linear::new(2, 16))
        .add(ReLU)
        .add(Linear::new(16, 16))
        .add(ReLU)
        .add(Linear::new(16, 1));
    fit(&mut clf, Task::Binary, &train, 60, 0.01)?;
    let m = evaluate_task(&clf, Task::Binary, &test, 1000, None);
    println!("moons, binary:   {}", m.long());

    // Regression: 1 feature -> 32 tanh -> 1 value.
    let sine = synthetic::sine(400, 0.1, 2);
    let (train, test) = sine.split(0.25, 0);
    let mut reg = Sequential::new()
        .add(Linear::new(1, 32))
        .add(Tanh)
        .add(Linear::new(32, 1));
    fit(&mut reg, Task::Regression, &train, 150, 0.01)?;
    let m = evaluate_task(&reg, Task::Regression, &test, 1000, None);
    println!("sine, regression: {}", m.long());
    Ok(())
}
