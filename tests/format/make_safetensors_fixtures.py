#!/usr/bin/env python3
"""safetensors interoperability fixtures, made and checked with the reference
Python package (`pip install safetensors numpy`; made with safetensors 0.8.0).

    make_safetensors_fixtures.py make TESTDATA_DIR
        Writes, with the reference writer, py_numeric.safetensors (numpy
        dtypes + metadata), py_bf16.safetensors (BF16 and friends, written
        through safetensors.serialize_file since numpy has no bfloat16) and
        py_empty.safetensors, plus py_expected.json: for every file its
        metadata and, per tensor, dtype, shape and the exact bytes (hex)
        taken from numpy, not from the file. Our reader must match it.

    make_safetensors_fixtures.py verify FILE RECIPE_JSON [RECORD_JSON]
        Reads FILE (written by our SafetensorsWriter from RECIPE_JSON, see
        //tests/format:write_interop_fixture) with the reference reader and
        checks every tensor's dtype, shape and bytes against the recipe, and
        the metadata. Exits 1 on any difference. With RECORD_JSON, writes a
        record of the check (file sha256, package version).

Recipe byte rule (shared with tests/format/interop_fixture.cc): byte i of
the k-th recipe tensor is (17*k + 131*i + 7) mod 256, or that value & 1 for
BOOL.
"""
import hashlib
import json
import os
import sys

import numpy as np
import safetensors
from safetensors.numpy import save_file

# numpy dtype -> safetensors name, for the numpy fixture.
NUMPY_TENSORS = [
    ("f32.matrix", np.float32, (3, 5)),
    ("i64.vector", np.int64, (7,)),
    ("u8.odd", np.uint8, (19,)),
    ("f16.cube", np.float16, (2, 3, 2)),
    ("i32.scalar", np.int32, ()),
    ("f64.one", np.float64, (1,)),
    ("i8.signed", np.int8, (5,)),
    ("u16.pair", np.uint16, (2,)),
    ("bool.mask", np.bool_, (6,)),
    ("f32.empty", np.float32, (0, 4)),
]

# Safetensors name -> TensorSpec dtype name, for the raw-bytes fixture.
SPEC_DTYPE = {
    "BF16": "bfloat16", "F32": "float32", "U8": "uint8", "I64": "int64",
    "F8_E4M3": "float8_e4m3fn", "F8_E5M2": "float8_e5m2", "U32": "uint32",
}
RAW_TENSORS = [
    ("model.layers.0.self_attn.q_proj.weight", "BF16", (4, 6)),
    ("model.norm.weight", "BF16", (6,)),
    ("fp8.e4m3", "F8_E4M3", (3,)),
    ("fp8.e5m2", "F8_E5M2", (2, 2)),
    ("codes", "U32", (5,)),
]
DTYPE_SIZE = {"BOOL": 1, "U8": 1, "I8": 1, "F8_E4M3": 1, "F8_E5M2": 1,
              "U16": 2, "I16": 2, "F16": 2, "BF16": 2, "U32": 4, "I32": 4,
              "F32": 4, "U64": 8, "I64": 8, "F64": 8}


def count(shape):
    n = 1
    for d in shape:
        n *= d
    return n


def numpy_fixture(rng):
    tensors = {}
    for name, dtype, shape in NUMPY_TENSORS:
        if dtype == np.bool_:
            a = rng.integers(0, 2, size=shape).astype(np.bool_)
        elif np.issubdtype(dtype, np.floating):
            a = rng.standard_normal(size=shape).astype(dtype)
        else:
            info = np.iinfo(dtype)
            a = rng.integers(info.min, info.max, size=shape, dtype=dtype,
                             endpoint=True)
        tensors[name] = np.ascontiguousarray(a)
    return tensors


def serialize_raw(path, specs, metadata):
    """Writes raw (dtype, shape, bytes) tensors with the reference writer."""
    buffers = {}
    tensor_dict = {}
    for name, (dtype, shape, data) in specs.items():
        buf = np.frombuffer(data, dtype=np.uint8).copy()
        buffers[name] = buf  # must outlive serialize_file
        if hasattr(safetensors, "TensorSpec"):  # safetensors >= 0.8
            tensor_dict[name] = safetensors.TensorSpec(
                dtype=SPEC_DTYPE[dtype], shape=list(shape),
                data_ptr=buf.ctypes.data, data_len=len(data))
        else:
            tensor_dict[name] = {"dtype": dtype, "shape": list(shape),
                                 "data": bytes(data)}
    safetensors.serialize_file(tensor_dict, path, metadata=metadata)


