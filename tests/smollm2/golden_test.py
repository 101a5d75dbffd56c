#!/usr/bin/env python3
"""SmolLM2-135M-Instruct through the `df11` CLI against Hugging Face.

    golden_test.py DF11_BINARY MPIRUN_SH      (Bazel: //tests/smollm2:golden_test)

The model is the BF16 checkpoint in DF11_SMOLLM2_DIR (launch/setup.sh fetches
it; ./launch/df11 test passes the folder). Without it every case is skipped,
or fails when CI=true. The reference is testdata/ (make_golden.py, HF
transformers on the same checkpoint): 6 prompts, 24 greedy tokens each, and
their last-position FP32 logits.

Driven through the CLI only (compress, inspect, run), so it holds whatever
the engine's API becomes. The 6 prompts run as one batch (`--tokens a;b`):
the CPU backend decodes every weight each step, so a batch costs about what
one prompt does.
"""
import array
import json
import os
import struct
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import unittest_main  # noqa: E402

TESTDATA = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                        "testdata")
# Last-position logits against HF FP32: about 8x what was measured (6.4e-5,
# 4.5e-6), as large as HF's own FP32 error; docs/engine.md justifies it.
MAX_ABS = 5e-4
REL_L2 = 5e-5


def read_golden_logits(path):
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack_from("<Q", data)
    header = json.loads(data[8:8 + n])
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        assert info["dtype"] == "F32"
        begin, end = info["data_offsets"]
        values = array.array("f")
        values.frombytes(data[8 + n + begin:8 + n + end])
        out[name] = values
    return out


def compare(got, want):
    """(max abs difference, relative L2 difference)."""
    assert len(got) == len(want), (len(got), len(want))
    diff = [g - w for g, w in zip(got, want)]
    norm = sum(w * w for w in want) ** 0.5
    return (max(abs(d) for d in diff),
            sum(d * d for d in diff) ** 0.5 / norm)


class SmolLM2GoldenTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        model = os.environ.get("DF11_SMOLLM2_DIR", "")
        if not os.path.isfile(os.path.join(model, "model.safetensors")):
            message = (f"no SmolLM2 in DF11_SMOLLM2_DIR='{model}': run `bash "
                       "launch/setup.sh` (it fetches the model) and test "
                       "with ./launch/df11 test")
            if os.environ.get("CI") == "true":
                raise AssertionError(message)
            print(f"notice: skipped: {message}")
            raise unittest.SkipTest(message)
        cls.df11, cls.mpirun = sys.argv[1], sys.argv[2]
        cls.model = model
        with open(os.path.join(TESTDATA, "golden.json")) as f:
            cls.golden = json.load(f)
        cls.logits = read_golden_logits(
            os.path.join(TESTDATA, "golden_logits.safetensors"))
        cls.work = tempfile.mkdtemp(dir=os.environ.get("TEST_TMPDIR"))
        cls.dirs = {}
        for tp in (1, 3):
            cls.dirs[tp] = os.path.join(cls.work, f"tp{tp}")
            cls.cli("compress", model, cls.dirs[tp], f"--tp={tp}")
        cls.runs = {
            ("df11", 1): cls.run_batch(cls.dirs[1], 1),
            ("bf16", 1): cls.run_batch(model, 1),
            ("df11", 3): cls.run_batch(cls.dirs[3], 3),
            ("bf16", 3): cls.run_batch(model, 3),
        }

    @classmethod
    def cli(cls, *args, ranks=1):
        cmd = [cls.df11, *args]
        if ranks > 1:
            cmd = [cls.mpirun, "-np", str(ranks), *cmd]
        p = subprocess.run(cmd, capture_output=True, text=True)
        if p.returncode != 0:
            raise AssertionError(f"{' '.join(cmd)} failed ({p.returncode}):"
                                 f"\n{p.stderr[-3000:]}")
        return p

    @classmethod
    def run_batch(cls, model, tp):
        prompts = ";".join(",".join(map(str, p["ids"]))
                           for p in cls.golden["prompts"])
        out = cls.cli("run", f"--model={model}", f"--tokens={prompts}",
                      f"--max_new={cls.golden['steps']}", "--ignore_eos",
                      "--json", "--logits", f"--threads={2 if tp == 1 else tp}",
                      ranks=tp).stdout
        return [json.loads(line) for line in out.splitlines()]

    def check_tokens(self, kind, tp):
        for i, (p, got) in enumerate(zip(self.golden["prompts"],
                                         self.runs[(kind, tp)])):
            self.assertEqual(got["tokens"], p["greedy_fp32"],
                             f"{kind} TP={tp}, prompt {i} {p['text']!r}")

    def check_logits(self, kind, tp):
        for i, got in enumerate(self.runs[(kind, tp)]):
            max_abs, rel_l2 = compare(got["logits"], self.logits[f"prompt{i}"])
            print(f"{kind} TP={tp} prompt {i}: max abs {max_abs:.3g}, "
                  f"rel L2 {rel_l2:.3g}")
            self.assertLessEqual(max_abs, MAX_ABS, f"prompt {i}")
            self.assertLessEqual(rel_l2, REL_L2, f"prompt {i}")

    def test_greedy_tokens_df11_tp1(self):
        self.check_tokens("df11", 1)

    def test_greedy_tokens_df11_tp3(self):
        self.check_tokens("df11", 3)

    def test_greedy_tokens_bf16_tp1(self):
        self.check_tokens("bf16", 1)

    def test_logits_df11_tp1(self):
        self.check_logits("df11", 1)

    def test_logits_df11_tp3(self):
        self.check_logits("df11", 3)

    def test_df11_and_bf16_logits_bitwise_identical(self):
        for tp in (1, 3):
            for i, (a, b) in enumerate(zip(self.runs[("df11", tp)],
                                           self.runs[("bf16", tp)])):
                self.assertEqual(a["logits"], b["logits"],
                                 f"TP={tp} prompt {i}")
                self.assertEqual(a["tokens"], b["tokens"])

    def test_inspect(self):
        for tp in (1, 3):
            out = self.cli("inspect", self.dirs[tp]).stdout
            self.assertIn("all payload checksums ok", out)
            line = next(l for l in out.splitlines()
                        if l.startswith("DF11-encoded:"))
            print(f"TP={tp}: {line}")
            # "DF11-encoded: 10.735 bits/weight, entropy bound 10.611"
            bits = float(line.split()[1])
            bound = float(line.split()[-1])
            self.assertLess(bits - bound, 0.25)

    def test_prompt_text_streamed(self):
        p = self.golden["prompts"][0]
        run = self.cli("run", f"--model={self.dirs[1]}", f"--prompt={p['text']}",
                       f"--max_new={self.golden['steps']}", "--ignore_eos",
                       "--threads=2")
        self.assertEqual(run.stdout, p["continuation"] + "\n")
        self.assertIn("tokens/s", run.stderr)
        # The prompt is encoded as HF did.
        run = self.cli("run", f"--model={self.dirs[1]}", f"--prompt={p['text']}",
                       "--max_new=1", "--json", "--threads=2")
        self.assertEqual(json.loads(run.stdout)["prompt_tokens"], p["ids"])


if __name__ == "__main__":
    unittest_main.main()
