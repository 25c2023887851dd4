//! The safetensors format, read and written by hand so every field is checked
//! before it is trusted.
//!
//! A file is: 8 bytes, the header length N as a little-endian u64; N bytes of
//! UTF-8 JSON mapping each tensor name to `{"dtype", "shape", "data_offsets":
//! [start, end]}` (offsets relative to the end of the header), plus an optional
//! `"__metadata__"` map of strings; then the raw little-endian tensor data.
//!
//! nerve writes F32. It reads F32, and converts F64, F16, BF16 and integer or
//! bool tensors (e.g. BatchNorm's `num_batches_tracked`) to f32, refusing
//! values f32 cannot hold. Other dtypes are an error that names the dtype.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;
use std::fs::File;
use std::io::{self, Read, Write};
use std::path::Path;

use serde::de::{Deserialize, Deserializer, MapAccess, Visitor};
use serde_json::Value;

use super::atomic::{describe_io_error, write_atomic_with};
use crate::error::{Error, Result};
use crate::tensor::Tensor;

/// Headers larger than this are refused (the reference implementation's limit).
const MAX_HEADER_BYTES: u64 = 100 * 1024 * 1024;

/// The key of the string-to-string metadata map in the header.
const METADATA_KEY: &str = "__metadata__";

/// Named tensors, like PyTorch's `state_dict()`: `("0.weight", tensor)`, ...
pub type StateDict = Vec<(String, Tensor)>;

/// The string-to-string `__metadata__` map of a safetensors header.
pub type Metadata = HashMap<String, String>;

/// A tensor's entry in a safetensors header, as returned by
/// [`inspect_safetensors`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TensorInfo {
    /// The tensor's name, e.g. `0.weight`.
    pub name: String,
    /// The dtype as written in the file, e.g. `F32`, `BF16`.
    pub dtype: String,
    /// The shape.
    pub shape: Vec<usize>,
    /// Start and end of the tensor's bytes, relative to the end of the header.
    pub data_offsets: (usize, usize),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Dtype {
    F64,
    F32,
    F16,
    BF16,
    I64,
    I32,
    I16,
    I8,
    U64,
    U32,
    U16,
    U8,
    Bool,
}

impl Dtype {
    fn parse(s: &str) -> Option<Dtype> {
        Some(match s {
            "F64" => Dtype::F64,
            "F32" => Dtype::F32,
            "F16" => Dtype::F16,
            "BF16" => Dtype::BF16,
            "I64" => Dtype::I64,
            "I32" => Dtype::I32,
            "I16" => Dtype::I16,
            "I8" => Dtype::I8,
            "U64" => Dtype::U64,
            "U32" => Dtype::U32,
            "U16" => Dtype::U16,
            "U8" => Dtype::U8,
            "BOOL" => Dtype::Bool,
            _ => return None,
        })
    }

    fn size(self) -> usize {
        match self {
            Dtype::F64 | Dtype::I64 | Dtype::U64 => 8,
            Dtype::F32 | Dtype::I32 | Dtype::U32 => 4,
            Dtype::F16 | Dtype::BF16 | Dtype::I16 | Dtype::U16 => 2,
            Dtype::I8 | Dtype::U8 | Dtype::Bool => 1,
        }
    }
}

/// One validated header entry.
struct Entry {
    info: TensorInfo,
    dtype: Dtype,
}

/// A validated header.
struct Header {
    entries: Vec<Entry>,
    metadata: HashMap<String, String>,
}

// ---------------------------------------------------------------------------
// Loading
// ---------------------------------------------------------------------------

/// Loads every tensor of a safetensors file as f32, in the order their data
/// lies in the file (for files nerve writes, the order they were saved in).
///
/// Every header field is checked against the file before it is used; a
/// damaged or hostile file gives an error naming the file, the tensor and the
/// problem.
pub fn load_safetensors(path: impl AsRef<Path>) -> Result<Vec<(String, Tensor)>> {
    load_safetensors_with_metadata(path.as_ref()).map(|(t, _)| t)
}

