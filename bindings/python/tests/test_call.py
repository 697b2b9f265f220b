"""degrade.call: the same semantics and counters as C++ degrade::Call."""

import threading
import time

import pytest

import degrade


def fail():
    raise ValueError("dependency down")


def test_on_returns_primary(sw):
    assert degrade.call(sw, lambda: "primary", lambda: "fallback") == "primary"


def test_off_returns_fallback_without_calling_primary(sw):
    degrade.set_override(sw, "off")
    called = []
    assert degrade.call(sw, lambda: called.append(1), lambda: "fallback") == "fallback"
    assert called == []


def test_primary_exception_runs_fallback(sw):
    assert degrade.call(sw, fail, lambda: "fallback") == "fallback"


def test_fallback_exception_propagates(sw):
    degrade.set_override(sw, "off")

    def broken():
        raise KeyError("fallback bug")

    with pytest.raises(KeyError, match="fallback bug"):
        degrade.call(sw, lambda: 1, broken)


def test_keyboard_interrupt_in_primary_propagates(sw):
    def interrupted():
        raise KeyboardInterrupt

    fallback_calls = []
    with pytest.raises(KeyboardInterrupt):
        degrade.call(sw, interrupted, lambda: fallback_calls.append(1))
    assert fallback_calls == []
    assert degrade.counters(sw)["primary_failures"] == 1


def test_primary_may_return_none(sw):
    assert degrade.call(sw, lambda: None, lambda: "fallback") is None


def test_error_fault_runs_fallback(sw):
    degrade.set_fault(sw, "error", rate=1.0)
    assert degrade.call(sw, lambda: "primary", lambda: "fallback") == "fallback"


def test_delay_fault_delays_then_runs_primary(sw):
    degrade.set_fault(sw, "delay", rate=1.0, delay_ms=60)
    start = time.monotonic()
    assert degrade.call(sw, lambda: "primary", lambda: "fallback") == "primary"
    assert time.monotonic() - start >= 0.059


def test_delay_fault_releases_the_gil(sw):
    degrade.set_fault(sw, "delay", rate=1.0, delay_ms=300)
    ticks = []
    stop = threading.Event()

    def tick():
        while not stop.is_set():
            ticks.append(1)
            time.sleep(0.005)

    thread = threading.Thread(target=tick)
    thread.start()
    try:
        degrade.call(sw, lambda: None, lambda: None)
    finally:
        stop.set()
        thread.join()
    assert len(ticks) >= 10  # the other thread ran during the 300 ms delay


def test_counters_count_every_outcome(sw):
    degrade.call(sw, lambda: 1, lambda: 0)            # ok
    degrade.call(sw, fail, lambda: 0)                 # failure
    degrade.set_override(sw, "off")
    degrade.call(sw, lambda: 1, lambda: 0)            # skipped
    degrade.set_override(sw, {"state": "on", "fault": {"kind": "error"}})
    degrade.call(sw, lambda: 1, lambda: 0)            # injected error
    assert degrade.counters(sw) == {"calls": 4, "primary_ok": 1, "skipped": 1,
                                    "primary_failures": 1, "injected_faults": 1, "fallbacks": 3}


def test_counters_are_shared_with_the_listing(sw):
    degrade.call(sw, lambda: 1, lambda: 0)
    [entry] = [s for s in degrade.list() if s["name"] == sw.name]
    assert entry["counters"]["primary_ok"] == 1


def test_dimmer_lets_a_fraction_through(sw):
    degrade.set_override(sw, 0.5)
    results = [degrade.call(sw, lambda: 1, lambda: 0) for _ in range(4000)]
    assert 1700 < sum(results) < 2300
    assert degrade.counters(sw)["skipped"] == 4000 - sum(results)


def test_requires_a_switch():
    with pytest.raises(TypeError, match="degrade.Switch"):
        degrade.call("py.recs", lambda: 1, lambda: 0)


def test_requires_callables(sw):
    with pytest.raises(TypeError, match="callable"):
        degrade.call(sw, 1, lambda: 0)


def test_requires_three_arguments(sw):
    with pytest.raises(TypeError, match="3 positional arguments"):
        degrade.call(sw, lambda: 1)
