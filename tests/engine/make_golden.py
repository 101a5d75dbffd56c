#!/usr/bin/env python3
"""Makes the golden fixtures of tests/engine with Hugging Face transformers.

    python3 tests/engine/make_golden.py OUT_DIR [MODEL...]
    # then copy OUT_DIR/<model> to tests/engine/testdata/

Without MODEL names it makes every model below. Name models to make only
those (e.g. a newly added one), leaving the others' fixtures as they are.

For each tiny random-init Llama model below it writes OUT_DIR/<model>/:
  config.json, model.safetensors  the model, weights in BF16 (save_pretrained)
  golden_logits.safetensors       F32 "prompt<i>": [len, vocab], HF's logits for
                                  every position of prompt i, computed in
                                  float32 from the BF16 weights (eager attention,
                                  CPU)
  golden.json                     the prompts, HF's greedy continuations
                                  (argmax of a full float32 forward pass per
                                  step, EOS ignored), each step's top-1/top-2
                                  logit margin, and how far HF's own float32
                                  logits are from its float64 logits

Runs where torch and transformers are installed (the GPU machine); it needs
no GPU. Deterministic: fixed seeds.
"""
import json
import os
import sys

import numpy as np
import torch
import transformers
from safetensors.torch import save_file
from transformers import LlamaConfig, LlamaForCausalLM

GREEDY_STEPS = 20
PROMPT_LENGTHS = [1, 6, 13]

MODELS = {
    # Multi-head attention (kv heads == heads), tied embeddings, plain RoPE.
    "mha": dict(
        seed=1,
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=4,
        vocab_size=256,
        max_position_embeddings=64,
        rms_norm_eps=1e-5,
        rope_theta=10000.0,
        rope=None,
        tie_word_embeddings=True,
        bos_token_id=1,
        eos_token_id=2,
    ),
    # Grouped-query attention (2 kv heads for 4 query heads), an explicit
    # head_dim larger than hidden/heads, llama3 rope scaling whose wavelength
    # thresholds fall inside the frequency range (so all three regimes of the
    # formula occur), an untied LM head and a list of EOS ids.
    "gqa_llama3": dict(
        seed=2,
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=3,
        num_attention_heads=4,
        num_key_value_heads=2,
        head_dim=32,
        vocab_size=320,
        max_position_embeddings=256,
        rms_norm_eps=1e-6,
        rope_theta=10000.0,
        rope=dict(
            rope_type="llama3",
            factor=8.0,
            low_freq_factor=1.0,
            high_freq_factor=4.0,
            original_max_position_embeddings=64,
        ),
        tie_word_embeddings=False,
        bos_token_id=1,
        eos_token_id=[2, 3],
    ),
    # A vocabulary (389, prime) that no TP size > 1 divides: the embedding
    # and LM head are split into equal parts padded with zero rows. Heads and
    # FFN width divide by 2, 3 and 6, so it serves at TP 2 (kv heads split)
    # and TP 3 (kv heads replicated). Untied LM head, plain RoPE.
    "odd_vocab": dict(
        seed=3,
        hidden_size=96,
        intermediate_size=192,
        num_hidden_layers=2,
        num_attention_heads=6,
        num_key_value_heads=2,
        vocab_size=389,
        max_position_embeddings=64,
        rms_norm_eps=1e-5,
        rope_theta=10000.0,
        rope=None,
        tie_word_embeddings=False,
        bos_token_id=1,
        eos_token_id=2,
    ),
}


def make_config(spec):
    kwargs = {k: v for k, v in spec.items() if k not in ("seed", "rope")}
    # Larger than the default 0.02 so attention is far from uniform and the
    # logits spread out.
    kwargs["initializer_range"] = 0.15
    rope = spec["rope"]
    major = int(transformers.__version__.split(".")[0])
    if major >= 5:
        params = {"rope_type": "default", "rope_theta": kwargs.pop("rope_theta")}
        if rope:
            params.update(rope)
        kwargs["rope_parameters"] = params
    elif rope:
        kwargs["rope_scaling"] = dict(rope, type=rope["rope_type"])
    return LlamaConfig(**kwargs)


