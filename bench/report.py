#!/usr/bin/python3
"""Runs degrade's hot-path benchmarks and prints one table against the targets.

    /usr/bin/python3 bench/report.py --build-dir /tmp/bench-build

Runs two programs built by bench/meson.build:

  hot_path_benchmark  Google Benchmark 1.7.1, JSON output, short runs
                      (--benchmark_min_time=0.2), repeated (default 3) and
                      read as the median of the repetitions.
                      BM_Registry_MemoryPerSwitch runs once, alone, in a
                      fresh process (its RSS cross-check needs a heap that
                      has not grown and shrunk before).
  admin_read_benchmark  admin endpoint reads/s (GET /degrade/v1/switches and
                      /metrics) from a loopback client while threads run the
                      hot path, and the hot path's CPU cost per call with
                      the reads running / without (--no-admin skips it).
  callgrind_check     fixed-count loops (10,000,000 iterations) run under
                      `valgrind --tool=callgrind --toggle-collect=<loop>`,
                      one run per loop; instructions per check are net of
                      the same loop with no check in it.

Each target row shows the figure, the target, the figure as a multiple of
the target ("vs target": below 1x is inside it for a limit) and PASS or
MISS, decided on the figure as measured in this run, noise included. Rows
marked "info" have no target. --json-out saves the figures; --from-json
prints the table again from such a file without running anything.

Per-call time with threads. Google Benchmark 1.7.1 reports, for a run with
->Threads(n), real_time = (average wall time of a thread) / (iterations
summed over all threads), which is the time of one call divided by n (a
throughput figure), and cpu_time = (CPU time summed over all threads) /
(iterations summed over all threads), which is what one call costs the thread
that makes it. This script uses cpu_time as the per-call cost everywhere
(ApplySnapshot and Define included), so 1- and 2-thread rows compare like
with like; real_time x threads is printed beside it as a cross-check. They agree when nothing else runs on the machine;
on a busy machine (other builds on the 2 cores, see the load average printed)
wall time also counts the time a thread sat descheduled, and CPU time does
not.

Standard library only. Exit status: 0 when every figure was measured (PASS or
MISS), 1 when a program failed or a figure is missing.
"""

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile

CALLGRIND_ITERATIONS = 10_000_000  # kIterations in bench/callgrind_check.cc
CALLGRIND_LOOPS = ["empty", "on", "off", "raw", "dimmed", "call_skip", "call_primary"]

UNIT_TO_NS = {"ns": 1.0, "us": 1e3, "ms": 1e6, "s": 1e9}


def fmt_time(ns):
    """Three or four significant figures in a readable unit."""
    unit, v = "ns", ns
    for u, scale in (("s", 1e9), ("ms", 1e6), ("us", 1e3)):
        if ns >= scale:
            unit, v = u, ns / scale
            break
    decimals = 0 if v >= 100 else 1 if v >= 10 else 2 if v >= 1 else 3
    return f"{v:.{decimals}f} {unit}"


def load_average():
    try:
        with open("/proc/loadavg") as f:
            return " ".join(f.read().split()[:3])
    except OSError:
        return "?"


def run_benchmarks(binary, min_time, repetitions, bench_filter):
    cmd = [binary, "--benchmark_format=json", f"--benchmark_min_time={min_time}",
           f"--benchmark_filter={bench_filter}"]
    if repetitions > 1:
        cmd += [f"--benchmark_repetitions={repetitions}",
                "--benchmark_report_aggregates_only=true"]
    print("$ " + " ".join(cmd), file=sys.stderr)
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    # Debian's libbenchmark always warns that it was built as DEBUG: that is
    # about the library, not this code. Anything else on stderr is shown.
    for line in proc.stderr.splitlines():
        if "Library was built as DEBUG" not in line:
            print(line, file=sys.stderr)
    if proc.returncode != 0:
        raise SystemExit(f"report.py: {binary} exited with {proc.returncode}")
    doc = json.loads(proc.stdout)
    results = {}
    errors = {}
    for b in doc["benchmarks"]:
        name = b.get("run_name", b["name"])
        if b.get("error_occurred"):
            errors[name] = b.get("error_message", "error")
            continue
        if repetitions > 1 and b.get("run_type") == "aggregate":
            if b.get("aggregate_name") != "median":
                continue
        elif repetitions > 1:
            continue
        scale = UNIT_TO_NS[b.get("time_unit", "ns")]
        entry = dict(b)
        entry["cpu_ns"] = b["cpu_time"] * scale
        entry["real_ns"] = b["real_time"] * scale
        entry["threads"] = int(b.get("threads", 1))
        results[name] = entry
    return doc.get("context", {}), results, errors


