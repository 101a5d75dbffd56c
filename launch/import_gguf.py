#!/usr/bin/env python3
"""Converts a Llama GGUF file into a Hugging Face BF16 checkpoint.

    ./launch/df11 import-gguf FILE OUT_DIR     (runs this script in the
                                               venv that has `gguf`)

OUT_DIR gets what Hugging Face transformers itself gets from FILE:

  config.json             LlamaForCausalLM, every field transformers 5 reads
                          from the GGUF metadata (the same values)
  model.safetensors       every tensor in BF16 (dtype "BF16" in the header)
  tokenizer.json          the byte-level BPE tokenizer transformers builds
                          from the GGUF's tokenizer metadata
  tokenizer_config.json   special tokens, add_bos_token, chat template
  generation_config.json  BOS / EOS / PAD ids

Reading and dequantizing are the `gguf` package's (the reader published with
llama.cpp). What this script adds:
  - llama.cpp stores attn_q / attn_k rows permuted for its RoPE layout; they
    are permuted back exactly as transformers' GGUF loader does;
  - FP32 -> BF16 rounds to nearest, ties to even (torch's `.to(bfloat16)`),
    once, from the exact dequantized FP32 value. NaN stays a quiet NaN.

Accepted: general.architecture "llama"; tokenizer.ggml.model "gpt2"
(byte-level BPE) with a GPT-2-regex pre-tokenizer; tensor types F32, F16,
BF16 and the quantizations transformers' GGUF loader supports (below).
Anything else is refused with an error that names FILE and the field or
tensor. Nothing is written to OUT_DIR on error: the checkpoint is written to a
temporary directory beside it, which is renamed to OUT_DIR when complete.
OUT_DIR must not exist. Exit status: 0 done, 1 bad input, 2 usage.
"""
import json
import os
import shutil
import sys
import tempfile

import gguf
import numpy as np

QT = gguf.GGMLQuantizationType

# The types transformers' GGUF loader dequantizes. Others (integer tensors,
# F64, TQ*, MXFP4, NVFP4, ...) are refused.
SUPPORTED_TYPES = [
    QT.F32, QT.F16, QT.BF16, QT.Q4_0, QT.Q4_1, QT.Q5_0, QT.Q5_1, QT.Q8_0,
    QT.Q2_K, QT.Q3_K, QT.Q4_K, QT.Q5_K, QT.Q6_K, QT.IQ1_S, QT.IQ1_M,
    QT.IQ2_XXS, QT.IQ2_XS, QT.IQ2_S, QT.IQ3_XXS, QT.IQ3_S, QT.IQ4_NL,
    QT.IQ4_XS,
]

# tokenizer.ggml.pre values for which transformers keeps GPT-2's own
# ByteLevel regex. (Others, e.g. "llama-bpe", get another split regex there.)
GPT2_REGEX_PRE = ["default", "gpt2", "smollm"]

TOKEN_TYPE_CONTROL = 3
TOKEN_TYPE_USER_DEFINED = 4


class InputError(Exception):
    """Bad input: the message names the file and the field or tensor."""


def bytes_to_unicode():
    """GPT-2's byte -> printable character table of byte-level BPE."""
    printable = (list(range(ord("!"), ord("~") + 1)) +
                 list(range(ord("¡"), ord("¬") + 1)) +
                 list(range(ord("®"), ord("ÿ") + 1)))
    table, extra = {}, 0
    for b in range(256):
        if b in printable:
            table[b] = chr(b)
        else:
            table[b] = chr(256 + extra)
            extra += 1
    return table


def bf16_bits(values):
    """FP32 array -> BF16 bit patterns (uint16), round to nearest even."""
    bits = np.ascontiguousarray(values, dtype=np.float32).view(np.uint32)
    # No overflow in uint32: the largest finite pattern plus 0x8000 is
    # below 2^32, and NaNs are replaced below.
    rounded = (bits + np.uint32(0x7FFF) + ((bits >> 16) & np.uint32(1))) >> 16
    nan = (bits & np.uint32(0x7FFFFFFF)) > np.uint32(0x7F800000)
    rounded = np.where(nan, (bits >> 16) | np.uint32(0x40), rounded)
    return rounded.astype(np.uint16)


def unpermute_rope_rows(weights, n_head):
    """Undoes llama.cpp's q/k row permutation ([out, in], `n_head` heads).

    llama.cpp's converter interleaves the two rotary halves of each head;
    this is transformers' `_reverse_permute_weights`.
    """
    dim = weights.shape[0] // n_head // 2
    w = weights.reshape(n_head, dim, 2, *weights.shape[1:])
    return w.swapaxes(2, 1).reshape(weights.shape)


