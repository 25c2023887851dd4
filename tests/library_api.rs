//! The library as a Rust user meets it: printing tensors and modules,
//! loading weights through the module, paths as plain strings.

use nerve::nn::{Linear, Module, ReLU, Sequential};
use nerve::tensor::Tensor;

#[test]
fn tensors_print_as_pytorch_does() {
    let t = Tensor::from_vec(vec![1.0, 2.0, 3.0, 4.5], &[2, 2]);
    assert_eq!(format!("{t}"), "tensor([[1., 2.],\n        [3., 4.5000]])");
    let v = Tensor::from_vec(vec![0.5, -1.0, 2.0], &[3]);
    assert_eq!(v.to_string(), "tensor([0.5000, -1., 2.])");
    // Big tensors are summarised by their first and last three values per axis.
    let big = Tensor::from_vec((0..2000).map(|i| i as f32).collect(), &[2000]);
    assert_eq!(
        big.to_string(),
        "tensor([0., 1., 2., ..., 1997., 1998., 1999.])"
    );
    let m = Tensor::from_vec((0..1200).map(|i| i as f32).collect(), &[40, 30]);
    let s = m.to_string();
    assert!(
        s.starts_with("tensor([[0., 1., 2., ..., 27., 28., 29.],"),
        "{s}"
    );
    assert!(s.contains("...,\n"), "{s}");
    assert!(
        s.ends_with("[1170., 1171., 1172., ..., 1197., 1198., 1199.]])"),
        "{s}"
    );
    assert!(format!("{t:?}").contains("shape=[2, 2]"));
}

fn net() -> Sequential {
    Sequential::new()
        .add(Linear::new(4, 3))
        .add(ReLU)
        .add(Linear::new(3, 2))
}

#[test]
fn modules_print_their_tree() {
    let n = net();
    let s = n.to_string();
    assert!(s.starts_with("Sequential("), "{s}");
    assert!(
        s.contains("(0): Linear(in_features=4, out_features=3, bias=True)"),
        "{s}"
    );
    let d: &dyn Module = &n;
    assert_eq!(format!("{d}"), s);
    assert_eq!(format!("{d:?}"), s);
    assert_eq!(
        Linear::new(4, 3).to_string(),
        "Linear(in_features=4, out_features=3, bias=True)"
    );
}

#[test]
fn weights_load_through_the_module_with_pytorchs_strictness() {
    let dir = std::env::temp_dir().join(format!("nerve-library-api-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("model.safetensors");
    let a = net();
    a.save_safetensors(&file).unwrap();
    let mut b = net();
    b.load_safetensors(file.to_str().unwrap()).unwrap(); // a &str path works
    for ((_, x), (_, y)) in a.state_dict().iter().zip(b.state_dict().iter()) {
        assert_eq!(x.data().to_vec(), y.data().to_vec());
    }
    // Strict: a missing tensor is an error naming it, and nothing is copied.
    let mut partial = a.state_dict();
    partial.retain(|(n, _)| n != "2.bias");
    let mut c = net();
    let before = c.state_dict()[0].1.data().to_vec();
    let e = c.load_state_dict(&partial, true).unwrap_err();
    assert!(e.message().contains("missing tensor '2.bias'"), "{e}");
    assert_eq!(c.state_dict()[0].1.data().to_vec(), before);
    // Not strict: what is there is copied, the rest left alone.
    c.load_state_dict(&partial, false).unwrap();
    assert_eq!(
        c.state_dict()[0].1.data().to_vec(),
        a.state_dict()[0].1.data().to_vec()
    );
    // A shape that differs is an error either way.
    let wrong = vec![("0.bias".to_string(), Tensor::zeros(&[5]))];
    assert!(c.load_state_dict(&wrong, false).is_err());
    // A missing file names it.
    let e = b
        .load_safetensors(dir.join("nope.safetensors"))
        .unwrap_err();
    assert!(e.message().contains("nope.safetensors"), "{e}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn runs_load_from_a_plain_string_path() {
    let Err(e) = nerve::train::load_run("no/such/run") else {
        panic!("a missing run loaded")
    };
    assert!(e.message().contains("no/such/run"), "{e}");
}
