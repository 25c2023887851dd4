//! docs/config.md is generated from the config structs, so it cannot drift:
//! every key serde reads (`nerve::schema::fields_of`), its Rust type, its
//! default (the struct's own defaults, serialised) and its doc comment. The
//! test regenerates the page and fails if the committed one differs;
//! `NERVE_BLESS=1 cargo test --release --test config_reference` rewrites it.

use std::collections::BTreeMap;
use std::fmt::Write;

use nerve::data::augment::AugmentConfig;
use nerve::data::config::DataConfig;
use nerve::models::char_rnn::CharRnnConfig;
use nerve::models::gpt::GptConfig;
use nerve::models::layer_spec::LayerSpec;
use nerve::models::rnn_classifier::RnnClassifierConfig;
use nerve::models::sequential::SequentialConfig;
use nerve::optim::config::{
    AdamConfig, CosineConfig, ExponentialConfig, RmspropConfig, SgdConfig, StepConfig, WarmupConfig,
};
use nerve::schema::{fields_of, Source};
use nerve::train::config::{EarlyStopping, TrainConfig};

/// One field as the source declares it: Rust type and doc comment.
struct Field {
    ty: String,
    doc: String,
}

/// The fields of `pub struct name { ... }` in `src` with their doc comments.
fn fields(src: &str, name: &str) -> BTreeMap<String, Field> {
    let start = src
        .find(&format!("pub struct {name} {{"))
        .unwrap_or_else(|| panic!("pub struct {name} not found"));
    let body = &src[start..];
    let body = &body[body.find('{').unwrap() + 1..body.find("\n}").unwrap()];
    let mut out = BTreeMap::new();
    let mut doc: Vec<&str> = Vec::new();
    let mut rename: Option<String> = None;
    for line in body.lines().map(str::trim) {
        if let Some(d) = line.strip_prefix("///") {
            doc.push(d.trim());
        } else if let Some(rest) = line.strip_prefix("pub ") {
            if let Some((k, ty)) = rest.split_once(": ") {
                out.insert(
                    rename.take().unwrap_or_else(|| k.to_string()),
                    Field {
                        ty: ty.trim_end_matches(',').to_string(),
                        doc: doc.join(" "),
                    },
                );
            }
            doc.clear();
        } else if line.starts_with("#[") {
            if let Some(a) = line.split("alias = \"").nth(1) {
                let a = a.split('"').next().unwrap_or_default().to_string();
                out.insert(
                    a,
                    Field {
                        ty: "alias".into(),
                        doc: String::new(),
                    },
                );
            }
            if let Some(r) = line.split("rename = \"").nth(1) {
                rename = r.split('"').next().map(str::to_string);
            }
        } else {
            doc.clear();
        }
    }
    out
}

/// A Rust type in the words of a TOML file.
fn toml_type(ty: &str) -> String {
    let inner = ty
        .strip_prefix("Option<")
        .and_then(|t| t.strip_suffix('>'))
        .unwrap_or(ty);
    match inner {
        "String" => "string".into(),
        "bool" => "boolean".into(),
        "f32" | "f64" => "number".into(),
        "usize" | "u64" | "u32" => "integer".into(),
        "[f32; 2]" => "[number, number]".into(),
        "Vec<f32>" => "array of numbers".into(),
        "Vec<String>" => "array of strings".into(),
        "SizeSpec" => "integer or [h, w]".into(),
        "Vec<LayerSpec>" => "array of layer tables".into(),
        "AugmentConfig" | "EarlyStopping" => "table".into(),
        other => other.into(),
    }
}

/// A default value as a TOML file would write it (f32 values printed as f32).
fn show(v: &toml::Value) -> String {
    match v {
        toml::Value::Float(f) => format!("{}", *f as f32),
        toml::Value::Array(a) => format!("[{}]", a.iter().map(show).collect::<Vec<_>>().join(", ")),
        other => other.to_string(),
    }
}

fn table_of<T: serde::Serialize>(v: &T) -> toml::Table {
    match toml::Value::try_from(v).expect("a config serialises") {
        toml::Value::Table(t) => t,
        other => panic!("not a table: {other:?}"),
    }
}

fn train_with(extra: &str) -> toml::Table {
    let t: toml::Table = toml::from_str(extra).unwrap();
    table_of(&TrainConfig::from_table(t, &Source::NONE).unwrap())
}

