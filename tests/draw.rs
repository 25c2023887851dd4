//! `nerve draw`: the neuron diagram's numbers are `nerve explain`'s, block
//! diagrams for a CNN and a char-LSTM, and clear messages for bad input.

use std::fs;

mod common;

use common::{assert_fails, nerve, repo, scratch, stderr, stdout};

/// The value of the SVG text with this class and these data attributes.
fn svg_text(svg: &str, class: &str, attrs: &str) -> Option<String> {
    let key = format!(r#"class="{class}"{attrs}>"#);
    let start = svg.find(&key)? + key.len();
    let end = svg[start..].find("</text>")? + start;
    Some(svg[start..end].to_string())
}

#[test]
fn neuron_diagram_shows_the_numbers_of_explain() {
    let d = scratch("draw_leaf");
    let run = d.join("leaf");
    let run_s = run.to_str().unwrap();
    let o = nerve(&[
        "train",
        repo("examples/leaf-flower.toml").to_str().unwrap(),
        "--out",
        run_s,
        "--no-progress",
        "--quiet",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let input = "32,107,56,11.2";
    let o = nerve(&["explain", run_s, "--input", input]);
    assert!(o.status.success(), "{}", stderr(&o));
    let explained = stdout(&o);
    let svg_path = d.join("net.svg");
    let o = nerve(&[
        "draw",
        run_s,
        "--input",
        input,
        "--out",
        svg_path.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let svg = fs::read_to_string(&svg_path).unwrap();

    // Every weighted sum and activation explain prints is in the picture.
    let mut layer = 0usize;
    let (mut sums, mut acts, mut probs) = (0, 0, 0);
    for line in explained.lines() {
        let t = line.trim();
        if let Some(rest) = t.strip_prefix("layer ") {
            layer = rest.split(':').next().unwrap().parse().unwrap();
        } else if let Some(rest) = t.strip_prefix("neuron ") {
            let j: usize = rest.split(':').next().unwrap().parse().unwrap();
            let z = t.rsplit(" = ").next().unwrap();
            let attrs = format!(r#" data-layer="{layer}" data-neuron="{j}""#);
            assert_eq!(
                svg_text(&svg, "sum", &attrs).as_deref(),
                Some(format!("z = {z}").as_str()),
                "layer {layer} neuron {j}"
            );
            sums += 1;
        } else if t.contains("relu(") {
            let j: usize = t.split(':').next().unwrap().parse().unwrap();
            let a = t.rsplit(" = ").next().unwrap();
            let attrs = format!(r#" data-layer="{layer}" data-neuron="{j}""#);
            assert_eq!(
                svg_text(&svg, "act", &attrs).as_deref(),
                Some(format!("relu = {a}").as_str())
            );
            acts += 1;
        } else if t.starts_with("flower:") || t.starts_with("leaf:") {
            let class = t.split(':').next().unwrap();
            let p = t.rsplit(" = ").next().unwrap();
            let attrs = format!(r#" data-class="{class}""#);
            assert_eq!(
                svg_text(&svg, "prob", &attrs).as_deref(),
                Some(format!("p({class}) = {p}").as_str())
            );
            probs += 1;
        }
    }
    assert_eq!((sums, acts, probs), (5, 3, 2), "{explained}");
    let pred = explained
        .lines()
        .find(|l| l.starts_with("prediction:"))
        .unwrap();
    assert!(
        svg.contains(&format!(r#"class="prediction">{pred}<"#)),
        "{svg}"
    );
    // One line per weight: 4·3 + 3·2.
    assert_eq!(svg.matches("<title>w[").count(), 18);

    // PNG too; and the weights alone without --input.
    let png = d.join("net.png");
    let o = nerve(&[
        "draw",
        run_s,
        "--input",
        input,
        "--out",
        png.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(&fs::read(&png).unwrap()[1..4], b"PNG");
    let plain = d.join("plain.svg");
    let o = nerve(&["draw", run_s, "--out", plain.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let svg = fs::read_to_string(&plain).unwrap();
    assert_eq!(svg.matches(r#"class="bias""#).count(), 5, "{svg}");

    // Bad input: both lengths named; a wrong extension; a missing run.
    let o = nerve(&[
        "draw",
        run_s,
        "--input",
        "1,2,3",
        "--out",
        plain.to_str().unwrap(),
    ]);
    assert_fails(
        &o,
        &[
            "--input",
            "takes 4 values (red, green, blue, volume)",
            "found 3",
        ],
    );
    let o = nerve(&[
        "draw",
        run_s,
        "--input",
        "1,x,3,4",
        "--out",
        plain.to_str().unwrap(),
    ]);
    assert_fails(&o, &["'x' is not a number"]);
    let o = nerve(&["draw", run_s, "--out", d.join("net.gif").to_str().unwrap()]);
    assert_fails(&o, &["net.gif", ".svg or .png"]);
    let o = nerve(&[
        "draw",
        d.join("nope").to_str().unwrap(),
        "--out",
        plain.to_str().unwrap(),
    ]);
    assert_fails(&o, &["nope"]);
    let o = nerve(&[
        "draw",
        run_s,
        "--style",
        "blocks",
        "--input",
        input,
        "--out",
        plain.to_str().unwrap(),
    ]);
    assert_fails(&o, &["--input", "block diagram"]);
}

#[test]
fn block_diagrams_for_a_cnn_and_a_char_lstm() {
    let d = scratch("draw_blocks");
    let out = d.join("lenet.svg");
    let o = nerve(&[
        "draw",
        repo("examples/lenet5.toml").to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    if o.status.success() {
        let svg = fs::read_to_string(&out).unwrap();
        assert!(svg.contains(">Conv2d  ·  0<"), "{svg}");
        assert!(svg.contains(">156 params<"), "{svg}");
        assert!(svg.contains(">[N, 6, 28, 28]<"), "{svg}");
        assert!(svg.contains("61,706 parameters"), "{svg}");
    } else {
        // The MNIST files are not on every machine; the config's data must load.
        assert!(stderr(&o).contains("mnist"), "{}", stderr(&o));
    }
    // A char-LSTM on a small text: the recurrence is drawn as a loop.
    let text = d.join("text.txt");
    fs::write(
        &text,
        "to be or not to be, that is the question. ".repeat(20),
    )
    .unwrap();
    let cfg = d.join("lstm.toml");
    fs::write(
        &cfg,
        format!(
            "[data]\ndataset = \"text\"\npath = \"{}\"\nseq_len = 16\n\n[model]\narch = \"char_rnn\"\ncell = \"lstm\"\nembedding_dim = 8\nhidden_size = 16\nnum_layers = 2\n",
            text.display()
        ),
    )
    .unwrap();
    let out = d.join("lstm.svg");
    let o = nerve(&[
        "draw",
        cfg.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let svg = fs::read_to_string(&out).unwrap();
    assert!(
        svg.contains(r#"class="recurrence" data-node="2">h, c → step t+1<"#),
        "{svg}"
    );
    assert!(svg.contains(">LSTM  ·  rnn<"), "{svg}");
    assert!(svg.contains(">[N, 16, 16]<"), "{svg}");
    // The memory lesson's LSTM classifier: the same loop.
    let mem = d.join("memory.svg");
    let o = nerve(&[
        "draw",
        repo("examples/experiments/memory-lstm.toml")
            .to_str()
            .unwrap(),
        "--out",
        mem.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let svg = fs::read_to_string(&mem).unwrap();
    assert!(svg.contains(r#"class="recurrence""#), "{svg}");
    let o = nerve(&[
        "draw",
        cfg.to_str().unwrap(),
        "--style",
        "neurons",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_fails(&o, &["--style neurons", "char_rnn", "--style blocks"]);
}

#[test]
fn block_diagram_of_a_gpt() {
    let d = scratch("draw_gpt");
    let text = d.join("text.txt");
    fs::write(
        &text,
        "to be or not to be, that is the question. ".repeat(20),
    )
    .unwrap();
    let cfg = d.join("gpt.toml");
    fs::write(
        &cfg,
        format!(
            "[data]\ndataset = \"text\"\npath = \"{}\"\n\n[model]\narch = \"gpt\"\nn_layer = 2\nn_head = 2\nn_embd = 16\nblock_size = 16\nbias = false\n",
            text.display()
        ),
    )
    .unwrap();
    let out = d.join("gpt.svg");
    let o = nerve(&[
        "draw",
        cfg.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let svg = fs::read_to_string(&out).unwrap();
    // ids → wte + wpe → 2 × (ln_1 → attn (+), ln_2 → mlp (+)) → ln_f → lm_head.
    for name in [
        ">Input<",
        ">Embedding  ·  transformer.wte<",
        ">Embedding  ·  transformer.wpe<",
        ">LayerNorm  ·  transformer.h.0.ln_1<",
        ">CausalSelfAttention  ·  transformer.h.0.attn<",
        ">LayerNorm  ·  transformer.h.1.ln_2<",
        ">MLP  ·  transformer.h.1.mlp<",
        ">LayerNorm  ·  transformer.ln_f<",
        ">Linear  ·  lm_head<",
        "weight tied to wte",
        ">[N, 16, 16]<",
    ] {
        assert!(svg.contains(name), "{name} missing in {svg}");
    }
    // The position vectors are added to the token vectors, each branch to its input.
    assert_eq!(
        svg.matches(r#"class="residual""#).count(),
        1 + 2 * 2,
        "{svg}"
    );
    assert!(
        svg.contains(r#"class="residual" data-from="2" data-to="4">+<"#),
        "the first attention adds to the embeddings: {svg}"
    );
    assert!(
        svg.contains(r#"class="residual" data-from="4" data-to="6">+<"#),
        "the first MLP adds to the attention sum: {svg}"
    );
    // Every parameter once (lm_head shares wte's): 15 characters.
    let params = 15 * 16 + 16 * 16 + 2 * (16 + 48 * 16 + 16 * 16 + 16 + 64 * 16 + 64 * 16) + 16;
    let o = nerve(&["summary", cfg.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        svg.contains(&format!("{} parameters", thousands(params))),
        "{params}: {svg}\n{}",
        stdout(&o)
    );
}

fn thousands(n: usize) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}