/// Like [`load_safetensors`], also returning the header's `__metadata__` map
/// (empty if the file has none).
pub fn load_safetensors_with_metadata(path: impl AsRef<Path>) -> Result<(StateDict, Metadata)> {
    let path = path.as_ref();
    let bytes = std::fs::read(path).map_err(|e| {
        Error::new(format!(
            "cannot read {}: {}",
            path.display(),
            describe_io_error(&e)
        ))
    })?;
    load_safetensors_bytes_with_metadata(&bytes, &path.display().to_string())
}

/// Loads the tensors of a safetensors file already in memory; `file` names it
/// in error messages.
pub fn load_safetensors_bytes(bytes: &[u8], file: &str) -> Result<Vec<(String, Tensor)>> {
    load_safetensors_bytes_with_metadata(bytes, file).map(|(t, _)| t)
}

/// Like [`load_safetensors_bytes`], also returning the `__metadata__` map.
pub fn load_safetensors_bytes_with_metadata(
    bytes: &[u8],
    file: &str,
) -> Result<(StateDict, Metadata)> {
    let header_len = read_header_len(bytes, bytes.len() as u64, file)?;
    let json = &bytes[8..8 + header_len];
    let data = &bytes[8 + header_len..];
    let header = parse_header(json, data.len(), file)?;
    let mut tensors = Vec::with_capacity(header.entries.len());
    for e in &header.entries {
        let (start, end) = e.info.data_offsets;
        let values = decode(e.dtype, &data[start..end], &e.info, file)?;
        tensors.push((e.info.name.clone(), Tensor::from_vec(values, &e.info.shape)));
    }
    Ok((tensors, header.metadata))
}

/// Reads only the header of a safetensors file: each tensor's name, dtype,
/// shape and offsets (in data order), and the `__metadata__` map. Checks the
/// header as [`load_safetensors`] does, without reading the tensor data.
pub fn inspect_safetensors(path: impl AsRef<Path>) -> Result<(Vec<TensorInfo>, Metadata)> {
    let path = path.as_ref();
    let file = path.display().to_string();
    let io_err =
        |e: io::Error| Error::new(format!("cannot read {file}: {}", describe_io_error(&e)));
    let mut f = File::open(path).map_err(io_err)?;
    let file_len = f.metadata().map_err(io_err)?.len();
    let mut prefix = Vec::with_capacity(8);
    (&mut f).take(8).read_to_end(&mut prefix).map_err(io_err)?;
    let header_len = read_header_len(&prefix, file_len, &file)?;
    // header_len <= file_len - 8 was checked, so this allocation is bounded by
    // the file's real size.
    let mut json = vec![0u8; header_len];
    f.read_exact(&mut json).map_err(io_err)?;
    let data_len = (file_len - 8 - header_len as u64) as usize;
    let header = parse_header(&json, data_len, &file)?;
    Ok((
        header.entries.into_iter().map(|e| e.info).collect(),
        header.metadata,
    ))
}

/// Checks the 8-byte prefix against the file's length and returns the header
/// length. `prefix` holds at least the file's first bytes (up to 8).
fn read_header_len(prefix: &[u8], file_len: u64, file: &str) -> Result<usize> {
    if file_len < 8 || prefix.len() < 8 {
        crate::bail!(
            "{file}: the file is {file_len} bytes, too short to be a safetensors file \
             (it starts with an 8-byte header length)"
        );
    }
    let mut len_bytes = [0u8; 8];
    len_bytes.copy_from_slice(&prefix[..8]);
    let n = u64::from_le_bytes(len_bytes);
    let rest = file_len - 8;
    if n > rest || n > MAX_HEADER_BYTES {
        let what = if n > MAX_HEADER_BYTES {
            format!("which is over the {MAX_HEADER_BYTES}-byte limit")
        } else {
            format!("but only {rest} bytes follow")
        };
        crate::bail!(
            "{file}: header length {n} bytes, {what}: the file is truncated or not a \
             safetensors file{}",
            format_hint(prefix)
        );
    }
    if n < 2 {
        crate::bail!("{file}: header length {n} bytes is too short to hold a JSON object");
    }
    Ok(n as usize)
}

/// A hint for files that are a different format people confuse with
/// safetensors.
fn format_hint(prefix: &[u8]) -> &'static str {
    if prefix.starts_with(b"PK\x03\x04") {
        " (it looks like a zip archive, e.g. a PyTorch checkpoint written by torch.save; \
         convert it with safetensors.torch.save_file(model.state_dict(), path))"
    } else if prefix.first() == Some(&0x80) {
        " (it looks like a Python pickle, e.g. an old torch.save checkpoint; \
         convert it with safetensors.torch.save_file(model.state_dict(), path))"
    } else {
        ""
    }
}