/// One section's table: every key serde reads, in serde's order.
fn section(
    md: &mut String,
    title: &str,
    intro: &str,
    keys: &[&str],
    src: &str,
    structs: &[&str],
    defaults: &toml::Table,
) {
    let mut known = BTreeMap::new();
    for s in structs {
        known.extend(fields(src, s));
    }
    writeln!(md, "## {title}\n\n{intro}\n").unwrap();
    writeln!(md, "| key | type | default | meaning |\n|---|---|---|---|").unwrap();
    for k in keys {
        let f = known
            .get(*k)
            .unwrap_or_else(|| panic!("{title}: key {k} has no field in {structs:?}"));
        if f.ty == "alias" {
            continue; // named in the section's introduction
        }
        assert!(!f.doc.is_empty(), "{title}: field {k} has no doc comment");
        let default = match defaults.get(*k) {
            Some(v) => format!("`{}`", show(v)),
            None if f.ty.starts_with("Option<") => "(unset)".into(),
            None => "(required)".into(),
        };
        writeln!(
            md,
            "| `{k}` | {} | {default} | {} |",
            toml_type(&f.ty),
            f.doc.replace('|', "\\|")
        )
        .unwrap();
    }
    md.push('\n');
}

#[allow(clippy::type_complexity)]
fn generate() -> String {
    let data_src = include_str!("../src/data/config.rs");
    let aug_src = include_str!("../src/data/augment.rs");
    let train_src = include_str!("../src/train/config.rs");
    let optim_src = include_str!("../src/optim/config.rs");
    let layer_src = include_str!("../src/models/layer_spec.rs");
    let mut md = String::from(
        "# The config file, key by key\n\n\
         <!-- Generated by tests/config_reference.rs from the config structs; do not edit by hand.\n     \
         Regenerate: NERVE_BLESS=1 cargo test --release --test config_reference -->\n\n\
         A config is a TOML file with the sections `[data]`, `[model]` and `[train]` (and an optional\n\
         top-level `name`, the run's name: runs/<name>; default the file's stem). Every key below is\n\
         checked when the file is read: an unknown key is an error that suggests the nearest one, a\n\
         wrong type or a value out of range names the file, the line and the field. Worked examples:\n\
         examples/*.toml (leaf-flower.toml, mnist-mlp.toml, lenet5.toml, char-lstm.toml,\n\
         gpt-shakespeare.toml, ...).\n\n",
    );
    let mut data_defaults = table_of(&toml::from_str::<DataConfig>("dataset = \"mnist\"").unwrap());
    data_defaults.remove("dataset"); // required: no default
    section(
        &mut md,
        "`[data]`",
        "Where the examples come from; which keys apply depends on `dataset`.",
        fields_of::<DataConfig>(),
        data_src,
        &["DataConfig"],
        &data_defaults,
    );
    section(
        &mut md,
        "`[data.augment]`",
        "Random changes to every training image (image datasets only); each is off unless given.",
        fields_of::<AugmentConfig>(),
        aug_src,
        &["AugmentConfig"],
        &toml::Table::new(),
    );
    let models: [(&str, &str, &[&str], &str, &str, toml::Table); 4] = [
        (
            "`[model]` arch = \"sequential\" (the default)",
            "A stack of layers, each one the output of the last (PyTorch's nn.Sequential).",
            fields_of::<SequentialConfig>(),
            include_str!("../src/models/sequential.rs"),
            "SequentialConfig",
            table_of(&toml::from_str::<SequentialConfig>("").unwrap()),
        ),
        (
            "`[model]` arch = \"char_rnn\"",
            "A character-level language model: Embedding -> RNN/LSTM/GRU -> Linear (data: text).",
            fields_of::<CharRnnConfig>(),
            include_str!("../src/models/char_rnn.rs"),
            "CharRnnConfig",
            table_of(&toml::from_str::<CharRnnConfig>("").unwrap()),
        ),
        (
            "`[model]` arch = \"rnn_classifier\"",
            "A recurrent network that reads a sequence and classifies it by its last state (data: recall).",
            fields_of::<RnnClassifierConfig>(),
            include_str!("../src/models/rnn_classifier.rs"),
            "RnnClassifierConfig",
            table_of(&toml::from_str::<RnnClassifierConfig>("").unwrap()),
        ),
        (
            "`[model]` arch = \"gpt\"",
            "nanoGPT's GPT: token and position embeddings, n_layer pre-LN blocks, a final LayerNorm, \
             lm_head tied to the token embedding (data: text).",
            fields_of::<GptConfig>(),
            include_str!("../src/models/gpt.rs"),
            "GptConfig",
            table_of(&toml::from_str::<GptConfig>("").unwrap()),
        ),
    ];
    for (title, intro, keys, src, name, defaults) in &models {
        section(&mut md, title, intro, keys, src, &[name], defaults);
    }
    section(
        &mut md,
        "Layers: `[model] layers = [{ type = \"...\", ... }]`",
        "Each layer is a table with a `type` (linear, relu, leaky_relu, sigmoid, tanh, gelu, softmax, \
         log_softmax, dropout, flatten, identity, conv2d, max_pool2d, avg_pool2d, adaptive_avg_pool2d, \
         batch_norm1d, batch_norm2d) and the keys of that type; a key another type takes is an error \
         that names the types that take it.",
        fields_of::<LayerSpec>(),
        layer_src,
        &["LayerSpec"],
        &toml::Table::new(),
    );
    let train_defaults = train_with("");
    let loop_keys: Vec<&str> = fields_of::<TrainConfig>().to_vec();
    section(
        &mut md,
        "`[train]`",
        "How long and how to train. `optimizer` (sgd, adam, adamw, rmsprop; default adam) and \
         `schedule` (constant, step, exponential, cosine; default constant) are names whose own keys \
         follow below; they sit in `[train]` beside these. Aliases as nanoGPT spells them: \
         `max_iters` = max_steps, `grad_clip` = clip_grad_norm, `gradient_accumulation_steps` = \
         grad_accum_steps, `min_lr` = eta_min.",
        &loop_keys,
        train_src,
        &["TrainConfig"],
        &train_defaults,
    );
    section(
        &mut md,
        "`[train.early_stopping]`",
        "Stop when the validation loss has not improved for a while (needs validation data).",
        fields_of::<EarlyStopping>(),
        train_src,
        &["EarlyStopping"],
        &table_of(&toml::from_str::<EarlyStopping>("").unwrap()),
    );
    let optimizers: [(&str, &[&str], &str); 4] = [
        ("sgd", fields_of::<SgdConfig>(), "SgdConfig"),
        ("adam", fields_of::<AdamConfig>(), "AdamConfig"),
        ("adamw", fields_of::<AdamConfig>(), "AdamConfig"),
        ("rmsprop", fields_of::<RmspropConfig>(), "RmspropConfig"),
    ];
    for (name, keys, s) in optimizers {
        section(
            &mut md,
            &format!("`[train]` optimizer = \"{name}\""),
            "PyTorch's semantics and defaults.",
            keys,
            optim_src,
            &[s],
            &train_with(&format!("optimizer = \"{name}\"")),
        );
    }
    let schedules: [(&str, &[&str], &str, &str); 4] = [
        (
            "step",
            fields_of::<StepConfig>(),
            "StepConfig",
            "η·gamma^⌊t/step_size⌋.",
        ),
        (
            "exponential",
            fields_of::<ExponentialConfig>(),
            "ExponentialConfig",
            "η·gamma^t.",
        ),
        (
            "cosine",
            fields_of::<CosineConfig>(),
            "CosineConfig",
            "η_min + (η − η_min)(1 + cos(π t/T))/2 over the run (or decay_steps).",
        ),
        (
            "any schedule: warm-up",
            fields_of::<WarmupConfig>(),
            "WarmupConfig",
            "Every schedule takes a linear warm-up first.",
        ),
    ];
    for (name, keys, s, intro) in schedules {
        let title = if name.starts_with("any") {
            format!("`[train]` {name}")
        } else {
            format!("`[train]` schedule = \"{name}\"")
        };
        let defaults = if name.starts_with("any") {
            train_with("")
        } else {
            train_with(&format!("schedule = \"{name}\""))
        };
        section(&mut md, &title, intro, keys, optim_src, &[s], &defaults);
    }
    md
}

