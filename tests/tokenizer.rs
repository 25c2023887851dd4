//! SmolLM2's byte-level BPE tokenizer, built from the GGUF file, against the
//! reference ids in tests/fixtures/tokenizer/smollm2_tokens.json (Hugging
//! Face `tokenizers` with SmolLM2's pipeline, and llama.cpp, which agree;
//! made by make_tokenizer_fixture.py beside it). Skips, saying why, when the
//! model file is absent (scripts/fetch-smollm2.sh fetches it).

use std::path::PathBuf;

use nerve::data::BpeTokenizer;
use nerve::io::gguf::GgufFile;

#[test]
fn encode_and_decode_match_the_reference_on_the_corpus() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let model = root.join("models/SmolLM2-135M-Instruct.Q4_1.gguf");
    if !model.exists() {
        eprintln!(
            "SKIPPED: {} is absent; run `bash scripts/fetch-smollm2.sh` to fetch it",
            model.display()
        );
        return;
    }
    let tok = BpeTokenizer::from_gguf(&GgufFile::open(&model).unwrap()).unwrap();
    let fx: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(root.join("tests/fixtures/tokenizer/smollm2_tokens.json"))
            .unwrap(),
    )
    .unwrap();
    let cases = fx["cases"].as_array().unwrap();
    assert!(cases.len() >= 30);
    for case in cases {
        let text = case["text"].as_str().unwrap();
        let want: Vec<u32> = case["ids"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_u64().unwrap() as u32)
            .collect();
        assert_eq!(tok.encode(text), want, "encoding {text:?}");
        assert_eq!(tok.decode(&want), text, "decoding {text:?}");
    }
    assert_eq!(tok.token_id("<|im_start|>"), Some(1));
    assert_eq!(tok.eos(), Some(2));
}
