#!/usr/bin/python3
"""Counts test cases across meson build directories and prints one summary.

For every build directory given it reads
  * meson-logs/testlog.json  - one JSON object per line, one per meson test
                               (name, result, starttime, returncode, env, ...);
  * the junit XML each test wrote (gtest: GTEST_OUTPUT=xml:<path>, pytest:
    --junitxml=<path>; by default <builddir>/test-results/<name>.xml).

Counting rules (a test is never counted as passed unless it is seen to pass):
  * a meson test with a fresh junit XML contributes one result per <testcase>:
    failed if it has a <failure>/<error> child, skipped if gtest says
    result="skipped"/status="notrun" or it has a <skipped> child, else passed;
  * a meson test that should have written XML (GTEST_OUTPUT or --junitxml set,
    or a file of its name exists) but whose XML is missing, older than the
    test's start, or unreadable, counts as ONE failure (it crashed or hung);
  * a meson test whose result is FAIL/TIMEOUT/ERROR/... but whose XML shows no
    failing case counts as ONE extra failure (e.g. LeakSanitizer, a crash in a
    static destructor, a sanitizer report after the last case);
  * a meson test that writes no XML at all counts as one case by its result;
  * a build directory without meson-logs/testlog.json counts as ONE failure
    (setup or compile failed, or its tests never ran);
  * --extra NAME=passed|failed|skipped adds one case (the install checks).

Prints one line per build directory, names every failed case, and ends with
exactly "N passed, N failed" (", N skipped" appended only when N > 0).
Exit status: 0 iff nothing failed and at least one case passed or failed.

Standard library only; run with /usr/bin/python3.
"""

import argparse
import json
import os
import re
import sys
import xml.etree.ElementTree as ET

# Seconds of slack when comparing an XML file's mtime with the test's start.
MTIME_SLACK = 0.5

PASS_RESULTS = {"OK", "EXPECTEDFAIL"}
SKIP_RESULTS = {"SKIP"}
# Anything else (FAIL, TIMEOUT, ERROR, UNEXPECTEDPASS, INTERRUPT, RUNNING,
# PENDING, unknown) is a failure.


class Tally:
    def __init__(self, label):
        self.label = label
        self.passed = 0
        self.failed = 0
        self.skipped = 0
        self.failures = []  # human-readable names of failed cases
        self.notes = []

    def add(self, status, name, why=""):
        if status == "passed":
            self.passed += 1
        elif status == "skipped":
            self.skipped += 1
        else:
            self.failed += 1
            self.failures.append(f"{name}" + (f" ({why})" if why else ""))

    def line(self):
        return f"{self.label}: {counts_text(self.passed, self.failed, self.skipped)}"


def counts_text(passed, failed, skipped):
    text = f"{passed} passed, {failed} failed"
    if skipped > 0:
        text += f", {skipped} skipped"
    return text


def short_test_name(meson_name):
    """'proj:suite / name' -> 'name'; 'name' -> 'name'."""
    if " / " in meson_name:
        return meson_name.rsplit(" / ", 1)[1]
    return meson_name


def expected_xml_path(entry, build_dir, short):
    """Returns (path, declared): where the test's junit XML should be and
    whether the test declared it (so a missing file means a crash)."""
    env = entry.get("env") or {}
    gtest_output = env.get("GTEST_OUTPUT", "")
    if gtest_output.startswith("xml:"):
        path = gtest_output[len("xml:"):]
        if path.endswith(os.sep) or os.path.isdir(path):
            # gtest writes <dir>/<executable name>.xml
            exe = os.path.basename((entry.get("command") or [short])[0])
            path = os.path.join(path, exe + ".xml")
        return resolve(path, build_dir), True
    command = entry.get("command") or []
    for i, arg in enumerate(command):
        for flag in ("--junitxml", "--junit-xml"):
            if arg.startswith(flag + "="):
                return resolve(arg.split("=", 1)[1], build_dir), True
            if arg == flag and i + 1 < len(command):
                return resolve(command[i + 1], build_dir), True
    default = os.path.join(build_dir, "test-results", short + ".xml")
    return default, os.path.exists(default)


def resolve(path, build_dir):
    if os.path.isabs(path):
        return path
    return os.path.join(build_dir, path)


def is_skipped(case):
    if case.get("result") == "skipped" or case.get("status") == "notrun":
        return True
    return case.find("skipped") is not None


def is_failed(case):
    return case.find("failure") is not None or case.find("error") is not None


def read_cases(path):
    """Returns a list of (case_name, status) from a junit XML file.
    Raises ET.ParseError / OSError when the file is unreadable."""
    root = ET.parse(path).getroot()
    cases = []
    for case in root.iter("testcase"):
        classname = case.get("classname", "")
        name = case.get("name", "?")
        full = f"{classname}.{name}" if classname else name
        why = ""
        if is_failed(case):
            status = "failed"
            node = case.find("failure")
            if node is None:
                node = case.find("error")
            why = first_lines(node.get("message") or node.text or "")
        elif is_skipped(case):
            status = "skipped"
        else:
            status = "passed"
        cases.append((full, status, why))
    return cases


# What a failed case's "why" shows: the first lines of its failure message,
# or, for a test without junit XML, the lines of its output that say what
# went wrong, so the summary at the end of a CI log names the cause.
REASON_LINE = re.compile(r"property violated|ERROR: |SUMMARY: |Failure$|FAILED ")


