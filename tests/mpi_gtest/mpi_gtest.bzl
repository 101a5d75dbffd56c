"""`mpi_gtest`: a gtest binary run under a real `mpirun` on N ranks.

    load("//tests/mpi_gtest:mpi_gtest.bzl", "mpi_gtest")

    mpi_gtest(
        name = "agreement_test",
        srcs = ["agreement_test.cc"],
        deps = [":agreement"],
        np = [2, 3],
    )

Makes the cc_binary `<name>_bin` (linked with //tests/mpi_gtest:main, whose
fixture is MpiTest in mpi_test_base.h) and one sh_test per rank count, run
by mpi_gtest.sh through //launch:mpirun.sh. With one rank count the sh_test
is `<name>`; with several they are `<name>_np<N>`, grouped in the test_suite
`<name>`.
"""

def mpi_gtest(name, srcs, deps = [], np = [2], size = "small", data = [], args = [], tags = [], **kwargs):
    binary = name + "_bin"
    native.cc_binary(
        name = binary,
        testonly = True,
        srcs = srcs,
        deps = deps + ["//tests/mpi_gtest:main"],
        data = data,
        **kwargs
    )
    tests = []
    for n in np:
        test = name if len(np) == 1 else "{}_np{}".format(name, n)
        native.sh_test(
            name = test,
            size = size,
            srcs = ["//tests/mpi_gtest:mpi_gtest.sh"],
            args = [
                "-np",
                str(n),
                "$(location //launch:mpirun.sh)",
                "$(location :{})".format(binary),
            ] + args,
            data = [
                ":" + binary,
                "//launch:mpirun.sh",
            ],
            tags = tags,
        )
        tests.append(":" + test)
    if len(np) > 1:
        native.test_suite(name = name, tests = tests)
