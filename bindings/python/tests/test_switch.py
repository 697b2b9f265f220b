"""degrade.switch / find / Switch: definition rules and attributes."""

import pytest

import degrade


def test_switch_has_its_spec(name):
    sw = degrade.switch(name, description="Recs; the page renders without them.",
                        owner="recs-team", groups=["py.tier2", "py.tier3"])
    assert (sw.name, sw.description, sw.owner, sw.groups) == (
        name, "Recs; the page renders without them.", "recs-team", ("py.tier2", "py.tier3"))


def test_new_switch_is_enabled(sw):
    assert sw.enabled is True


def test_default_off(name):
    assert degrade.switch(name, default="off").enabled is False


def test_default_bool(name):
    assert degrade.switch(name, default=False).enabled is False


def test_default_allow_is_a_dimmer(name):
    sw = degrade.switch(name, allow=0.25)
    info = degrade.get(sw)
    assert (info["state"], info["allow"], info["layer"]) == ("on", 0.25, "default")


def test_a_group_given_as_a_string_is_one_group(name):
    assert degrade.switch(name, groups="py.tier2").groups == ("py.tier2",)


def test_duplicate_raises_already_exists(sw):
    with pytest.raises(degrade.AlreadyExistsError,
                       match=f'switch "{sw.name}" is already defined') as raised:
        degrade.switch(sw.name)
    assert raised.value.code == 6


def test_duplicate_error_names_the_python_way_to_share_a_switch(sw):
    with pytest.raises(degrade.AlreadyExistsError) as raised:
        degrade.switch(sw.name)
    message = str(raised.value)
    assert f'degrade.find("{sw.name}")' in message
    assert "DEGRADE_DECLARE_SWITCH" not in message


def test_bad_name_raises_invalid_argument(name):
    with pytest.raises(degrade.InvalidArgumentError, match=r'switch name "Py\.Recs".*lower case'):
        degrade.switch("Py.Recs")


def test_invalid_argument_is_a_value_error():
    with pytest.raises(ValueError):
        degrade.switch("")


def test_reserved_name_raises_already_exists():
    with pytest.raises(degrade.AlreadyExistsError, match="DEGRADE_CONFIG_FILE"):
        degrade.switch("config.file")


def test_allow_out_of_range_raises(name):
    with pytest.raises(degrade.InvalidArgumentError, match=r"allow: 1\.5 is not in \[0, 1\]"):
        degrade.switch(name, allow=1.5)


def test_bad_default_raises(name):
    with pytest.raises(degrade.InvalidArgumentError, match="default"):
        degrade.switch(name, default="maybe")


def test_find_returns_the_same_object(sw):
    assert degrade.find(sw.name) is sw


def test_find_unknown_raises_not_found():
    with pytest.raises(degrade.NotFoundError, match='switch "py.nope" is not defined'):
        degrade.find("py.nope")


def test_not_found_is_a_lookup_error():
    with pytest.raises(LookupError):
        degrade.find("py.nope")


def test_switch_cannot_be_instantiated_directly():
    with pytest.raises(TypeError):
        degrade.Switch()


def test_switch_attributes_are_read_only(sw):
    with pytest.raises(AttributeError):
        sw.enabled = False


def test_repr_shows_name_and_state(sw):
    degrade.set_override(sw, 0.5)
    assert repr(sw) == f"<degrade.Switch '{sw.name}' on allow=0.5>"


def test_version_is_the_library_version():
    assert degrade.__version__.count(".") == 2


# Sticky dimming: the points of "bob" and "carol" on "py.sticky.golden" are
# pinned in tests/sticky_test.cc (1158831674 and 3639401422 of 2^32, about
# 0.270 and 0.847), so these answers are the C++ library's too.
def test_enabled_for_is_the_same_fixed_hash_as_cpp():
    sw = degrade.switch("py.sticky.golden", description="sticky dimming across languages")
    degrade.set_override(sw, 0.3)
    assert (sw.enabled_for("bob"), sw.enabled_for("carol")) == (True, False)
    degrade.set_override(sw, 0.9)
    assert (sw.enabled_for("bob"), sw.enabled_for("carol")) == (True, True)


def test_enabled_for_keeps_its_answer_and_grows_with_allow(sw):
    degrade.set_override(sw, 0.4)
    first = [sw.enabled_for(f"user-{i}") for i in range(2000)]
    assert first == [sw.enabled_for(f"user-{i}") for i in range(2000)]
    assert 0.35 < sum(first) / 2000 < 0.45
    degrade.set_override(sw, 0.8)
    later = [sw.enabled_for(f"user-{i}") for i in range(2000)]
    assert all(later[i] for i in range(2000) if first[i])


def test_enabled_for_on_and_off_ignore_the_key(sw):
    assert sw.enabled_for("anyone") is True
    degrade.set_override(sw, "off")
    assert sw.enabled_for("anyone") is False


def test_enabled_for_refuses_a_non_str_key(sw):
    with pytest.raises(TypeError, match=r"enabled_for\(key\): key must be a str, not int"):
        sw.enabled_for(42)


def test_tier_is_kept_and_listed(name):
    sw = degrade.switch(name, tier=7)
    assert sw.tier == 7
    assert degrade.get(sw)["tier"] == 7
    assert degrade.switch(name + "-plain").tier == 0


@pytest.mark.parametrize("tier,message", [
    (10, "tier 10 is out of range; accepted: 0 (no tier, the default) or 1 (shed last) to 9"),
    (-1, "tier -1 is out of range"),
    (2**70, "is out of range"),
    ("3", "tier: '3' is not an int"),
    (True, "tier: True is not an int"),
])
def test_bad_tier_is_refused_and_defines_nothing(name, tier, message):
    with pytest.raises(degrade.InvalidArgumentError, match=message.replace("(", r"\(").replace(")", r"\)")):
        degrade.switch(name, tier=tier)
    with pytest.raises(degrade.NotFoundError):
        degrade.find(name)
