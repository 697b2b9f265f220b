"""The package's types as a user sees them, fully annotated.

pytest runs these like the other tests; the meson test python-typing also
runs `mypy --strict` over this file (with the package and
example_service.py), where each assert_type must hold: a wrong `.pyi`
declaration or annotation fails there.
"""

import datetime
from typing import Any, assert_type

import degrade


def test_switch_and_its_properties_are_typed() -> None:
    sw = degrade.switch("py.typed.switch", description="typed", owner="team", groups=["py.t"])
    assert_type(sw, degrade.Switch)
    assert_type(sw.enabled, bool)
    assert_type(sw.enabled_for("user-42"), bool)
    assert_type(sw.groups, tuple[str, ...])
    assert (sw.name, sw.owner, sw.groups) == ("py.typed.switch", "team", ("py.t",))


def test_call_returns_what_primary_and_fallback_return() -> None:
    sw = degrade.switch("py.typed.call")
    items = degrade.call(sw, lambda: [1, 2], lambda: [0])
    assert_type(items, list[int])
    assert items == [1, 2]
    # An empty fallback takes its type from the declared result.
    names: list[str] = degrade.call(sw, lambda: ["a"], lambda: [])
    assert names == ["a"]


def test_guarded_keeps_the_signature() -> None:
    @degrade.guarded("py.typed.guarded", fallback=lambda query: [])
    def suggest(query: str) -> list[str]:
        return [query + "!"]

    assert_type(suggest("a"), list[str])
    assert suggest("a") == ["a!"]


def test_overrides_take_values_and_ttls() -> None:
    sw = degrade.switch("py.typed.override")
    degrade.set_override(sw, "off", reason="typed", ttl=datetime.timedelta(minutes=5))
    info: dict[str, Any] = degrade.get(sw)
    assert info["state"] == "off"
    degrade.set_override(sw, {"state": "on", "allow": 0.5}, ttl=60.0)
    degrade.clear_override(sw)
    with degrade.override(sw, False) as same:
        assert_type(same, degrade.Switch)
        assert same.enabled is False


def test_listing_env_and_listeners_are_typed() -> None:
    sw = degrade.switch("py.typed.listing")
    seen: list[dict[str, Any]] = []
    listener_id = degrade.add_listener(seen.append)
    assert_type(listener_id, int)
    degrade.remove_listener(listener_id)
    assert_type(degrade.parse_env_value("25%"), tuple[str, float])
    assert degrade.env_var("py.typed.env") == "DEGRADE_PY_TYPED_ENV"
    assert isinstance(degrade.list(), list)
    assert_type(degrade.counters(sw), dict[str, int])
