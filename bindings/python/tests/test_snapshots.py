"""apply_snapshot / check_snapshot: the snapshot format and its errors."""

import pytest

import degrade


def test_apply_dict_to_remote_layer(sw):
    degrade.apply_snapshot("remote", {"switches": {sw.name: {"allow": 0.25}}})
    info = degrade.get(sw)
    assert (info["allow"], info["layer"]) == (0.25, "remote")


def test_apply_json_text(sw):
    degrade.apply_snapshot("file", '{"all": "off"}')
    assert (sw.enabled, degrade.get(sw)["layer"]) == (False, "file")


def test_error_names_source_and_json_path(sw):
    with pytest.raises(degrade.InvalidArgumentError) as raised:
        degrade.apply_snapshot("remote", {"switches": {"search.suggest": {"allow": 1.5}}},
                               source="test")
    assert str(raised.value).startswith(
        'test: switches."search.suggest".allow: 1.5 is not in [0, 1]')


def test_bad_snapshot_keeps_last_good(sw):
    degrade.apply_snapshot("file", {"switches": {sw.name: "off"}})
    with pytest.raises(degrade.InvalidArgumentError, match="invalid JSON"):
        degrade.apply_snapshot("file", '{"switches": ')
    assert (sw.enabled, degrade.get(sw)["layer"]) == (False, "file")


def test_duplicate_key_is_refused_and_keeps_last_good(sw):
    degrade.apply_snapshot("file", {"switches": {sw.name: "off"}})
    text = '{"switches": {"%s": {"state": "on", "state": "off"}}}' % sw.name
    with pytest.raises(degrade.InvalidArgumentError) as raised:
        degrade.apply_snapshot("file", text, source="test")
    # The name has dots, so the path quotes it.
    assert str(raised.value) == (
        'test: switches."%s": duplicate key "state"; each key may appear once' % sw.name)
    assert (sw.enabled, degrade.get(sw)["layer"]) == (False, "file")


def test_unknown_layer_raises():
    with pytest.raises(degrade.InvalidArgumentError, match='layer "disk" is not a layer'):
        degrade.apply_snapshot("disk", {})


def test_env_layer_cannot_be_applied():
    with pytest.raises(degrade.InvalidArgumentError, match="cannot be set by a snapshot"):
        degrade.apply_snapshot("env", {})


def test_breaker_layer_only_turns_off(sw):
    with pytest.raises(degrade.InvalidArgumentError, match="may only turn a switch off"):
        degrade.apply_snapshot("breaker", {"switches": {sw.name: "on"}})


def test_check_snapshot_returns_normalized_form():
    assert degrade.check_snapshot('{"switches": {"b": "on", "a": {"state": "off"}}}') == {
        "switches": {"a": "off", "b": "on"}}


def test_check_snapshot_error_names_the_path():
    with pytest.raises(degrade.InvalidArgumentError,
                       match=r'cfg: groups\.t\.fault\.kind: "x" is not a fault kind'):
        degrade.check_snapshot({"groups": {"t": {"fault": {"kind": "x"}}}}, source="cfg")
