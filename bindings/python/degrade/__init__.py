"""degrade: degraded mode for Python services.

Wrap calls to non-essential dependencies behind named switches that operators
can turn off (environment, config file, remote source, admin endpoint), that
trip by themselves, and that can inject faults for drills. This is the same
process-wide registry as the C++ and C APIs: a switch defined here is listed,
overridden and counted exactly like one defined with DEGRADE_SWITCH.

    import degrade

    recs = degrade.switch("recommendations",
                          description="Personalized recs; the page renders without them.")

    if recs.enabled:                      # one call into Switch::enabled()
        ...

    items = degrade.call(recs, lambda: fetch_recs(user), lambda: [])

    @degrade.guarded("search.suggest", fallback=lambda query: [])
    def suggest(query): ...

    with degrade.override("recommendations", "off", reason="test"):
        ...                               # restored on exit

    with degrade.Runtime.from_env():      # DEGRADE_CONFIG_FILE, DEGRADE_ADMIN_ADDR, ...
        serve()

Environment (read when a switch is defined, as in C++): DEGRADE_<NAME>
(upper-cased, '.' and '-' become '_'), DEGRADE_GROUP_<GROUP>, DEGRADE_ALL;
values on/off, true/false, 1/0, 0.25 or 25%.

Errors: every failure of the library raises a DegradeError subclass chosen by
its absl status code (InvalidArgumentError, NotFoundError,
AlreadyExistsError, ...) with the C++ message, which names the value, the JSON
path and what is accepted.
"""

from __future__ import annotations

import atexit
import builtins
import contextlib
import datetime
import functools
import inspect
import json
import math
import threading
import weakref
from typing import Any, Callable, Iterable, Literal, ParamSpec, TypeVar, Union

from . import _degrade
from ._degrade import Switch

_P = ParamSpec("_P")
_R = TypeVar("_R")

# What set_override and override() take as a value: "on"/"off", a bool, a
# fraction (on with that allow) or a dict in the snapshot-value format.
SwitchValue = Union[str, bool, float, dict[str, Any]]
# A ttl: seconds, a timedelta, or None for no expiry.
Ttl = Union[float, datetime.timedelta, None]

__version__ = _degrade.__version__

__all__ = [
    "AlreadyExistsError",
    "DegradeError",
    "FailedPreconditionError",
    "InternalError",
    "InvalidArgumentError",
    "NotFoundError",
    "ResourceExhaustedError",
    "Runtime",
    "Switch",
    "SwitchValue",
    "Ttl",
    "UnavailableError",
    "add_listener",
    "apply_snapshot",
    "call",
    "check_snapshot",
    "clear_override",
    "counters",
    "env_var",
    "find",
    "get",
    "guarded",
    "list",
    "listing",
    "override",
    "parse_env_value",
    "remove_listener",
    "set_fault",
    "set_override",
    "switch",
]

# --------------------------------------------------------------------- errors


class DegradeError(Exception):
    """A failure reported by the degrade library. `code` is the absl status
    code; the message is the C++ one."""

    code = 2  # UNKNOWN


class InvalidArgumentError(DegradeError, ValueError):
    """A bad name, value, snapshot or layer (absl INVALID_ARGUMENT)."""

    code = 3


class NotFoundError(DegradeError, LookupError):
    """No switch has that name (absl NOT_FOUND)."""

    code = 5


class AlreadyExistsError(DegradeError):
    """The name (or its environment variable) is taken (absl ALREADY_EXISTS)."""

    code = 6


class ResourceExhaustedError(DegradeError):
    """Too many switches (absl RESOURCE_EXHAUSTED)."""

    code = 8


class FailedPreconditionError(DegradeError):
    """The operation does not apply in this state (absl FAILED_PRECONDITION)."""

    code = 9


class InternalError(DegradeError):
    """A bug in degrade (absl INTERNAL)."""

    code = 13


