//! Integration tests for nerve::io: safetensors round trips, hostile files,
//! PyTorch-written fixtures, and strict state-dict loading.

use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};

use nerve::io::{
    inspect_safetensors, load_safetensors, load_safetensors_bytes, load_safetensors_with_metadata,
    load_state_dict_into, save_safetensors, serialize_safetensors,
};
use nerve::Tensor;
use serde_json::Value;

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/safetensors");

/// A fresh scratch directory for one test.
fn scratch(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("nerve-io-{}-{}", name, std::process::id()));
    let _ = fs::remove_dir_all(&d);
    fs::create_dir_all(&d).unwrap();
    d
}

fn named(name: &str, data: Vec<f32>, shape: &[usize]) -> (String, Tensor) {
    (name.to_string(), Tensor::from_vec(data, shape))
}

fn bits(v: &[f32]) -> Vec<u32> {
    v.iter().map(|x| x.to_bits()).collect()
}

/// A safetensors file from a raw header string and raw data bytes.
fn raw_file(header: &str, data: &[u8]) -> Vec<u8> {
    let mut out = (header.len() as u64).to_le_bytes().to_vec();
    out.extend_from_slice(header.as_bytes());
    out.extend_from_slice(data);
    out
}

/// Writes `bytes` as `name` in a scratch dir, loads it, returns the error text.
fn load_error(dir: &Path, name: &str, bytes: &[u8]) -> String {
    let path = dir.join(name);
    fs::write(&path, bytes).unwrap();
    match load_safetensors(&path) {
        Ok(t) => panic!(
            "{name}: expected an error, loaded {:?}",
            t.iter().map(|(n, _)| n).collect::<Vec<_>>()
        ),
        Err(e) => e.to_string(),
    }
}

fn assert_contains(msg: &str, parts: &[&str]) {
    for p in parts {
        assert!(msg.contains(p), "expected {p:?} in error message: {msg}");
    }
}

fn mlp_params() -> Vec<(String, Tensor)> {
    vec![
        named("0.weight", vec![0.0; 12], &[3, 4]),
        named("0.bias", vec![0.0; 3], &[3]),
        named("2.weight", vec![0.0; 6], &[2, 3]),
        named("2.bias", vec![0.0; 2], &[2]),
    ]
}

fn json_f32s(v: &Value) -> Vec<f32> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap() as f32)
        .collect()
}

fn json_shape(v: &Value) -> Vec<usize> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_u64().unwrap() as usize)
        .collect()
}

fn read_json(name: &str) -> Value {
    let text = fs::read_to_string(Path::new(FIXTURES).join(name)).unwrap();
    serde_json::from_str(&text).unwrap()
}

// ---------------------------------------------------------------------------
// Round trips
// ---------------------------------------------------------------------------

