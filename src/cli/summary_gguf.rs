//! `nerve summary PATH.gguf`: what a GGUF file holds: its architecture (for
//! a llama model, the shape nerve reads from it), metadata, and every tensor
//! with its type, shape and size, then the totals by type.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::path::Path;

use crate::error::Result;
use crate::io::gguf::GgufFile;
use crate::models::llama::LlamaConfig;
use crate::viz::thousands;

/// Whether `path` looks like a GGUF file (by its name or its first bytes).
pub fn is_gguf(path: &Path) -> bool {
    if path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("gguf"))
    {
        return true;
    }
    let mut magic = [0u8; 4];
    std::fs::File::open(path)
        .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut magic))
        .is_ok()
        && &magic == b"GGUF"
}

pub fn run(path: &Path) -> Result<()> {
    let f = GgufFile::open(path)?;
    print!("{}", render(&f));
    Ok(())
}

/// The summary text.
pub fn render(f: &GgufFile) -> String {
    let h = f.header();
    let mut s = String::new();
    let name = f
        .path()
        .file_name()
        .map(|n| n.to_string_lossy().into_owned());
    let _ = writeln!(
        s,
        "{}: GGUF v{}, {} bytes ({:.1} MB), {} tensors, {} metadata entries, alignment {}",
        name.unwrap_or_else(|| f.path().display().to_string()),
        h.version,
        f.file_len(),
        f.file_len() as f64 / 1e6,
        h.tensors.len(),
        h.metadata.len(),
        h.alignment
    );
    let arch = f.get("general.architecture").and_then(|v| v.as_str());
    match arch {
        Some("llama") => match LlamaConfig::from_gguf(f) {
            Ok(c) => {
                let tied = f.tensor_info("output.weight").is_none();
                let _ = writeln!(
                    s,
                    "architecture: llama, {} blocks, width {}, feed-forward {}, {} query heads and {} key/value heads of {}, \
                     RoPE theta {}, RMSNorm eps {:e}, context {}, vocabulary {}{}",
                    c.n_layers,
                    c.dim,
                    c.ffn_dim,
                    c.n_heads,
                    c.n_kv_heads,
                    c.head_dim,
                    c.rope_theta,
                    c.rms_eps,
                    c.context_length,
                    c.vocab_size,
                    if tied { ", output head tied to the token embedding" } else { "" }
                );
            }
            Err(e) => {
                let _ = writeln!(s, "architecture: llama, but nerve cannot run it: {e}");
            }
        },
        Some(a) => {
            let _ = writeln!(s, "architecture: {a} (nerve runs llama models only)");
        }
        None => {
            let _ = writeln!(s, "architecture: not given (no general.architecture)");
        }
    }
    let params: u64 = h.tensors.iter().map(|t| t.n_elements()).sum();
    let _ = writeln!(
        s,
        "parameters: {} ({:.1} M)",
        thousands(params),
        params as f64 / 1e6
    );
    let _ = writeln!(s, "\nmetadata:");
    let kw = h.metadata.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
    for (k, v) in &h.metadata {
        let _ = writeln!(s, "  {k:<kw$}  {:<6}  {}", v.type_name(), v.summary());
    }
    let _ = writeln!(s, "\ntensors:");
    let nw = h
        .tensors
        .iter()
        .map(|t| t.name.len())
        .max()
        .unwrap_or(4)
        .max(4);
    let _ = writeln!(
        s,
        "  {:<nw$}  {:<5}  {:<14}  {:>12}",
        "name", "type", "shape", "bytes"
    );
    let mut by_type: BTreeMap<&str, (usize, u64, u64)> = BTreeMap::new();
    for t in &h.tensors {
        let shape: Vec<String> = t.dims.iter().rev().map(|d| d.to_string()).collect();
        let _ = writeln!(
            s,
            "  {:<nw$}  {:<5}  {:<14}  {:>12}",
            t.name,
            t.dtype.name(),
            shape.join(" x "),
            thousands(t.n_bytes)
        );
        let e = by_type.entry(t.dtype.name()).or_default();
        e.0 += 1;
        e.1 += t.n_elements();
        e.2 += t.n_bytes;
    }
    let _ = writeln!(s, "\nby type:");
    for (ty, (n, elems, bytes)) in &by_type {
        let _ = writeln!(
            s,
            "  {ty:<5}  {n:>4} tensors  {:>13} values  {:>12} bytes ({:.1} MB, {:.2} bits per value)",
            thousands(*elems),
            thousands(*bytes),
            *bytes as f64 / 1e6,
            *bytes as f64 * 8.0 / (*elems).max(1) as f64
        );
    }
    let _ = writeln!(
        s,
        "shapes are rows x columns (GGUF lists them innermost first)"
    );
    s
}
