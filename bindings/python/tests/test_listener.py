"""degrade.add_listener: change events as dicts, from any thread."""

import sys
import threading

import degrade


def test_listener_gets_change_events(sw):
    events = []
    listener = degrade.add_listener(events.append)
    try:
        degrade.set_override(sw, "off", reason="why", actor="who")
    finally:
        degrade.remove_listener(listener)
    [event] = [e for e in events if e["switch"] == sw.name]
    assert (event["event"], event["old"], event["new"], event["old_layer"], event["layer"],
            event["reason"], event["actor"]) == (
        "change", {"state": "on"}, {"state": "off"}, "default", "admin", "why", "who")


def test_no_event_without_a_change(sw):
    degrade.set_override(sw, "off")
    events = []
    listener = degrade.add_listener(events.append)
    try:
        degrade.set_override(sw, "off")
    finally:
        degrade.remove_listener(listener)
    assert [e for e in events if e["switch"] == sw.name] == []


def test_removed_listener_is_not_called(sw):
    events = []
    degrade.remove_listener(degrade.add_listener(events.append))
    degrade.set_override(sw, "off")
    assert events == []


def test_listener_exception_goes_to_unraisablehook(sw, monkeypatch):
    seen = []
    monkeypatch.setattr(sys, "unraisablehook", seen.append)

    def broken(event):
        raise RuntimeError("listener bug")

    listener = degrade.add_listener(broken)
    try:
        degrade.set_override(sw, "off")
    finally:
        degrade.remove_listener(listener)
    assert sw.enabled is False  # the change itself went through
    assert any(isinstance(u.exc_value, RuntimeError) for u in seen)


def test_listener_may_call_back_into_degrade(sw):
    seen = []

    def on_change(event):
        if event["switch"] == sw.name:
            seen.append(degrade.get(sw)["state"])

    listener = degrade.add_listener(on_change)
    try:
        degrade.set_override(sw, "off")
    finally:
        degrade.remove_listener(listener)
    assert seen == ["off"]


def test_listener_runs_for_changes_made_on_other_threads(sw):
    got = threading.Event()

    def on_change(event):
        if event["switch"] == sw.name:
            got.set()

    listener = degrade.add_listener(on_change)
    try:
        thread = threading.Thread(target=degrade.set_override, args=(sw, "off"))
        thread.start()
        thread.join()
        assert got.wait(5)
    finally:
        degrade.remove_listener(listener)
