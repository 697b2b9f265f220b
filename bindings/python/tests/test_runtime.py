"""degrade.Runtime.from_env: sources from the environment, stopped on exit."""

import json
import os
import time

import pytest

import degrade
from conftest import run_python


@pytest.fixture
def config_file(tmp_path, monkeypatch):
    path = tmp_path / "degrade.json"
    monkeypatch.setenv("DEGRADE_CONFIG_FILE", str(path))
    return path


def wait_for(predicate, timeout=5.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return predicate()


def test_config_file_applied_at_start(sw, config_file):
    config_file.write_text(json.dumps({"switches": {sw.name: "off"}}))
    with degrade.Runtime.from_env():
        assert (sw.enabled, degrade.get(sw)["layer"]) == (False, "file")


def test_config_file_changes_are_followed(sw, config_file):
    config_file.write_text("{}")
    with degrade.Runtime.from_env():
        assert sw.enabled is True
        tmp = config_file.with_suffix(".tmp")
        tmp.write_text(json.dumps({"switches": {sw.name: "off"}}))
        os.replace(tmp, config_file)
        # The file thread applies it while this thread waits (GIL released).
        assert wait_for(lambda: not sw.enabled)


def test_listener_sees_changes_from_the_file_thread(sw, config_file):
    config_file.write_text("{}")
    events = []
    listener = degrade.add_listener(events.append)
    try:
        with degrade.Runtime.from_env():
            tmp = config_file.with_suffix(".tmp")
            tmp.write_text(json.dumps({"switches": {sw.name: "off"}}))
            os.replace(tmp, config_file)
            assert wait_for(lambda: any(e["switch"] == sw.name for e in events))
    finally:
        degrade.remove_listener(listener)


def test_context_manager_closes(config_file):
    config_file.write_text("{}")
    with degrade.Runtime.from_env() as runtime:
        assert runtime.closed is False
    assert runtime.closed is True
    runtime.close()  # idempotent


def test_states_stay_after_close(sw, config_file):
    config_file.write_text(json.dumps({"switches": {sw.name: "off"}}))
    degrade.Runtime.from_env().close()
    assert sw.enabled is False


def test_admin_port_is_zero_without_admin_addr(config_file):
    config_file.write_text("{}")
    with degrade.Runtime.from_env() as runtime:
        assert runtime.admin_port == 0


def test_bad_variable_raises_naming_it(monkeypatch):
    monkeypatch.setenv("DEGRADE_REMOTE_INTERVAL_MS", "soon")
    with pytest.raises(degrade.InvalidArgumentError,
                       match='DEGRADE_REMOTE_INTERVAL_MS: "soon" is not valid'):
        degrade.Runtime.from_env()


def test_runtime_left_open_is_stopped_at_exit(tmp_path):
    path = tmp_path / "degrade.json"
    path.write_text('{"all": "off"}')
    result = run_python("""
        import degrade
        sw = degrade.switch("py.exit")
        runtime = degrade.Runtime.from_env()
        degrade.add_listener(lambda event: None)
        print(sw.enabled)
    """, {"DEGRADE_CONFIG_FILE": str(path)})
    assert (result.returncode, result.stdout.strip()) == (0, "False"), result.stderr
