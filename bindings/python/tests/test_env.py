"""Environment conventions: DEGRADE_<NAME>, DEGRADE_GROUP_<G>, DEGRADE_ALL.

The environment is read when a switch is defined (and DEGRADE_ALL when the
registry is created), so each test runs a fresh interpreter."""

import json

import pytest

import degrade
from conftest import run_python

DEFINE_AND_PRINT = """
    import json, degrade
    sw = degrade.switch("py.env.recs", groups=["py.tier2"])
    info = degrade.get(sw)
    print(json.dumps([sw.enabled, info["state"], info["allow"], info["layer"], info["reason"]]))
"""


def define_with(env):
    result = run_python(DEFINE_AND_PRINT, env)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout), result.stderr


def test_switch_variable_turns_off():
    (enabled, state, _, layer, reason), _ = define_with({"DEGRADE_PY_ENV_RECS": "off"})
    assert (enabled, state, layer, reason) == (False, "off", "env", "DEGRADE_PY_ENV_RECS=off")


def test_values_any_case():
    (enabled, _, _, layer, _), _ = define_with({"DEGRADE_PY_ENV_RECS": "FALSE"})
    assert (enabled, layer) == (False, "env")


def test_percentage_is_on_with_allow():
    (_, state, allow, layer, _), _ = define_with({"DEGRADE_PY_ENV_RECS": "25%"})
    assert (state, allow, layer) == ("on", 0.25, "env")


def test_group_variable():
    (enabled, _, _, layer, _), _ = define_with({"DEGRADE_GROUP_PY_TIER2": "off"})
    assert (enabled, layer) == (False, "env")


def test_all_variable():
    (enabled, _, _, layer, _), _ = define_with({"DEGRADE_ALL": "off"})
    assert (enabled, layer) == (False, "env")


def test_switch_variable_beats_group_and_all():
    (enabled, _, _, _, reason), _ = define_with(
        {"DEGRADE_PY_ENV_RECS": "on", "DEGRADE_GROUP_PY_TIER2": "off", "DEGRADE_ALL": "off"})
    assert (enabled, reason) == (True, "DEGRADE_PY_ENV_RECS=on")


def test_invalid_value_is_reported_and_ignored():
    (enabled, _, _, layer, _), stderr = define_with({"DEGRADE_PY_ENV_RECS": "of"})
    assert (enabled, layer) == (True, "default")
    assert 'DEGRADE_PY_ENV_RECS: "of" is not a switch state' in stderr


def test_env_var_maps_names():
    assert degrade.env_var("payments.fraud-score") == "DEGRADE_PAYMENTS_FRAUD_SCORE"
    assert degrade.env_var("tier2", group=True) == "DEGRADE_GROUP_TIER2"


def test_env_var_rejects_bad_names():
    with pytest.raises(degrade.InvalidArgumentError, match="lower case"):
        degrade.env_var("Recs")


def test_parse_env_value():
    assert degrade.parse_env_value(" 25% ") == ("on", 0.25)
    assert degrade.parse_env_value("0") == ("off", 1.0)


def test_parse_env_value_error_names_variable_value_and_accepted():
    with pytest.raises(degrade.InvalidArgumentError,
                       match=r'DEGRADE_X: "1\.5" is not in \[0, 1\]; accepted: on, off'):
        degrade.parse_env_value("1.5", var="DEGRADE_X")
