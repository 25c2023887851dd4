//! The IDX file format (used by MNIST), raw or gzip-compressed.
//!
//! Layout, all integers big-endian:
//!
//! ```text
//! 0x00 0x00 <type code> <number of dims d>
//! d x u32                 the size of each dimension
//! data                    product(dims) values of the type, row-major
//! ```
//!
//! Type codes: 0x08 u8, 0x09 i8, 0x0B i16, 0x0C i32, 0x0D f32, 0x0E f64.
//! Gzip is recognised by its magic bytes `1f 8b`, whatever the file is called.

use std::fs::File;
use std::io::{BufReader, ErrorKind, Read};
use std::path::Path;

use flate2::read::MultiGzDecoder;

use crate::error::{Error, Result};

/// The contents of an IDX file, converted to f32.
#[derive(Debug, Clone, PartialEq)]
pub struct IdxArray {
    /// The size of each dimension, e.g. `[60000, 28, 28]`.
    pub dims: Vec<usize>,
    /// `product(dims)` values in row-major order.
    pub data: Vec<f32>,
}

/// Deflate cannot expand data by more than about 1032:1; a gzip file of `n`
/// bytes never decompresses to more than this many bytes.
const MAX_GZIP_RATIO: u64 = 1032;

/// Bytes per value for an IDX type code and its name, or `None`.
fn type_info(code: u8) -> Option<(usize, &'static str)> {
    match code {
        0x08 => Some((1, "u8")),
        0x09 => Some((1, "i8")),
        0x0B => Some((2, "i16")),
        0x0C => Some((4, "i32")),
        0x0D => Some((4, "f32")),
        0x0E => Some((8, "f64")),
        _ => None,
    }
}

/// Reads an IDX file (raw or gzip-compressed, detected by content) into f32
/// values.
///
/// Errors name the file and say what is wrong: missing file, bad magic,
/// unknown type code, truncated header, less (or more) data than the header
/// promises, dims too large for the file, or a corrupt gzip stream. The data
/// buffer is only allocated once the header has been checked against the
/// file size.
pub fn read_idx(path: impl AsRef<Path>) -> Result<IdxArray> {
    let path = path.as_ref();
    read_idx_scaled(path, 1.0)
}

/// Like [`read_idx`], with every value divided by `divisor` while it is
/// converted (e.g. 255 to bring bytes into `[0, 1]` without a second pass).
pub fn read_idx_scaled(path: impl AsRef<Path>, divisor: f32) -> Result<IdxArray> {
    let path = path.as_ref();
    let name = path.display();
    let file = File::open(path).map_err(|e| {
        if e.kind() == ErrorKind::NotFound {
            Error::new(format!("{name}: file not found"))
        } else {
            Error::new(format!("{name}: cannot open: {e}"))
        }
    })?;
    let file_len = file
        .metadata()
        .map_err(|e| Error::new(format!("{name}: cannot read: {e}")))?
        .len();
    let mut reader = BufReader::with_capacity(1 << 16, file);
    let mut magic = [0u8; 2];
    let n = read_full(&mut reader, &mut magic)
        .map_err(|e| Error::new(format!("{name}: cannot read: {e}")))?;
    let head = &magic[..n];
    let chain = head.chain(reader);
    if head == [0x1f, 0x8b] {
        let gz = MultiGzDecoder::new(chain);
        let max = file_len.saturating_mul(MAX_GZIP_RATIO);
        parse(
            gz,
            &name.to_string(),
            Source::Gzip { file_len, max },
            divisor,
        )
    } else {
        parse(chain, &name.to_string(), Source::Raw { file_len }, divisor)
    }
}

/// Where the bytes come from, for the size checks.
#[derive(Clone, Copy)]
enum Source {
    /// An uncompressed file of this many bytes.
    Raw { file_len: u64 },
    /// A gzip file of `file_len` bytes that cannot decompress to more than `max`.
    Gzip { file_len: u64, max: u64 },
}

