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

/// Every layer is made with `::new(...)` (PyTorch's constructor arguments);
/// the stateless ones are also unit values and `Default`.
#[test]
fn every_layer_has_new() {
    use nerve::nn::*;
    // Unit activations: the value, ::new() and ::default() are one layer.
    assert_eq!(ReLU::new().to_string(), "ReLU()");
    assert_eq!(ReLU.to_string(), ReLU.to_string());
    assert_eq!(Sigmoid::new().to_string(), "Sigmoid()");
    assert_eq!(Tanh::new().to_string(), "Tanh()");
    assert_eq!(Step::new().to_string(), "Step()");
    assert_eq!(Identity::new().to_string(), "Identity()");
    // Defaults where PyTorch has them.
    assert_eq!(LeakyReLU::default().negative_slope, 0.01);
    assert_eq!(
        LeakyReLU::new(0.2).to_string(),
        "LeakyReLU(negative_slope=0.2)"
    );
    assert_eq!(GELU::default().to_string(), "GELU(approximate='none')");
    assert_eq!(GELU::new("tanh").to_string(), "GELU(approximate='tanh')");
    assert_eq!(Dropout::default().p, 0.5);
    assert_eq!(Dropout::new(0.1).p, 0.1);
    assert_eq!(Flatten::new().start_dim, Flatten::default().start_dim);
    assert_eq!(
        Flatten { start_dim: 2 }.to_string(),
        "Flatten(start_dim=2, end_dim=-1)"
    );
    assert_eq!(Sequential::default().len(), Sequential::new().len());
    // The rest take what PyTorch's constructors take.
    let layers: Vec<Box<dyn Module>> = vec![
        Box::new(Linear::new(4, 3)),
        Box::new(Conv2d::new(1, 2, 3)),
        Box::new(MaxPool2d::new(2)),
        Box::new(AvgPool2d::new(2)),
        Box::new(AdaptiveAvgPool2d::new(1)),
        Box::new(BatchNorm1d::new(3)),
        Box::new(BatchNorm2d::new(3)),
        Box::new(LayerNorm::new(3)),
        Box::new(RMSNorm::new(3)),
        Box::new(Embedding::new(10, 4)),
        Box::new(Softmax::new(-1)),
        Box::new(LogSoftmax::new(-1)),
        Box::new(RNN::new(4, 8, RnnOptions::default())),
        Box::new(LSTM::new(4, 8, RnnOptions::default())),
        Box::new(GRU::new(4, 8, RnnOptions::default())),
    ];
    let names: Vec<String> = layers
        .iter()
        .map(|l| l.describe().split('(').next().unwrap().to_string())
        .collect();
    assert_eq!(
        names,
        [
            "Linear",
            "Conv2d",
            "MaxPool2d",
            "AvgPool2d",
            "AdaptiveAvgPool2d",
            "BatchNorm1d",
            "BatchNorm2d",
            "LayerNorm",
            "RMSNorm",
            "Embedding",
            "Softmax",
            "LogSoftmax",
            "RNN",
            "LSTM",
            "GRU"
        ]
    );
}