/// A JSON object read with its keys in file order and duplicates kept, so
/// that a repeated tensor name can be reported instead of silently dropped.
struct OrderedObject(Vec<(String, Value)>);

impl<'de> Deserialize<'de> for OrderedObject {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = OrderedObject;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(
                self,
                mut map: A,
            ) -> std::result::Result<OrderedObject, A::Error> {
                let mut pairs = Vec::new();
                while let Some(pair) = map.next_entry::<String, Value>()? {
                    pairs.push(pair);
                }
                Ok(OrderedObject(pairs))
            }
        }
        d.deserialize_map(V)
    }
}

/// A short description of a JSON value for error messages.
fn describe_value(v: &Value) -> String {
    let s = v.to_string();
    if s.chars().count() > 60 {
        let cut: String = s.chars().take(57).collect();
        format!("{cut}...")
    } else {
        s
    }
}

/// Parses and validates the header against a data region of `data_len` bytes.
/// Entries come back sorted by data offset.
fn parse_header(json: &[u8], data_len: usize, file: &str) -> Result<Header> {
    let text = match std::str::from_utf8(json) {
        Ok(t) => t,
        Err(e) => crate::bail!(
            "{file}: the header is not valid UTF-8 (bad byte at offset {}); \
             the file is damaged or not a safetensors file",
            8 + e.valid_up_to()
        ),
    };
    let object: OrderedObject = match serde_json::from_str(text) {
        Ok(o) => o,
        Err(e) if e.is_data() => crate::bail!(
            "{file}: the header is JSON but not an object mapping tensor names to entries ({e})"
        ),
        Err(e) => crate::bail!(
            "{file}: the header is not valid JSON ({e}); the file is damaged or not a \
             safetensors file"
        ),
    };

    let mut metadata = HashMap::new();
    let mut entries = Vec::with_capacity(object.0.len());
    let mut seen = HashSet::new();
    for (name, value) in object.0 {
        if !seen.insert(name.clone()) {
            crate::bail!("{file}: tensor '{name}' appears twice in the header");
        }
        if name == METADATA_KEY {
            metadata = parse_metadata(value, file)?;
            continue;
        }
        entries.push(parse_entry(name, value, data_len, file)?);
    }

    // Tensors must not share bytes.
    entries.sort_by_key(|e| e.info.data_offsets);
    let mut prev: Option<&Entry> = None;
    for e in &entries {
        let (start, end) = e.info.data_offsets;
        if start == end {
            continue;
        }
        if let Some(p) = prev {
            if start < p.info.data_offsets.1 {
                crate::bail!(
                    "{file}: tensors '{}' (data_offsets {:?}) and '{}' (data_offsets {:?}) \
                     overlap in the data",
                    p.info.name,
                    p.info.data_offsets,
                    e.info.name,
                    e.info.data_offsets
                );
            }
        }
        prev = Some(e);
    }
    Ok(Header { entries, metadata })
}

fn parse_metadata(value: Value, file: &str) -> Result<HashMap<String, String>> {
    let obj = match value {
        Value::Object(o) => o,
        other => crate::bail!(
            "{file}: \"{METADATA_KEY}\" must be an object of strings, found {}",
            describe_value(&other)
        ),
    };
    let mut out = HashMap::with_capacity(obj.len());
    for (k, v) in obj {
        match v {
            Value::String(s) => {
                out.insert(k, s);
            }
            other => crate::bail!(
                "{file}: \"{METADATA_KEY}\" entry '{k}' must be a string, found {}",
                describe_value(&other)
            ),
        }
    }
    Ok(out)
}

