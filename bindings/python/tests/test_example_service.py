"""bindings/python/example_service.py runs, serves, and degrades."""

import json
import os
import re
import subprocess
import sys
import urllib.request

import pytest

from conftest import child_env

EXAMPLE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "example_service.py")


@pytest.fixture
def start_service():
    procs = []

    def start(env):
        proc = subprocess.Popen([sys.executable, "-P", EXAMPLE, "--port", "0"], env=child_env(env),
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        procs.append(proc)
        line = proc.stdout.readline()
        match = re.search(r"http://127\.0\.0\.1:(\d+)(?:, admin on port (\d+))?", line)
        assert match, line + proc.stderr.read()
        return int(match.group(1)), int(match.group(2) or 0)

    yield start
    for proc in procs:
        proc.terminate()
        proc.wait(10)
        proc.stdout.close()
        proc.stderr.close()


def get(port, path="/"):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as response:
        return json.load(response)


def test_serves_recommendations(start_service):
    port, _ = start_service({})
    page = get(port)
    assert page["degraded"] is False
    assert len(page["recommendations"]) == 3


def test_env_switch_gives_the_fallback(start_service):
    port, _ = start_service({"DEGRADE_RECOMMENDATIONS": "off"})
    page = get(port)
    assert (page["lesson"], page["recommendations"], page["degraded"]) == (
        "Lesson 7: ratios", ["Most popular this week"], True)


def test_failing_vendor_gives_the_fallback(start_service):
    port, _ = start_service({"VENDOR_FAILURE_RATE": "1"})
    assert get(port)["recommendations"] == ["Most popular this week"]


def test_admin_endpoint_turns_it_off(start_service):
    port, admin = start_service({"DEGRADE_ADMIN_ADDR": "127.0.0.1:0",
                                 "DEGRADE_ADMIN_TOKEN": "secret-0123456789ab"})
    if admin == 0:
        pytest.skip("this build's runtime has no admin endpoint yet (admin_port() is 0)")
    request = urllib.request.Request(
        f"http://127.0.0.1:{admin}/degrade/v1/switches/recommendations", data=b'"off"',
        method="PUT", headers={"Authorization": "Bearer secret-0123456789ab", "Content-Type": "application/json"})
    urllib.request.urlopen(request, timeout=10).close()
    assert get(port)["degraded"] is True
