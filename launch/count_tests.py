#!/usr/bin/env python3
"""Counts gtest cases from the test.xml files named in Bazel build-event logs.

    count_tests.py BEP_JSON [BEP_JSON ...]

Prints one line per failing case, then `N passed, N failed[, N skipped]`.
A test target that produced no XML (it failed to build, crashed before gtest
wrote its report, or timed out) counts as one failed case. Exits 1 if any case
failed, 2 if no test ran at all.
"""
import json
import sys
import urllib.parse
import xml.etree.ElementTree as ET


def test_results(bep_path):
    """Yields (label, status, xml_path or None) for each test target."""
    with open(bep_path) as f:
        for line in f:
            event = json.loads(line)
            result = event.get("testResult")
            if result is None:
                continue
            label = event["id"]["testResult"]["label"]
            xml = None
            for out in result.get("testActionOutput", []):
                if out.get("name") == "test.xml":
                    xml = urllib.parse.urlparse(out["uri"]).path
            yield label, result.get("status", "FAILED"), xml


def count_cases(xml_path):
    passed, failed, skipped, failures = 0, 0, 0, []
    root = ET.parse(xml_path).getroot()
    for case in root.iter("testcase"):
        name = f"{case.get('classname')}.{case.get('name')}"
        if case.find("failure") is not None or case.find("error") is not None:
            failed += 1
            failures.append(name)
        elif case.find("skipped") is not None or case.get("result") == "skipped":
            skipped += 1
        else:
            passed += 1
    return passed, failed, skipped, failures


def main(paths):
    passed = failed = skipped = 0
    for path in paths:
        for label, status, xml in test_results(path):
            if xml is None:
                failed += 1
                print(f"FAILED {label}: {status}, no test report")
                continue
            try:
                p, f, s, names = count_cases(xml)
            except (OSError, ET.ParseError) as e:
                failed += 1
                print(f"FAILED {label}: unreadable test report ({e})")
                continue
            if status != "PASSED" and f == 0:
                # The binary failed outside any case (a crash, a sanitizer
                # report at exit): the target counts as one failed case.
                f, names = 1, [f"{label} ({status})"]
            passed, failed, skipped = passed + p, failed + f, skipped + s
            for name in names:
                print(f"FAILED {label}: {name}")
    line = f"{passed} passed, {failed} failed"
    if skipped:
        line += f", {skipped} skipped"
    print(line)
    if failed:
        return 1
    return 0 if passed else 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