fn parse_entry(name: String, value: Value, data_len: usize, file: &str) -> Result<Entry> {
    let obj = match value {
        Value::Object(o) => o,
        other => crate::bail!(
            "{file}: tensor '{name}': expected an object with \"dtype\", \"shape\" and \
             \"data_offsets\", found {}",
            describe_value(&other)
        ),
    };

    let dtype_str = match obj.get("dtype") {
        Some(Value::String(s)) => s.clone(),
        Some(other) => crate::bail!(
            "{file}: tensor '{name}': \"dtype\" must be a string such as \"F32\", found {}",
            describe_value(other)
        ),
        None => crate::bail!("{file}: tensor '{name}' is missing \"dtype\" in the header"),
    };
    let dtype = match Dtype::parse(&dtype_str) {
        Some(d) => d,
        None => crate::bail!(
            "{file}: tensor '{name}' has dtype {dtype_str}, which nerve cannot load \
             (it reads F32, and converts F64, F16, BF16, integer and BOOL tensors to F32)"
        ),
    };

    let shape_val = match obj.get("shape") {
        Some(v) => v,
        None => crate::bail!("{file}: tensor '{name}' is missing \"shape\" in the header"),
    };
    let shape = match index_list(shape_val) {
        Some(s) => s,
        None => crate::bail!(
            "{file}: tensor '{name}': \"shape\" must be a list of non-negative integers, \
             found {}",
            describe_value(shape_val)
        ),
    };

    let offsets_val = match obj.get("data_offsets") {
        Some(v) => v,
        None => {
            crate::bail!("{file}: tensor '{name}' is missing \"data_offsets\" in the header")
        }
    };
    let (start, end) = match index_list(offsets_val).as_deref() {
        Some(&[s, e]) => (s, e),
        _ => crate::bail!(
            "{file}: tensor '{name}': \"data_offsets\" must be two non-negative integers \
             [start, end], found {}",
            describe_value(offsets_val)
        ),
    };
    if end < start {
        crate::bail!(
            "{file}: tensor '{name}': data_offsets [{start}, {end}] end before they start"
        );
    }
    if end > data_len {
        crate::bail!(
            "{file}: tensor '{name}': data_offsets [{start}, {end}] reach past the end of \
             the data ({data_len} bytes); the file is truncated or damaged"
        );
    }

    let numel = shape.iter().try_fold(1usize, |acc, &d| acc.checked_mul(d));
    let bytes = numel.and_then(|n| n.checked_mul(dtype.size()));
    let bytes = match bytes {
        Some(b) => b,
        None => crate::bail!(
            "{file}: tensor '{name}': shape {shape:?} has more elements than can be \
             addressed (the element count overflows)"
        ),
    };
    if bytes != end - start {
        crate::bail!(
            "{file}: tensor '{name}': shape {shape:?} of {dtype_str} needs {bytes} bytes, \
             but data_offsets [{start}, {end}] hold {} bytes",
            end - start
        );
    }

    Ok(Entry {
        info: TensorInfo {
            name,
            dtype: dtype_str,
            shape,
            data_offsets: (start, end),
        },
        dtype,
    })
}

/// A JSON array of non-negative integers that fit in usize.
fn index_list(v: &Value) -> Option<Vec<usize>> {
    v.as_array()?
        .iter()
        .map(|x| x.as_u64().and_then(|u| usize::try_from(u).ok()))
        .collect()
}

