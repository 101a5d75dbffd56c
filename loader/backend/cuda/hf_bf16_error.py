#!/usr/bin/env python3
"""How far Hugging Face's own BF16-activation forward pass is from its FP32
one, on the golden fixtures of tests/engine: the scale against which the CUDA
backend's BF16-activation tolerance is set (docs/cuda_backend.md).

    python3 loader/backend/cuda/hf_bf16_error.py [tests/engine/testdata]

For each fixture and prompt: the model in torch.bfloat16 (weights and
activations, eager attention, CPU), logits of every position, against the
fixture's FP32 logits (golden_logits.safetensors): max abs and rel L2. Also
the greedy top-1/top-2 margins below the largest error (steps where any BF16
implementation may pick the other token).
"""
import json
import os
import sys

import torch
from safetensors.torch import load_file
from transformers import LlamaForCausalLM

root = sys.argv[1] if len(sys.argv) > 1 else "tests/engine/testdata"
worst = 0.0
for name in ("mha", "gqa_llama3"):
    d = os.path.join(root, name)
    golden = json.load(open(os.path.join(d, "golden.json")))
    ref = load_file(os.path.join(d, "golden_logits.safetensors"))
    model = LlamaForCausalLM.from_pretrained(
        d, dtype=torch.bfloat16, attn_implementation="eager").eval()
    for i, prompt in enumerate(golden["prompts"]):
        with torch.no_grad():
            out = model(torch.tensor([prompt])).logits[0].float()
        r = ref[f"prompt{i}"]
        diff = (out - r).abs()
        rel = ((out - r).norm() / r.norm()).item()
        worst = max(worst, diff.max().item())
        print(f"HF-BF16 {name} prompt {i} ({len(prompt)} tokens): "
              f"max abs {diff.max().item():.6g}, rel L2 {rel:.6g}")
    margins = [m for row in golden["greedy_top2_margin"] for m in row]
    print(f"{name}: {sum(m < 0.1 for m in margins)} of {len(margins)} greedy "
          f"steps have an HF margin below 0.1")
print(f"largest HF BF16 max abs error: {worst:.6g}")
