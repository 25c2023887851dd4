//! GGUF, llama.cpp's model file: metadata, tensor infos and memory-mapped
//! tensor data.
//!
//! [`GgufFile::open`] maps the file and checks its header against it (see
//! `parse.rs`: every count, length and offset is checked before use, so a
//! truncated or hostile file is an [`Error`] naming what is wrong, never a
//! panic or a huge allocation). Tensor data is not copied: a [`QuantTensor`]
//! refers to the mapped bytes, so a model's weights stay quantised and are
//! paged in by the operating system as they are read.
//!
//! Shapes are listed as GGUF writes them, innermost first: a matrix of
//! `rows` x `cols` (row-major, `cols` values per row) has `dims = [cols, rows]`.

mod parse;
mod value;

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;

pub use self::parse::{parse_header, value_type_name, DEFAULT_ALIGNMENT};
pub use self::value::Value;
use crate::error::{describe_io, Error, Result};
use crate::kernels::quant::{dequantize_row, GgmlType};
use crate::tensor::QuantTensor;

/// One tensor's entry in the header.
#[derive(Clone, Debug, PartialEq)]
pub struct TensorInfo {
    /// The tensor's name, e.g. `blk.0.attn_q.weight`.
    pub name: String,
    /// Dimensions, innermost (the contiguous one) first.
    pub dims: Vec<u64>,
    /// The element type.
    pub dtype: GgmlType,
    /// Offset of its bytes from the start of the data section.
    pub offset: u64,
    /// Its size in bytes.
    pub n_bytes: u64,
}

impl TensorInfo {
    /// The number of values.
    pub fn n_elements(&self) -> u64 {
        self.dims.iter().product()
    }
}

/// A parsed header: everything before the data section.
#[derive(Clone, Debug, PartialEq)]
pub struct Header {
    /// 2 or 3.
    pub version: u32,
    /// Key/value pairs in file order.
    pub metadata: Vec<(String, Value)>,
    /// Tensor infos in file order.
    pub tensors: Vec<TensorInfo>,
    /// `general.alignment`, or 32.
    pub alignment: u64,
    /// Where the data section starts in the file.
    pub data_offset: u64,
}

/// The bytes of a GGUF file: mapped from disk or held in memory.
enum Bytes {
    Mapped(memmap2::Mmap),
    Owned(Vec<u8>),
}

impl AsRef<[u8]> for Bytes {
    fn as_ref(&self) -> &[u8] {
        match self {
            Bytes::Mapped(m) => m,
            Bytes::Owned(v) => v,
        }
    }
}

/// An open GGUF file.
pub struct GgufFile {
    path: PathBuf,
    header: Header,
    bytes: Arc<Bytes>,
}

impl GgufFile {
    /// Maps the file at `path` and parses its header.
    pub fn open(path: impl AsRef<Path>) -> Result<GgufFile> {
        let path = path.as_ref();
        let ctx = || path.display().to_string();
        let file = File::open(path).map_err(|e| Error::new(describe_io(&e)).context(ctx()))?;
        let len = file
            .metadata()
            .map_err(|e| Error::new(describe_io(&e)).context(ctx()))?
            .len();
        if len == 0 {
            return Err(Error::new("the file is empty, not a GGUF file").context(ctx()));
        }
        // SAFETY: the map is read-only and nerve never writes the file. Another
        // process truncating the file while it is mapped would make reads
        // fault (SIGBUS); that is the usual contract of memory-mapped model
        // files (llama.cpp maps them the same way).
        let map = unsafe { memmap2::Mmap::map(&file) }
            .map_err(|e| Error::new(describe_io(&e)).context(ctx()))?;
        Self::from_parts(path.to_path_buf(), Bytes::Mapped(map))
    }

    /// Parses a GGUF file held in memory (tests, fuzzing).
    pub fn from_bytes(bytes: Vec<u8>) -> Result<GgufFile> {
        Self::from_parts(PathBuf::from("<memory>"), Bytes::Owned(bytes))
    }

    fn from_parts(path: PathBuf, bytes: Bytes) -> Result<GgufFile> {
        let header = parse_header(bytes.as_ref()).map_err(|e| e.context(path.display()))?;
        Ok(GgufFile {
            path,
            header,
            bytes: Arc::new(bytes),
        })
    }

    /// The file's path (`<memory>` for [`GgufFile::from_bytes`]).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The parsed header.
    pub fn header(&self) -> &Header {
        &self.header
    }

    /// The file's size in bytes.
    pub fn file_len(&self) -> u64 {
        self.bytes.as_ref().as_ref().len() as u64
    }