/// Converts a tensor's raw little-endian bytes (length already checked) to f32.
fn decode(dtype: Dtype, bytes: &[u8], info: &TensorInfo, file: &str) -> Result<Vec<f32>> {
    fn le<const N: usize>(c: &[u8]) -> [u8; N] {
        let mut a = [0u8; N];
        a.copy_from_slice(c);
        a
    }
    let ints = |vals: Vec<i128>| -> Result<Vec<f32>> {
        let mut out = Vec::with_capacity(vals.len());
        for v in vals {
            let f = v as f32;
            if f as i128 != v {
                crate::bail!(
                    "{file}: tensor '{}' ({}) holds the value {v}, which f32 cannot \
                     represent exactly",
                    info.name,
                    info.dtype
                );
            }
            out.push(f);
        }
        Ok(out)
    };
    Ok(match dtype {
        Dtype::F32 => bytes
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes(le(c)))
            .collect(),
        Dtype::F64 => {
            let mut out = Vec::with_capacity(bytes.len() / 8);
            for c in bytes.chunks_exact(8) {
                let v = f64::from_le_bytes(le(c));
                let f = v as f32;
                if v.is_finite() && !f.is_finite() {
                    crate::bail!(
                        "{file}: tensor '{}' (F64) holds the value {v}, which is out of \
                         f32's range",
                        info.name
                    );
                }
                out.push(f);
            }
            out
        }
        Dtype::F16 => bytes
            .chunks_exact(2)
            .map(|c| f16_to_f32(u16::from_le_bytes(le(c))))
            .collect(),
        Dtype::BF16 => bytes
            .chunks_exact(2)
            .map(|c| f32::from_bits((u16::from_le_bytes(le(c)) as u32) << 16))
            .collect(),
        Dtype::I64 => ints(
            bytes
                .chunks_exact(8)
                .map(|c| i64::from_le_bytes(le(c)) as i128)
                .collect(),
        )?,
        Dtype::U64 => ints(
            bytes
                .chunks_exact(8)
                .map(|c| u64::from_le_bytes(le(c)) as i128)
                .collect(),
        )?,
        Dtype::I32 => ints(
            bytes
                .chunks_exact(4)
                .map(|c| i32::from_le_bytes(le(c)) as i128)
                .collect(),
        )?,
        Dtype::U32 => ints(
            bytes
                .chunks_exact(4)
                .map(|c| u32::from_le_bytes(le(c)) as i128)
                .collect(),
        )?,
        Dtype::I16 => bytes
            .chunks_exact(2)
            .map(|c| i16::from_le_bytes(le(c)) as f32)
            .collect(),
        Dtype::U16 => bytes
            .chunks_exact(2)
            .map(|c| u16::from_le_bytes(le(c)) as f32)
            .collect(),
        Dtype::I8 => bytes.iter().map(|&b| b as i8 as f32).collect(),
        Dtype::U8 => bytes.iter().map(|&b| b as f32).collect(),
        Dtype::Bool => bytes.iter().map(|&b| (b != 0) as u8 as f32).collect(),
    })
}

/// IEEE 754 half precision to single precision (exact).
fn f16_to_f32(h: u16) -> f32 {
    let sign = ((h >> 15) as u32) << 31;
    let exp = ((h >> 10) & 0x1f) as u32;
    let mant = (h & 0x3ff) as u32;
    let bits = match exp {
        0 if mant == 0 => sign,
        0 => {
            // Subnormal: mant * 2^-24, exact in f32.
            let v = mant as f32 * (1.0 / 16_777_216.0);
            return if sign != 0 { -v } else { v };
        }
        0x1f => sign | 0x7f80_0000 | (mant << 13),
        _ => sign | ((exp + 112) << 23) | (mant << 13),
    };
    f32::from_bits(bits)
}

// ---------------------------------------------------------------------------
// Saving
// ---------------------------------------------------------------------------

/// Saves named tensors as F32 (little-endian) to a safetensors file that
/// `safetensors.torch.load_file` reads, with optional string metadata. The
/// write is atomic: on error an existing file at `path` is left as it was.
///
/// Names must be unique and not `__metadata__`.
pub fn save_safetensors(
    path: impl AsRef<Path>,
    tensors: &[(String, Tensor)],
    metadata: Option<&HashMap<String, String>>,
) -> Result<()> {
    let path = path.as_ref();
    let file = path.display().to_string();
    let header = build_header(tensors, metadata, &file)?;
    write_atomic_with(path, |w| {
        w.write_all(&header)?;
        for (_, t) in tensors {
            write_f32_le(w, &t.data())?;
        }
        Ok(())
    })
}

/// The bytes of a safetensors file holding `tensors` as F32, as
/// [`save_safetensors`] would write them.
pub fn serialize_safetensors(
    tensors: &[(String, Tensor)],
    metadata: Option<&HashMap<String, String>>,
) -> Result<Vec<u8>> {
    let header = build_header(tensors, metadata, "safetensors")?;
    let data_len: usize = tensors.iter().map(|(_, t)| t.numel() * 4).sum();
    let mut out = Vec::with_capacity(header.len() + data_len);
    out.extend_from_slice(&header);
    for (_, t) in tensors {
        write_f32_le(&mut out, &t.data()).expect("writing to a Vec cannot fail");
    }
    Ok(out)
}

