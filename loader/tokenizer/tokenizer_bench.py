#!/usr/bin/env python3
"""Encode MB/s of df11's tokenizer against Hugging Face tokenizers, same text.

Builds a ~4 MB text (Python standard-library source, license texts and the
multilingual corpus of tests/tokenizer/make_golden.py), trains two 32k BPE
tokenizers on it with HF (Llama 3 style byte-level and Llama 2 style
SentencePiece), times HF single-threaded encode (best of N), then runs the C++
tokenizer_bench on the same chunks, which first checks every id against HF's.

  bazel build //loader/tokenizer:tokenizer_bench
  /tmp/tokvenv/bin/python loader/tokenizer/tokenizer_bench.py
"""
import argparse
import glob
import json
import os
import shutil
import subprocess
import sys
import sysconfig
import time

os.environ["RAYON_NUM_THREADS"] = "1"
os.environ["TOKENIZERS_PARALLELISM"] = "false"

import tokenizers  # noqa: E402
from tokenizers import Tokenizer  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "tests", "tokenizer"))
import make_golden  # noqa: E402


def bench_text(target_bytes):
    parts = []
    lib = sysconfig.get_paths()["stdlib"]
    files = sorted(glob.glob(os.path.join(lib, "*.py")))
    files += sorted(glob.glob("/usr/share/common-licenses/*"))
    size = 0
    lines = make_golden.corpus(__import__("random").Random(7))
    multilingual = "\n".join(lines)
    for f in files:
        try:
            with open(f, encoding="utf-8") as fh:
                t = fh.read()
        except (UnicodeDecodeError, IsADirectoryError):
            continue
        parts.append(t)
        size += len(t.encode())
        # Every ~10 files, some of the multilingual corpus.
        if len(parts) % 10 == 0:
            parts.append(multilingual[:20000])
        if size >= target_bytes:
            break
    text = "".join(parts)
    # Chunks of about 4 KB, cut at line ends: one encode call each.
    chunks, cur = [], []
    n = 0
    for line in text.splitlines(keepends=True):
        cur.append(line)
        n += len(line.encode())
        if n >= 4096:
            chunks.append("".join(cur))
            cur, n = [], 0
    if cur:
        chunks.append("".join(cur))
    return text, chunks


def train(kind, text, vocab):
    lines = text.splitlines()
    if kind == "llama3_style":
        tok = Tokenizer(tokenizers.models.BPE(ignore_merges=True))
        tok.pre_tokenizer = tokenizers.pre_tokenizers.Sequence([
            tokenizers.pre_tokenizers.Split(
                tokenizers.Regex(make_golden.LLAMA3_REGEX), behavior="isolated"),
            tokenizers.pre_tokenizers.ByteLevel(add_prefix_space=False,
                                                use_regex=False)])
        tok.decoder = tokenizers.decoders.ByteLevel()
        make_golden.train(tok, lines, vocab, ["<|begin_of_text|>"],
                          initial_alphabet=tokenizers.pre_tokenizers.ByteLevel.alphabet())
        return tok
    tok = make_golden.sentencepiece_alphabet_training(lines, vocab)
    tok.pre_tokenizer = None
    tok.normalizer = tokenizers.normalizers.Sequence([
        tokenizers.normalizers.Prepend("▁"),
        tokenizers.normalizers.Replace(" ", "▁")])
    return tok


def time_hf(tok, chunks, repeats):
    """Best of `repeats` for both encode_batch and a loop of encode calls."""
    tok.encode_batch(chunks, add_special_tokens=False)  # warm the cache
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        tok.encode_batch(chunks, add_special_tokens=False)
        best = min(best, time.perf_counter() - t0)
        t0 = time.perf_counter()
        for c in chunks:
            tok.encode(c, add_special_tokens=False)
        best = min(best, time.perf_counter() - t0)
    return best


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bench_binary",
                    default="bazel-out/k8-opt/bin/loader/tokenizer/tokenizer_bench",
                    help="the built tokenizer_bench (bazel-bin may point at "
                         "another configuration's outputs)")
    ap.add_argument("--workdir", default="/tmp/df11_tokenizer_bench")
    ap.add_argument("--bytes", type=int, default=4_000_000)
    ap.add_argument("--vocab", type=int, default=32000)
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    os.makedirs(args.workdir, exist_ok=True)
    # A private copy: a concurrent bazel build must not swap it mid-run.
    binary = os.path.join(args.workdir, "tokenizer_bench")
    shutil.copyfile(args.bench_binary, binary)
    os.chmod(binary, 0o755)
    text, chunks = bench_text(args.bytes)
    nbytes = sum(len(c.encode()) for c in chunks)
    print(f"text: {nbytes / 1e6:.2f} MB in {len(chunks)} chunks; "
          f"HF tokenizers {tokenizers.__version__}, single thread")
    rows = []
    for kind in ("llama3_style", "llama2_style"):
        tok_path = os.path.join(args.workdir, kind + ".json")
        if not os.path.exists(tok_path):
            train(kind, text, args.vocab).save(tok_path)
        tok = Tokenizer.from_file(tok_path)
        ids = [e.ids for e in tok.encode_batch(chunks, add_special_tokens=False)]
        cases_path = os.path.join(args.workdir, kind + ".cases.json")
        with open(cases_path, "w") as f:
            json.dump({"chunks": chunks, "ids": ids}, f, ensure_ascii=False)
        hf_s = time_hf(tok, chunks, args.repeats)
        out = subprocess.run([binary, f"--tokenizer={tok_path}",
                              f"--cases={cases_path}",
                              f"--repeats={args.repeats}"],
                             capture_output=True, text=True)
        if out.returncode != 0:
            sys.exit(f"{kind}: tokenizer_bench failed:\n{out.stdout}{out.stderr}")
        ours = json.loads(out.stdout.strip().splitlines()[-1])
        hf_mbps = nbytes / hf_s / 1e6
        rows.append((kind, tok.get_vocab_size(), hf_mbps, ours["mb_per_s"]))
    print(f"{'tokenizer':<14} {'vocab':>6} {'HF MB/s':>9} {'df11 MB/s':>10} {'ratio':>6}")
    for kind, vocab, hf, ours in rows:
        print(f"{kind:<14} {vocab:>6} {hf:>9.2f} {ours:>10.2f} {ours / hf:>5.2f}x")


if __name__ == "__main__":
    main()
