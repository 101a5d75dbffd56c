#!/usr/bin/env python3
"""SmolLM2-135M-Instruct on the CUDA backend against Hugging Face.

    gpu_check.py DF11_BINARY HF_DIR WORK_DIR

Run on the GPU machine (not in CI: it needs a GPU, torch and transformers),
with HF_DIR the checkpoint `launch/import_gguf.py` made from the GGUF. It
compresses HF_DIR at TP=1, runs the 6 golden prompts of testdata/ through
`df11 run --backend cuda` from the DF11 directory and from HF_DIR, and runs
Hugging Face transformers itself in BF16 on the same GPU, then checks:

  - greedy tokens: ours equal HF's for all 24 steps of every prompt (the
    prompts were chosen so that HF's FP32 and BF16 paths agree, every
    top-1/top-2 margin clear of the BF16 step: testdata/golden.json);
    where a path splits, the step and HF's margin there are printed;
  - DF11 and BF16 weights give bitwise-identical logits and tokens;
  - last-position logits against HF's FP32 logits (testdata): our error is
    at most twice HF's own BF16 error on the same prompts (max abs and
    relative L2), the BF16-activation tolerance docs/cuda_backend.md states.

Prints one line per check and PASS or FAIL last; exits 1 on a failure.
"""
import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from golden_test import TESTDATA, compare, read_golden_logits  # noqa: E402


def df11_run(df11, model, golden):
    prompts = ";".join(",".join(map(str, p["ids"])) for p in golden["prompts"])
    cmd = [df11, "run", f"--model={model}", f"--tokens={prompts}",
           f"--max_new={golden['steps']}", "--ignore_eos", "--json",
           "--logits", "--backend=cuda"]
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode != 0:
        sys.exit(f"FAIL: {' '.join(cmd)}: {p.stderr[-3000:]}")
    return [json.loads(line) for line in p.stdout.splitlines()]


def hf_bf16_logits(hf_dir, golden):
    import torch
    import transformers
    model = transformers.AutoModelForCausalLM.from_pretrained(
        hf_dir, dtype=torch.bfloat16).to("cuda").eval()
    out = []
    with torch.no_grad():
        for p in golden["prompts"]:
            ids = torch.tensor([p["ids"]], device="cuda")
            out.append(model(ids).logits[0, -1].float().cpu().tolist())
    return out


def main(df11, hf_dir, work):
    with open(os.path.join(TESTDATA, "golden.json")) as f:
        golden = json.load(f)
    fp32 = read_golden_logits(os.path.join(TESTDATA, "golden_logits.safetensors"))
    df11_dir = os.path.join(work, "smollm2_df11")
    subprocess.run([df11, "compress", hf_dir, df11_dir, "--tp=1"], check=True,
                   capture_output=True)
    ours = {"df11": df11_run(df11, df11_dir, golden),
            "bf16": df11_run(df11, hf_dir, golden)}
    hf = hf_bf16_logits(hf_dir, golden)
    ok = True
    for i, p in enumerate(golden["prompts"]):
        want = p["greedy_bf16"]
        for kind in ("df11", "bf16"):
            got = ours[kind][i]["tokens"]
            same = next((s for s, (a, b) in enumerate(zip(got, want)) if a != b),
                        None)
            if same is None:
                print(f"prompt {i} {kind}: all {len(want)} greedy tokens equal HF's")
            else:
                ok = False
                print(f"prompt {i} {kind}: splits from HF at step {same} "
                      f"(HF BF16 margin there {p['margins_bf16'][same]}, FP32 "
                      f"{p['margins_fp32'][same]:.4f})")
        if ours["df11"][i] != ours["bf16"][i]:
            ok = False
            print(f"prompt {i}: DF11 and BF16 runs differ")
        ref = fp32[f"prompt{i}"]
        our_abs, our_rel = compare(ours["df11"][i]["logits"], ref)
        hf_abs, hf_rel = compare(hf[i], ref)
        within = our_abs <= 2 * hf_abs and our_rel <= 2 * hf_rel
        ok &= within
        print(f"prompt {i} logits vs HF FP32: ours max abs {our_abs:.4g}, "
              f"rel L2 {our_rel:.4g}; HF BF16 max abs {hf_abs:.4g}, rel L2 "
              f"{hf_rel:.4g}: {'within' if within else 'OUTSIDE'} 2x HF's")
    print("DF11 == BF16 bitwise: " +
          ("yes" if ours["df11"] == ours["bf16"] else "NO"))
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    sys.exit(main(*sys.argv[1:]))
