"""`cuda_library`: compiles .cu files with nvcc into a cc_library.

    cuda_library(
        name = "decode_df11",
        srcs = ["decode_df11.cu"],
        hdrs = ["decode_df11.h"],
        deps = ["//loader/base:status"],
    )

Each .cu becomes one position-independent object built for sm_80 and sm_90
(plus PTX for newer chips); the cc_library links it together with cudart.
On a machine without the toolkit (see cuda_configure.bzl) the target is not
created, and targets that use it should be declared with `if_cuda`.
"""

load("@local_cuda//:defs.bzl", "CUDA_AVAILABLE", "NVCC")

_GENCODE = [
    "-gencode=arch=compute_80,code=sm_80",
    "-gencode=arch=compute_90,code=sm_90",
    "-gencode=arch=compute_90,code=compute_90",
]

def if_cuda(if_true, if_false = []):
    """Returns `if_true` when the CUDA toolkit was found, else `if_false`."""
    return if_true if CUDA_AVAILABLE else if_false

def cuda_library(name, srcs, hdrs = [], deps = [], textual_hdrs = [], nvcc_flags = [], gencode = _GENCODE, **kwargs):
    if not CUDA_AVAILABLE:
        return
    objs = []
    for src in srcs:
        obj = "_{}_objs/{}.pic.o".format(name, src.replace(".cu", ""))
        native.genrule(
            name = "_{}_{}_nvcc".format(name, src.replace("/", "_").replace(".", "_")),
            srcs = [src] + hdrs + textual_hdrs,
            outs = [obj],
            cmd = " ".join([
                NVCC,
                "-std=c++17 -O3 -Xcompiler -fPIC -lineinfo",
                "-I.",
                "-I$(GENDIR)",
            ] + gencode + nvcc_flags + [
                "-c $(location {})".format(src),
                "-o $@",
            ]),
            tags = ["no-sandbox"],
        )
        objs.append(obj)
    native.cc_library(
        name = name,
        srcs = objs,
        hdrs = hdrs,
        deps = deps + ["@local_cuda//:cudart"],
        alwayslink = True,
        **kwargs
    )

def cuda_cc_test(name, needs_gpu = True, **kwargs):
    """A cc_test that exists only where the toolkit does.

    Tagged `gpu` (run only where a GPU is present) unless `needs_gpu` is
    False: tests of host-only toolkit code, such as the error converters,
    run wherever the toolkit is installed.
    """
    if not CUDA_AVAILABLE:
        return
    tags = kwargs.pop("tags", [])
    native.cc_test(name = name, tags = tags + (["gpu"] if needs_gpu else []), **kwargs)

def cuda_cc_library(name, **kwargs):
    """A cc_library of host code that uses CUDA; exists only with the toolkit."""
    if not CUDA_AVAILABLE:
        return
    native.cc_library(name = name, **kwargs)

def cuda_cc_binary(name, **kwargs):
    """A cc_binary that exists only where the toolkit does."""
    if not CUDA_AVAILABLE:
        return
    native.cc_binary(name = name, **kwargs)