/// The 8-byte length followed by the JSON header, padded with spaces so the
/// data starts at a multiple of 8 bytes.
fn build_header(
    tensors: &[(String, Tensor)],
    metadata: Option<&HashMap<String, String>>,
    file: &str,
) -> Result<Vec<u8>> {
    let json_err = |e: serde_json::Error| Error::new(format!("{file}: cannot encode header: {e}"));
    let mut json = String::from("{");
    if let Some(m) = metadata.filter(|m| !m.is_empty()) {
        let sorted: BTreeMap<&String, &String> = m.iter().collect();
        json.push('"');
        json.push_str(METADATA_KEY);
        json.push_str("\":");
        json.push_str(&serde_json::to_string(&sorted).map_err(json_err)?);
    }
    let mut seen = HashSet::new();
    let mut offset = 0usize;
    for (name, t) in tensors {
        if name == METADATA_KEY {
            crate::bail!("{file}: a tensor cannot be named '{METADATA_KEY}'");
        }
        if !seen.insert(name.as_str()) {
            crate::bail!("{file}: two tensors are named '{name}'; names must be unique");
        }
        let end = match t.numel().checked_mul(4).and_then(|b| offset.checked_add(b)) {
            Some(e) => e,
            None => crate::bail!("{file}: tensors too large to save"),
        };
        if json.len() > 1 {
            json.push(',');
        }
        json.push_str(&serde_json::to_string(name).map_err(json_err)?);
        json.push_str(":{\"dtype\":\"F32\",\"shape\":");
        json.push_str(&serde_json::to_string(t.shape()).map_err(json_err)?);
        json.push_str(&format!(",\"data_offsets\":[{offset},{end}]}}"));
        offset = end;
    }
    json.push('}');
    while json.len() % 8 != 0 {
        json.push(' ');
    }
    let mut out = Vec::with_capacity(8 + json.len());
    out.extend_from_slice(&(json.len() as u64).to_le_bytes());
    out.extend_from_slice(json.as_bytes());
    Ok(out)
}