class UnavailableError(DegradeError):
    """A source could not be reached (absl UNAVAILABLE)."""

    code = 14


_degrade._set_error_types({
    -1: DegradeError,
    InvalidArgumentError.code: InvalidArgumentError,
    NotFoundError.code: NotFoundError,
    AlreadyExistsError.code: AlreadyExistsError,
    ResourceExhaustedError.code: ResourceExhaustedError,
    FailedPreconditionError.code: FailedPreconditionError,
    InternalError.code: InternalError,
    UnavailableError.code: UnavailableError,
})

# ------------------------------------------------------------------- switches


def switch(name: str, description: str = "", *, owner: str = "",
           groups: str | Iterable[str] = (), default: str | bool = "on",
           allow: float = 1.0, tier: int = 0) -> Switch:
    """Defines a switch in the process-wide registry and returns it.

    name: 1-128 characters of [a-z0-9._-], starting with a letter or digit.
    description: what the dependency is and what users lose without it.
    owner: team or person to page. groups: group names (a str is one group).
    default: "on" or "off" (or a bool): the default layer. allow: with
    default "on", the fraction of calls let through, in [0, 1]. tier: the
    criticality tier, 0 (none, the default) or 1 (shed last) to 9 (shed first).

    The environment layer (DEGRADE_<NAME>, ...) is read now. Defining a name
    twice raises AlreadyExistsError, as in C++: define a switch once (at
    module level) and share the object, or look it up with find().
    Raises InvalidArgumentError for a bad name, group, default, allow or tier.
    """
    if isinstance(groups, str):
        groups = (groups,)
    if isinstance(tier, bool) or not isinstance(tier, int):
        raise InvalidArgumentError(
            f'switch "{name}" tier: {tier!r} is not an int; accepted: 0 (no tier) or 1 (shed '
            "last) to 9 (shed first)")
    if not 0 <= tier <= 9:  # before the C++ int conversion can overflow
        raise InvalidArgumentError(
            f'switch "{name}": tier {tier} is out of range; accepted: 0 (no tier, the default) '
            "or 1 (shed last) to 9 (shed first)")
    return _degrade.define(name, description, owner, [g for g in groups],
                           _default_on(name, default), float(allow), tier)


def _default_on(name: str, default: object) -> bool:
    if isinstance(default, bool):
        return default
    if default in ("on", "off"):
        return default == "on"
    raise InvalidArgumentError(
        f'switch "{name}" default: {default!r} is not a state; accepted: "on", "off", '
        "True, False")


def find(name: str) -> Switch:
    """The switch called `name`, defined by any language in this process.
    Raises NotFoundError. Takes a lock: look names up once, not per call."""
    return _degrade.find(name)


def _name_of(sw: Switch | str) -> str:
    return sw.name if isinstance(sw, Switch) else sw


def get(sw: Switch | str) -> dict[str, Any]:
    """One switch (a Switch or a name) as a dict of the listing: state,
    allow, fault, layer (deciding), reason, actor, expires_at, layers,
    counters, ... Raises NotFoundError when no layer knows the name."""
    info: dict[str, Any] = json.loads(_degrade.get_json(_name_of(sw)))
    return info


def counters(sw: Switch | str) -> dict[str, int]:
    """The switch's call counters: calls, primary_ok, skipped,
    primary_failures, injected_faults, fallbacks."""
    result: dict[str, int] = get(sw)["counters"]
    return result


def listing() -> dict[str, Any]:
    """The whole listing: {"switches": [...], "shed": [...], "sources": [...],
    "errors": [...], "governor": {...}} (the admin endpoint's GET
    /degrade/v1/switches; docs/shedding.md, docs/governor.md)."""
    result: dict[str, Any] = json.loads(_degrade.list_json())
    return result


def list() -> builtins.list[dict[str, Any]]:  # noqa: A001 - the name DESIGN gives it
    """Every switch (defined here, then unknown names layers mention) as a
    list of dicts, sorted by name."""
    switches: builtins.list[dict[str, Any]] = listing()["switches"]
    return switches