impl Source {
    fn io_error(self, name: &str, e: std::io::Error) -> Error {
        match self {
            Source::Raw { .. } => Error::new(format!("{name}: read error: {e}")),
            Source::Gzip { .. } => Error::new(format!("{name}: corrupt gzip stream: {e}")),
        }
    }
}

/// Reads until `buf` is full or the stream ends; returns the bytes read.
fn read_full(r: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut got = 0;
    while got < buf.len() {
        match r.read(&mut buf[got..]) {
            Ok(0) => break,
            Ok(k) => got += k,
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(got)
}

fn parse(mut r: impl Read, name: &str, src: Source, divisor: f32) -> Result<IdxArray> {
    let mut head = [0u8; 4];
    let n = read_full(&mut r, &mut head).map_err(|e| src.io_error(name, e))?;
    if n < 4 {
        crate::bail!("{name}: truncated IDX header: expected 4 bytes of magic number, found {n}");
    }
    if head[0] != 0 || head[1] != 0 {
        crate::bail!(
            "{name}: not an IDX file: the first two bytes must be 00 00, found {:02x} {:02x}",
            head[0],
            head[1]
        );
    }
    let code = head[2];
    let Some((width, _)) = type_info(code) else {
        crate::bail!(
            "{name}: unknown IDX type code 0x{code:02X} (expected 0x08 u8, 0x09 i8, 0x0B i16, \
             0x0C i32, 0x0D f32 or 0x0E f64)"
        );
    };
    let ndims = head[3] as usize;
    let mut dim_bytes = vec![0u8; 4 * ndims];
    let n = read_full(&mut r, &mut dim_bytes).map_err(|e| src.io_error(name, e))?;
    if n < dim_bytes.len() {
        crate::bail!(
            "{name}: truncated IDX header: {ndims} dims need {} bytes of sizes, found {n}",
            dim_bytes.len()
        );
    }
    let dims: Vec<usize> = dim_bytes
        .chunks_exact(4)
        .map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]]) as usize)
        .collect();
    let header_len = 4 + 4 * ndims as u64;

    // Size checks before allocating anything proportional to the dims.
    let count = dims
        .iter()
        .try_fold(1u64, |acc, &d| acc.checked_mul(d as u64));
    let bytes = count.and_then(|c| c.checked_mul(width as u64));
    let Some(bytes) = bytes else {
        crate::bail!(
            "{name}: IDX dims {dims:?} are absurd: the number of bytes they describe overflows"
        );
    };
    match src {
        Source::Raw { file_len } => {
            let found = file_len.saturating_sub(header_len);
            if bytes > found {
                crate::bail!(
                    "{name}: IDX header promises {bytes} bytes of data for dims {dims:?}, found {found}"
                );
            }
        }
        Source::Gzip { file_len, max } => {
            if bytes > max {
                crate::bail!(
                    "{name}: IDX header promises {bytes} bytes of data for dims {dims:?}, but a \
                     {file_len}-byte gzip file cannot hold more than {max}"
                );
            }
        }
    }
    if bytes > usize::MAX as u64 / 2 {
        crate::bail!("{name}: IDX dims {dims:?} describe {bytes} bytes, too many for this machine");
    }
    let bytes = bytes as usize;

    // Read exactly `bytes` bytes in chunks, converting each chunk to f32 as
    // it arrives (no second full-size buffer). For gzip, where the real size
    // is only known after decompressing, the output grows as data arrives
    // instead of being allocated up front.
    let count = bytes / width;
    let mut data: Vec<f32> = Vec::new();
    match src {
        Source::Raw { .. } => data.reserve_exact(count),
        Source::Gzip { .. } => data.reserve(count.min(1 << 24)),
    }
    const CHUNK: usize = 1 << 16; // a multiple of every value width
    let mut buf = vec![0u8; CHUNK.min(bytes.max(1))];
    let mut done = 0usize;
    while done < bytes {
        let want = (bytes - done).min(buf.len());
        let n = read_full(&mut r, &mut buf[..want]).map_err(|e| src.io_error(name, e))?;
        if n < want {
            crate::bail!(
                "{name}: IDX header promises {bytes} bytes of data for dims {dims:?}, found {}",
                done + n
            );
        }
        convert_into(code, &buf[..n], divisor, &mut data);
        done += n;
    }
    let mut extra = [0u8; 1];
    let n = read_full(&mut r, &mut extra).map_err(|e| src.io_error(name, e))?;
    if n > 0 {
        let more =
            std::io::copy(&mut r, &mut std::io::sink()).map_err(|e| src.io_error(name, e))?;
        crate::bail!(
            "{name}: IDX header promises {bytes} bytes of data for dims {dims:?}, found {} \
             more after them (wrong dims?)",
            more + 1
        );
    }
    debug_assert_eq!(data.len(), count);
    Ok(IdxArray { dims, data })
}