def default_inv_freq(spec, config):
    head_dim = spec.get("head_dim", spec["hidden_size"] // spec["num_attention_heads"])
    return 1.0 / (spec["rope_theta"] ** (np.arange(0, head_dim, 2) / head_dim))


def forward_logits(model, ids):
    with torch.no_grad():
        return model(input_ids=torch.tensor([ids]), use_cache=False).logits[0]


def greedy(model, ids, steps):
    ids = list(ids)
    tokens, margins = [], []
    for _ in range(steps):
        last = forward_logits(model, ids)[-1]
        top = torch.topk(last, 2)
        tokens.append(int(top.indices[0]))
        margins.append(float(top.values[0] - top.values[1]))
        ids.append(tokens[-1])
    return tokens, margins


def make_model(name, spec, out_dir):
    torch.manual_seed(spec["seed"])
    config = make_config(spec)
    model = LlamaForCausalLM(config).float()
    with torch.no_grad():
        for pname, p in model.named_parameters():
            # RMSNorm weights start at 1; perturb them so the test sees them.
            if pname.endswith("norm.weight"):
                p.copy_(1.0 + 0.2 * torch.randn_like(p))
    model = model.to(torch.bfloat16)
    model_dir = os.path.join(out_dir, name)
    model.save_pretrained(model_dir, safe_serialization=True)
    gen_config = os.path.join(model_dir, "generation_config.json")
    if os.path.exists(gen_config):
        os.remove(gen_config)

    # Reload from disk, then run in float32 (BF16 -> FP32 is exact).
    bf16 = LlamaForCausalLM.from_pretrained(model_dir, attn_implementation="eager")
    ref32 = bf16.float().eval()
    for (n1, p1), (n2, p2) in zip(model.named_parameters(), ref32.named_parameters()):
        assert n1 == n2 and torch.equal(p1.float(), p2), n1
    ref64 = LlamaForCausalLM.from_pretrained(
        model_dir, attn_implementation="eager").double().eval()

    inv_freq = ref32.model.rotary_emb.inv_freq.double().numpy()
    plain = default_inv_freq(spec, config)
    if spec["rope"]:
        assert not np.allclose(inv_freq, plain), "llama3 rope scaling not active"
    else:
        assert np.allclose(inv_freq, plain), "unexpected rope scaling"

    rng = np.random.default_rng(100 + spec["seed"])
    prompts, greedy_tokens, greedy_margins, fp64_diffs = [], [], [], []
    tensors = {}
    for i, length in enumerate(PROMPT_LENGTHS):
        ids = [int(x) for x in rng.integers(0, spec["vocab_size"], size=length)]
        l32 = forward_logits(ref32, ids)
        l64 = forward_logits(ref64, ids)
        diff = (l32.double() - l64)
        fp64_diffs.append({
            "max_abs": float(diff.abs().max()),
            "rel_l2": float(diff.norm() / l64.norm()),
        })
        tensors["prompt%d" % i] = l32.contiguous()
        tokens, margins = greedy(ref32, ids, GREEDY_STEPS)
        prompts.append(ids)
        greedy_tokens.append(tokens)
        greedy_margins.append(margins)

    save_file(tensors, os.path.join(model_dir, "golden_logits.safetensors"))
    golden = {
        "made_by": "tests/engine/make_golden.py",
        "transformers": transformers.__version__,
        "torch": torch.__version__,
        "prompts": prompts,
        "greedy": greedy_tokens,
        "greedy_top2_margin": greedy_margins,
        "hf_fp32_vs_fp64": fp64_diffs,
        "rope_inv_freq": [float(x) for x in inv_freq],
    }
    with open(os.path.join(model_dir, "golden.json"), "w") as f:
        json.dump(golden, f, indent=1)
    print(name, "ok:", json.dumps(fp64_diffs), "min greedy margin",
          min(min(m) for m in greedy_margins))


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    names = sys.argv[2:] or list(MODELS)
    unknown = [n for n in names if n not in MODELS]
    if unknown:
        sys.exit("unknown model(s): %s (known: %s)" %
                 (", ".join(unknown), ", ".join(MODELS)))
    torch.set_num_threads(1)
    print("transformers", transformers.__version__, "torch", torch.__version__)
    for name in names:
        make_model(name, MODELS[name], sys.argv[1])


if __name__ == "__main__":
    main()