/// `{:?}` of any module, and of a user's own struct of modules, is the
/// PyTorch-style tree, as `print(model)` shows it.
#[test]
fn modules_debug_print_as_their_tree() {
    use nerve::nn::*;
    assert_eq!(
        format!("{:?}", Linear::new(4, 3)),
        "Linear(in_features=4, out_features=3, bias=True)"
    );
    assert_eq!(format!("{:?}", ReLU), "ReLU()");
    assert_eq!(format!("{:?}", Dropout::new(0.25)), "Dropout(p=0.25)");
    assert_eq!(format!("{:?}", net()), net().to_string());
    let lstm = LSTM::new(4, 8, RnnOptions::default());
    assert_eq!(format!("{lstm:?}"), lstm.to_string());

    // A user's own model: derive(Debug) works over nerve's layers.
    #[derive(Debug)]
    #[allow(dead_code)]
    struct MyNet {
        conv: Conv2d,
        pool: MaxPool2d,
        norm: BatchNorm2d,
        head: Linear,
        act: GELU,
    }
    let m = MyNet {
        conv: Conv2d::new(1, 4, 3),
        pool: MaxPool2d::new(2),
        norm: BatchNorm2d::new(4),
        head: Linear::new(16, 2),
        act: GELU::default(),
    };
    let s = format!("{m:?}");
    assert!(
        s.starts_with("MyNet { conv: Conv2d(1, 4, kernel_size=(3, 3)"),
        "{s}"
    );
    assert!(s.contains("act: GELU(approximate='none')"), "{s}");

    // A built architecture, held as Box<dyn Model>.
    let cfg = nerve::config::Config::parse(
        "[data]\ndataset = \"xor\"\n[model]\nlayers = [{ type = \"linear\", out = 4 }, { type = \"tanh\" }, { type = \"linear\", out = 2 }]\n[train]\nepochs = 1\n",
        "debug.toml",
    )
    .unwrap();
    let spec = nerve::models::DataSpec {
        sample_shape: vec![2],
        task: nerve::models::Task::Classification,
        num_outputs: 2,
        vocab_size: None,
        carry_state: false,
    };
    let model = cfg.model.build(&spec).unwrap();
    let s = format!("{model:?}");
    assert!(
        s.contains("Linear(in_features=2, out_features=4, bias=True)"),
        "{s}"
    );
    assert_eq!(s, model.to_string());
}

/// Every public function that reads or writes a file returns an error that
/// names the path (never a panic), and takes any `impl AsRef<Path>`.
#[test]
fn file_functions_name_the_missing_path() {
    use nerve::data::{self, CsvOptions};
    let dir = std::env::temp_dir().join(format!("nerve-missing-{}", std::process::id()));
    let p = dir.join("nope.bin");
    let ps = p.to_str().unwrap();
    let mut errors: Vec<(&str, nerve::Error)> = vec![
        (
            "load_safetensors",
            nerve::io::load_safetensors(ps).unwrap_err(),
        ),
        (
            "inspect_safetensors",
            nerve::io::inspect_safetensors(ps).unwrap_err(),
        ),
        (
            "write_atomic",
            nerve::io::write_atomic(ps, b"x").unwrap_err(),
        ),
        ("read_idx", data::read_idx(ps).unwrap_err()),
        ("read_text", data::read_text(ps).unwrap_err()),
        (
            "read_csv",
            data::read_csv(ps, &CsvOptions::classification("label")).unwrap_err(),
        ),
        (
            "CharTokenizer::load",
            data::CharTokenizer::load(ps).unwrap_err(),
        ),
        (
            "CharTokenizer::save",
            data::CharTokenizer::from_text("ab").save(ps).unwrap_err(),
        ),
        (
            "load_mnist_files",
            data::load_mnist_files(ps, ps).unwrap_err(),
        ),
        ("load_mnist", data::load_mnist(&dir).unwrap_err()),
        ("Config::load", nerve::config::Config::load(ps).unwrap_err()),
    ];
    match nerve::io::gguf::GgufFile::open(ps) {
        Err(e) => errors.push(("GgufFile::open", e)),
        Ok(_) => panic!("a missing GGUF file opened"),
    }
    match nerve::models::llama::Llama::from_gguf(ps) {
        Err(e) => errors.push(("Llama::from_gguf", e)),
        Ok(_) => panic!("a missing GGUF file loaded"),
    }
    #[cfg(feature = "images")]
    {
        errors.push((
            "open_image",
            data::image_folder::open_image(ps).unwrap_err(),
        ));
        errors.push((
            "scan_image_folder",
            data::image_folder::scan_image_folder(ps).unwrap_err(),
        ));
    }
    for (f, e) in &errors {
        let want = if *f == "load_mnist" {
            dir.display().to_string()
        } else {
            ps.to_string()
        };
        assert!(e.to_string().contains(&want), "{f}: {e}");
    }
}