# ----------------------------------------------------------------------- call

# degrade::Call for Python; see its docstring. Native (METH_FASTCALL) rather
# than a def here, because a Python-level wrapper would double the cost of
# the skip path (docs/bindings.md).
call = _degrade.call


def guarded(sw: Switch | str, fallback: Any = None, *,
            description: str = "") -> Callable[[Callable[_P, _R]], Callable[_P, _R]]:
    """Decorator: runs the function through call().

        @degrade.guarded("recommendations", fallback=lambda user: [])
        def fetch_recs(user): ...

    sw: a Switch, or a name, looked up once, and defined (with `description`)
    if no switch has it yet. fallback: a callable, called with the same
    arguments as the function, or any other value, returned as is. The
    wrapper's `switch` attribute is the Switch. Coroutine functions are
    refused (TypeError): the primary would "succeed" by returning a coroutine.
    """
    target = sw if isinstance(sw, Switch) else _find_or_define(sw, description)

    def decorate(fn: Callable[_P, _R]) -> Callable[_P, _R]:
        if inspect.iscoroutinefunction(fn):
            raise TypeError(f"degrade.guarded: {fn.__qualname__} is a coroutine function; "
                            "guard the awaited call inside it with degrade.call instead")

        def fallback_for(*args: _P.args, **kwargs: _P.kwargs) -> _R:
            result: _R = fallback(*args, **kwargs) if callable(fallback) else fallback
            return result

        @functools.wraps(fn)
        def wrapper(*args: _P.args, **kwargs: _P.kwargs) -> _R:
            return call(target, lambda: fn(*args, **kwargs),
                        lambda: fallback_for(*args, **kwargs))

        setattr(wrapper, "switch", target)  # noqa: B010 - not a declared attribute of a function
        return wrapper

    return decorate


def _find_or_define(name: str, description: str) -> Switch:
    try:
        return _degrade.find(name)
    except NotFoundError:
        pass
    try:
        return _degrade.define(name, description, "", [], True, 1.0, 0)
    except AlreadyExistsError:
        return _degrade.find(name)  # defined by another thread meanwhile


# ---------------------------------------------------------------- admin layer


def _value_json(value: object) -> str:
    """A switch value (DESIGN section 3) as JSON: "on"/"off", a bool, a
    fraction (on with that allow) or a dict."""
    if isinstance(value, bool):
        return '"on"' if value else '"off"'
    if isinstance(value, (int, float)):
        return json.dumps({"state": "on", "allow": value})
    if isinstance(value, (str, dict)):
        return json.dumps(value)
    raise TypeError(f"a switch value must be 'on', 'off', a bool, a fraction or a dict, "
                    f"not {type(value).__name__}")


def _seconds(ttl: object) -> float | None:
    """A ttl argument as seconds for the extension, which checks its range
    ((0, 30 days], as the admin endpoint's ttl_s); None for never."""
    if ttl is None:
        return None
    if isinstance(ttl, datetime.timedelta):
        return ttl.total_seconds()
    if isinstance(ttl, (int, float)) and not isinstance(ttl, bool):
        try:
            return float(ttl)
        except OverflowError:  # an int beyond float: out of range all the same
            return math.inf
    raise TypeError(f"ttl must be a number of seconds, a datetime.timedelta or None, "
                    f"not {type(ttl).__name__}")