    /// A metadata value by key.
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.header
            .metadata
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v)
    }

    fn error(&self, msg: impl std::fmt::Display) -> Error {
        Error::new(format!("{}: {msg}", self.path.display()))
    }

    /// A required non-negative integer value.
    pub fn get_u64(&self, key: &str) -> Result<u64> {
        match self.get(key) {
            None => Err(self.error(format_args!("metadata `{key}` is missing"))),
            Some(v) => v.as_u64().ok_or_else(|| {
                self.error(format_args!(
                    "metadata `{key}` is {} {} (expected an unsigned integer)",
                    v.type_name(),
                    v.summary()
                ))
            }),
        }
    }

    /// A required number.
    pub fn get_f64(&self, key: &str) -> Result<f64> {
        match self.get(key) {
            None => Err(self.error(format_args!("metadata `{key}` is missing"))),
            Some(v) => v.as_f64().ok_or_else(|| {
                self.error(format_args!(
                    "metadata `{key}` is a {} (expected a number)",
                    v.type_name()
                ))
            }),
        }
    }

    /// A required string.
    pub fn get_str(&self, key: &str) -> Result<&str> {
        match self.get(key) {
            None => Err(self.error(format_args!("metadata `{key}` is missing"))),
            Some(v) => v.as_str().ok_or_else(|| {
                self.error(format_args!(
                    "metadata `{key}` is a {} (expected a string)",
                    v.type_name()
                ))
            }),
        }
    }

    /// A required array.
    pub fn get_array(&self, key: &str) -> Result<&[Value]> {
        match self.get(key) {
            None => Err(self.error(format_args!("metadata `{key}` is missing"))),
            Some(v) => v.as_array().ok_or_else(|| {
                self.error(format_args!(
                    "metadata `{key}` is a {} (expected an array)",
                    v.type_name()
                ))
            }),
        }
    }

    /// A tensor's info by name.
    pub fn tensor_info(&self, name: &str) -> Option<&TensorInfo> {
        self.header.tensors.iter().find(|t| t.name == name)
    }

    fn require(&self, name: &str) -> Result<&TensorInfo> {
        self.tensor_info(name)
            .ok_or_else(|| self.error(format_args!("tensor `{name}` is missing")))
    }

    /// A tensor's raw bytes (checked to lie in the file when it was opened).
    pub fn tensor_bytes(&self, info: &TensorInfo) -> &[u8] {
        let start = (self.header.data_offset + info.offset) as usize;
        &self.bytes.as_ref().as_ref()[start..start + info.n_bytes as usize]
    }

    /// A 1-D or 2-D tensor as a matrix referring to the file's bytes (no
    /// copy): rows x cols = `dims[1] x dims[0]`. Refuses types nerve cannot
    /// compute with, naming the tensor.
    pub fn quant_tensor(&self, name: &str) -> Result<QuantTensor> {
        let info = self.require(name)?;
        if !info.dtype.is_supported() {
            return Err(self.error(format_args!(
                "tensor `{name}` has type {}, which nerve reads but cannot compute with \
                 (supported: F32, F16, BF16, Q4_0, Q4_1, Q8_0)",
                info.dtype
            )));
        }
        if info.dims.len() > 2 || info.dims.iter().skip(2).any(|&d| d != 1) {
            return Err(self.error(format_args!(
                "tensor `{name}` has shape {:?} (expected a vector or a matrix)",
                info.dims
            )));
        }
        let cols = info.dims[0] as usize;
        let rows = info.dims.get(1).copied().unwrap_or(1) as usize;
        let start = (self.header.data_offset + info.offset) as usize;
        Ok(QuantTensor::new(
            info.dtype,
            rows,
            cols,
            self.bytes.clone(),
            start,
        ))
    }

    /// A small tensor's values as f32 (norm weights), with its expected
    /// length checked.
    pub fn tensor_f32(&self, name: &str, expected_len: usize) -> Result<Vec<f32>> {
        let info = self.require(name)?;
        if info.n_elements() != expected_len as u64 {
            return Err(self.error(format_args!(
                "tensor `{name}` has shape {:?} (expected {expected_len} values)",
                info.dims
            )));
        }
        let q = self.quant_tensor(name)?;
        let mut out = vec![0.0; expected_len];
        dequantize_row(q.dtype(), q.bytes(), &mut out);
        Ok(out)
    }
}

impl std::fmt::Debug for GgufFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GgufFile")
            .field("path", &self.path)
            .field("version", &self.header.version)
            .field("metadata", &self.header.metadata.len())
            .field("tensors", &self.header.tensors.len())
            .finish()
    }
}
