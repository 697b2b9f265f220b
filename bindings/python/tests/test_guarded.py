"""@degrade.guarded: a decorator over degrade.call."""

import pytest

import degrade


def test_runs_the_function_when_on(sw):
    @degrade.guarded(sw, fallback=lambda user: [])
    def recs(user):
        return [f"for {user}"]

    assert recs("ada") == ["for ada"]


def test_fallback_gets_the_same_arguments(sw):
    degrade.set_override(sw, "off")

    @degrade.guarded(sw, fallback=lambda user, limit=3: ["bestseller"] * limit)
    def recs(user, limit=3):
        raise AssertionError("not called while off")

    assert recs("ada", limit=2) == ["bestseller", "bestseller"]


def test_fallback_value(sw):
    degrade.set_override(sw, "off")

    @degrade.guarded(sw, fallback=())
    def recs():
        return ("x",)

    assert recs() == ()


def test_exception_in_function_uses_fallback(sw):
    @degrade.guarded(sw, fallback="cached")
    def fetch():
        raise ConnectionError("vendor 503")

    assert fetch() == "cached"
    assert degrade.counters(sw)["primary_failures"] == 1


def test_defines_a_missing_switch(name):
    @degrade.guarded(name, fallback=None, description="guarded by name")
    def fetch():
        return 1

    assert fetch.switch is degrade.find(name)
    assert fetch.switch.description == "guarded by name"


def test_uses_an_existing_switch_by_name(sw):
    @degrade.guarded(sw.name, fallback=None)
    def fetch():
        return 1

    assert fetch.switch is sw


def test_keeps_the_function_metadata(sw):
    @degrade.guarded(sw, fallback=None)
    def fetch_recommendations():
        """Docs."""

    assert (fetch_recommendations.__name__, fetch_recommendations.__doc__) == (
        "fetch_recommendations", "Docs.")


def test_refuses_coroutine_functions(sw):
    with pytest.raises(TypeError, match="coroutine"):
        @degrade.guarded(sw, fallback=None)
        async def fetch():
            return 1
