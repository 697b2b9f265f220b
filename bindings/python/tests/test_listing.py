"""degrade.list / listing / get: the listing JSON, parsed."""

import pytest

import degrade


def test_list_contains_the_switch_with_its_spec(name):
    degrade.switch(name, description="listed", owner="team", groups=["py.g"])
    [entry] = [s for s in degrade.list() if s["name"] == name]
    assert (entry["description"], entry["owner"], entry["groups"], entry["defined"]) == (
        "listed", "team", ["py.g"], True)
    assert entry["env_var"] == degrade.env_var(name)


def test_list_is_sorted_by_name(sw):
    names = [s["name"] for s in degrade.list() if s["defined"]]
    assert names == sorted(names)


def test_listing_has_sources_and_errors():
    assert set(degrade.listing()) == {"switches", "shed", "sources", "errors", "governor"}


def test_get_shows_each_layer_lowest_first(sw):
    degrade.apply_snapshot("file", {"all": "off"})
    degrade.set_override(sw, "on")
    assert [(l["layer"], l["scope"]) for l in degrade.get(sw)["layers"]] == [
        ("default", "switch"), ("file", "all"), ("admin", "switch")]


def test_get_unknown_raises_not_found():
    with pytest.raises(degrade.NotFoundError):
        degrade.get("py.never-defined")


def test_unknown_names_from_layers_are_listed():
    degrade.apply_snapshot("remote", {"switches": {"py.other-version": "off"}})
    assert degrade.get("py.other-version")["defined"] is False
