"""Finds FlashInfer's header-only CUDA templates and exposes them as
@local_flashinfer.

launch/setup.sh downloads the PyPI wheels `flashinfer-python` (headers under
flashinfer/data/include) and `nvidia-cuda-cccl` (newer CCCL headers that
FlashInfer needs ahead of the toolkit's own) and unpacks them into
~/.cache/df11/ (or $DF11_FLASHINFER_CACHE). With both present and the CUDA
toolkit found, `FLASHINFER_AVAILABLE = True` and FLASHINFER_NVCC_FLAGS put
them on nvcc's include path; otherwise the FlashInfer targets are skipped
(the CUDA backend then uses its own decode attention) and a notice says so.
After running setup.sh, `bazel sync --configure` (or a new Bazel server)
picks the headers up.
"""

FLASHINFER_VERSION = "0.7.4"
CCCL_VERSION = "13.3"

def _flashinfer_configure_impl(ctx):
    cache = ctx.os.environ.get("DF11_FLASHINFER_CACHE", "")
    if not cache:
        cache = ctx.os.environ.get("HOME", "/root") + "/.cache/df11"
    fi = ctx.path("{}/flashinfer-{}/include".format(cache, FLASHINFER_VERSION))
    cccl = ctx.path("{}/cccl-{}/include".format(cache, CCCL_VERSION))
    cuda = ctx.path(ctx.os.environ.get("CUDA_PATH", "/usr/local/cuda") + "/bin/nvcc")
    available = (fi.get_child("flashinfer").exists and cccl.get_child("cuda").exists and
                 cuda.exists and ctx.os.environ.get("DF11_DISABLE_CUDA", "") != "1" and
                 ctx.os.environ.get("DF11_DISABLE_FLASHINFER", "") != "1")
    if not available and cuda.exists:
        print("notice: FlashInfer {} headers not found under {} (run launch/setup.sh, then `bazel sync --configure`): the CUDA backend is built with its own decode attention only".format(FLASHINFER_VERSION, cache))
    ctx.file("BUILD", "")
    ctx.file("defs.bzl", """
FLASHINFER_AVAILABLE = {available}
FLASHINFER_NVCC_FLAGS = {flags}
""".format(
        available = available,
        flags = repr([
            "-I" + str(cccl),
            "-I" + str(fi),
            "--expt-relaxed-constexpr",
        ] if available else []),
    ))

flashinfer_configure = repository_rule(
    implementation = _flashinfer_configure_impl,
    environ = [
        "CUDA_PATH",
        "DF11_DISABLE_CUDA",
        "DF11_DISABLE_FLASHINFER",
        "DF11_FLASHINFER_CACHE",
        "HOME",
    ],
    local = True,
)
