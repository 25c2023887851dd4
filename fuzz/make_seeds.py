"""Writes fuzz/seeds/ (git-ignored, never committed): small GGUF files for the fuzz target to start from.

tiny_llama.gguf: a complete llama model (1 block, width 32, 2 query heads
and 1 key/value head of 16, feed-forward 32, vocabulary of the 256 GPT-2
byte characters, two merges and ChatML's special tokens, the ChatML template) with
Q8_0, Q4_0, Q4_1 and F16 matrices and F32 norms, so the fuzzer reaches the
model, the tokenizer and the forward pass. Written by the `gguf` package
(llama.cpp's own writer).

Usage: python fuzz/make_seeds.py   (needs numpy and gguf from PyPI)
"""
import os

import numpy as np
from gguf import GGMLQuantizationType as Q, GGUFWriter

HERE = os.path.dirname(os.path.abspath(__file__))
rng = np.random.default_rng(0)


def byte_chars():
    bs = list(range(33, 127)) + list(range(161, 173)) + list(range(174, 256))
    cs, n = bs[:], 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return [chr(c) for _, c in sorted(zip(bs, cs))]


def raw(qtype, rows, cols):
    """Random blocks of a type as (rows, bytes per row) uint8."""
    per = {Q.Q8_0: 34, Q.Q4_0: 18, Q.Q4_1: 20}[qtype]
    b = rng.integers(0, 256, size=(rows, cols // 32, per), dtype=np.uint8)
    b[:, :, 0:2] = np.frombuffer(np.float16(0.02).tobytes(), np.uint8)
    if qtype == Q.Q4_1:
        b[:, :, 2:4] = np.frombuffer(np.float16(-0.1).tobytes(), np.uint8)
    return b.reshape(rows, -1)


w = GGUFWriter(os.path.join(HERE, "seeds", "tiny_llama.gguf"), "llama")
w.add_name("tiny fuzz seed")
w.add_block_count(1)
w.add_context_length(64)
w.add_embedding_length(32)
w.add_feed_forward_length(32)
w.add_head_count(2)
w.add_head_count_kv(1)
w.add_rope_freq_base(10000.0)
w.add_layer_norm_rms_eps(1e-5)
w.add_tokenizer_model("gpt2")
w.add_tokenizer_pre("smollm")
tokens = byte_chars() + ["Ġt", "he", "<|endoftext|>", "<|im_start|>", "<|im_end|>"]
w.add_token_list(tokens)
w.add_token_types([1] * 258 + [3, 3, 3])
w.add_token_merges(["Ġ t", "h e"])
w.add_eos_token_id(260)
w.add_chat_template(
    "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + "
    "message['content'] + '<|im_end|>' + '\\n'}}{% endfor %}"
)
w.add_tensor("token_embd.weight", raw(Q.Q8_0, 261, 32), raw_dtype=Q.Q8_0)
w.add_tensor("output_norm.weight", np.ones(32, np.float32))
w.add_tensor("blk.0.attn_norm.weight", np.ones(32, np.float32))
w.add_tensor("blk.0.attn_q.weight", raw(Q.Q4_0, 32, 32), raw_dtype=Q.Q4_0)
w.add_tensor("blk.0.attn_k.weight", raw(Q.Q4_1, 16, 32), raw_dtype=Q.Q4_1)
w.add_tensor("blk.0.attn_v.weight", rng.normal(0, 0.1, (16, 32)).astype(np.float16))
w.add_tensor("blk.0.attn_output.weight", raw(Q.Q8_0, 32, 32), raw_dtype=Q.Q8_0)
w.add_tensor("blk.0.ffn_norm.weight", np.ones(32, np.float32))
w.add_tensor("blk.0.ffn_gate.weight", raw(Q.Q4_1, 32, 32), raw_dtype=Q.Q4_1)
w.add_tensor("blk.0.ffn_up.weight", raw(Q.Q4_0, 32, 32), raw_dtype=Q.Q4_0)
w.add_tensor("blk.0.ffn_down.weight", rng.normal(0, 0.1, (32, 32)).astype(np.float32))
w.write_header_to_file()
w.write_kv_data_to_file()
w.write_tensors_to_file()
w.close()
print("wrote", w.path if hasattr(w, "path") else "seeds/tiny_llama.gguf")