fn write_f32_le(w: &mut dyn Write, data: &[f32]) -> io::Result<()> {
    const CHUNK: usize = 16 * 1024;
    let mut buf = Vec::with_capacity(CHUNK.min(data.len()) * 4);
    for chunk in data.chunks(CHUNK) {
        buf.clear();
        for v in chunk {
            buf.extend_from_slice(&v.to_le_bytes());
        }
        w.write_all(&buf)?;
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// Loading into a model
// ---------------------------------------------------------------------------

/// Copies `loaded` tensors into a model's named parameters, like PyTorch's
/// `load_state_dict(strict=True)`: every parameter must be present with the
/// same shape, and the file must have no other tensors. Everything is checked
/// before anything is copied, so on error the model is unchanged. The error
/// lists every problem, prefixed with `file`.
pub fn load_state_dict_into(
    params: &[(String, Tensor)],
    loaded: &[(String, Tensor)],
    file: &str,
) -> Result<()> {
    let mut problems = Vec::new();
    let mut by_name: HashMap<&str, &Tensor> = HashMap::with_capacity(loaded.len());
    for (name, t) in loaded {
        if by_name.insert(name.as_str(), t).is_some() {
            problems.push(format!("tensor '{name}' appears twice in the file"));
        }
    }

    let mut wanted = HashSet::with_capacity(params.len());
    let mut missing = Vec::new();
    let mut copies = Vec::with_capacity(params.len());
    for (name, p) in params {
        if !wanted.insert(name.as_str()) {
            problems.push(format!("the model has two parameters named '{name}'"));
            continue;
        }
        match by_name.get(name.as_str()) {
            None => {
                problems.push(format!(
                    "missing tensor '{name}' (expected shape {:?})",
                    p.shape()
                ));
                missing.push(name.as_str());
            }
            Some(t) if t.shape() != p.shape() => problems.push(format!(
                "'{name}' has shape {:?} in the file, the model expects {:?}",
                t.shape(),
                p.shape()
            )),
            Some(t) => copies.push((p, *t)),
        }
    }
    let mut unexpected = Vec::new();
    for (name, t) in loaded {
        if !wanted.contains(name.as_str()) {
            problems.push(format!(
                "unexpected tensor '{name}' (shape {:?}) that the model does not have",
                t.shape()
            ));
            unexpected.push(name.as_str());
        }
    }

    if !problems.is_empty() {
        const SHOWN: usize = 12;
        let total = problems.len();
        let mut msg = problems
            .into_iter()
            .take(SHOWN)
            .collect::<Vec<_>>()
            .join("; ");
        if total > SHOWN {
            msg.push_str(&format!("; and {} more problems", total - SHOWN));
        }
        if let Some(hint) = prefix_hint(&missing, &unexpected) {
            msg.push_str(&format!(" ({hint})"));
        }
        crate::bail!("{file}: {msg}");
    }

    for (p, t) in copies {
        p.copy_from(t);
    }
    Ok(())
}

/// If the file's names look like the model's with a prefix added or removed
/// (e.g. `model.0.weight` vs `0.weight`), says so.
fn prefix_hint(missing: &[&str], unexpected: &[&str]) -> Option<String> {
    let m = *missing.first()?;
    for u in unexpected {
        if let Some(prefix) = u.strip_suffix(m).filter(|p| p.ends_with('.')) {
            return Some(format!(
                "the file's names seem to carry a prefix '{prefix}' that the model's do not"
            ));
        }
        if let Some(prefix) = m.strip_suffix(u).filter(|p| p.ends_with('.')) {
            return Some(format!(
                "the model's names seem to carry a prefix '{prefix}' that the file's do not"
            ));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn f16_conversion_matches_known_values() {
        assert_eq!(f16_to_f32(0x0000), 0.0);
        assert!(f16_to_f32(0x8000).is_sign_negative());
        assert_eq!(f16_to_f32(0x3c00), 1.0);
        assert_eq!(f16_to_f32(0xc000), -2.0);
        assert_eq!(f16_to_f32(0x3555), 0.333_251_95);
        assert_eq!(f16_to_f32(0x7bff), 65504.0);
        assert_eq!(f16_to_f32(0x0001), 5.960_464_5e-8); // smallest subnormal
        assert_eq!(f16_to_f32(0x03ff), 6.097_555e-5); // largest subnormal
        assert_eq!(f16_to_f32(0x0400), 6.103_515_6e-5); // smallest normal
        assert_eq!(f16_to_f32(0x7c00), f32::INFINITY);
        assert_eq!(f16_to_f32(0xfc00), f32::NEG_INFINITY);
        assert!(f16_to_f32(0x7e00).is_nan());
    }

    #[test]
    fn header_is_padded_to_eight_bytes() {
        let t = vec![("a".to_string(), Tensor::from_vec(vec![1.0, 2.0], &[2]))];
        let bytes = serialize_safetensors(&t, None).unwrap();
        let n = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
        assert_eq!((8 + n) % 8, 0);
        assert_eq!(bytes.len(), 8 + n + 8);
        assert_eq!(&bytes[8 + n..], &[0, 0, 128, 63, 0, 0, 0, 64]);
        let json = std::str::from_utf8(&bytes[8..8 + n]).unwrap().trim_end();
        assert_eq!(
            json,
            r#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}"#
        );
    }

    #[test]
    fn integer_values_beyond_f32_precision_are_refused() {
        let info = TensorInfo {
            name: "n".into(),
            dtype: "I64".into(),
            shape: vec![2],
            data_offsets: (0, 16),
        };
        let mut bytes = 7i64.to_le_bytes().to_vec();
        bytes.extend_from_slice(&(-3i64).to_le_bytes());
        assert_eq!(
            decode(Dtype::I64, &bytes, &info, "f").unwrap(),
            vec![7.0, -3.0]
        );
        let big = ((1i64 << 24) + 1).to_le_bytes();
        let msg = decode(Dtype::I64, &big, &info, "f")
            .unwrap_err()
            .to_string();
        assert!(msg.contains("16777217"), "{msg}");
        let max = i64::MAX.to_le_bytes();
        assert!(decode(Dtype::I64, &max, &info, "f").is_err());
    }

    #[test]
    fn prefix_hint_spots_wrapped_names() {
        let h = prefix_hint(&["0.weight"], &["model.0.weight"]).unwrap();
        assert!(h.contains("'model.'"), "{h}");
        let h = prefix_hint(&["encoder.0.weight"], &["0.weight"]).unwrap();
        assert!(h.contains("'encoder.'"), "{h}");
        assert!(prefix_hint(&["0.weight"], &["1.weight"]).is_none());
    }
}
