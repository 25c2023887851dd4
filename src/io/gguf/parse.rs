//! Parsing a GGUF header from bytes, trusting nothing.
//!
//! Layout (little-endian): magic `GGUF`, version u32 (2 or 3), tensor count
//! u64, metadata count u64; the metadata (key string, value type u32, value);
//! the tensor infos (name string, dimension count u32, dimensions u64 each,
//! type u32, offset u64 relative to the data section); padding up to
//! `general.alignment` (default 32); the data section.
//!
//! Every count and length is checked against the bytes that remain before
//! anything is allocated for it, so a hostile header cannot ask for more
//! memory than the file's own size; every tensor's bytes are checked to lie
//! inside the file.

use std::collections::HashSet;

use super::value::{Value, TYPE_NAMES};
use super::{Header, TensorInfo};
use crate::error::{Error, Result};
use crate::kernels::quant::GgmlType;

/// Arrays nested deeper than this are refused (the format has no limit; a
/// hostile file could otherwise exhaust the stack).
const MAX_NESTING: usize = 8;

/// ggml's limit on tensor dimensions.
const MAX_DIMS: u32 = 4;

/// The alignment of the data section when `general.alignment` is absent.
pub const DEFAULT_ALIGNMENT: u64 = 32;

/// A reader over the header bytes that checks every read.
struct Cursor<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn remaining(&self) -> usize {
        self.bytes.len() - self.pos
    }

    fn take(&mut self, n: u64, what: &dyn Fn() -> String) -> Result<&'a [u8]> {
        if n > self.remaining() as u64 {
            return Err(Error::new(format!(
                "{} needs {n} bytes at offset {} but the file has {} left (truncated or corrupt)",
                what(),
                self.pos,
                self.remaining()
            )));
        }
        let s = &self.bytes[self.pos..self.pos + n as usize];
        self.pos += n as usize;
        Ok(s)
    }

    fn array<const N: usize>(&mut self, what: &dyn Fn() -> String) -> Result<[u8; N]> {
        let s = self.take(N as u64, what)?;
        let mut a = [0u8; N];
        a.copy_from_slice(s);
        Ok(a)
    }

    fn u32(&mut self, what: &dyn Fn() -> String) -> Result<u32> {
        Ok(u32::from_le_bytes(self.array(what)?))
    }

    fn u64(&mut self, what: &dyn Fn() -> String) -> Result<u64> {
        Ok(u64::from_le_bytes(self.array(what)?))
    }

    fn string(&mut self, what: &dyn Fn() -> String) -> Result<String> {
        let len = self.u64(&|| format!("the length of {}", what()))?;
        if len > self.remaining() as u64 {
            return Err(Error::new(format!(
                "{} has length {len} but the file has only {} bytes left",
                what(),
                self.remaining()
            )));
        }
        let raw = self.take(len, what)?;
        String::from_utf8(raw.to_vec())
            .map_err(|_| Error::new(format!("{} is not valid UTF-8", what())))
    }

    fn value(&mut self, type_id: u32, depth: usize, what: &dyn Fn() -> String) -> Result<Value> {
        Ok(match type_id {
            0 => Value::U8(self.array::<1>(what)?[0]),
            1 => Value::I8(self.array::<1>(what)?[0] as i8),
            2 => Value::U16(u16::from_le_bytes(self.array(what)?)),
            3 => Value::I16(i16::from_le_bytes(self.array(what)?)),
            4 => Value::U32(self.u32(what)?),
            5 => Value::I32(i32::from_le_bytes(self.array(what)?)),
            6 => Value::F32(f32::from_le_bytes(self.array(what)?)),
            7 => match self.array::<1>(what)?[0] {
                0 => Value::Bool(false),
                1 => Value::Bool(true),
                b => {
                    return Err(Error::new(format!(
                        "{} is a bool of value {b} (not 0 or 1)",
                        what()
                    )))
                }
            },
            8 => Value::String(self.string(what)?),
            9 => {
                if depth >= MAX_NESTING {
                    return Err(Error::new(format!(
                        "{} nests arrays more than {MAX_NESTING} deep",
                        what()
                    )));
                }
                let elem = self.u32(&|| format!("the element type of {}", what()))?;
                let count = self.u64(&|| format!("the length of {}", what()))?;
                let min_bytes = min_value_bytes(elem).ok_or_else(|| {
                    Error::new(format!(
                        "{} has elements of unknown value type {elem}",
                        what()
                    ))
                })?;
                if count.saturating_mul(min_bytes) > self.remaining() as u64 {
                    return Err(Error::new(format!(
                        "{} has length {count} but the file has only {} bytes left",
                        what(),
                        self.remaining()
                    )));
                }
                let mut items = Vec::with_capacity(count as usize);
                for i in 0..count {
                    items.push(
                        self.value(elem, depth + 1, &|| format!("element {i} of {}", what()))?,
                    );
                }
                Value::Array(items)
            }
            10 => Value::U64(self.u64(what)?),
            11 => Value::I64(i64::from_le_bytes(self.array(what)?)),
            12 => Value::F64(f64::from_le_bytes(self.array(what)?)),
            t => return Err(Error::new(format!("{} has unknown value type {t}", what()))),
        })
    }
}

