//! Model files carry PyTorch's state_dict names and shapes: the file of each
//! example loads into the equivalent torch.nn.Sequential with
//! load_state_dict(strict=True). tests/fixtures/state_dict/make_fixture.py
//! wrote the expected names from torch and checked real runs with torch itself.

use std::collections::BTreeMap;
use std::path::Path;

use nerve::config::Config;
use nerve::nn::Module;
use nerve::train::build_model;

fn expected(name: &str) -> BTreeMap<String, Vec<usize>> {
    let text = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/state_dict/state_dict.json"),
    )
    .unwrap();
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    serde_json::from_value(v[name].clone()).unwrap()
}

fn ours(config: &str, input: &[usize], classes: usize) -> BTreeMap<String, Vec<usize>> {
    let cfg = Config::load(Path::new(env!("CARGO_MANIFEST_DIR")).join(config)).unwrap();
    let m = build_model(&cfg, input, classes).unwrap();
    m.net
        .state_dict()
        .into_iter()
        .map(|(n, t)| (n, t.shape().to_vec()))
        .collect()
}

#[test]
fn mnist_mlp_names_match_torch() {
    assert_eq!(
        ours("examples/mnist-mlp.toml", &[1, 28, 28], 10),
        expected("mnist-mlp")
    );
}

#[test]
fn leaf_flower_names_match_torch() {
    assert_eq!(
        ours("examples/leaf-flower.toml", &[4], 2),
        expected("leaf-flower")
    );
}

#[test]
fn saved_file_round_trips_through_safetensors() {
    let cfg = Config::load(Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/leaf-flower.toml"))
        .unwrap();
    let m = build_model(&cfg, &[4], 2).unwrap();
    let path = Path::new(env!("CARGO_TARGET_TMPDIR")).join("leaf-state.safetensors");
    nerve::io::save_safetensors(&path, &m.net.state_dict(), None).unwrap();
    let back = nerve::io::load_safetensors(&path).unwrap();
    let names: Vec<&str> = back.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["0.weight", "0.bias", "2.weight", "2.bias"]);
    for ((_, a), (_, b)) in m.net.state_dict().iter().zip(&back) {
        assert_eq!(a.to_vec(), b.to_vec());
    }
}
