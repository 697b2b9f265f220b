#!/usr/bin/python3
"""Counts test cases across meson build directories and prints one summary.

Meson says which tests ran and how they ended: <builddir>/meson-logs/testlog.json
(testlog-SETUP.json after `meson test --setup=SETUP`, testlog-fuzz.json from
scripts/fuzz.sh: pass that file instead of the directory, as LABEL=FILE to name
its line), one JSON object per test (name, result, starttime, env,
command, stdout). A
test that writes junit XML says where, in its env or its command:
GTEST_OUTPUT=xml:FILE (gtest), DEGRADE_TEST_XML=FILE (bindings/c) or
--junitxml=FILE (pytest). Counting rules (nothing counts as passed unless it
is seen to pass; TOOLCHAIN.md pitfall 6):
  * a test with fresh XML contributes one result per <testcase>: failed with a
    <failure>/<error> child, skipped if gtest says result="skipped" /
    status="notrun" or it has a <skipped> child, else passed;
  * a test whose XML is missing, older than the test's start (left by an
    earlier run: the binary crashed) or unreadable counts as ONE failure;
  * a test that meson says failed (FAIL, TIMEOUT, ERROR, ...) while its XML
    shows no failing case counts as ONE more failure (a sanitizer report or
    leak at exit, a crash in a static destructor);
  * a test without XML is one case, by meson's result;
  * a build directory without testlog.json counts as ONE failure (setup or
    build failed, or no test ran);
  * --extra NAME=passed|failed|skipped adds one case (the install checks).
Prints one line per build directory, names every failed case, and ends with
exactly "N passed, N failed" (", N skipped" only when N > 0). Exit status 0
iff nothing failed and at least one case passed or failed.
Standard library only; run with /usr/bin/python3.
"""

import argparse
import json
import os
import re
import sys
import xml.etree.ElementTree as ET

MTIME_SLACK = 0.5  # seconds, comparing an XML file's mtime with the test's start
PASS_RESULTS = {"OK", "EXPECTEDFAIL"}  # anything else but SKIP is a failure
# Lines of a test's output that say what went wrong, for a test without XML.
REASON_LINE = re.compile(r"property violated|ERROR: |SUMMARY: |Failure$|FAILED ")


class Tally:
    def __init__(self, label):
        self.label = label
        self.counts = {"passed": 0, "failed": 0, "skipped": 0}
        self.failures = []  # names of failed cases, with why
        self.notes = []

    def add(self, status, name, why=""):
        self.counts[status] += 1
        if status == "failed":
            self.failures.append(name + (f" ({why})" if why else ""))


def counts_text(passed, failed, skipped):
    return f"{passed} passed, {failed} failed" + (f", {skipped} skipped" if skipped else "")


def first_lines(text, limit=3, width=240):
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    return " | ".join(ln[:width] for ln in lines[:limit])


def reason_from_output(output):
    lines, picked = output.splitlines(), []
    for i, ln in enumerate(lines):
        if REASON_LINE.search(ln):
            picked.append(ln.strip())
            if "property violated" in ln and i + 1 < len(lines):
                picked.append(lines[i + 1].strip())  # its detail
        if len(picked) >= 3:
            break
    return " | ".join(p[:240] for p in picked[:3])


def declared_xml(entry, build_dir):
    """Where the test said it writes junit XML, or None."""
    env = entry.get("env") or {}
    path = None
    if env.get("GTEST_OUTPUT", "").startswith("xml:"):
        path = env["GTEST_OUTPUT"][len("xml:"):]
    elif env.get("DEGRADE_TEST_XML"):
        path = env["DEGRADE_TEST_XML"]
    else:
        for arg in entry.get("command") or []:
            if arg.startswith("--junitxml="):
                path = arg.split("=", 1)[1]
    return None if path is None else os.path.join(build_dir, path)  # join keeps absolute paths


def read_cases(path):
    """[(case name, status, why)] of a junit XML file; raises ET.ParseError / OSError."""
    cases = []
    for case in ET.parse(path).getroot().iter("testcase"):
        classname, name = case.get("classname", ""), case.get("name", "?")
        failure = case.find("failure")
        if failure is None:
            failure = case.find("error")
        if failure is not None:
            status, why = "failed", first_lines(failure.get("message") or failure.text or "")
        elif (case.get("result") == "skipped" or case.get("status") == "notrun"
              or case.find("skipped") is not None):
            status, why = "skipped", ""
        else:
            status, why = "passed", ""
        cases.append((f"{classname}.{name}" if classname else name, status, why))
    return cases


