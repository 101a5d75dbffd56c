#!/usr/bin/env python3
"""launch/import_gguf.py on small GGUF files written here with the `gguf`
package's GGUFWriter: a tiny Llama that converts, and bad inputs that must
fail with an error naming the file and the field or tensor, leaving nothing
at OUT_DIR.

    import_gguf_test.py          (Bazel: //tests/smollm2:import_gguf_test,
                                  with DF11_PYTHON = the venv that has gguf)

Needs `gguf` and numpy: without them every case is skipped, or fails when
CI=true.
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import unittest_main  # noqa: E402

try:
    import gguf
    import numpy as np
except ImportError as e:  # reported in setUpModule
    gguf = np = None
    IMPORT_ERROR = e

SCRIPT = "launch/import_gguf.py"
LAYERS, HIDDEN, FFN, HEADS, KV_HEADS, HEAD_DIM = 2, 64, 96, 4, 2, 16
SPECIAL = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]


def setUpModule():
    if gguf is None:
        message = (f"needs gguf and numpy ({IMPORT_ERROR}): run `bash "
                   "launch/setup.sh` and test with ./launch/df11 test")
        if os.environ.get("CI") == "true":
            raise AssertionError(message)
        print(f"notice: skipped: {message}")
        raise unittest.SkipTest(message)
    sys.path.insert(0, "launch")
    global import_gguf
    import import_gguf


def llama_cpp_permute(w, n_head):
    """llama.cpp's converter: the q/k row order it stores."""
    return (w.reshape(n_head, 2, w.shape[0] // n_head // 2, *w.shape[1:])
            .swapaxes(1, 2).reshape(w.shape))


def bf16_exact(rng, shape):
    """Random FP32 values that BF16 holds exactly."""
    x = rng.standard_normal(shape).astype(np.float32) * 0.05
    return (x.view(np.uint32) & np.uint32(0xFFFF0000)).view(np.float32)


class Model:
    """A tiny Llama written as GGUF; fields and tensors can be broken."""

    def __init__(self, seed=0):
        rng = np.random.default_rng(seed)
        alphabet = list(import_gguf.bytes_to_unicode().values())
        self.tokens = SPECIAL + alphabet + ["he", "Ġt"]
        self.vocab = len(self.tokens)
        self.arch = "llama"
        self.skip_fields = set()
        self.fields = {}  # extra or replaced: name -> (value, GGUFValueType)
        # HF layout, FP32; each stored as `types` says (default F32).
        self.tensors = {"token_embd.weight": bf16_exact(rng, (self.vocab,
                                                               HIDDEN)),
                        "output_norm.weight": bf16_exact(rng, (HIDDEN,))}
        for i in range(LAYERS):
            p = f"blk.{i}."
            self.tensors.update({
                p + "attn_norm.weight": bf16_exact(rng, (HIDDEN,)),
                p + "ffn_norm.weight": bf16_exact(rng, (HIDDEN,)),
                p + "attn_q.weight": bf16_exact(rng, (HEADS * HEAD_DIM,
                                                      HIDDEN)),
                p + "attn_k.weight": bf16_exact(rng, (KV_HEADS * HEAD_DIM,
                                                      HIDDEN)),
                p + "attn_v.weight": bf16_exact(rng, (KV_HEADS * HEAD_DIM,
                                                      HIDDEN)),
                p + "attn_output.weight": bf16_exact(rng, (HIDDEN,
                                                           HEADS * HEAD_DIM)),
                p + "ffn_gate.weight": bf16_exact(rng, (FFN, HIDDEN)),
                p + "ffn_up.weight": bf16_exact(rng, (FFN, HIDDEN)),
                p + "ffn_down.weight": bf16_exact(rng, (HIDDEN, FFN)),
            })
        self.types = {}

    def write(self, path):
        w = gguf.GGUFWriter(path, self.arch)
        a = self.arch
        fields = {
            f"{a}.block_count": (LAYERS, gguf.GGUFValueType.UINT32),
            f"{a}.context_length": (128, gguf.GGUFValueType.UINT32),
            f"{a}.embedding_length": (HIDDEN, gguf.GGUFValueType.UINT32),
            f"{a}.feed_forward_length": (FFN, gguf.GGUFValueType.UINT32),
            f"{a}.attention.head_count": (HEADS, gguf.GGUFValueType.UINT32),
            f"{a}.attention.head_count_kv": (KV_HEADS,
                                             gguf.GGUFValueType.UINT32),
            f"{a}.rope.dimension_count": (HEAD_DIM, gguf.GGUFValueType.UINT32),
            f"{a}.rope.freq_base": (10000.0, gguf.GGUFValueType.FLOAT32),
            f"{a}.attention.layer_norm_rms_epsilon":
                (1e-5, gguf.GGUFValueType.FLOAT32),
            f"{a}.vocab_size": (self.vocab, gguf.GGUFValueType.UINT32),
            "tokenizer.ggml.model": ("gpt2", gguf.GGUFValueType.STRING),
            "tokenizer.ggml.pre": ("smollm", gguf.GGUFValueType.STRING),
            "tokenizer.ggml.bos_token_id": (1, gguf.GGUFValueType.UINT32),
            "tokenizer.ggml.eos_token_id": (2, gguf.GGUFValueType.UINT32),
            "tokenizer.ggml.padding_token_id": (2, gguf.GGUFValueType.UINT32),
            "tokenizer.ggml.add_bos_token": (False, gguf.GGUFValueType.BOOL),
        }
        fields.update(self.fields)
        for name, (value, kind) in fields.items():
            if name not in self.skip_fields:
                w.add_key_value(name, value, kind)
        if "tokenizer.ggml.tokens" not in self.skip_fields:
            w.add_token_list(self.tokens)
            w.add_token_types([3] * len(SPECIAL) +
                              [1] * (self.vocab - len(SPECIAL)))
            w.add_token_merges(["h e", "Ġ t"])
        for name, values in self.tensors.items():
            if ".attn_q." in name:
                values = llama_cpp_permute(values, HEADS)
            elif ".attn_k." in name:
                values = llama_cpp_permute(values, KV_HEADS)
            qtype = self.types.get(name, gguf.GGMLQuantizationType.F32)
            if qtype == gguf.GGMLQuantizationType.F32:
                w.add_tensor(name, values)
            else:
                w.add_tensor(name, gguf.quants.quantize(values, qtype),
                             raw_dtype=qtype)
        w.write_header_to_file()
        w.write_kv_data_to_file()
        w.write_tensors_to_file()
        w.close()


def read_safetensors(path):
    with open(path, "rb") as f:
        data = f.read()
    n = int.from_bytes(data[:8], "little")
    header = json.loads(data[8:8 + n])
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        begin, end = info["data_offsets"]
        out[name] = (info["dtype"], info["shape"],
                     np.frombuffer(data[8 + n + begin:8 + n + end],
                                   np.uint16).reshape(info["shape"]))
    return out


class ImportGgufTest(unittest.TestCase):
    def setUp(self):
        self.work = tempfile.mkdtemp(dir=os.environ.get("TEST_TMPDIR"))
        self.gguf = os.path.join(self.work, "model.gguf")
        self.out = os.path.join(self.work, "out", "hf")

    def tearDown(self):
        shutil.rmtree(self.work, ignore_errors=True)

    def convert(self):
        return subprocess.run([sys.executable, SCRIPT, self.gguf, self.out],
                              capture_output=True, text=True)

    def assert_refused(self, *needles):
        """Exit 1, the message names the file and each needle, no output."""
        p = self.convert()
        self.assertEqual(p.returncode, 1, p.stderr)
        self.assertIn(self.gguf, p.stderr)
        for needle in needles:
            self.assertIn(needle, p.stderr)
        self.assertNotIn("Traceback", p.stderr)
        self.assertFalse(os.path.exists(self.out))
        parent = os.path.dirname(self.out)
        self.assertEqual(os.listdir(parent) if os.path.isdir(parent) else [],
                         [], "temporary files left beside OUT_DIR")
        return p.stderr

    def test_converts_a_tiny_llama(self):
        m = Model()
        Q = gguf.GGMLQuantizationType
        m.types = {"token_embd.weight": Q.Q8_0, "blk.0.attn_q.weight": Q.Q4_1,
                   "blk.1.ffn_down.weight": Q.Q4_1}
        m.write(self.gguf)
        p = self.convert()
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(sorted(os.listdir(self.out)), [
            "config.json", "generation_config.json", "model.safetensors",
            "tokenizer.json", "tokenizer_config.json"])
        with open(os.path.join(self.out, "config.json")) as f:
            config = json.load(f)
        for key, want in [("architectures", ["LlamaForCausalLM"]),
                          ("model_type", "llama"), ("hidden_size", HIDDEN),
                          ("intermediate_size", FFN),
                          ("num_hidden_layers", LAYERS),
                          ("num_attention_heads", HEADS),
                          ("num_key_value_heads", KV_HEADS),
                          ("head_dim", HEAD_DIM), ("vocab_size", m.vocab),
                          ("max_position_embeddings", 128),
                          ("tie_word_embeddings", True),
                          ("bos_token_id", 1), ("eos_token_id", 2),
                          ("rope_parameters", {"rope_theta": 10000.0,
                                               "rope_type": "default"})]:
            self.assertEqual(config[key], want, key)
        self.assertEqual(config["rms_norm_eps"], float(np.float32(1e-5)))
        with open(os.path.join(self.out, "generation_config.json")) as f:
            self.assertEqual(json.load(f), {"bos_token_id": 1,
                                            "eos_token_id": 2,
                                            "pad_token_id": 2})
        with open(os.path.join(self.out, "tokenizer.json")) as f:
            tok = json.load(f)
        self.assertEqual(len(tok["model"]["vocab"]), m.vocab)
        self.assertEqual(tok["model"]["merges"], [["h", "e"], ["Ġ", "t"]])
        self.assertEqual([(a["id"], a["content"], a["special"])
                          for a in tok["added_tokens"]],
                         [(i, t, True) for i, t in enumerate(SPECIAL)])
        self.assertEqual(tok["pre_tokenizer"]["type"], "ByteLevel")

        tensors = read_safetensors(os.path.join(self.out, "model.safetensors"))
        self.assertEqual(len(tensors), 2 + 9 * LAYERS)
        for hf, gg in [("model.embed_tokens.weight", "token_embd.weight"),
                       ("model.norm.weight", "output_norm.weight"),
                       ("model.layers.0.self_attn.q_proj.weight",
                        "blk.0.attn_q.weight"),
                       ("model.layers.1.self_attn.q_proj.weight",
                        "blk.1.attn_q.weight"),
                       ("model.layers.1.self_attn.k_proj.weight",
                        "blk.1.attn_k.weight"),
                       ("model.layers.1.mlp.down_proj.weight",
                        "blk.1.ffn_down.weight")]:
            dtype, shape, bits = tensors[hf]
            self.assertEqual(dtype, "BF16", hf)
            self.assertEqual(shape, list(m.tensors[gg].shape), hf)
            want = m.tensors[gg]
            if gg in m.types:  # what the quantization kept, rounded once
                q = gguf.quants.quantize(
                    llama_cpp_permute(want, HEADS) if ".attn_q." in gg
                    else want, m.types[gg])
                want = gguf.quants.dequantize(q, m.types[gg])
                if ".attn_q." in gg:
                    want = import_gguf.unpermute_rope_rows(want, HEADS)
            np.testing.assert_array_equal(
                bits, import_gguf.bf16_bits(want), err_msg=hf)
        # F32 tensors come back exactly, q and k in HF's row order.
        np.testing.assert_array_equal(
            tensors["model.layers.1.self_attn.k_proj.weight"][2],
            m.tensors["blk.1.attn_k.weight"].view(np.uint32) >> 16)

    def test_bf16_rounds_to_nearest_even(self):
        cases = [  # FP32 bits -> BF16 bits
            (0x3F800000, 0x3F80),  # 1.0
            (0x3F808000, 0x3F80),  # halfway, even stays
            (0x3F818000, 0x3F82),  # halfway, odd rounds up to even
            (0x3F808001, 0x3F81),  # above halfway
            (0x3F807FFF, 0x3F80),  # below halfway
            (0xBF818000, 0xBF82),  # negative
            (0x80000000, 0x8000),  # -0
            (0x00000001, 0x0000),  # smallest subnormal
            (0x7F7FFFFF, 0x7F80),  # largest finite rounds to infinity
            (0x7F800000, 0x7F80),  # infinity
            (0xFF800000, 0xFF80),  # -infinity
            (0x7F800001, 0x7FC0),  # signalling NaN becomes quiet
            (0xFFC00000, 0xFFC0),  # quiet NaN
        ]
        got = import_gguf.bf16_bits(
            np.array([c[0] for c in cases], np.uint32).view(np.float32))
        self.assertEqual([int(g) for g in got], [c[1] for c in cases])

    def test_unsupported_quantization_type(self):
        m = Model()
        m.types = {"blk.1.attn_v.weight": gguf.GGMLQuantizationType.MXFP4}
        m.write(self.gguf)
        self.assert_refused("tensor 'blk.1.attn_v.weight'",
                            "type MXFP4 is not supported")

    def test_truncated_tensor_data(self):
        Model().write(self.gguf)
        size = os.path.getsize(self.gguf)
        os.truncate(self.gguf, size - 1000)
        self.assert_refused(f"({size - 1000} bytes): truncated: tensor "
                            "'blk.1.ffn_down.weight' ends at byte "
                            f"{size}")

    def test_truncated_metadata(self):
        Model().write(self.gguf)
        reader = gguf.GGUFReader(self.gguf)
        merges = reader.fields["tokenizer.ggml.merges"]
        cut = merges.offset + 20  # inside the merges array
        del reader
        os.truncate(self.gguf, cut)
        self.assert_refused("truncated", "field 'tokenizer.ggml.token_type'")

    def test_not_a_gguf_file(self):
        with open(self.gguf, "wb") as f:
            f.write(b"PK\x03\x04 a zip, not a GGUF file")
        self.assert_refused("not a GGUF file")

    def test_non_llama_architecture(self):
        m = Model()
        m.arch = "gpt2"
        m.write(self.gguf)
        self.assert_refused("field 'general.architecture'",
                            "'gpt2' is not supported (expected 'llama')")

    def test_missing_field(self):
        m = Model()
        m.skip_fields = {"llama.attention.head_count"}
        m.write(self.gguf)
        self.assert_refused("field 'llama.attention.head_count': missing")

    def test_bad_field_values(self):
        for field, value, kind, needle in [
                ("llama.attention.head_count_kv", 3,
                 gguf.GGUFValueType.UINT32, "does not divide"),
                ("llama.rope.scaling.type", "yarn", gguf.GGUFValueType.STRING,
                 "'yarn' is not supported"),
                ("llama.rope.freq_base", "fast", gguf.GGUFValueType.STRING,
                 "expected int or float, got 'fast'"),
                ("llama.embedding_length", 0, gguf.GGUFValueType.UINT32,
                 "expected a positive integer, got 0"),
                ("tokenizer.ggml.model", "llama", gguf.GGUFValueType.STRING,
                 "'llama' is not supported"),
                ("tokenizer.ggml.pre", "llama-bpe", gguf.GGUFValueType.STRING,
                 "'llama-bpe' is not supported"),
                ("tokenizer.ggml.eos_token_id", 100000,
                 gguf.GGUFValueType.UINT32, "outside the vocabulary")]:
            with self.subTest(field=field):
                m = Model()
                m.fields = {field: (value, kind)}
                m.write(self.gguf)
                self.assert_refused(f"field '{field}'", needle)

    def test_tensor_shape_and_set(self):
        m = Model()
        m.tensors["blk.0.ffn_up.weight"] = np.zeros((FFN, HIDDEN + 32),
                                                    np.float32)
        m.write(self.gguf)
        self.assert_refused("tensor 'blk.0.ffn_up.weight'",
                            f"expected [{FFN}, {HIDDEN}]")
        m = Model()
        m.tensors["rope_freqs.weight"] = np.ones(HEAD_DIM // 2, np.float32)
        m.write(self.gguf)
        self.assert_refused("tensor 'rope_freqs.weight'",
                            "not part of a Llama model")
        m = Model()
        del m.tensors["blk.1.ffn_gate.weight"]
        m.write(self.gguf)
        self.assert_refused("tensor 'blk.1.ffn_gate.weight'", "missing")

    def test_existing_out_dir_is_left_alone(self):
        Model().write(self.gguf)
        os.makedirs(self.out)
        marker = os.path.join(self.out, "keep")
        open(marker, "w").close()
        p = self.convert()
        self.assertEqual(p.returncode, 1)
        self.assertIn("already exists", p.stderr)
        self.assertEqual(os.listdir(self.out), ["keep"])


if __name__ == "__main__":
    unittest_main.main()