def set_override(sw: Switch | str, value: SwitchValue = "off", *, reason: str | None = None,
                 actor: str | None = None, ttl: Ttl = None) -> None:
    """Sets the admin-layer override of a switch (a Switch or a name),
    replacing any previous one. The admin layer beats every other layer.

    value: "on", "off", a bool, a fraction (on with that allow) or a dict in
    the snapshot format ({"state": "on", "allow": 0.25, "fault": {...},
    "reason": ...}). reason, actor: shown in listings and change events.
    ttl: seconds (or a timedelta) until it expires by itself, more than 0
    and at most 30 days (the admin endpoint's ttl_s bound); None for never.
    Raises NotFoundError for a switch not defined here, InvalidArgumentError
    for a bad value or ttl (the message names the JSON path, as the admin
    endpoint's does), TypeError for a ttl that is not a number or timedelta.
    Nothing changes on error."""
    _degrade.set_override(_name_of(sw), _value_json(value), reason, actor, _seconds(ttl))


def clear_override(sw: Switch | str) -> None:
    """Removes the switch's admin-layer override (nothing happens when there
    is none). Raises NotFoundError for a switch not defined here."""
    _degrade.clear_override(_name_of(sw))


def set_fault(sw: Switch | str, kind: str | None = "error", *, rate: float = 1.0,
              delay_ms: int = 0, reason: str | None = None, actor: str | None = None,
              ttl: Ttl = None) -> None:
    """Sets the fault part of the switch's admin entry, keeping its state:
    a drill fault does not turn a switch back on. kind: "error", "delay",
    "off" (hide lower layers' faults) or None (remove the admin fault).
    Not atomic with respect to other writers of the same admin entry."""
    name = _name_of(sw)
    previous = _degrade.admin_entry_json(name)
    entry: Any = json.loads(previous) if previous is not None else {}
    if isinstance(entry, str):
        entry = {"state": entry}
    entry.pop("fault", None)
    if ttl is not None:
        entry.pop("expires_at", None)  # the new ttl replaces the entry's expiry
    if kind is None:
        if "state" not in entry and "allow" not in entry:
            clear_override(name)
            return
    elif kind == "off":
        entry["fault"] = "off"
    else:
        entry["fault"] = {"kind": kind, "rate": rate, "delay_ms": delay_ms}
    _degrade.set_override(name, json.dumps(entry), reason, actor, _seconds(ttl))


class override(contextlib.ContextDecorator):  # noqa: N801 - used like a function
    """Sets an admin-layer override for a `with` block (or a decorated
    function) and restores the admin entry that was there before (or none)
    on exit, exceptions included.

        with degrade.override("recommendations", "off", reason="test"):
            assert render_page().recs == []
    """

    def __init__(self, sw: Switch | str, value: SwitchValue = "off", *,
                 reason: str | None = None, actor: str | None = "test",
                 ttl: Ttl = None) -> None:
        self._name = _name_of(sw)
        self._value = value
        self._reason = reason
        self._actor = actor
        self._ttl = ttl
        self._saved: builtins.list[str | None] = []

    def __enter__(self) -> Switch:
        previous = _degrade.admin_entry_json(self._name)
        set_override(self._name, self._value, reason=self._reason, actor=self._actor,
                     ttl=self._ttl)
        self._saved.append(previous)
        return find(self._name)

    def __exit__(self, *exc: object) -> Literal[False]:
        previous = self._saved.pop()
        if previous is None:
            _degrade.clear_override(self._name)
        else:
            _degrade.set_override(self._name, previous, None, None, None)
        return False


# ------------------------------------------------------------------ snapshots


def _snapshot_json(snapshot: str | bytes | dict[str, Any]) -> str:
    if isinstance(snapshot, (str, bytes)):
        return snapshot.decode() if isinstance(snapshot, bytes) else snapshot
    return json.dumps(snapshot)


def apply_snapshot(layer: str, snapshot: str | bytes | dict[str, Any], *,
                   source: str | None = None) -> None:
    """Replaces the whole of `layer` ("file", "remote", "breaker" or "admin")
    with `snapshot` (a JSON str or a dict in DESIGN section 3's format), all
    or nothing. Raises InvalidArgumentError for a bad layer, bad JSON or a bad
    value, naming the JSON path; nothing changes then."""
    _degrade.apply_snapshot(layer, _snapshot_json(snapshot), source or layer)