def summarize_build(arg):
    """arg: a build directory, or a testlog*.json in its meson-logs/, either
    one optionally as LABEL=PATH (the label names its line and its cases;
    otherwise the build directory's name does)."""
    label = None
    if "=" in arg and "/" not in arg.split("=", 1)[0]:
        label, arg = arg.split("=", 1)
    if arg.endswith(".json"):
        log_path = arg
        build_dir = os.path.dirname(os.path.dirname(os.path.abspath(arg)))
    else:
        build_dir = arg
        log_path = os.path.join(build_dir, "meson-logs", "testlog.json")
    label = label or os.path.basename(os.path.normpath(build_dir)) or build_dir
    tally = Tally(label)
    if not os.path.isfile(log_path):
        tally.add("failed", f"{label}: no tests ran",
                  f"{log_path} missing: setup/compile failed, meson test did not "
                  "run, or no test matched the selected suites")
        return tally
    entries = []
    with open(log_path, encoding="utf-8", errors="replace") as f:
        for lineno, raw in enumerate(f, 1):
            if raw.strip():
                try:
                    entries.append(json.loads(raw))
                except json.JSONDecodeError as e:
                    tally.add("failed", f"{label}: testlog.json line {lineno}", f"unreadable: {e}")
    if not entries:
        tally.notes.append(f"{log_path} lists no tests")

    for entry in entries:
        short = entry.get("name", "?").rsplit(" / ", 1)[-1]  # 'proj:suite / name' -> 'name'
        name = f"{label}: {short}"
        result = str(entry.get("result", "?")).upper()
        how = f"meson result {result}, exit code {entry.get('returncode')}"
        start = entry.get("starttime")
        xml_path = declared_xml(entry, build_dir)
        if result == "SKIP" and (xml_path is None or not os.path.exists(xml_path)):
            tally.add("skipped", name)
            continue
        if xml_path is None:  # one case, by meson's result
            if result in PASS_RESULTS:
                tally.add("passed", name)
            else:
                reason = reason_from_output(str(entry.get("stdout") or ""))
                tally.add("failed", name, how + (f"; {reason}" if reason else ""))
            continue
        whole = f"{name} [whole binary]"
        if not os.path.exists(xml_path):
            tally.add("failed", whole, f"no XML at {xml_path}: crashed or did not finish; {how}")
            continue
        if isinstance(start, (int, float)) and os.path.getmtime(xml_path) + MTIME_SLACK < start:
            tally.add("failed", whole, f"XML {xml_path} is older than this run: crashed; {how}")
            continue
        try:
            cases = read_cases(xml_path)
        except (ET.ParseError, OSError) as e:
            tally.add("failed", whole, f"XML {xml_path} unreadable ({e}); {how}")
            continue
        for case_name, status, why in cases:
            tally.add(status, f"{name}: {case_name}", why)
        if (result not in PASS_RESULTS and result != "SKIP"
                and not any(status == "failed" for _, status, _ in cases)):
            tally.add("failed", whole, f"{how} but its XML shows no failing case "
                      "(sanitizer report, leak, or crash at exit?)")
        if not cases:
            tally.notes.append(f"{name}: XML lists no test cases")
    return tally


def parse_extra(text):
    name, _, status = text.rpartition("=")
    status = status.strip().lower()
    if not name or status not in ("passed", "failed", "skipped"):
        raise argparse.ArgumentTypeError(
            f"--extra wants NAME=passed|failed|skipped, got {text!r}")
    return name.strip(), status


def main(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("build_dirs", nargs="*", metavar="[LABEL=]DIR|TESTLOG",
                        help="meson build directories (or their meson-logs/testlog-SETUP.json), "
                             "each optionally named LABEL=")
    parser.add_argument("--extra", action="append", default=[], type=parse_extra,
                        metavar="NAME=passed|failed",
                        help="one extra case (e.g. an install check); repeatable")
    args = parser.parse_args(argv)

    tallies = [summarize_build(d) for d in args.build_dirs]
    # Extra cases are grouped by the part of their name before ':' (e.g.
    # "install-check: CMake consumer" -> "install-check"), else "extra".
    groups = {}
    for name, status in args.extra:
        group = name.split(":", 1)[0].strip() if ":" in name else "extra"
        groups.setdefault(group, Tally(group)).add(status, name)
    tallies.extend(groups.values())

    total = {k: sum(t.counts[k] for t in tallies) for k in ("passed", "failed", "skipped")}
    print("==== test summary ====")
    for t in tallies:
        print(f"{t.label}: {counts_text(**t.counts)}")
        for note in t.notes:
            print(f"  note: {note}")
    failures = [f for t in tallies for f in t.failures]
    if failures:
        print(f"failed cases ({len(failures)}):")
        for f in failures:
            print(f"  FAILED {f}")
    if total["passed"] + total["failed"] == 0:
        print("no test case ran: this counts as a failure of the run")
    print(counts_text(**total))
    sys.stdout.flush()
    return 0 if total["failed"] == 0 and total["passed"] + total["failed"] > 0 else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
