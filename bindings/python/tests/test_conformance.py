"""The conformance vectors (tests/conformance/vectors.json) against the
Python package; the C++ and C runners read the same file. Name, value and
snapshot vectors run in this process; each layer-stack vector runs in a
fresh interpreter (conformance_child.py) whose environment is the vector's.
"""

import json
import math
import os
import subprocess
import sys

import pytest

import degrade
from conftest import child_env

HERE = os.path.dirname(os.path.abspath(__file__))
VECTORS_PATH = os.environ.get(
    "DEGRADE_CONFORMANCE_VECTORS",
    os.path.join(HERE, "..", "..", "..", "tests", "conformance", "vectors.json"))

with open(VECTORS_PATH, encoding="utf-8") as _f:
    VECTORS = json.load(_f)


def params(section):
    return [pytest.param(i, v, id=v["name"]) for i, v in enumerate(VECTORS[section])]


def snapshot_text(v):
    if "text" in v:
        return v["text"]
    return json.dumps(v["snapshot"] if "snapshot" in v else v["json"])


def test_file_holds_every_section():
    assert len(VECTORS["env_names"]) >= 4
    assert len(VECTORS["env_values"]) >= 10
    assert len(VECTORS["snapshots"]) >= 10
    assert len(VECTORS["stacks"]) >= 20


@pytest.mark.parametrize("index,v", params("env_names"))
def test_env_name(index, v):
    group = "group" in v
    name = v["group"] if group else v["switch"]
    if "error" in v:
        with pytest.raises(degrade.InvalidArgumentError) as raised:
            degrade.env_var(name, group=group)
        assert v["error"] in str(raised.value)
    else:
        assert degrade.env_var(name, group=group) == v["env_var"]


@pytest.mark.parametrize("index,v", params("env_values"))
def test_env_value(index, v):
    var = v.get("var", "DEGRADE_RECS")
    if "error" in v:
        with pytest.raises(degrade.InvalidArgumentError) as raised:
            degrade.parse_env_value(v["value"], var=var)
        assert v["error"] in str(raised.value)
    else:
        state, allow = degrade.parse_env_value(v["value"], var=var)
        assert state == v["state"]
        assert math.isclose(allow, v.get("allow", 1.0), abs_tol=1e-12)


@pytest.mark.parametrize("index,v", params("snapshots"))
def test_snapshot(index, v):
    if "error" in v:
        with pytest.raises(degrade.InvalidArgumentError) as raised:
            degrade.check_snapshot(snapshot_text(v), source="vector")
        assert v["error"] in str(raised.value)
    else:
        degrade.check_snapshot(snapshot_text(v), source="vector")


@pytest.mark.parametrize("index,v", params("stacks"))
def test_stack(index, v):
    result = subprocess.run(
        [sys.executable, os.path.join(HERE, "conformance_child.py"), VECTORS_PATH, str(index)],
        env=child_env(v.get("env", {})), capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    got = json.loads(result.stdout)

    for spec, outcome in zip(v.get("switches", []), got["define"]):
        if "error" in spec:
            assert spec["error"] in outcome, f"defining {spec['name']}"
        else:
            assert outcome == "ok", f"defining {spec['name']}"
    for step, (want, outcome) in enumerate(zip(v.get("apply", []), got["apply"]), 1):
        if "error" in want:
            assert want["error"] in outcome, f"step {step}"
        else:
            assert outcome == "ok", f"step {step}"

    for name, want in v.get("expect", {}).items():
        info = got["switches"][name]
        assert (info["state"], info["layer"]) == (want["state"], want["layer"]), name
        assert math.isclose(info["allow"], want.get("allow", 1.0), abs_tol=1e-12), name
        if "fault" in want:
            if want["fault"] is None:
                assert info["fault"] is None, name
            else:
                fault = info["fault"]
                assert fault is not None, name
                assert fault["kind"] == want["fault"]["kind"], name
                assert math.isclose(fault["rate"], want["fault"].get("rate", 1.0)), name
                assert fault["delay_ms"] == want["fault"].get("delay_ms", 0), name
        if "fault_layer" in want:
            assert info["fault_layer"] == want["fault_layer"], name