def make(out_dir):
    rng = np.random.default_rng(20261126)
    expected = {}

    numeric = numpy_fixture(rng)
    meta = {"format": "np", "note": "caf\u00e9 \"quoted\""}
    save_file(numeric, os.path.join(out_dir, "py_numeric.safetensors"),
              metadata=meta)
    expected["py_numeric.safetensors"] = {
        "metadata": meta,
        "tensors": {
            name: {"dtype": name.split(".")[0].upper(),
                   "shape": list(a.shape), "hex": a.tobytes().hex()}
            for name, a in numeric.items()
        },
    }

    raw = {}
    for name, dtype, shape in RAW_TENSORS:
        data = rng.integers(0, 256, size=count(shape) * DTYPE_SIZE[dtype],
                            dtype=np.uint8).tobytes()
        raw[name] = (dtype, shape, data)
    serialize_raw(os.path.join(out_dir, "py_bf16.safetensors"), raw, None)
    expected["py_bf16.safetensors"] = {
        "metadata": {},
        "tensors": {name: {"dtype": d, "shape": list(s), "hex": b.hex()}
                    for name, (d, s, b) in raw.items()},
    }

    save_file({}, os.path.join(out_dir, "py_empty.safetensors"))
    expected["py_empty.safetensors"] = {"metadata": {}, "tensors": {}}

    with open(os.path.join(out_dir, "py_expected.json"), "w") as f:
        json.dump({"safetensors_version": safetensors.__version__,
                   "files": expected}, f, indent=1, sort_keys=True)
        f.write("\n")


def recipe_bytes(k, dtype, shape):
    n = count(shape) * DTYPE_SIZE[dtype]
    i = np.arange(n, dtype=np.int64)
    b = ((17 * k + 131 * i + 7) % 256).astype(np.uint8)
    if dtype == "BOOL":
        b &= 1
    return b.tobytes()


def verify(path, recipe_path, record_path=None):
    with open(recipe_path) as f:
        recipe = json.load(f)
    with open(path, "rb") as f:
        content = f.read()
    errors = []
    got = dict(safetensors.deserialize(content))
    want_names = [t["name"] for t in recipe["tensors"]]
    if sorted(got) != sorted(want_names):
        errors.append(f"tensor names {sorted(got)} != {sorted(want_names)}")
    for k, t in enumerate(recipe["tensors"]):
        name = t["name"]
        if name not in got:
            continue
        g = got[name]
        want = recipe_bytes(k, t["dtype"], t["shape"])
        if g["dtype"] != t["dtype"]:
            errors.append(f"{name}: dtype {g['dtype']} != {t['dtype']}")
        if list(g["shape"]) != list(t["shape"]):
            errors.append(f"{name}: shape {g['shape']} != {t['shape']}")
        if bytes(g["data"]) != want:
            errors.append(f"{name}: bytes differ")
    # The file-level reader too (it validates the same header, and gives
    # the metadata).
    with safetensors.safe_open(path, framework="numpy") as f:
        metadata = f.metadata() or {}
        for name in f.keys():
            if f.get_slice(name).get_dtype() != dict(
                    (t["name"], t["dtype"]) for t in recipe["tensors"])[name]:
                errors.append(f"{name}: safe_open dtype differs")
    if metadata != recipe["metadata"]:
        errors.append(f"metadata {metadata} != {recipe['metadata']}")
    for e in errors:
        print(f"{path}: {e}", file=sys.stderr)
    if errors:
        return 1
    print(f"{path}: {len(got)} tensors read by safetensors "
          f"{safetensors.__version__}, all bytes match")
    if record_path:
        with open(record_path, "w") as f:
            json.dump({"file": os.path.basename(path),
                       "sha256": hashlib.sha256(content).hexdigest(),
                       "safetensors_version": safetensors.__version__,
                       "tensors_checked": len(got), "result": "ok"},
                      f, indent=1, sort_keys=True)
            f.write("\n")
    return 0


def main(argv):
    if len(argv) == 3 and argv[1] == "make":
        make(argv[2])
        return 0
    if len(argv) in (4, 5) and argv[1] == "verify":
        return verify(*argv[2:])
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