def check_snapshot(snapshot: str | bytes | dict[str, Any], *,
                   source: str = "snapshot") -> dict[str, Any]:
    """Parses a snapshot without applying it; returns it normalized as a
    dict. Raises InvalidArgumentError as apply_snapshot does."""
    result: dict[str, Any] = json.loads(_degrade.check_snapshot(_snapshot_json(snapshot), source))
    return result


# ---------------------------------------------------------------- environment


def env_var(name: str, *, group: bool = False) -> str:
    """The environment variable of a switch ("search.suggest" ->
    "DEGRADE_SEARCH_SUGGEST"), or of a group with group=True."""
    if group:
        return _degrade.env_var_for_group(name)
    return _degrade.env_var_for_switch(name)


def parse_env_value(value: str, var: str = "value") -> tuple[str, float]:
    """Parses an environment value as the env layer does: returns (state,
    allow), e.g. ("on", 0.25) for "25%". Raises InvalidArgumentError naming
    `var`, the value and what is accepted."""
    return _degrade.parse_env_value(var, value)


# --------------------------------------------------------------- change events

_listeners: dict[int, Callable[[dict[str, Any]], object]] = {}
_listeners_lock = threading.Lock()


def add_listener(fn: Callable[[dict[str, Any]], object]) -> int:
    """Calls fn(event) for every effective change of any switch; event is a
    dict: {"time", "event": "change", "switch", "old", "new", "old_layer",
    "layer", "fault_layer", "actor", "reason", "expires_at"} (docs/audit.md;
    actor and reason name the change's cause). fn runs on the thread that made the change
    (possibly a background source thread), one event at a time; exceptions
    go to sys.unraisablehook. Returns an id for remove_listener."""
    def deliver(event_json: str) -> None:
        fn(json.loads(event_json))

    listener_id = _degrade.add_listener(deliver)
    with _listeners_lock:
        _listeners[listener_id] = fn
    return listener_id


def remove_listener(listener_id: int) -> None:
    """Unregisters a listener; unknown ids are ignored. An event being
    delivered on another thread at that moment may still reach it once."""
    with _listeners_lock:
        _listeners.pop(listener_id, None)
    _degrade.remove_listener(listener_id)


# -------------------------------------------------------------------- runtime

_runtimes: weakref.WeakSet[Runtime] = weakref.WeakSet()


class Runtime:
    """The background sources (config file, remote, admin endpoint) that keep
    the switches in step. Use as a context manager, or call close():

        with degrade.Runtime.from_env() as runtime:
            print("admin port", runtime.admin_port)
            serve()
    """

    def __init__(self, native: _degrade.Runtime) -> None:
        self._native = native
        _runtimes.add(self)

    @classmethod
    def from_env(cls) -> Runtime:
        """Starts what the environment configures: DEGRADE_CONFIG_FILE,
        DEGRADE_REMOTE_URLS, DEGRADE_ETCD_ENDPOINTS/_PREFIX,
        DEGRADE_CACHE_FILE, DEGRADE_ADMIN_ADDR/_TOKEN. Nothing configured is
        fine. Raises InvalidArgumentError naming a bad variable."""
        return cls(_degrade.Runtime.from_env())

    @property
    def admin_port(self) -> int:
        """The admin endpoint's bound port, or 0 when it is off."""
        return self._native.admin_port

    @property
    def closed(self) -> bool:
        return self._native.closed

    def close(self) -> None:
        """Stops every source and joins its threads (switch states stay as
        they are). Idempotent."""
        self._native.close()

    def __enter__(self) -> Runtime:
        return self

    def __exit__(self, *exc: object) -> Literal[False]:
        self.close()
        return False


@atexit.register
def _at_exit() -> None:
    # Stop sources and listeners while the interpreter can still run them.
    for runtime in [r for r in _runtimes]:
        runtime.close()
    _degrade._shutdown()
