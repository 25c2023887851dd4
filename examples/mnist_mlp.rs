//! MNIST with the library API, the way a PyTorch user writes a training loop.
//!
//!     cargo run --release --example mnist_mlp
//!
//! model = nn.Sequential(nn.Flatten(), nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 10))
//! opt = torch.optim.Adam(model.parameters(), lr=1e-3)
//! for epoch ...: for x, y in loader: loss = F.cross_entropy(model(x), y); opt.zero_grad(); loss.backward(); opt.step()

use std::path::Path;

use nerve::data::{load_mnist, BatchTargets, DataLoader};
use nerve::nn::{cross_entropy, Flatten, Linear, Module, ReLU, Reduction, Sequential};
use nerve::optim::{Adam, Optimizer};
use nerve::{manual_seed, no_grad};

fn main() -> nerve::Result<()> {
    manual_seed(0);
    let (train, test) = load_mnist(Path::new("data/mnist"))?;

    let mut model = Sequential::new()
        .add(Flatten::new())
        .add(Linear::new(784, 256))
        .add(ReLU)
        .add(Linear::new(256, 10));
    let mut opt = Adam::new(model.parameters(), 1e-3);
    let loader = DataLoader::new(train.len(), 128)?.shuffle(true).seed(0);

    for epoch in 1..=5 {
        model.train(true);
        let mut total = 0.0;
        for idx in loader.epoch(epoch) {
            let (x, y) = train.batch(&idx);
            let BatchTargets::Classes(y) = y else {
                unreachable!()
            };
            let loss = cross_entropy(&model.forward(&x), &y, Reduction::Mean);
            opt.zero_grad();
            loss.backward();
            opt.step();
            total += loss.item() * idx.len() as f32;
        }

        model.eval();
        let all: Vec<usize> = (0..test.len()).collect();
        let (x, y) = test.batch(&all);
        let BatchTargets::Classes(y) = y else {
            unreachable!()
        };
        let predicted = no_grad(|| model.forward(&x)).argmax_rows();
        let correct = predicted.iter().zip(&y).filter(|(p, t)| p == t).count();
        println!(
            "epoch {epoch}: train loss {:.4}, test accuracy {:.2}%",
            total / train.len() as f32,
            100.0 * correct as f32 / test.len() as f32
        );
    }
    nerve::io::save_safetensors(
        Path::new("mnist_mlp.safetensors"),
        &model.state_dict(),
        None,
    )?;
    println!("saved mnist_mlp.safetensors (loads into the same torch.nn.Sequential)");
    Ok(())
}