#[test]
fn docs_config_md_is_generated_from_the_structs() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/config.md");
    let want = generate();
    if std::env::var_os("NERVE_BLESS").is_some() {
        std::fs::write(path, &want).unwrap();
        return;
    }
    let have = std::fs::read_to_string(path).unwrap_or_default();
    assert!(
        have == want,
        "docs/config.md is not what the config structs say; regenerate it with \
         NERVE_BLESS=1 cargo test --release --test config_reference"
    );
}

#[test]
fn every_key_in_every_example_config_is_documented() {
    let doc = generate();
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/examples");
    let mut paths: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .chain(std::fs::read_dir(format!("{dir}/experiments")).unwrap())
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    paths.sort();
    assert!(paths.len() > 5);
    fn keys(v: &toml::Value, out: &mut Vec<String>) {
        match v {
            toml::Value::Table(t) => {
                for (k, v) in t {
                    out.push(k.clone());
                    keys(v, out);
                }
            }
            toml::Value::Array(a) => a.iter().for_each(|v| keys(v, out)),
            _ => {}
        }
    }
    for p in paths {
        let v: toml::Value = toml::from_str(&std::fs::read_to_string(&p).unwrap()).unwrap();
        let mut ks = Vec::new();
        keys(&v, &mut ks);
        for k in ks {
            let known = [
                "data",
                "model",
                "train",
                "augment",
                "early_stopping",
                "name",
                "type",
                "arch",
                "optimizer",
                "schedule",
            ];
            let aliases = [
                "max_iters",
                "grad_clip",
                "gradient_accumulation_steps",
                "min_lr",
            ];
            assert!(
                known.contains(&k.as_str())
                    || aliases.contains(&k.as_str())
                    || doc.contains(&format!("| `{k}` |")),
                "{}: key {k} is not in docs/config.md",
                p.display()
            );
        }
    }
}
