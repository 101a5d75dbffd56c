"""Detects the CUDA toolkit and exposes it as the repository @local_cuda.

With /usr/local/cuda/bin/nvcc present, @local_cuda provides the toolkit's
headers and libraries (:headers, :cudart, :cublas with cuBLASLt, :nccl) and
`CUDA_AVAILABLE = True`. Without it, the repository still exists,
`CUDA_AVAILABLE = False`, and every CUDA target is skipped by the
`cuda_library` / `cuda_cc_test` macros, so a machine without the toolkit
builds and tests everything else.
"""

_DEFAULT_CUDA_PATH = "/usr/local/cuda"

def _cuda_configure_impl(ctx):
    cuda_path = ctx.os.environ.get("CUDA_PATH", _DEFAULT_CUDA_PATH)
    nvcc = ctx.path(cuda_path + "/bin/nvcc")
    available = nvcc.exists and ctx.os.environ.get("DF11_DISABLE_CUDA", "") != "1"

    if available:
        ctx.symlink(cuda_path + "/include", "include")
        ctx.symlink(cuda_path + "/lib64", "lib64")
        ctx.file("BUILD", """
package(default_visibility = ["//visibility:public"])

cc_library(
    name = "headers",
    hdrs = glob(["include/**/*.h", "include/**/*.hpp", "include/**/*.cuh", "include/**/*.inl"]),
    includes = ["include"],
)

cc_library(
    name = "cudart",
    linkopts = ["-L{path}/lib64", "-Wl,-rpath,{path}/lib64", "-lcudart"],
    deps = [":headers"],
)

cc_library(
    name = "cublas",
    linkopts = ["-L{path}/lib64", "-Wl,-rpath,{path}/lib64", "-lcublasLt", "-lcublas"],
    deps = [":cudart"],
)

# NCCL: the toolkit here ships libnccl.so in lib64 (nccl.h in include). On
# the GPU machine libnccl.so.2 lives in the Python site-packages
# (nvidia/nccl/lib); launch/bundle.sh's env.sh puts that on LD_LIBRARY_PATH.
cc_library(
    name = "nccl",
    linkopts = ["-L{path}/lib64", "-Wl,-rpath,{path}/lib64", "-lnccl"],
    deps = [":cudart"],
)
""".format(path = cuda_path))
    else:
        ctx.file("BUILD", """
package(default_visibility = ["//visibility:public"])
""")

    ctx.file("defs.bzl", """
CUDA_AVAILABLE = {available}
NVCC = "{nvcc}"
CUDA_PATH = "{path}"
""".format(available = available, nvcc = str(nvcc), path = cuda_path))

cuda_configure = repository_rule(
    implementation = _cuda_configure_impl,
    environ = ["CUDA_PATH", "DF11_DISABLE_CUDA"],
    local = True,
)