def callgrind_total(binary, loop, workdir):
    out = os.path.join(workdir, f"callgrind.out.{loop}")
    cmd = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}",
           f"--toggle-collect=degrade_cg_loop_{loop}", binary, loop]
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"report.py: callgrind run of '{loop}' failed:\n{proc.stderr}")
    with open(out) as f:
        for line in f:
            m = re.match(r"(?:summary|totals):\s+(\d+)", line)
            if m:
                return int(m.group(1))
    raise SystemExit(f"report.py: no totals in {out}")


def run_callgrind(binary):
    print(f"$ valgrind --tool=callgrind --toggle-collect=degrade_cg_loop_<loop> "
          f"{binary} <loop>   for loop in {' '.join(CALLGRIND_LOOPS)}", file=sys.stderr)
    with tempfile.TemporaryDirectory() as workdir:
        totals = {loop: callgrind_total(binary, loop, workdir) for loop in CALLGRIND_LOOPS}
    # Net of the loop's own instructions: the empty loop is the same loop
    # (counter, compare, jump, compiler barrier) with no check in it.
    # Rounded to 2 decimals: the functions' own prologue and epilogue (a
    # handful of instructions per 10,000,000 checks) are not part of a check.
    per_check = {loop: round((totals[loop] - totals["empty"]) / CALLGRIND_ITERATIONS, 2)
                 for loop in CALLGRIND_LOOPS if loop != "empty"}
    per_check["empty (loop itself)"] = totals["empty"] / CALLGRIND_ITERATIONS
    return totals, per_check


class Table:
    def __init__(self):
        self.rows = []
        self.passes = 0
        self.misses = 0
        self.missing = 0

    def target(self, what, measured, shown, limit_text, ok_fn, ratio=None):
        if measured is None:
            self.rows.append((what, "not measured", limit_text, "", "MISSING"))
            self.missing += 1
            return
        ok = ok_fn(measured)
        self.passes += ok
        self.misses += not ok
        self.rows.append((what, shown, limit_text, ratio or "", "PASS" if ok else "MISS"))

    def info(self, what, shown):
        self.rows.append((what, shown, "", "", "info"))

    def print(self):
        header = ("figure", "measured", "target", "vs target", "")
        widths = [max(len(str(r[i])) for r in self.rows + [header]) for i in range(5)]
        fmt = "  ".join("{:<%d}" % w for w in widths)
        print(fmt.format(*header).rstrip())
        print(fmt.format(*("-" * w for w in widths)).rstrip())
        for r in self.rows:
            print(fmt.format(*r).rstrip())


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--build-dir", default=os.path.join(os.path.dirname(here), "build"),
                        help="meson build directory (default: <source>/build)")
    parser.add_argument("--min-time", type=float, default=0.2,
                        help="--benchmark_min_time in seconds (default 0.2)")
    parser.add_argument("--repetitions", type=int, default=3,
                        help="repetitions per benchmark; the median is used (default 3)")
    parser.add_argument("--no-callgrind", action="store_true", help="skip the callgrind check")
    parser.add_argument("--no-admin", action="store_true",
                        help="skip bench/admin_read_benchmark")
    parser.add_argument("--json-out", help="also write the measured figures here (JSON)")
    parser.add_argument("--from-json", help="print the table from a --json-out file; run nothing")
    args = parser.parse_args()

    if args.from_json:
        with open(args.from_json) as f:
            saved = json.load(f)
        args.min_time = saved.get("min_time", args.min_time)
        args.repetitions = saved.get("repetitions", args.repetitions)
        return print_report(args, saved["context"], saved["benchmarks"], saved["errors"],
                            saved["instructions_per_check"], saved["load_before"],
                            saved["load_after"], saved.get("admin"))

    bench_bin = os.path.join(args.build_dir, "bench", "hot_path_benchmark")
    cg_bin = os.path.join(args.build_dir, "bench", "callgrind_check")
    for b in [bench_bin] + ([] if args.no_callgrind else [cg_bin]):
        if not os.access(b, os.X_OK):
            raise SystemExit(f"report.py: {b} not found; build with -Dbenchmarks=true first")

    load_before = load_average()
    # The memory figure runs alone in a fresh process, once: its RSS
    # cross-check only means something before the heap has grown and shrunk.
    _, mem_r, mem_errors = run_benchmarks(bench_bin, args.min_time, 1, "BM_Registry_MemoryPerSwitch")
    context, r, errors = run_benchmarks(bench_bin, args.min_time, args.repetitions,
                                        "-BM_Registry_MemoryPerSwitch")
    load_after = load_average()
    r.update(mem_r)
    errors.update(mem_errors)
    cg_totals, ipc = ({}, {}) if args.no_callgrind else run_callgrind(cg_bin)
    admin = None if args.no_admin else run_admin(
        os.path.join(args.build_dir, "bench", "admin_read_benchmark"))

    if args.json_out:
        with open(args.json_out, "w") as f:
            json.dump({"context": context, "benchmarks": r, "errors": errors,
                       "callgrind_totals": cg_totals, "instructions_per_check": ipc,
                       "load_before": load_before, "load_after": load_after,
                       "min_time": args.min_time, "repetitions": args.repetitions,
                       "admin": admin}, f, indent=1)
    return print_report(args, context, r, errors, ipc, load_before, load_after, admin)