/// The fewest bytes a value of this type can take, None for an unknown type.
fn min_value_bytes(type_id: u32) -> Option<u64> {
    Some(match type_id {
        0 | 1 | 7 => 1,
        2 | 3 => 2,
        4..=6 => 4,
        8 => 8,
        9 => 12,
        10..=12 => 8,
        _ => return None,
    })
}

/// Parses a GGUF header from a whole file's bytes and checks every tensor's
/// bytes lie inside them.
pub fn parse_header(bytes: &[u8]) -> Result<Header> {
    let mut c = Cursor { bytes, pos: 0 };
    let magic = c.array::<4>(&|| "the magic number".into())?;
    if &magic != b"GGUF" {
        return Err(Error::new(format!(
            "not a GGUF file (it starts with {:?}, a GGUF file with \"GGUF\")",
            String::from_utf8_lossy(&magic)
        )));
    }
    let version = c.u32(&|| "the version".into())?;
    match version {
        2 | 3 => {}
        1 => return Err(Error::new("GGUF version 1 is not supported (only 2 and 3)")),
        v if v.swap_bytes() == 2 || v.swap_bytes() == 3 => {
            return Err(Error::new(
                "a big-endian GGUF file (only little-endian is supported)",
            ))
        }
        v => {
            return Err(Error::new(format!(
                "unknown GGUF version {v} (only 2 and 3)"
            )))
        }
    }
    let tensor_count = c.u64(&|| "the tensor count".into())?;
    let kv_count = c.u64(&|| "the metadata count".into())?;
    // A key/value pair takes at least 8 + 4 + 1 bytes, a tensor info 8 + 4 + 4 + 8.
    if kv_count.saturating_mul(13) > c.remaining() as u64 {
        return Err(Error::new(format!(
            "the header claims {kv_count} metadata entries but the file has only {} bytes left",
            c.remaining()
        )));
    }
    let mut metadata = Vec::with_capacity(kv_count as usize);
    let mut keys = HashSet::new();
    for i in 0..kv_count {
        let key = c.string(&|| format!("the key of metadata entry {i}"))?;
        let ty = c.u32(&|| format!("the value type of metadata `{key}`"))?;
        let value = c.value(ty, 0, &|| format!("metadata `{key}`"))?;
        if !keys.insert(key.clone()) {
            return Err(Error::new(format!("metadata key `{key}` appears twice")));
        }
        metadata.push((key, value));
    }
    let alignment = match metadata.iter().find(|(k, _)| k == "general.alignment") {
        None => DEFAULT_ALIGNMENT,
        Some((_, v)) => match v.as_u64() {
            Some(a) if a > 0 && a.is_power_of_two() && a <= 1 << 30 => a,
            _ => {
                return Err(Error::new(format!(
                    "metadata `general.alignment` is {} (expected a power of two)",
                    v.summary()
                )))
            }
        },
    };
    if tensor_count.saturating_mul(24) > c.remaining() as u64 {
        return Err(Error::new(format!(
            "the header claims {tensor_count} tensors but the file has only {} bytes left",
            c.remaining()
        )));
    }
    let mut tensors = Vec::with_capacity(tensor_count as usize);
    let mut names = HashSet::new();
    for i in 0..tensor_count {
        tensors.push(tensor_info(&mut c, i, alignment)?);
        let name = &tensors.last().expect("just pushed").name;
        if !names.insert(name.clone()) {
            return Err(Error::new(format!("tensor `{name}` appears twice")));
        }
    }
    let data_offset = (c.pos as u64).div_ceil(alignment) * alignment;
    let file_len = bytes.len() as u64;
    if data_offset > file_len && !tensors.is_empty() {
        return Err(Error::new(format!(
            "the data section would start at byte {data_offset}, past the end of the file ({file_len} bytes)"
        )));
    }
    for t in &tensors {
        let end = data_offset
            .checked_add(t.offset)
            .and_then(|s| s.checked_add(t.n_bytes));
        match end {
            Some(end) if end <= file_len => {}
            _ => {
                return Err(Error::new(format!(
                    "tensor `{}`: its {} bytes at data offset {} run past the end of the file \
                     ({file_len} bytes; truncated?)",
                    t.name, t.n_bytes, t.offset
                )))
            }
        }
    }
    Ok(Header {
        version,
        metadata,
        tensors,
        alignment,
        data_offset,
    })
}