class Gguf:
    """The parsed file: typed metadata access with errors naming the field."""

    def __init__(self, path):
        self.path = path
        self.size = os.path.getsize(path)
        # Built by hand so that a reader that stops half way still shows how
        # far it got (its fields so far, whether the header was complete).
        reader = gguf.GGUFReader.__new__(gguf.GGUFReader)
        try:
            gguf.GGUFReader.__init__(reader, path)
        except Exception as e:  # the reader raises ValueError, IndexError...
            raise InputError(self._reader_failure(reader, e)) from None
        self.reader = reader

    def _reader_failure(self, reader, error):
        where = f"{self.path} ({self.size} bytes)"
        fields = list(getattr(reader, "fields", {}))
        if not fields:
            return f"{where}: not a GGUF file ({error})"
        if not hasattr(reader, "data_offset"):
            return (f"{where}: truncated or corrupt metadata: cannot read what "
                    f"follows field '{fields[-1]}' ({error})")
        cut = self._first_cut_tensor(reader.data_offset)
        if cut is not None:
            name, end, total = cut
            return (f"{where}: truncated: tensor '{name}' ends at byte {end} "
                    f"(the tensors need {total} bytes)")
        return (f"{where}: corrupt tensor data (it starts at byte "
                f"{reader.data_offset}; the gguf reader says: {error})")

    def _first_cut_tensor(self, data_offset):
        """(name, end, needed size) of the first tensor past the file's end.

        The header alone, in a sparse file far longer than any model, lets
        the reader list every tensor without their data.
        """
        with tempfile.TemporaryDirectory() as tmp:
            probe = os.path.join(tmp, "header.gguf")
            with open(self.path, "rb") as src, open(probe, "wb") as dst:
                dst.write(src.read(data_offset))
                dst.truncate(data_offset + (1 << 40))
            try:
                tensors = gguf.GGUFReader(probe).tensors
            except Exception:
                return None
        ends = [(t.data_offset + t.n_bytes, t.name) for t in tensors]
        cut = [e for e in ends if e[0] > self.size]
        if not cut:
            return None
        end, name = min(cut)
        return name, end, max(ends)[0]

    def error(self, field, message):
        return InputError(f"{self.path}: field '{field}': {message}")

    def get(self, field, default=None, kind=None):
        f = self.reader.fields.get(field)
        if f is None:
            if default is None:
                raise self.error(field, "missing")
            return default
        try:
            value = f.contents()
        except Exception as e:
            raise self.error(field, f"unreadable ({e})") from None
        if kind is not None and not isinstance(value, kind):
            names = [k.__name__ for k in
                     (kind if isinstance(kind, tuple) else (kind,))]
            raise self.error(field, f"expected {' or '.join(names)}, got "
                             f"{value!r}")
        return value

    def positive_int(self, field, default=None):
        value = self.get(field, default, int)
        if isinstance(value, bool) or value <= 0:
            raise self.error(field, f"expected a positive integer, got {value}")
        return value

    def positive_float(self, field, default=None):
        value = self.get(field, default, (int, float))
        if not np.isfinite(value) or value <= 0:
            raise self.error(field, f"expected a positive number, got {value}")
        return float(value)


