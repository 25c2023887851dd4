//! The GGUF reader on hand-made files: a valid one read back, and every
//! truncation, a wrong magic, hostile counts and lengths, bad types: each an
//! error naming the problem, never a panic or a huge allocation.

use nerve::io::gguf::{GgufFile, Value};

fn s(out: &mut Vec<u8>, text: &str) {
    out.extend((text.len() as u64).to_le_bytes());
    out.extend(text.as_bytes());
}

/// A GGUF v3 file: 3 metadata entries (a string, a u32, a nested array) and
/// one 2x32 Q8_0 tensor.
fn tiny() -> Vec<u8> {
    let mut f = b"GGUF".to_vec();
    f.extend(3u32.to_le_bytes());
    f.extend(1u64.to_le_bytes()); // tensors
    f.extend(3u64.to_le_bytes()); // metadata
    s(&mut f, "general.architecture");
    f.extend(8u32.to_le_bytes());
    s(&mut f, "llama");
    s(&mut f, "general.alignment");
    f.extend(4u32.to_le_bytes());
    f.extend(32u32.to_le_bytes());
    s(&mut f, "nested");
    f.extend(9u32.to_le_bytes());
    f.extend(9u32.to_le_bytes()); // array of arrays
    f.extend(1u64.to_le_bytes());
    f.extend(0u32.to_le_bytes()); // of u8
    f.extend(2u64.to_le_bytes());
    f.extend([7u8, 9]);
    s(&mut f, "w");
    f.extend(2u32.to_le_bytes());
    f.extend(32u64.to_le_bytes());
    f.extend(2u64.to_le_bytes());
    f.extend(8u32.to_le_bytes()); // Q8_0
    f.extend(0u64.to_le_bytes());
    while !f.len().is_multiple_of(32) {
        f.push(0);
    }
    for r in 0..2u8 {
        f.extend(half::f16::from_f32(0.5).to_bits().to_le_bytes());
        f.extend((0..32).map(|j| j as u8 + r));
    }
    f
}

#[test]
fn a_valid_file_reads_back() {
    let g = GgufFile::from_bytes(tiny()).unwrap();
    assert_eq!(g.get_str("general.architecture").unwrap(), "llama");
    assert_eq!(
        g.get("nested"),
        Some(&Value::Array(vec![Value::Array(vec![
            Value::U8(7),
            Value::U8(9)
        ])]))
    );
    let t = g.quant_tensor("w").unwrap();
    assert_eq!((t.rows(), t.cols()), (2, 32));
    let mut row = vec![0.0; 32];
    t.dequantize_row_into(1, &mut row);
    assert_eq!(row[3], 2.0); // (3 + 1) * 0.5
}

#[test]
fn every_truncation_is_an_error() {
    let f = tiny();
    for n in 0..f.len() {
        let e = GgufFile::from_bytes(f[..n].to_vec()).unwrap_err();
        assert!(!e.message().is_empty(), "cut at {n}");
    }
}

#[test]
fn hostile_headers_are_errors_naming_the_problem() {
    let f = tiny();
    let mut bad = f.clone();
    bad[0] = b'X';
    assert!(GgufFile::from_bytes(bad)
        .unwrap_err()
        .message()
        .contains("not a GGUF file"));
    let mut bad = f.clone();
    bad[16..24].copy_from_slice(&u64::MAX.to_le_bytes()); // metadata count
    assert!(GgufFile::from_bytes(bad)
        .unwrap_err()
        .message()
        .contains("metadata entries"));
    let mut bad = f.clone();
    bad[8..16].copy_from_slice(&(1u64 << 60).to_le_bytes()); // tensor count
    assert!(GgufFile::from_bytes(bad)
        .unwrap_err()
        .message()
        .contains("tensors"));
    let mut bad = f.clone();
    bad[24..32].copy_from_slice(&(1u64 << 62).to_le_bytes()); // first key's length
    assert!(GgufFile::from_bytes(bad)
        .unwrap_err()
        .message()
        .contains("length"));
    let mut bad = f.clone();
    let at = 24 + 8 + "general.architecture".len();
    bad[at..at + 4].copy_from_slice(&99u32.to_le_bytes()); // value type
    assert!(GgufFile::from_bytes(bad)
        .unwrap_err()
        .message()
        .contains("unknown value type 99"));
    let mut bad = f.clone();
    bad[8..16].copy_from_slice(&0u64.to_le_bytes());
    let g = GgufFile::from_bytes(bad).unwrap(); // no tensors is a valid file
    assert!(g
        .quant_tensor("w")
        .unwrap_err()
        .message()
        .contains("missing"));
    let e = GgufFile::open("/nonexistent/model.gguf").unwrap_err();
    assert!(e.message().contains("no such file"), "{}", e.message());
}