fn tensor_info(c: &mut Cursor, i: u64, alignment: u64) -> Result<TensorInfo> {
    let name = c.string(&|| format!("the name of tensor {i}"))?;
    let n_dims = c.u32(&|| format!("the dimension count of tensor `{name}`"))?;
    if n_dims == 0 || n_dims > MAX_DIMS {
        return Err(Error::new(format!(
            "tensor `{name}` has {n_dims} dimensions (expected 1 to {MAX_DIMS})"
        )));
    }
    let mut dims = Vec::with_capacity(n_dims as usize);
    for d in 0..n_dims {
        dims.push(c.u64(&|| format!("dimension {d} of tensor `{name}`"))?);
    }
    let type_id = c.u32(&|| format!("the type of tensor `{name}`"))?;
    let offset = c.u64(&|| format!("the data offset of tensor `{name}`"))?;
    let dtype = GgmlType::from_id(type_id).ok_or_else(|| {
        Error::new(format!(
            "tensor `{name}` has ggml type id {type_id}, which nerve does not know \
             (it reads F32, F16, BF16, F64, I8-I64, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q8_1 and Q2_K-Q8_K)"
        ))
    })?;
    if offset % alignment != 0 {
        return Err(Error::new(format!(
            "tensor `{name}`: data offset {offset} is not a multiple of the alignment {alignment}"
        )));
    }
    let n_elems = dims
        .iter()
        .try_fold(1u64, |acc, &d| acc.checked_mul(d))
        .filter(|&n| n <= i64::MAX as u64)
        .ok_or_else(|| Error::new(format!("tensor `{name}`: shape {dims:?} overflows")))?;
    if dims[0] % dtype.block_size() as u64 != 0 {
        return Err(Error::new(format!(
            "tensor `{name}`: its rows of {} values are not whole {dtype} blocks of {}",
            dims[0],
            dtype.block_size()
        )));
    }
    let n_bytes = dtype
        .row_bytes(dims[0])
        .and_then(|r| r.checked_mul(n_elems.checked_div(dims[0]).unwrap_or(0)))
        .ok_or_else(|| Error::new(format!("tensor `{name}`: size of shape {dims:?} overflows")))?;
    Ok(TensorInfo {
        name,
        dims,
        dtype,
        offset,
        n_bytes,
    })
}

/// The name of a value type id, for messages.
pub fn value_type_name(type_id: u32) -> &'static str {
    TYPE_NAMES
        .get(type_id as usize)
        .copied()
        .unwrap_or("unknown")
}
