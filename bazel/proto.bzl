"""Protobuf and gRPC C++ code generation with the system protoc.

    grpc_cc_library(
        name = "hello_cc",
        srcs = ["hello.proto"],
        grpc = True,
    )

generates hello.pb.{h,cc} (and hello.grpc.pb.{h,cc} with grpc = True) with
/usr/bin/protoc and /usr/bin/grpc_cpp_plugin, and wraps them in a cc_library
that links the system protobuf (and gRPC) libraries. Imports are resolved
relative to the workspace root, so `import "proto/df11/v1/x.proto";` works.
"""

def grpc_cc_library(name, srcs, grpc = False, deps = [], **kwargs):
    outs = []
    for src in srcs:
        base = src[:-len(".proto")]
        outs += [base + ".pb.h", base + ".pb.cc"]
        if grpc:
            outs += [base + ".grpc.pb.h", base + ".grpc.pb.cc"]

    plugin = " --plugin=protoc-gen-grpc=/usr/bin/grpc_cpp_plugin --grpc_out=$(GENDIR)" if grpc else ""
    native.genrule(
        name = name + "_codegen",
        srcs = srcs,
        outs = outs,
        cmd = "/usr/bin/protoc -I. --cpp_out=$(GENDIR)" + plugin + " $(SRCS)",
    )
    native.cc_library(
        name = name,
        srcs = [o for o in outs if o.endswith(".cc")],
        hdrs = [o for o in outs if o.endswith(".h")],
        deps = deps + ["//bazel/system:protobuf"] + (["//bazel/system:grpc"] if grpc else []),
        **kwargs
    )