#[test]
fn round_trip_keeps_names_order_shapes_values_and_metadata() {
    let dir = scratch("roundtrip");
    let path = dir.join("model.safetensors");
    let tensors = vec![
        named(
            "layers.0.weight",
            (0..12).map(|i| i as f32 * 0.37 - 2.0).collect(),
            &[3, 4],
        ),
        named("layers.0.bias", vec![f32::NAN, -0.0, f32::INFINITY], &[3]),
        named("a.scalar", vec![42.5], &[]),
        named("empty", vec![], &[0, 5]),
        named("z.\"quoted\\name\u{e9}", vec![1e-30, -3.4e38], &[1, 2, 1]),
    ];
    let mut meta = HashMap::new();
    meta.insert("format".to_string(), "pt".to_string());
    meta.insert("epoch".to_string(), "7".to_string());
    save_safetensors(&path, &tensors, Some(&meta)).unwrap();

    let (loaded, loaded_meta) = load_safetensors_with_metadata(&path).unwrap();
    assert_eq!(loaded_meta, meta);
    assert_eq!(loaded.len(), tensors.len());
    for ((n0, t0), (n1, t1)) in tensors.iter().zip(&loaded) {
        assert_eq!(n0, n1, "names come back in save order");
        assert_eq!(t0.shape(), t1.shape(), "{n0}");
        assert_eq!(bits(&t0.to_vec()), bits(&t1.to_vec()), "{n0}");
    }

    // The file is exactly what serialize_safetensors produces.
    let bytes = fs::read(&path).unwrap();
    assert_eq!(bytes, serialize_safetensors(&tensors, Some(&meta)).unwrap());
    // Data starts 8-byte aligned and holds the values little-endian.
    let n = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    assert_eq!((8 + n) % 8, 0);
    let first = f32::from_le_bytes(bytes[8 + n..8 + n + 4].try_into().unwrap());
    assert_eq!(first, -2.0);

    // The header alone describes the same tensors.
    let (infos, meta2) = inspect_safetensors(&path).unwrap();
    assert_eq!(meta2, meta);
    let names: Vec<_> = infos.iter().map(|i| i.name.as_str()).collect();
    assert_eq!(
        names,
        tensors.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>()
    );
    assert_eq!(infos[0].shape, vec![3, 4]);
    assert_eq!(infos[0].dtype, "F32");
    assert_eq!(infos[0].data_offsets, (0, 48));
    assert_eq!(infos[1].data_offsets, (48, 60));
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn no_metadata_and_no_tensors_round_trip() {
    let bytes = serialize_safetensors(&[], None).unwrap();
    let (t, m) = nerve::io::load_safetensors_bytes_with_metadata(&bytes, "empty").unwrap();
    assert!(t.is_empty());
    assert!(m.is_empty());
}

#[test]
fn saving_overwrites_atomically_and_refuses_bad_names() {
    let dir = scratch("save");
    let path = dir.join("model.safetensors");
    save_safetensors(&path, &[named("w", vec![1.0, 2.0], &[2])], None).unwrap();
    let before = fs::read(&path).unwrap();

    let dup = [named("w", vec![1.0], &[1]), named("w", vec![2.0], &[1])];
    let msg = save_safetensors(&path, &dup, None).unwrap_err().to_string();
    assert_contains(&msg, &["model.safetensors", "two tensors are named 'w'"]);
    let reserved = [named("__metadata__", vec![1.0], &[1])];
    let msg = save_safetensors(&path, &reserved, None)
        .unwrap_err()
        .to_string();
    assert_contains(&msg, &["model.safetensors", "__metadata__"]);
    assert_eq!(fs::read(&path).unwrap(), before, "old file untouched");

    save_safetensors(&path, &[named("v", vec![3.0], &[1])], None).unwrap();
    let loaded = load_safetensors(&path).unwrap();
    assert_eq!(loaded.len(), 1);
    assert_eq!(loaded[0].0, "v");
    assert_eq!(loaded[0].1.to_vec(), vec![3.0]);

    let leftovers: Vec<_> = fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .filter(|n| n != "model.safetensors")
        .collect();
    assert!(leftovers.is_empty(), "temp files left: {leftovers:?}");

    let missing = dir.join("no_such_dir/model.safetensors");
    let msg = save_safetensors(&missing, &[named("v", vec![3.0], &[1])], None)
        .unwrap_err()
        .to_string();
    assert_contains(
        &msg,
        &[
            "cannot write",
            "no_such_dir/model.safetensors",
            "does not exist",
        ],
    );
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn agrees_with_the_reference_safetensors_crate() {
    use safetensors::tensor::{Dtype, SafeTensors, TensorView};
    let tensors = vec![
        named(
            "b.weight",
            (0..6).map(|i| i as f32 - 2.5).collect(),
            &[2, 3],
        ),
        named("a.bias", vec![0.25, -8.0], &[2]),
        named("s", vec![7.0], &[]),
    ];
    let mut meta = HashMap::new();
    meta.insert("format".to_string(), "pt".to_string());

    // Ours -> reference reader.
    let ours = serialize_safetensors(&tensors, Some(&meta)).unwrap();
    let st = SafeTensors::deserialize(&ours).unwrap();
    assert_eq!(st.len(), 3);
    for (name, t) in &tensors {
        let v = st.tensor(name).unwrap();
        assert_eq!(v.dtype(), Dtype::F32);
        assert_eq!(v.shape(), t.shape());
        let le: Vec<u8> = t.to_vec().iter().flat_map(|x| x.to_le_bytes()).collect();
        assert_eq!(v.data(), le.as_slice(), "{name}");
    }
    let (_, header) = SafeTensors::read_metadata(&ours).unwrap();
    assert_eq!(header.metadata().as_ref(), Some(&meta));

    // Reference writer -> ours.
    let raw: Vec<Vec<u8>> = tensors
        .iter()
        .map(|(_, t)| t.to_vec().iter().flat_map(|x| x.to_le_bytes()).collect())
        .collect();
    let views: Vec<(String, TensorView)> = tensors
        .iter()
        .zip(&raw)
        .map(|((n, t), r)| {
            (
                n.clone(),
                TensorView::new(Dtype::F32, t.shape().to_vec(), r).unwrap(),
            )
        })
        .collect();
    let theirs = safetensors::serialize(views, &Some(meta.clone())).unwrap();
    let (loaded, loaded_meta) =
        nerve::io::load_safetensors_bytes_with_metadata(&theirs, "theirs").unwrap();
    assert_eq!(loaded_meta, meta);
    let by_name: HashMap<_, _> = loaded.iter().map(|(n, t)| (n.as_str(), t)).collect();
    assert_eq!(by_name.len(), 3);
    for (name, t) in &tensors {
        assert_eq!(by_name[name.as_str()].shape(), t.shape());
        assert_eq!(by_name[name.as_str()].to_vec(), t.to_vec(), "{name}");
    }
}

// ---------------------------------------------------------------------------
// Hostile and damaged files
// ---------------------------------------------------------------------------

#[test]
fn hostile_headers_give_specific_errors() {
    let dir = scratch("hostile");
    let ok_entry = r#""w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}"#;
    let data8 = [0u8; 8];
    let cases: Vec<(&str, Vec<u8>, Vec<&str>)> = vec![
        (
            "short.safetensors",
            vec![1, 2, 3, 4, 5],
            vec!["5 bytes", "too short"],
        ),
        ("empty.safetensors", vec![], vec!["0 bytes", "too short"]),
        (
            "long_header.safetensors",
            {
                let mut b = 1000u64.to_le_bytes().to_vec();
                b.extend_from_slice(b"{}");
                b
            },
            vec![
                "header length 1000 bytes",
                "only 2 bytes follow",
                "truncated",
            ],
        ),
        (
            "absurd_header.safetensors",
            {
                let mut b = u64::MAX.to_le_bytes().to_vec();
                b.extend_from_slice(&[b' '; 64]);
                b
            },
            vec!["header length 18446744073709551615 bytes"],
        ),
        (
            "zip.safetensors",
            b"PK\x03\x04\x14\x00\x00\x00\x08\x00archive/data.pkl".to_vec(),
            vec!["zip", "torch.save", "not a safetensors file"],
        ),
        (
            "tiny_header.safetensors",
            raw_file("{", &[]),
            vec!["header length 1 bytes", "too short"],
        ),
        (
            "utf8.safetensors",
            {
                let mut b = 4u64.to_le_bytes().to_vec();
                b.extend_from_slice(&[b'{', 0xff, 0xfe, b'}']);
                b
            },
            vec!["not valid UTF-8", "offset 9"],
        ),
        (
            "json.safetensors",
            raw_file(r#"{"w": {"dtype": "F32",,}}"#, &[]),
            vec!["not valid JSON"],
        ),
        (
            "array.safetensors",
            raw_file("[1, 2, 3]", &[]),
            vec!["not an object"],
        ),
        (
            "entry_not_object.safetensors",
            raw_file(r#"{"w": 5}"#, &[]),
            vec!["tensor 'w'", "expected an object", "found 5"],
        ),
        (
            "no_dtype.safetensors",
            raw_file(r#"{"w":{"shape":[2],"data_offsets":[0,8]}}"#, &data8),
            vec!["tensor 'w'", "missing \"dtype\""],
        ),
        (
            "no_shape.safetensors",
            raw_file(r#"{"w":{"dtype":"F32","data_offsets":[0,8]}}"#, &data8),
            vec!["tensor 'w'", "missing \"shape\""],
        ),
        (
            "no_offsets.safetensors",
            raw_file(r#"{"w":{"dtype":"F32","shape":[2]}}"#, &data8),
            vec!["tensor 'w'", "missing \"data_offsets\""],
        ),
        (
            "dtype_type.safetensors",
            raw_file(
                r#"{"w":{"dtype":4,"shape":[2],"data_offsets":[0,8]}}"#,
                &data8,
            ),
            vec!["tensor 'w'", "\"dtype\" must be a string", "found 4"],
        ),
        (
            "dtype.safetensors",
            raw_file(
                r#"{"w":{"dtype":"F8_E4M3","shape":[8],"data_offsets":[0,8]}}"#,
                &data8,
            ),
            vec!["tensor 'w'", "dtype F8_E4M3", "cannot load"],
        ),
        (
            "negative_shape.safetensors",
            raw_file(
                r#"{"w":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}}"#,
                &data8,
            ),
            vec!["tensor 'w'", "non-negative integers", "[-2]"],
        ),
        (
            "float_shape.safetensors",
            raw_file(
                r#"{"w":{"dtype":"F32","shape":[2.5],"data_offsets":[0,8]}}"#,
                &data8,
            ),
            vec!["tensor 'w'", "\"shape\" must be a list"],
        ),
        (
            "three_offsets.safetensors",
            raw_file(
                r#"{"w":{"dtype":"F32","shape":[2],"data_offsets":[0,4,8]}}"#,
                &data8,
            ),
            vec!["tensor 'w'", "two non-negative integers", "[0,4,8]"],
        ),
        (
            "past_end.safetensors",
            raw_file(
                r#"{"w":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}}"#,
                &data8,
            ),
            vec![
                "tensor 'w'",
                "[0, 16]",
                "past the end of the data (8 bytes)",
            ],
        ),
        (
            "huge_offsets.safetensors",
            raw_file(
                r#"{"w":{"dtype":"F32","shape":[4611686018427387904],"data_offsets":[0,18446744073709551615]}}"#,
                &data8,
            ),
            vec!["tensor 'w'", "past the end of the data"],
        ),
        (
            "backwards.safetensors",
            raw_file(
                r#"{"w":{"dtype":"F32","shape":[0],"data_offsets":[8,0]}}"#,
                &data8,
            ),
            vec!["tensor 'w'", "[8, 0]", "end before"],
        ),
        (
            "size_mismatch.safetensors",
            raw_file(
                r#"{"w":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}"#,
                &data8,
            ),
            vec!["tensor 'w'", "[3] of F32 needs 12 bytes", "hold 8 bytes"],
        ),
        (
            "f16_size_mismatch.safetensors",
            raw_file(
                r#"{"w":{"dtype":"F16","shape":[2],"data_offsets":[0,8]}}"#,
                &data8,
            ),
            vec!["tensor 'w'", "[2] of F16 needs 4 bytes", "hold 8 bytes"],
        ),
        (
            "overflow.safetensors",
            raw_file(
                r#"{"w":{"dtype":"F32","shape":[4294967296,4294967296,16],"data_offsets":[0,8]}}"#,
                &data8,
            ),
            vec!["tensor 'w'", "overflows"],
        ),
        (
            "duplicate.safetensors",
            raw_file(&format!("{{{ok_entry},{ok_entry}}}"), &data8),
            vec!["tensor 'w' appears twice"],
        ),
        (
            "overlap.safetensors",
            raw_file(
                r#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}"#,
                &data8,
            ),
            vec!["'a'", "'b'", "overlap"],
        ),
        (
            "metadata.safetensors",
            raw_file(
                &format!(r#"{{"__metadata__":{{"epoch":3}},{ok_entry}}}"#),
                &data8,
            ),
            vec!["__metadata__", "'epoch' must be a string", "found 3"],
        ),
    ];
    for (name, bytes, expected) in &cases {
        let msg = load_error(&dir, name, bytes);
        assert_contains(&msg, &[name]);
        assert_contains(&msg, expected);
        // The in-memory loader says the same, with the name it is given.
        let msg2 = load_safetensors_bytes(bytes, name).unwrap_err().to_string();
        assert_eq!(
            msg2,
            msg.replace(&dir.join(name).display().to_string(), name)
        );
    }

    let msg = load_safetensors(dir.join("does_not_exist.safetensors"))
        .unwrap_err()
        .to_string();
    assert_contains(
        &msg,
        &["cannot read", "does_not_exist.safetensors", "no such file"],
    );
    let msg = inspect_safetensors(dir.join("long_header.safetensors"))
        .unwrap_err()
        .to_string();
    assert_contains(&msg, &["long_header.safetensors", "header length 1000"]);
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn valid_hand_written_headers_load() {
    // Extra keys are ignored, whitespace padding is allowed, an entry may have
    // zero elements, and data may be laid out in a different order than the
    // header lists it.
    let mut data = Vec::new();
    data.extend_from_slice(&3.5f32.to_le_bytes());
    data.extend_from_slice(&(-1.0f32).to_le_bytes());
    data.extend_from_slice(&2.0f32.to_le_bytes());
    let header = r#"{"b":{"dtype":"F32","shape":[1],"data_offsets":[8,12],"extra":true},
        "a":{"dtype":"F32","shape":[2,1],"data_offsets":[0,8]},
        "e":{"dtype":"F32","shape":[3,0],"data_offsets":[12,12]}}      "#;
    let loaded = load_safetensors_bytes(&raw_file(header, &data), "hand.safetensors").unwrap();
    let names: Vec<_> = loaded.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, vec!["a", "b", "e"], "sorted by data offset");
    assert_eq!(loaded[0].1.shape(), &[2, 1]);
    assert_eq!(loaded[0].1.to_vec(), vec![3.5, -1.0]);
    assert_eq!(loaded[1].1.to_vec(), vec![2.0]);
    assert_eq!(loaded[2].1.shape(), &[3, 0]);
}

#[test]
fn truncated_and_corrupted_files_never_panic() {
    let files = [
        fs::read(Path::new(FIXTURES).join("torch_mlp.safetensors")).unwrap(),
        fs::read(Path::new(FIXTURES).join("torch_dtypes.safetensors")).unwrap(),
        serialize_safetensors(&mlp_params(), None).unwrap(),
    ];
    for full in &files {
        assert!(load_safetensors_bytes(full, "full").is_ok());
        // Every cut point: an error, never a panic or a partial success.
        for cut in 0..full.len() {
            let r = load_safetensors_bytes(&full[..cut], "cut.safetensors");
            let msg = match r {
                Ok(_) => panic!("a file cut at byte {cut} of {} loaded", full.len()),
                Err(e) => e.to_string(),
            };
            assert!(msg.starts_with("cut.safetensors: "), "{msg}");
        }
        // Every single-byte corruption: Ok or Err, never a panic.
        for pos in 0..full.len() {
            for flip in [0x01u8, 0x80, 0xff] {
                let mut b = full.clone();
                b[pos] ^= flip;
                let _ = load_safetensors_bytes(&b, "flipped.safetensors");
            }
        }
    }
    // A cut inside the data names the tensor that no longer fits.
    let full = &files[2];
    let msg = load_safetensors_bytes(&full[..full.len() - 1], "cut.safetensors")
        .unwrap_err()
        .to_string();
    assert_contains(&msg, &["'2.bias'", "past the end of the data"]);
}

// ---------------------------------------------------------------------------
// PyTorch fixtures
// ---------------------------------------------------------------------------

#[test]
fn pytorch_mlp_fixture_loads_exactly() {
    let reference = read_json("torch_mlp.json");
    let path = Path::new(FIXTURES).join("torch_mlp.safetensors");
    let (loaded, meta) = load_safetensors_with_metadata(&path).unwrap();
    assert_eq!(meta.get("format").map(String::as_str), Some("pt"));
    assert_eq!(
        meta.get("source").map(String::as_str),
        Some("make_fixture.py")
    );

    let expected = reference["tensors"].as_array().unwrap();
    assert_eq!(loaded.len(), expected.len());
    let by_name: HashMap<_, _> = loaded.iter().map(|(n, t)| (n.as_str(), t)).collect();
    for e in expected {
        let name = e["name"].as_str().unwrap();
        let t = by_name
            .get(name)
            .unwrap_or_else(|| panic!("missing {name}"));
        assert_eq!(t.shape(), json_shape(&e["shape"]).as_slice(), "{name}");
        assert_eq!(bits(&t.to_vec()), bits(&json_f32s(&e["values"])), "{name}");
    }
    let mut names: Vec<_> = by_name.keys().copied().collect();
    names.sort();
    assert_eq!(names, vec!["0.bias", "0.weight", "2.bias", "2.weight"]);

    // The weights compute PyTorch's output: y = relu(x W0^T + b0) W2^T + b2.
    let w0 = by_name["0.weight"].to_vec();
    let b0 = by_name["0.bias"].to_vec();
    let w2 = by_name["2.weight"].to_vec();
    let b2 = by_name["2.bias"].to_vec();
    let x = json_f32s(&reference["input"]["values"]);
    let y = json_f32s(&reference["output"]["values"]);
    for row in 0..2 {
        let h: Vec<f32> = (0..3)
            .map(|j| {
                let z: f32 = (0..4).map(|k| x[row * 4 + k] * w0[j * 4 + k]).sum::<f32>() + b0[j];
                z.max(0.0)
            })
            .collect();
        for o in 0..2 {
            let out: f32 = (0..3).map(|j| h[j] * w2[o * 3 + j]).sum::<f32>() + b2[o];
            assert!(
                (out - y[row * 2 + o]).abs() < 1e-6,
                "row {row} out {o}: {out} vs torch {}",
                y[row * 2 + o]
            );
        }
    }

    // And strict loading into a model-shaped parameter list copies them.
    let params = mlp_params();
    load_state_dict_into(&params, &loaded, &path.display().to_string()).unwrap();
    for (name, p) in &params {
        assert_eq!(bits(&p.to_vec()), bits(&by_name[name.as_str()].to_vec()));
    }
}

#[test]
fn pytorch_dtypes_fixture_converts_exactly() {
    let reference = read_json("torch_dtypes.json");
    let path = Path::new(FIXTURES).join("torch_dtypes.safetensors");
    let loaded = load_safetensors(&path).unwrap();
    let by_name: HashMap<_, _> = loaded.iter().map(|(n, t)| (n.as_str(), t)).collect();
    let expected = reference["tensors"].as_array().unwrap();
    assert_eq!(loaded.len(), expected.len());
    for e in expected {
        let name = e["name"].as_str().unwrap();
        let t = by_name[name];
        assert_eq!(t.shape(), json_shape(&e["shape"]).as_slice(), "{name}");
        assert_eq!(
            bits(&t.to_vec()),
            bits(&json_f32s(&e["values"])),
            "{name} ({})",
            e["dtype"]
        );
    }
    let (infos, _) = inspect_safetensors(&path).unwrap();
    let dtypes: HashMap<_, _> = infos
        .iter()
        .map(|i| (i.name.as_str(), i.dtype.as_str()))
        .collect();
    assert_eq!(dtypes["f16"], "F16");
    assert_eq!(dtypes["bf16"], "BF16");
    assert_eq!(dtypes["f64"], "F64");
    assert_eq!(dtypes["i64"], "I64");
    assert_eq!(dtypes["mask"], "BOOL");
}

/// Writes target/nerve_mlp.safetensors, which
/// tests/fixtures/safetensors/check_nerve_file.py loads into PyTorch with
/// load_state_dict(strict=True). Values: element i of each tensor, in the
/// order 0.weight, 0.bias, 2.weight, 2.bias, is (i + k) * 0.125 - 1 where k
/// counts the elements of the tensors before it.
#[test]
fn writes_mlp_file_for_pytorch_check() {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target"));
    fs::create_dir_all(&target).unwrap();
    let path = target.join("nerve_mlp.safetensors");
    let mut k = 0;
    let tensors: Vec<_> = mlp_params()
        .into_iter()
        .map(|(name, t)| {
            let data: Vec<f32> = (0..t.numel())
                .map(|i| (i + k) as f32 * 0.125 - 1.0)
                .collect();
            k += t.numel();
            (name, Tensor::from_vec(data, t.shape()))
        })
        .collect();
    let mut meta = HashMap::new();
    meta.insert("format".to_string(), "pt".to_string());
    save_safetensors(&path, &tensors, Some(&meta)).unwrap();
    let loaded = load_safetensors(&path).unwrap();
    assert_eq!(loaded[3].0, "2.bias");
    assert_eq!(loaded[3].1.to_vec(), vec![1.625, 1.75]);
}

// ---------------------------------------------------------------------------
// Strict state-dict loading
// ---------------------------------------------------------------------------

#[test]
fn load_state_dict_copies_in_place() {
    let params = mlp_params();
    let handle = params[2].1.clone(); // e.g. what an optimizer holds
    let loaded: Vec<_> = params
        .iter()
        .map(|(n, t)| {
            let v: Vec<f32> = (0..t.numel()).map(|i| i as f32 + 0.5).collect();
            (n.clone(), Tensor::from_vec(v, t.shape()))
        })
        .collect();
    load_state_dict_into(&params, &loaded, "m.safetensors").unwrap();
    assert_eq!(handle.to_vec(), vec![0.5, 1.5, 2.5, 3.5, 4.5, 5.5]);
    assert_eq!(params[1].1.to_vec(), vec![0.5, 1.5, 2.5]);
}

#[test]
fn load_state_dict_reports_every_problem_and_changes_nothing() {
    let params = mlp_params();
    let loaded = vec![
        named("0.weight", vec![1.0; 12], &[3, 4]),
        named("2.weight", vec![1.0; 15], &[5, 3]),
        named("2.bias", vec![1.0; 2], &[2]),
        named("3.bias", vec![1.0; 2], &[2]),
    ];
    let msg = load_state_dict_into(&params, &loaded, "runs/x/model.safetensors")
        .unwrap_err()
        .to_string();
    assert_contains(
        &msg,
        &[
            "runs/x/model.safetensors: ",
            "missing tensor '0.bias' (expected shape [3])",
            "'2.weight' has shape [5, 3] in the file, the model expects [2, 3]",
            "unexpected tensor '3.bias'",
        ],
    );
    // Nothing was half-loaded: 0.weight and 2.bias matched but were not copied.
    for (name, p) in &params {
        assert!(p.to_vec().iter().all(|&v| v == 0.0), "{name} was modified");
    }
}

#[test]
fn load_state_dict_single_problems() {
    let params = mlp_params();
    let full: Vec<_> = params
        .iter()
        .map(|(n, t)| (n.clone(), Tensor::ones(t.shape())))
        .collect();

    let missing: Vec<_> = full[1..].to_vec();
    let msg = load_state_dict_into(&params, &missing, "f.safetensors")
        .unwrap_err()
        .to_string();
    assert_eq!(
        msg,
        "f.safetensors: missing tensor '0.weight' (expected shape [3, 4])"
    );

    let mut extra = full.clone();
    extra.push(named("bn.running_mean", vec![0.0; 3], &[3]));
    let msg = load_state_dict_into(&params, &extra, "f.safetensors")
        .unwrap_err()
        .to_string();
    assert_contains(&msg, &["unexpected tensor 'bn.running_mean' (shape [3])"]);

    let prefixed: Vec<_> = full
        .iter()
        .map(|(n, t)| (format!("model.{n}"), t.clone()))
        .collect();
    let msg = load_state_dict_into(&params, &prefixed, "f.safetensors")
        .unwrap_err()
        .to_string();
    assert_contains(&msg, &["missing tensor '0.weight'", "prefix 'model.'"]);

    assert!(params
        .iter()
        .all(|(_, p)| p.to_vec().iter().all(|&v| v == 0.0)));
    load_state_dict_into(&params, &full, "f.safetensors").unwrap();
    assert!(params
        .iter()
        .all(|(_, p)| p.to_vec().iter().all(|&v| v == 1.0)));
}