def run_admin(binary):
    if not os.access(binary, os.X_OK):
        raise SystemExit(f"report.py: {binary} not found; build with -Dbenchmarks=true first "
                         "(or pass --no-admin)")
    cmd = [binary, "--json"]
    print("$ " + " ".join(cmd), file=sys.stderr)
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"report.py: {binary} exited with {proc.returncode}:\n{proc.stderr}")
    return json.loads(proc.stdout)


def print_report(args, context, r, errors, ipc, load_before, load_after, admin=None):
    """Prints the table; returns the exit status."""

    def cpu(name):
        return r[name]["cpu_ns"] if name in r else None

    def ratio(a, b):
        return None if a is None or b is None or b == 0 else a / b

    t = Table()
    raw1 = cpu("BM_Peer_RawAtomicLoad/threads:1")
    for state in ("on", "off"):
        one = cpu(f"BM_Switch_Enabled/{state}/threads:1")
        x = ratio(one, raw1)
        t.target(f"enabled() {state} vs raw load, 1 thread", x,
                 f"{x:.2f}x ({fmt_time(one)} / {fmt_time(raw1)})" if x is not None else "",
                 "<= 1.5x", lambda v: v <= 1.5, f"{x / 1.5:.2f}x" if x is not None else None)
    for state in ("on", "off"):
        one = cpu(f"BM_Switch_Enabled/{state}/threads:1")
        two = cpu(f"BM_Switch_Enabled/{state}/threads:2")
        x = ratio(two, one)
        t.target(f"enabled() {state}, 2 vs 1 thread per call", x,
                 f"{x:.2f}x ({fmt_time(two)} / {fmt_time(one)})" if x is not None else "",
                 "<= 1.2x", lambda v: v <= 1.2, f"{x / 1.2:.2f}x" if x is not None else None)
    for n in (1, 2):
        ns = cpu(f"BM_Call_Skip/threads:{n}")
        t.target(f"Call skip, {n} thread{'s' if n > 1 else ''}", ns,
                 f"{ns:.2f} ns" if ns is not None else "", "< 3 ns", lambda v: v < 3.0,
                 f"{ns / 3.0:.2f}x" if ns is not None else None)
    ap = r.get("BM_Registry_ApplySnapshot/10000")
    ap_ms = ap["cpu_ns"] / 1e6 if ap else None
    t.target("ApplySnapshot, 10,000 switches", ap_ms,
             f"{ap_ms:.2f} ms" if ap else "", "< 10 ms",
             lambda v: v < 10.0, f"{ap_ms / 10.0:.2f}x" if ap_ms is not None else None)
    mem = r.get("BM_Registry_MemoryPerSwitch/10000/iterations:1")
    bps = mem.get("bytes_per_switch") if mem else None
    t.target("bytes per switch (heap, 10,000)", bps,
             f"{bps:.0f} B" if bps is not None else "", "< 512 B", lambda v: v < 512,
             f"{bps / 512:.2f}x" if bps is not None else None)
    for state in ("on", "off"):
        v = ipc.get(state)
        t.target(f"instructions/check, {state}", v,
                 f"{v:.2f}" if v is not None else "", "<= 4", lambda x: x <= 4.0,
                 f"{v / 4:.2f}x" if v is not None else None)

    # Context: the peers and the rest, no targets.
    for name, label in [
        ("BM_Peer_RawAtomicLoad", "raw relaxed atomic<bool> load"),
        ("BM_Switch_Enabled/fractional", "enabled() fractional (allow 0.5)"),
        ("BM_Call_Primary", "Call primary (switch on)"),
        ("BM_Peer_AbslGetFlag", "absl::GetFlag(bool)"),
        ("BM_Peer_Getenv", "getenv + strcmp"),
        ("BM_Peer_LockedMap", "shared_lock + flat_hash_map find (1,000)"),
    ]:
        cells = []
        for n in (1, 2):
            key = f"{name}/threads:{n}"
            if key in errors:
                cells.append(f"{n}T: skipped ({errors[key]})")
            elif key in r:
                cells.append(f"{n}T {fmt_time(r[key]['cpu_ns'])}")
            else:
                cells.append(f"{n}T: not run")
        t.info(label, ", ".join(cells))
    for n in (10, 1000):
        e = r.get(f"BM_Registry_ApplySnapshot/{n}")
        if e:
            t.info(f"ApplySnapshot, {n:,} switches", fmt_time(e["cpu_ns"]))
    e = r.get("BM_Registry_ApplySnapshot_Listened/10000")
    if e:
        t.info("ApplySnapshot, 10,000, with a listener", fmt_time(e["cpu_ns"]))
    if mem:
        t.info("RSS growth per switch (cross-check)", f"{mem.get('rss_bytes_per_switch', 0):.0f} B")
        t.info("Define, per switch (of 10,000)", fmt_time(mem["cpu_ns"] / 10000))
    for loop in ("raw", "dimmed", "call_skip", "call_primary", "empty (loop itself)"):
        if loop in ipc:
            t.info(f"instructions/check, {loop}", f"{ipc[loop]:.2f}")

    if admin:
        for row in admin["rows"]:
            if row["phase"] == "idle":
                continue
            route = "/degrade/v1/switches" if row["phase"] == "switches" else "/metrics"
            t.info(f"admin GET {route}, {row['hot_path']} x{row['threads']} thread(s)",
                   f"{row['reads_per_s']:.0f} reads/s; hot path cpu/call {row['ratio']:.2f}x "
                   f"of idle ({row['cpu_ns']:.2f} ns)")

    print()
    print(f"degrade hot-path report, {context.get('date', '')}, "
          f"{context.get('num_cpus', '?')} CPUs at {context.get('mhz_per_cpu', '?')} MHz")
    print(f"load average {load_before} before, {load_after} after the benchmarks")
    print(f"--benchmark_min_time={args.min_time}"
          + (f", median of {args.repetitions} repetitions" if args.repetitions > 1 else "")
          + "; times are cpu_time per call (see bench/report.py)")
    print()
    t.print()
    print()
    print("All benchmarks. cpu = cpu_time per call; wall = real_time x threads; on-cpu =")
    print("cpu / wall, the share of the time each thread was running (well under 100%: a busy")
    print("machine; at 2 threads, the two threads often did not run side by side).")
    width = max([len(n) for n in list(r) + list(errors)] + [10])
    for name, e in r.items():
        cells = [f"cpu {fmt_time(e['cpu_ns']):>9}", f"wall {fmt_time(e['real_ns'] * e['threads']):>9}"]
        if e["real_ns"] > 0:
            cells.append(f"on-cpu {100 * e['cpu_ns'] / (e['real_ns'] * e['threads']):3.0f}%")
        for k in ("bytes_per_switch", "rss_bytes_per_switch", "environ_entries"):
            if k in e:
                cells.append(f"{k}={e[k]:.0f}")
        print(f"  {name:<{width}}  " + "  ".join(cells))
    for name, msg in errors.items():
        print(f"  {name:<{width}}  skipped: {msg}")
    print()
    print(f"{t.passes} PASS, {t.misses} MISS, {t.missing} not measured")
    return 1 if t.missing else 0


if __name__ == "__main__":
    sys.exit(main())