/// Appends the big-endian values of type `code` in `raw` (a whole number of
/// values) to `out` as f32, each divided by `divisor`.
fn convert_into(code: u8, raw: &[u8], divisor: f32, out: &mut Vec<f32>) {
    match code {
        0x08 => out.extend(raw.iter().map(|&b| b as f32 / divisor)),
        0x09 => out.extend(raw.iter().map(|&b| b as i8 as f32 / divisor)),
        0x0B => out.extend(
            raw.chunks_exact(2)
                .map(|c| i16::from_be_bytes([c[0], c[1]]) as f32 / divisor),
        ),
        0x0C => out.extend(
            raw.chunks_exact(4)
                .map(|c| i32::from_be_bytes([c[0], c[1], c[2], c[3]]) as f32 / divisor),
        ),
        0x0D => out.extend(
            raw.chunks_exact(4)
                .map(|c| f32::from_be_bytes([c[0], c[1], c[2], c[3]]) / divisor),
        ),
        0x0E => out.extend(raw.chunks_exact(8).map(|c| {
            (f64::from_be_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]) / divisor as f64)
                as f32
        })),
        _ => unreachable!("type code checked in parse"),
    }
}

/// Encodes an IDX file (for tests and tools): `code` is the type code and
/// `values` are written in that type, big-endian.
pub fn encode_idx(code: u8, dims: &[usize], values: &[f64]) -> Vec<u8> {
    let mut out = vec![0, 0, code, dims.len() as u8];
    for &d in dims {
        out.extend_from_slice(&(d as u32).to_be_bytes());
    }
    for &v in values {
        match code {
            0x08 => out.push(v as u8),
            0x09 => out.push(v as i8 as u8),
            0x0B => out.extend_from_slice(&(v as i16).to_be_bytes()),
            0x0C => out.extend_from_slice(&(v as i32).to_be_bytes()),
            0x0D => out.extend_from_slice(&(v as f32).to_be_bytes()),
            0x0E => out.extend_from_slice(&v.to_be_bytes()),
            _ => panic!("encode_idx: unknown type code 0x{code:02X}"),
        }
    }
    out
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::io::Write;
    use std::path::PathBuf;
    use std::sync::atomic::{AtomicUsize, Ordering};

    static COUNTER: AtomicUsize = AtomicUsize::new(0);

    /// A unique temp file path; the file is removed when the guard drops.
    pub(crate) struct TempFile(pub PathBuf);

    impl TempFile {
        pub(crate) fn new(tag: &str, bytes: &[u8]) -> TempFile {
            let n = COUNTER.fetch_add(1, Ordering::Relaxed);
            let p =
                std::env::temp_dir().join(format!("nerve-test-{}-{n}-{tag}", std::process::id()));
            std::fs::write(&p, bytes).unwrap();
            TempFile(p)
        }
    }

    impl Drop for TempFile {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(&self.0);
        }
    }

    pub(crate) fn gzip(bytes: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(bytes).unwrap();
        e.finish().unwrap()
    }

    fn err(bytes: &[u8]) -> String {
        let f = TempFile::new("bad.idx", bytes);
        let e = read_idx(&f.0).unwrap_err().message().to_string();
        assert!(
            e.starts_with(&f.0.display().to_string()),
            "message must name the file: {e}"
        );
        e
    }

    #[test]
    fn reads_u8_raw_and_gzip() {
        let vals: Vec<f64> = (0..24).map(|i| (i * 10) as f64).collect();
        let bytes = encode_idx(0x08, &[2, 3, 4], &vals);
        let raw = TempFile::new("a.idx", &bytes);
        let a = read_idx(&raw.0).unwrap();
        assert_eq!(a.dims, vec![2, 3, 4]);
        assert_eq!(a.data, vals.iter().map(|&v| v as f32).collect::<Vec<_>>());
        // Gzip detected by magic bytes even without a .gz extension.
        let gz = TempFile::new("b.idx", &gzip(&bytes));
        assert_eq!(read_idx(&gz.0).unwrap(), a);
        // And a .gz name holding raw bytes still reads as raw.
        let fake = TempFile::new("c.gz", &bytes);
        assert_eq!(read_idx(&fake.0).unwrap(), a);
    }

    #[test]
    fn reads_every_type_code() {
        let cases: [(u8, Vec<f64>); 6] = [
            (0x08, vec![0.0, 1.0, 255.0]),
            (0x09, vec![-128.0, -1.0, 127.0]),
            (0x0B, vec![-32768.0, 300.0, 32767.0]),
            (0x0C, vec![-2_000_000.0, 0.0, 16_777_216.0]),
            (0x0D, vec![-1.5, 0.25, 3.0e10]),
            (0x0E, vec![-0.125, 1.0e-3, 12345.5]),
        ];
        for (code, vals) in cases {
            let f = TempFile::new("t.idx", &encode_idx(code, &[3], &vals));
            let a = read_idx(&f.0).unwrap();
            assert_eq!(a.dims, vec![3]);
            assert_eq!(
                a.data,
                vals.iter().map(|&v| v as f32).collect::<Vec<_>>(),
                "type 0x{code:02X}"
            );
        }
        // Big-endian byte order spelled out: i16 0x0102 = 258.
        let f = TempFile::new("be.idx", &[0, 0, 0x0B, 1, 0, 0, 0, 1, 0x01, 0x02]);
        assert_eq!(read_idx(&f.0).unwrap().data, vec![258.0]);
    }

    #[test]
    fn missing_file() {
        let p = std::env::temp_dir().join("nerve-test-definitely-missing.idx");
        let e = read_idx(&p).unwrap_err();
        assert_eq!(e.message(), format!("{}: file not found", p.display()));
    }

    #[test]
    fn bad_magic() {
        let mut b = encode_idx(0x08, &[2], &[1.0, 2.0]);
        b[0] = 0x50;
        b[1] = 0x4b;
        let e = err(&b);
        assert!(
            e.contains("not an IDX file") && e.contains("found 50 4b"),
            "{e}"
        );
    }

    #[test]
    fn unknown_type_code() {
        let mut b = encode_idx(0x08, &[2], &[1.0, 2.0]);
        b[2] = 0x07;
        let e = err(&b);
        assert!(e.contains("unknown IDX type code 0x07"), "{e}");
    }

    #[test]
    fn truncated_header() {
        let e = err(&[0, 0]);
        assert!(
            e.contains("truncated IDX header") && e.contains("found 2"),
            "{e}"
        );
        let e = err(&[]);
        assert!(
            e.contains("truncated IDX header") && e.contains("found 0"),
            "{e}"
        );
        // 3 dims need 12 bytes of sizes; only 5 present.
        let e = err(&[0, 0, 8, 3, 0, 0, 0, 1, 0]);
        assert!(
            e.contains("3 dims need 12 bytes") && e.contains("found 5"),
            "{e}"
        );
        // Same through gzip.
        let e = err(&gzip(&[0, 0, 8, 3, 0, 0, 0, 1, 0]));
        assert!(
            e.contains("3 dims need 12 bytes") && e.contains("found 5"),
            "{e}"
        );
    }

    #[test]
    fn data_shorter_than_dims_promise() {
        // 1000 incompressible bytes (an LCG), so the gzip copy stays large.
        let mut b = encode_idx(0x08, &[60000, 28, 28], &[]);
        let mut s = 12345u32;
        b.extend((0..1000).map(|_| {
            s = s.wrapping_mul(1_103_515_245).wrapping_add(12345);
            (s >> 24) as u8
        }));
        let f = TempFile::new("short.idx", &b);
        let e = read_idx(&f.0).unwrap_err();
        assert_eq!(
            e.message(),
            format!(
                "{}: IDX header promises 47040000 bytes of data for dims [60000, 28, 28], found 1000",
                f.0.display()
            )
        );
        // Through gzip, where the size is only known after decompressing
        // (47 MB cannot come out of a 1 kB gzip file, so promise less).
        b[7] = 100;
        b[6] = 0;
        let e = err(&gzip(&b));
        assert!(
            e.ends_with(
                "IDX header promises 78400 bytes of data for dims [100, 28, 28], found 1000"
            ),
            "{e}"
        );
        // Wider types count bytes: 3 f64 = 24 bytes.
        let mut b = encode_idx(0x0E, &[3], &[1.0, 2.0]);
        b.extend([0u8; 3]);
        let e = err(&b);
        assert!(
            e.contains("promises 24 bytes of data for dims [3], found 19"),
            "{e}"
        );
    }

    #[test]
    fn trailing_data_is_an_error() {
        let mut b = encode_idx(0x08, &[2], &[1.0, 2.0]);
        b.extend([9u8; 5]);
        let e = err(&b);
        assert!(e.contains("found 5 more after them"), "{e}");
        let e = err(&gzip(&b));
        assert!(e.contains("found 5 more after them"), "{e}");
    }

    #[test]
    fn absurd_dims_fail_without_allocating() {
        // Product overflows u64: 4 dims of 2^32 - 1, as i32 values.
        let b = [0, 0, 0x0C, 4]
            .iter()
            .copied()
            .chain([0xffu8; 16])
            .collect::<Vec<u8>>();
        let e = err(&b);
        assert!(e.contains("absurd") && e.contains("overflows"), "{e}");
        // Fits in u64 but far larger than the file: must fail quickly, not
        // try to allocate ~17 GB.
        let b = encode_idx(0x0E, &[u32::MAX as usize / 2], &[]);
        let e = err(&b);
        assert!(
            e.contains("promises 17179869176 bytes") && e.contains("found 0"),
            "{e}"
        );
        // Same for a small gzip file.
        let g = gzip(&encode_idx(0x08, &[100000, 1000, 1000], &[]));
        let e = err(&g);
        assert!(
            e.contains("promises 100000000000 bytes")
                && e.contains("gzip file cannot hold more than"),
            "{e}"
        );
    }

    #[test]
    fn corrupt_gzip_stream() {
        let bytes = encode_idx(0x08, &[50], &[3.0; 50]);
        let mut g = gzip(&bytes);
        // Garble the deflate data after the 10-byte gzip header.
        for b in g.iter_mut().skip(10).take(8) {
            *b ^= 0xA5;
        }
        let e = err(&g);
        assert!(e.contains("corrupt gzip stream"), "{e}");
        // A gzip stream cut short.
        let g = gzip(&encode_idx(
            0x08,
            &[500],
            &(0..500).map(|i| (i % 251) as f64).collect::<Vec<_>>(),
        ));
        let e = err(&g[..g.len() / 2]);
        assert!(
            e.contains("corrupt gzip stream") || e.contains("promises 500 bytes"),
            "{e}"
        );
        // Gzip magic followed by junk.
        let e = err(&[0x1f, 0x8b, 1, 2, 3]);
        assert!(e.contains("corrupt gzip stream"), "{e}");
    }
}
