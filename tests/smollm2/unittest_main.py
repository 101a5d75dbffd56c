"""Runs the unittest cases of the calling script, and writes the JUnit XML
report Bazel asks for ($XML_OUTPUT_FILE), one <testcase> per case, so that
launch/count_tests.py counts each of them (skips as skipped).

    import unittest_main          # beside the test script
    if __name__ == "__main__":
        unittest_main.main()
"""
import os
import sys
import time
import unittest
import xml.etree.ElementTree as ET


class _Result(unittest.TextTestResult):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.cases = []  # (test, outcome, message, seconds)
        self._start = time.monotonic()

    def startTest(self, test):
        self._start = time.monotonic()
        super().startTest(test)

    def _record(self, test, outcome, message=""):
        self.cases.append((test, outcome, message,
                           time.monotonic() - self._start))

    def addSuccess(self, test):
        super().addSuccess(test)
        self._record(test, "ok")

    def addFailure(self, test, err):
        super().addFailure(test, err)
        self._record(test, "failure", self._exc_info_to_string(err, test))

    def addError(self, test, err):
        super().addError(test, err)
        self._record(test, "error", self._exc_info_to_string(err, test))

    def addSkip(self, test, reason):
        super().addSkip(test, reason)
        self._record(test, "skipped", reason)


def _write_xml(path, result):
    suite = ET.Element("testsuite", name=os.path.basename(sys.argv[0]),
                       tests=str(len(result.cases)))
    for test, outcome, message, seconds in result.cases:
        # A failed setUpClass is reported once, by an _ErrorHolder.
        name = getattr(test, "_testMethodName", None) or str(test)
        case = ET.SubElement(suite, "testcase", classname=type(test).__name__,
                             name=name, time=f"{seconds:.3f}")
        if outcome != "ok":
            ET.SubElement(case, outcome, message=message[:200]).text = message
    root = ET.Element("testsuites")
    root.append(suite)
    ET.ElementTree(root).write(path, encoding="utf-8", xml_declaration=True)


def main():
    suite = unittest.defaultTestLoader.loadTestsFromModule(
        sys.modules["__main__"])
    runner = unittest.TextTestRunner(resultclass=_Result, verbosity=2,
                                     stream=sys.stderr)
    result = runner.run(suite)
    if os.environ.get("XML_OUTPUT_FILE"):
        _write_xml(os.environ["XML_OUTPUT_FILE"], result)
    sys.exit(0 if result.wasSuccessful() else 1)