def first_lines(text, limit=3, width=240):
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    return " | ".join(ln[:width] for ln in lines[:limit])


def reason_from_output(output):
    lines = output.splitlines()
    picked = []
    for i, ln in enumerate(lines):
        if REASON_LINE.search(ln):
            picked.append(ln.strip())
            # A property violation prints its detail on the next line.
            if "property violated" in ln and i + 1 < len(lines):
                picked.append(lines[i + 1].strip())
        if len(picked) >= 3:
            break
    return " | ".join(p[:240] for p in picked[:3])


def summarize_build(build_dir):
    label = os.path.basename(os.path.normpath(build_dir)) or build_dir
    tally = Tally(label)
    log_path = os.path.join(build_dir, "meson-logs", "testlog.json")
    if not os.path.isfile(log_path):
        tally.add("failed", f"{label}: no tests ran",
                  f"{log_path} missing: setup/compile failed, meson test did not "
                  "run, or no test matched the selected suites")
        return tally

    entries = []
    with open(log_path, encoding="utf-8", errors="replace") as f:
        for lineno, raw in enumerate(f, 1):
            raw = raw.strip()
            if not raw:
                continue
            try:
                entries.append(json.loads(raw))
            except json.JSONDecodeError as e:
                tally.add("failed", f"{label}: testlog.json line {lineno}",
                          f"unreadable: {e}")
    if not entries:
        tally.notes.append(f"{log_path} lists no tests")

    for entry in entries:
        meson_name = entry.get("name", "?")
        short = short_test_name(meson_name)
        result = str(entry.get("result", "?")).upper()
        rc = entry.get("returncode")
        start = entry.get("starttime")
        meson_ok = result in PASS_RESULTS
        how = f"meson result {result}, exit code {rc}"
        xml_path, declared = expected_xml_path(entry, build_dir, short)

        if not declared:
            # A test with no junit output: it is one case.
            if meson_ok:
                tally.add("passed", f"{label}: {short}")
            elif result in SKIP_RESULTS:
                tally.add("skipped", f"{label}: {short}")
            else:
                reason = reason_from_output(str(entry.get("stdout") or ""))
                tally.add("failed", f"{label}: {short}", how + (f"; {reason}" if reason else ""))
            continue

        if not os.path.exists(xml_path):
            if result in SKIP_RESULTS:
                tally.add("skipped", f"{label}: {short}")
            else:
                tally.add("failed", f"{label}: {short} [whole binary]",
                          f"no XML at {xml_path}: crashed or did not finish; {how}")
            continue
        mtime = os.path.getmtime(xml_path)
        if isinstance(start, (int, float)) and mtime + MTIME_SLACK < start:
            tally.add("failed", f"{label}: {short} [whole binary]",
                      f"XML {xml_path} is older than this run: crashed; {how}")
            continue
        try:
            cases = read_cases(xml_path)
        except (ET.ParseError, OSError) as e:
            tally.add("failed", f"{label}: {short} [whole binary]",
                      f"XML {xml_path} unreadable ({e}); {how}")
            continue

        any_failed = False
        for case_name, status, why in cases:
            tally.add(status, f"{label}: {short}: {case_name}", why)
            any_failed = any_failed or status == "failed"
        if not meson_ok and result not in SKIP_RESULTS and not any_failed:
            tally.add("failed", f"{label}: {short} [whole binary]",
                      f"{how} but its XML shows no failing case "
                      "(sanitizer report, leak, or crash at exit?)")
        if not cases:
            tally.notes.append(f"{label}: {short}: XML lists no test cases")
    return tally


def parse_extra(text):
    if "=" not in text:
        raise argparse.ArgumentTypeError(f"--extra wants NAME=passed|failed, got {text!r}")
    name, status = text.rsplit("=", 1)
    status = status.strip().lower()
    if status not in ("passed", "failed", "skipped"):
        raise argparse.ArgumentTypeError(
            f"--extra status must be passed, failed or skipped, got {status!r}")
    return name.strip(), status


def main(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("build_dirs", nargs="*", help="meson build directories")
    parser.add_argument("--extra", action="append", default=[], type=parse_extra,
                        metavar="NAME=passed|failed",
                        help="one extra case (e.g. an install check); repeatable")
    args = parser.parse_args(argv)

    tallies = [summarize_build(d) for d in args.build_dirs]
    # Extra cases are grouped by the part of their name before ':' (e.g.
    # "install-check: CMake consumer" -> "install-check"), else "extra".
    extra_groups = {}
    for name, status in args.extra:
        group = name.split(":", 1)[0].strip() if ":" in name else "extra"
        if group not in extra_groups:
            extra_groups[group] = Tally(group)
        extra_groups[group].add(status, name)
    tallies.extend(extra_groups.values())

    passed = sum(t.passed for t in tallies)
    failed = sum(t.failed for t in tallies)
    skipped = sum(t.skipped for t in tallies)

    print("==== test summary ====")
    for t in tallies:
        print(t.line())
        for note in t.notes:
            print(f"  note: {note}")
    failures = [f for t in tallies for f in t.failures]
    if failures:
        print(f"failed cases ({len(failures)}):")
        for f in failures:
            print(f"  FAILED {f}")
    if passed + failed == 0:
        print("no test case ran: this counts as a failure of the run")
    print(counts_text(passed, failed, skipped))
    sys.stdout.flush()
    return 0 if failed == 0 and passed + failed > 0 else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
