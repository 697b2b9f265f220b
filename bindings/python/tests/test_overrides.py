"""The admin layer: set_override, clear_override, set_fault, override()."""

import datetime

import pytest

import degrade


def test_set_override_off(sw):
    degrade.set_override(sw, "off", reason="INC-1 vendor down", actor="oncall")
    info = degrade.get(sw)
    assert sw.enabled is False
    assert (info["layer"], info["reason"], info["actor"]) == ("admin", "INC-1 vendor down", "oncall")


def test_set_override_by_name(sw):
    degrade.set_override(sw.name, False)
    assert sw.enabled is False


def test_set_override_fraction_is_a_dimmer(sw):
    degrade.set_override(sw, 0.25)
    assert (degrade.get(sw)["state"], degrade.get(sw)["allow"]) == ("on", 0.25)


def test_set_override_dict_value(sw):
    degrade.set_override(sw, {"state": "on", "allow": 0.5, "reason": "canary"})
    info = degrade.get(sw)
    assert (info["allow"], info["reason"]) == (0.5, "canary")


def test_default_actor_is_api(sw):
    degrade.set_override(sw, "off")
    assert degrade.get(sw)["actor"] == "api"


def test_ttl_sets_an_expiry(sw):
    degrade.set_override(sw, "off", ttl=3600)
    assert degrade.get(sw)["expires_at"] is not None


def test_bad_value_names_the_json_path(sw):
    with pytest.raises(degrade.InvalidArgumentError,
                       match=rf"switches\.{sw.name}\.allow: 1\.5 is not in \[0, 1\]"):
        degrade.set_override(sw, {"allow": 1.5})


def test_bad_value_changes_nothing(sw):
    degrade.set_override(sw, "off")
    with pytest.raises(degrade.InvalidArgumentError):
        degrade.set_override(sw, "Of")
    assert sw.enabled is False


def test_negative_ttl_raises(sw):
    with pytest.raises(degrade.InvalidArgumentError, match="ttl"):
        degrade.set_override(sw, "off", ttl=-1)


_TTL_BOUND = (r"ttl_s: {} is not in \(0, 2592000\]; accepted: a number of seconds in "
              r"\(0, 2592000\] \(30 days\)")


def test_ttl_over_30_days_raises_the_admin_endpoints_message(sw):
    with pytest.raises(degrade.InvalidArgumentError,
                       match=rf"switches\.{sw.name}\." + _TTL_BOUND.format(r"1000000000(\.0)?")):
        degrade.set_override(sw, "off", ttl=10**9)
    assert degrade.get(sw)["layer"] == "default"


def test_ttl_of_30_days_is_accepted(sw):
    degrade.set_override(sw, "off", ttl=datetime.timedelta(days=30))
    assert degrade.get(sw)["expires_at"] is not None


def test_zero_ttl_raises_none_means_never(sw):
    with pytest.raises(degrade.InvalidArgumentError, match=_TTL_BOUND.format(r"0(\.0)?")):
        degrade.set_override(sw, "off", ttl=0)
    degrade.set_override(sw, "off", ttl=None)
    assert degrade.get(sw)["expires_at"] is None


def test_nan_ttl_raises(sw):
    with pytest.raises(degrade.InvalidArgumentError, match="ttl_s"):
        degrade.set_override(sw, "off", ttl=float("nan"))


def test_ttl_of_wrong_type_raises_type_error(sw):
    with pytest.raises(TypeError, match="ttl"):
        degrade.set_override(sw, "off", ttl="15m")


def test_ttl_and_an_expiry_in_the_value_raise(sw):
    with pytest.raises(degrade.InvalidArgumentError, match="ttl"):
        degrade.set_override(sw, {"state": "off", "expires_at": "2099-01-01T00:00:00Z"}, ttl=60)
    assert degrade.get(sw)["layer"] == "default"


def test_set_fault_ttl_over_30_days_raises(sw):
    with pytest.raises(degrade.InvalidArgumentError, match=_TTL_BOUND.format(r"\d+(\.0)?")):
        degrade.set_fault(sw, "error", ttl=datetime.timedelta(days=31))
    assert degrade.get(sw)["fault"] is None


def test_value_of_wrong_type_raises_type_error(sw):
    with pytest.raises(TypeError):
        degrade.set_override(sw, object())


def test_unknown_switch_raises_not_found():
    with pytest.raises(degrade.NotFoundError, match='"py.unknown" is not defined'):
        degrade.set_override("py.unknown", "off")


def test_clear_override_restores_lower_layers(sw):
    degrade.set_override(sw, "off")
    degrade.clear_override(sw)
    assert (sw.enabled, degrade.get(sw)["layer"]) == (True, "default")


def test_clear_unknown_raises_not_found():
    with pytest.raises(degrade.NotFoundError):
        degrade.clear_override("py.unknown")


def test_set_fault_keeps_the_admin_state(sw):
    degrade.set_override(sw, "off", reason="incident")
    degrade.set_fault(sw, "error", rate=0.5)
    info = degrade.get(sw)
    assert (info["state"], info["layer"], info["reason"]) == ("off", "admin", "incident")
    assert info["layers"][-1]["value"]["fault"] == {"kind": "error", "rate": 0.5, "delay_ms": 0}


def test_set_fault_on_an_on_switch(sw):
    degrade.set_fault(sw, "delay", rate=1.0, delay_ms=50)
    info = degrade.get(sw)
    assert info["fault"] == {"kind": "delay", "rate": 1.0, "delay_ms": 50}
    assert (info["layer"], info["fault_layer"]) == ("default", "admin")


def test_set_fault_none_removes_a_fault_only_entry(sw):
    degrade.set_fault(sw, "error")
    degrade.set_fault(sw, None)
    assert degrade.get(sw)["fault"] is None
    assert [layer["layer"] for layer in degrade.get(sw)["layers"]] == ["default"]


def test_override_context_manager_restores_none(sw):
    with degrade.override(sw, "off", reason="test") as inside:
        assert inside is sw
        assert sw.enabled is False
    assert (sw.enabled, degrade.get(sw)["layer"]) == (True, "default")


def test_override_context_manager_restores_previous_entry(sw):
    degrade.set_override(sw, 0.5, reason="canary")
    with degrade.override(sw, "off"):
        assert sw.enabled is False
    info = degrade.get(sw)
    assert (info["allow"], info["reason"], info["layer"]) == (0.5, "canary", "admin")


def test_override_restores_on_exception(sw):
    with pytest.raises(RuntimeError):
        with degrade.override(sw, "off"):
            raise RuntimeError("boom")
    assert sw.enabled is True


def test_override_as_decorator(sw):
    @degrade.override(sw, "off")
    def check():
        return sw.enabled

    assert (check(), sw.enabled) == (False, True)


def test_override_bad_value_raises_and_changes_nothing(sw):
    with pytest.raises(degrade.InvalidArgumentError):
        with degrade.override(sw, {"allow": 2}):
            pass
    assert degrade.get(sw)["layer"] == "default"
