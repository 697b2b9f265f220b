"""Shared fixtures for the degrade Python tests.

Run by `meson test --suite python` (PYTHONPATH points at the build tree's
bindings/python, where the extension and a copy of the package live). Every
test uses its own switch names, so tests share the process-wide registry
without meeting; the few that need a fresh environment run a child
interpreter (run_python).
"""

import itertools
import os
import subprocess
import sys
import textwrap

import pytest

# The registry reads DEGRADE_ALL once and DEGRADE_<NAME> at each definition:
# a developer's shell must not leak into the tests.
for _var in [v for v in os.environ if v.startswith("DEGRADE_")]:
    if _var != "DEGRADE_CONFORMANCE_VECTORS":
        del os.environ[_var]

import degrade  # noqa: E402  (after the scrub, on purpose)

_counter = itertools.count()


@pytest.fixture
def name(request):
    """A switch name no other test uses: py.<test name>.<n>."""
    test = request.node.name.lower()
    test = "".join(c if c.isalnum() else "-" for c in test).strip("-")[:80]
    return f"py.{test}.{next(_counter)}"


@pytest.fixture
def sw(name):
    """A fresh switch, on by default."""
    return degrade.switch(name, description=f"test switch {name}")


@pytest.fixture(autouse=True)
def _clean_layers():
    """Leaves the file, remote, breaker and admin layers empty after a test."""
    yield
    for layer in ("file", "remote", "breaker", "admin"):
        degrade.apply_snapshot(layer, {}, source="test cleanup")


def child_env(extra=None):
    """This environment without DEGRADE_* variables, plus `extra`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("DEGRADE_")}
    env.update(extra or {})
    return env


def run_python(code, env=None, timeout=60):
    """Runs `code` in a fresh interpreter (same sys.path) with `env` added to
    a DEGRADE_-free environment; returns the CompletedProcess."""
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        env=child_env(env), capture_output=True, text=True, timeout=timeout)
