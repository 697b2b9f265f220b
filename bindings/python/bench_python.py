#!/usr/bin/python3 -P
"""The Python hot paths against their peers, in one run, ns per operation.

    PYTHONPATH=<builddir>/bindings/python /usr/bin/python3 -P bindings/python/bench_python.py

  sw.enabled                       the check: a getset descriptor calling Switch::enabled()
  degrade.call, switch off         skip path: count the skip, call the fallback
  degrade.call, switch on          run path: call the primary, count it
  plain attribute read             obj.attr on a plain Python object
  dict lookup                      d["recommendations"]
  Python @property                 a property written in Python returning a bool
  pybind11 property                a def_property_readonly through pybind11's
                                   dispatcher (why enabled is not one)
  call a Python function           f(), the floor under any call-based API

timeit, best of --repeat interleaved rounds of --number loops; "net"
subtracts the cost of an empty statement (the loop itself). Results:
docs/bindings.md.
"""

import argparse
import timeit

import degrade


class Plain:
    def __init__(self):
        self.attr = True

    @property
    def prop(self):
        return self.attr


def noop():
    return None


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--number", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=9)
    args = parser.parse_args()

    on = degrade.switch("bench.py.on", "benchmark switch (on)")
    off = degrade.switch("bench.py.off", "benchmark switch (off)", default="off")
    runtime = degrade.Runtime.from_env()  # nothing configured: for its pybind11 property
    native_runtime = runtime._native
    obj = Plain()
    table = {"recommendations": True, "search": True, "ads": False}

    env = {"on": on, "off": off, "obj": obj, "table": table, "call": degrade.call,
           "primary": noop, "fallback": noop, "native_runtime": native_runtime, "noop": noop}
    cases = [
        ("sw.enabled", "on.enabled"),
        ("degrade.call, switch off (skip)", "call(off, primary, fallback)"),
        ("degrade.call, switch on (primary)", "call(on, primary, fallback)"),
        ("plain attribute read", "obj.attr"),
        ("dict lookup", "table['recommendations']"),
        ("Python @property", "obj.prop"),
        ("pybind11 property", "native_runtime.closed"),
        ("call a Python function", "noop()"),
    ]

    # Rounds interleave the cases, so that a noisy neighbour hits them alike;
    # each case keeps its best round.
    timers = [timeit.Timer(stmt, globals=env) for _, stmt in [("empty", "pass")] + cases]
    best = [float("inf")] * len(timers)
    for _ in range(args.repeat):
        for i, timer in enumerate(timers):
            best[i] = min(best[i], timer.timeit(args.number) / args.number * 1e9)
    empty = best[0]
    results = [(label, ns) for (label, _), ns in zip(cases, best[1:])]
    attr = dict(results)["plain attribute read"] - empty
    print(f"degrade {degrade.__version__}, {args.number} loops, best of {args.repeat}; "
          f"empty statement {empty:.1f} ns")
    print(f"{'':34} {'ns/op':>8} {'net':>8} {'net / attribute read':>22}")
    for label, ns in results:
        net = ns - empty
        print(f"{label:34} {ns:8.1f} {net:8.1f} {net / attr:21.1f}x")
    runtime.close()


if __name__ == "__main__":
    main()