def llama_config(g):
    """config.json fields, as transformers reads them from the metadata."""
    arch = g.get(gguf.Keys.General.ARCHITECTURE, kind=str)
    if arch != "llama":
        raise g.error(gguf.Keys.General.ARCHITECTURE,
                      f"'{arch}' is not supported (expected 'llama')")
    k = lambda key: key.format(arch=arch)  # noqa: E731
    tokens = g.get(gguf.Keys.Tokenizer.LIST, kind=list)
    c = {
        "hidden_size": g.positive_int(k(gguf.Keys.LLM.EMBEDDING_LENGTH)),
        "intermediate_size": g.positive_int(k(gguf.Keys.LLM.FEED_FORWARD_LENGTH)),
        "num_hidden_layers": g.positive_int(k(gguf.Keys.LLM.BLOCK_COUNT)),
        "num_attention_heads": g.positive_int(k(gguf.Keys.Attention.HEAD_COUNT)),
        "max_position_embeddings": g.positive_int(k(gguf.Keys.LLM.CONTEXT_LENGTH)),
        "rms_norm_eps": g.positive_float(k(gguf.Keys.Attention.LAYERNORM_RMS_EPS)),
        "rope_theta": g.positive_float(k(gguf.Keys.Rope.FREQ_BASE), 10000.0),
        "vocab_size": g.positive_int(k(gguf.Keys.LLM.VOCAB_SIZE), len(tokens)),
    }
    heads = c["num_attention_heads"]
    kv_key = k(gguf.Keys.Attention.HEAD_COUNT_KV)
    c["num_key_value_heads"] = g.positive_int(kv_key, heads)
    if heads % c["num_key_value_heads"] != 0:
        raise g.error(kv_key, f"{c['num_key_value_heads']} does not divide "
                      f"the {heads} attention heads")
    head_dim_key = k(gguf.Keys.Rope.DIMENSION_COUNT)
    c["head_dim"] = g.positive_int(head_dim_key, c["hidden_size"] // heads)
    if c["head_dim"] % 2 != 0:
        raise g.error(head_dim_key, f"{c['head_dim']} is odd")
    for key in (k(gguf.Keys.Attention.KEY_LENGTH),
                k(gguf.Keys.Attention.VALUE_LENGTH)):
        if g.get(key, c["head_dim"]) != c["head_dim"]:
            raise g.error(key, "differs from the rotary dimension "
                          f"{c['head_dim']} (partial RoPE is not supported)")
    scaling = g.get(k(gguf.Keys.Rope.SCALING_TYPE), "none")
    if scaling != "none":
        raise g.error(k(gguf.Keys.Rope.SCALING_TYPE),
                      f"'{scaling}' is not supported (expected none)")
    if len(tokens) != c["vocab_size"]:
        raise g.error(gguf.Keys.Tokenizer.LIST,
                      f"{len(tokens)} tokens for a vocabulary of "
                      f"{c['vocab_size']}")
    return c


def tokenizer_files(g):
    """(tokenizer.json, tokenizer_config.json, special ids) as dicts."""
    model = g.get(gguf.Keys.Tokenizer.MODEL, kind=str)
    if model != "gpt2":
        raise g.error(gguf.Keys.Tokenizer.MODEL, f"'{model}' is not supported "
                      "(expected 'gpt2', byte-level BPE)")
    pre = g.get(gguf.Keys.Tokenizer.PRE, "default", str)
    if pre not in GPT2_REGEX_PRE:
        raise g.error(gguf.Keys.Tokenizer.PRE, f"'{pre}' is not supported "
                      f"(supported: {', '.join(GPT2_REGEX_PRE)})")
    tokens = g.get(gguf.Keys.Tokenizer.LIST, kind=list)
    types = g.get(gguf.Keys.Tokenizer.TOKEN_TYPE, kind=list)
    merges = g.get(gguf.Keys.Tokenizer.MERGES, kind=list)
    if len(types) != len(tokens):
        raise g.error(gguf.Keys.Tokenizer.TOKEN_TYPE,
                      f"{len(types)} types for {len(tokens)} tokens")

    spelling = bytes_to_unicode()
    alphabet = set(spelling.values())
    vocab = {}
    for i, token in enumerate(tokens):
        if not set(token) <= alphabet:  # spelled in plain text: respell
            token = "".join(spelling[b] for b in token.encode("utf-8"))
        if token in vocab:
            raise g.error(gguf.Keys.Tokenizer.LIST,
                          f"token {i} repeats token {vocab[token]} ({token!r})")
        vocab[token] = i
    pairs = []
    for i, merge in enumerate(merges):
        parts = merge.split(" ")
        if len(parts) != 2 or parts[0] not in vocab or parts[1] not in vocab:
            raise g.error(gguf.Keys.Tokenizer.MERGES,
                          f"merge {i} {merge!r} is not two vocabulary tokens")
        pairs.append(parts)

    # Control tokens are special; user-defined ones are plain added tokens
    # (transformers' add_gguf_special_tokens). A control token spelled
    # outside the byte alphabet is a mislabel and stays ordinary.
    added = []
    for i, (token, kind) in enumerate(zip(tokens, types)):
        special = kind == TOKEN_TYPE_CONTROL and set(token) <= alphabet
        if special or kind == TOKEN_TYPE_USER_DEFINED:
            added.append({"id": i, "content": token, "single_word": False,
                          "lstrip": False, "rstrip": False,
                          "normalized": False, "special": special})

    byte_level = {"type": "ByteLevel", "add_prefix_space": False,
                  "trim_offsets": True, "use_regex": True}
    tokenizer = {
        "version": "1.0",
        "truncation": None,
        "padding": None,
        "added_tokens": added,
        "normalizer": None,
        "pre_tokenizer": byte_level,
        "post_processor": {
            "type": "TemplateProcessing",
            "single": [{"Sequence": {"id": "A", "type_id": 0}}],
            "pair": [{"Sequence": {"id": "A", "type_id": 0}},
                     {"Sequence": {"id": "B", "type_id": 1}}],
            "special_tokens": {},
        },
        "decoder": dict(byte_level, add_prefix_space=True),
        "model": {
            "type": "BPE", "dropout": None, "unk_token": None,
            "continuing_subword_prefix": "", "end_of_word_suffix": "",
            "fuse_unk": False, "byte_fallback": False, "ignore_merges": False,
            "vocab": vocab, "merges": pairs,
        },
    }

    ids = {}
    config = {"tokenizer_class": "TokenizersBackend", "backend": "tokenizers"}
    for name, key in (("bos", gguf.Keys.Tokenizer.BOS_ID),
                      ("eos", gguf.Keys.Tokenizer.EOS_ID),
                      ("unk", gguf.Keys.Tokenizer.UNK_ID),
                      ("pad", gguf.Keys.Tokenizer.PAD_ID)):
        i = g.get(key, -1, int)
        if i == -1:
            continue
        if not 0 <= i < len(tokens):
            raise g.error(key, f"{i} is outside the vocabulary")
        ids[name] = i
        config[f"{name}_token"] = tokens[i]
    add_bos = g.get(gguf.Keys.Tokenizer.ADD_BOS, False, bool)
    add_eos = g.get(gguf.Keys.Tokenizer.ADD_EOS, False, bool)
    if add_bos or add_eos:
        # transformers then adds them outside tokenizer.json; we keep
        # tokenizer.json the whole truth, so refuse rather than differ.
        raise g.error(gguf.Keys.Tokenizer.ADD_BOS if add_bos
                      else gguf.Keys.Tokenizer.ADD_EOS,
                      "adding BOS/EOS to every text is not supported")
    config["add_bos_token"] = False
    template = g.get(gguf.Keys.Tokenizer.CHAT_TEMPLATE, "", str)
    if template:
        config["chat_template"] = template
    return tokenizer, config, ids


def tensor_plan(g, c):
    """[(HF name, GGUF tensor, HF shape, heads to un-permute or None)]."""
    tensors = {t.name: t for t in g.reader.tensors}
    layers = c["num_hidden_layers"]
    hidden, ffn = c["hidden_size"], c["intermediate_size"]
    heads, kv, hd = (c["num_attention_heads"], c["num_key_value_heads"],
                     c["head_dim"])
    want = [("model.embed_tokens", [c["vocab_size"], hidden], None),
            ("model.norm", [hidden], None)]
    for i in range(layers):
        p = f"model.layers.{i}."
        want += [
            (p + "input_layernorm", [hidden], None),
            (p + "post_attention_layernorm", [hidden], None),
            (p + "self_attn.q_proj", [heads * hd, hidden], heads),
            (p + "self_attn.k_proj", [kv * hd, hidden], kv),
            (p + "self_attn.v_proj", [kv * hd, hidden], None),
            (p + "self_attn.o_proj", [hidden, heads * hd], None),
            (p + "mlp.gate_proj", [ffn, hidden], None),
            (p + "mlp.up_proj", [ffn, hidden], None),
            (p + "mlp.down_proj", [hidden, ffn], None),
        ]
    names = gguf.get_tensor_name_map(gguf.MODEL_ARCH.LLAMA, layers)
    lm_head = names.get_name("lm_head") + ".weight"
    c["tie_word_embeddings"] = lm_head not in tensors
    if not c["tie_word_embeddings"]:
        want.append(("lm_head", [c["vocab_size"], hidden], None))

    plan, used = [], set()
    for hf, shape, permute in want:
        name = names.get_name(hf) + ".weight"
        t = tensors.get(name)
        if t is None:
            raise InputError(f"{g.path}: tensor '{name}' ({hf}) is missing")
        if t.tensor_type not in SUPPORTED_TYPES:
            raise InputError(
                f"{g.path}: tensor '{name}': type {t.tensor_type.name} is not "
                "supported (supported: "
                f"{', '.join(q.name for q in SUPPORTED_TYPES)})")
        got = [int(d) for d in reversed(t.shape.tolist())]
        if got != shape:
            raise InputError(f"{g.path}: tensor '{name}': shape {got}, "
                             f"expected {shape} from the metadata")
        plan.append((hf + ".weight", t, shape, permute))
        used.add(name)
    extra = sorted(set(tensors) - used)
    if extra:
        raise InputError(f"{g.path}: tensor '{extra[0]}' is not part of a "
                         f"Llama model ({len(extra)} such tensors)")
    return plan


def write_safetensors(path, plan):
    """BF16 safetensors, tensors in name order, written one at a time."""
    plan = sorted(plan, key=lambda p: p[0])
    header, offset = {"__metadata__": {"format": "pt"}}, 0
    for name, _, shape, _ in plan:
        size = 2 * int(np.prod(shape))
        header[name] = {"dtype": "BF16", "shape": shape,
                        "data_offsets": [offset, offset + size]}
        offset += size
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(len(text).to_bytes(8, "little"))
        f.write(text)
        for name, t, shape, permute in plan:
            values = gguf.quants.dequantize(t.data, t.tensor_type)
            values = values.reshape(shape)
            if permute is not None:
                values = unpermute_rope_rows(values, permute)
            f.write(bf16_bits(values).tobytes())
        f.flush()
        os.fsync(f.fileno())


def write_json(path, value):
    with open(path, "w", encoding="utf-8") as f:
        json.dump(value, f, ensure_ascii=False, indent=2)
        f.write("\n")


def convert(gguf_path, out_dir):
    if os.path.lexists(out_dir):
        raise InputError(f"{out_dir}: already exists")
    g = Gguf(gguf_path)
    c = llama_config(g)
    tokenizer, tokenizer_config, ids = tokenizer_files(g)
    plan = tensor_plan(g, c)
    if "bos" not in ids or "eos" not in ids:
        raise g.error(gguf.Keys.Tokenizer.BOS_ID if "bos" not in ids
                      else gguf.Keys.Tokenizer.EOS_ID, "missing")

    config = {
        "architectures": ["LlamaForCausalLM"],
        "attention_bias": False,
        "attention_dropout": 0.0,
        "bos_token_id": ids["bos"],
        "dtype": "bfloat16",
        "eos_token_id": ids["eos"],
        "head_dim": c["head_dim"],
        "hidden_act": "silu",
        "hidden_size": c["hidden_size"],
        "initializer_range": 0.02,
        "intermediate_size": c["intermediate_size"],
        "max_position_embeddings": c["max_position_embeddings"],
        "mlp_bias": False,
        "model_type": "llama",
        "num_attention_heads": c["num_attention_heads"],
        "num_hidden_layers": c["num_hidden_layers"],
        "num_key_value_heads": c["num_key_value_heads"],
        "pad_token_id": ids.get("pad"),
        "pretraining_tp": 1,
        "rms_norm_eps": c["rms_norm_eps"],
        "rope_parameters": {"rope_theta": c["rope_theta"],
                            "rope_type": "default"},
        "tie_word_embeddings": c["tie_word_embeddings"],
        "use_cache": True,
        "vocab_size": c["vocab_size"],
    }
    if "unk" in ids:
        config["unk_token_id"] = ids["unk"]  # as transformers carries it
    generation = {"bos_token_id": ids["bos"], "eos_token_id": ids["eos"]}
    if "pad" in ids:
        generation["pad_token_id"] = ids["pad"]

    parent = os.path.dirname(os.path.abspath(out_dir))
    os.makedirs(parent, exist_ok=True)
    temp = tempfile.mkdtemp(prefix=os.path.basename(out_dir) + ".tmp-",
                            dir=parent)
    try:
        write_json(os.path.join(temp, "config.json"), config)
        write_json(os.path.join(temp, "generation_config.json"), generation)
        write_json(os.path.join(temp, "tokenizer_config.json"),
                   tokenizer_config)
        with open(os.path.join(temp, "tokenizer.json"), "w",
                  encoding="utf-8") as f:
            json.dump(tokenizer, f, ensure_ascii=False, separators=(",", ":"))
        write_safetensors(os.path.join(temp, "model.safetensors"), plan)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(temp, 0o777 & ~umask)  # mkdtemp made it private
        os.rename(temp, out_dir)
    except BaseException:
        shutil.rmtree(temp, ignore_errors=True)
        raise
    return config, len(plan)


def main(argv):
    if len(argv) == 2 and argv[1] in ("-h", "--help"):
        print(__doc__)
        return 0
    if len(argv) != 3 or argv[1].startswith("-"):
        print("usage: df11 import-gguf FILE OUT_DIR  (no flags; --help)",
              file=sys.stderr)
        return 2
    try:
        config, count = convert(argv[1], argv[2])
    except (InputError, OSError) as e:
        print(f"import-gguf: {e}", file=sys.stderr)
        return 1
    print(f"import-gguf: wrote {count} BF16 tensors ({config['num_hidden_layers']}"
          f" layers, hidden {config['hidden_size']}, vocabulary "
          f"{config['vocab_size']}) to {argv[2]}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
