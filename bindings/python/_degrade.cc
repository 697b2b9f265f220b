// degrade._degrade: the compiled half of the Python package. It names and
// marshals; the Pythonic surface (switch(), guarded, override, Runtime, the
// exception classes) lives in degrade/__init__.py.
//
// Two entry points are written against the CPython API instead of through
// pybind11's dispatcher, because they are the hot path and the dispatcher
// would triple their cost (docs/bindings.md has the figures):
//   - Switch.enabled, a getset descriptor: one call into Switch::enabled();
//   - call(switch, primary, fallback), METH_FASTCALL around degrade::Call.
//
// The GIL. Every registry call that may take a registry lock is made with the
// GIL released: listeners (Python callables) run on whichever thread made a
// change and take the GIL themselves, and a delivering thread may drop the
// last reference to a listener while holding a registry lock. Holding the GIL
// while waiting for such a lock could deadlock.
#include <Python.h>

#include <atomic>
#include <cmath>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "degrade/call.h"
#include "degrade/env.h"
#include "degrade/listing.h"
#include "degrade/registry.h"
#include "degrade/runtime.h"
#include "degrade/snapshot.h"
#include "degrade/state.h"
#include "degrade/switch.h"
#include "pybind11/pybind11.h"
#include "pybind11/stl.h"

namespace py = pybind11;

namespace {

using degrade::Registry;
using degrade::Switch;

absl::string_view ToAbsl(std::string_view s) { return absl::string_view(s.data(), s.size()); }

// ------------------------------------------------------------------ errors

// absl::StatusCode -> exception class, registered by __init__.py. Touched
// only with the GIL held.
py::dict* g_error_types = nullptr;

[[noreturn]] void Raise(const absl::Status& status) {
  const int code = static_cast<int>(status.code());
  py::object cls = py::reinterpret_borrow<py::object>(PyExc_RuntimeError);
  if (g_error_types != nullptr) {
    if (g_error_types->contains(py::int_(code))) {
      cls = (*g_error_types)[py::int_(code)];
    } else if (g_error_types->contains(py::int_(-1))) {
      cls = (*g_error_types)[py::int_(-1)];  // the base class, DegradeError
    }
  }
  const absl::string_view message = status.message();
  PyErr_SetObject(cls.ptr(), py::str(message.data(), message.size()).ptr());
  throw py::error_already_set();
}

void Check(const absl::Status& status) {
  if (!status.ok()) Raise(status);
}

// ------------------------------------------------------------ Switch type

// A Python handle on a degrade::Switch. Switches live as long as the
// process, so the pointer never dangles; one object per switch (cached), so
// identity and equality agree.
struct SwitchObject {
  PyObject_HEAD
  const Switch* sw;
};

PyTypeObject* g_switch_type = nullptr;
// Strong references, never released: switches are never destroyed. GIL.
std::unordered_map<const Switch*, PyObject*>* g_switch_objects = nullptr;

const Switch* SwitchOf(PyObject* o) {
  if (g_switch_type == nullptr || !PyObject_TypeCheck(o, g_switch_type)) return nullptr;
  return reinterpret_cast<SwitchObject*>(o)->sw;
}

py::object WrapSwitch(const Switch* sw) {
  auto it = g_switch_objects->find(sw);
  if (it != g_switch_objects->end()) return py::reinterpret_borrow<py::object>(it->second);
  PyObject* o = PyType_GenericAlloc(g_switch_type, 0);
  if (o == nullptr) throw py::error_already_set();
  reinterpret_cast<SwitchObject*>(o)->sw = sw;
  (*g_switch_objects)[sw] = o;  // the cache keeps this reference
  return py::reinterpret_borrow<py::object>(o);
}

PyObject* StringView(std::string_view s) {
  return PyUnicode_FromStringAndSize(s.data(), static_cast<Py_ssize_t>(s.size()));
}

// The hot path: one call into Switch::enabled().
PyObject* SwitchEnabled(PyObject* self, void*) {
  return PyBool_FromLong(reinterpret_cast<SwitchObject*>(self)->sw->enabled());
}

PyObject* SwitchName(PyObject* self, void*) {
  return StringView(reinterpret_cast<SwitchObject*>(self)->sw->name());
}

PyObject* SwitchDescription(PyObject* self, void*) {
  return StringView(reinterpret_cast<SwitchObject*>(self)->sw->description());
}

PyObject* SwitchOwner(PyObject* self, void*) {
  return StringView(reinterpret_cast<SwitchObject*>(self)->sw->owner());
}

PyObject* SwitchTier(PyObject* self, void*) {
  return PyLong_FromLong(reinterpret_cast<SwitchObject*>(self)->sw->tier());
}

PyObject* SwitchGroups(PyObject* self, void*) {
  const std::vector<std::string>& groups = reinterpret_cast<SwitchObject*>(self)->sw->groups();
  PyObject* out = PyTuple_New(static_cast<Py_ssize_t>(groups.size()));
  if (out == nullptr) return nullptr;
  for (size_t i = 0; i < groups.size(); ++i) {
    PyObject* g = StringView(groups[i]);
    if (g == nullptr) {
      Py_DECREF(out);
      return nullptr;
    }
    PyTuple_SET_ITEM(out, static_cast<Py_ssize_t>(i), g);
  }
  return out;
}

PyObject* SwitchRepr(PyObject* self) {
  const Switch* sw = reinterpret_cast<SwitchObject*>(self)->sw;
  const std::string text = absl::StrCat("<degrade.Switch '", ToAbsl(sw->name()), "' ",
                                        degrade::DescribeState(sw->state()), ">");
  return StringView(text);
}

void SwitchDealloc(PyObject* self) {
  PyTypeObject* type = Py_TYPE(self);
  type->tp_free(self);
  Py_DECREF(type);
}

// Sticky dimming: Switch::enabled(key) for a str key (its UTF-8 bytes).
PyObject* SwitchEnabledFor(PyObject* self, PyObject* key) {
  if (!PyUnicode_Check(key)) {
    PyErr_Format(PyExc_TypeError, "enabled_for(key): key must be a str, not %.100s",
                 Py_TYPE(key)->tp_name);
    return nullptr;
  }
  Py_ssize_t size = 0;
  const char* utf8 = PyUnicode_AsUTF8AndSize(key, &size);
  if (utf8 == nullptr) return nullptr;  // e.g. lone surrogates: UnicodeEncodeError
  return PyBool_FromLong(reinterpret_cast<SwitchObject*>(self)->sw->enabled(
      std::string_view(utf8, static_cast<size_t>(size))));
}

PyMethodDef g_switch_methods[] = {
    {"enabled_for", SwitchEnabledFor, METH_O,
     "enabled_for(key)\n--\n\n"
     "Sticky dimming: like `enabled`, but a fractional allow is decided by the key\n"
     "(a user, session or tenant id) instead of a per-call draw. The same key gets\n"
     "the same answer in every thread and process, C++ and C included, and stays\n"
     "in as allow grows (docs/dimming.md)."},
    {nullptr, nullptr, 0, nullptr},
};

PyGetSetDef g_switch_getset[] = {
    {"enabled", SwitchEnabled, nullptr,
     "True when the dependency should be called: one call into Switch::enabled() "
     "(one atomic load). With a fractional allow, successive reads differ by design.",
     nullptr},
    {"name", SwitchName, nullptr, "The switch's name.", nullptr},
    {"description", SwitchDescription, nullptr, "What the dependency is.", nullptr},
    {"owner", SwitchOwner, nullptr, "Team or person to page ('' for none).", nullptr},
    {"groups", SwitchGroups, nullptr, "The switch's groups, a tuple of names.", nullptr},
    {"tier", SwitchTier, nullptr,
     "Criticality tier: 0 = none, 1 = shed last ... 9 = shed first.", nullptr},
    {nullptr, nullptr, nullptr, nullptr, nullptr},
};

PyType_Slot g_switch_slots[] = {
    {Py_tp_getset, g_switch_getset},
    {Py_tp_methods, g_switch_methods},
    {Py_tp_repr, reinterpret_cast<void*>(SwitchRepr)},
    {Py_tp_dealloc, reinterpret_cast<void*>(SwitchDealloc)},
    {Py_tp_doc,
     const_cast<char*>("A named guard around one non-essential dependency. Create with "
                       "degrade.switch(); look up with degrade.find().")},
    {0, nullptr},
};

#ifndef Py_TPFLAGS_DISALLOW_INSTANTIATION
#define Py_TPFLAGS_DISALLOW_INSTANTIATION 0
#endif

PyType_Spec g_switch_spec = {
    "degrade.Switch",
    sizeof(SwitchObject),
    0,
    Py_TPFLAGS_DEFAULT | Py_TPFLAGS_DISALLOW_INSTANTIATION,
    g_switch_slots,
};

// -------------------------------------------------------------------- call

// degrade::Call around two Python callables. The primary raising an
// Exception is a failure (fallback, counted); KeyboardInterrupt, SystemExit
// and other BaseExceptions propagate unchanged (counted as a failure, and the
// fallback does not run). Exceptions from the fallback propagate.
PyObject* CallPython(PyObject*, PyObject* const* args, Py_ssize_t nargs) {
  if (nargs != 3) {
    PyErr_Format(PyExc_TypeError,
                 "call() takes 3 positional arguments (switch, primary, fallback), %zd given",
                 nargs);
    return nullptr;
  }
  const Switch* sw = SwitchOf(args[0]);
  if (sw == nullptr) {
    PyErr_Format(PyExc_TypeError, "call(): switch must be a degrade.Switch, not %.100s",
                 Py_TYPE(args[0])->tp_name);
    return nullptr;
  }
  PyObject* primary = args[1];
  PyObject* fallback = args[2];
  if (!PyCallable_Check(primary) || !PyCallable_Check(fallback)) {
    PyErr_SetString(PyExc_TypeError, "call(): primary and fallback must be callable");
    return nullptr;
  }

  bool propagate = false;  // a BaseException from the primary is pending
  auto run_primary = [&]() -> absl::StatusOr<PyObject*> {
    PyObject* result = PyObject_CallNoArgs(primary);
    if (result != nullptr) return result;
    if (PyErr_ExceptionMatches(PyExc_Exception)) {
      PyErr_Clear();
    } else {
      propagate = true;
    }
    // An empty message is stored inline: the failure path allocates nothing.
    return absl::Status(absl::StatusCode::kUnknown, "");
  };
  auto run_fallback = [&]() -> PyObject* {
    if (propagate) return nullptr;
    return PyObject_CallNoArgs(fallback);
  };

  // An injected delay sleeps inside degrade::Call: let other threads run.
  // Reading the state is two atomic loads; a delay set between this read and
  // the call is slept once with the GIL held.
  const degrade::EffectiveState state = sw->state();
  if (ABSL_PREDICT_TRUE(!state.fault.has_value() || state.fault->delay_ms == 0)) {
    return degrade::Call(*sw, run_primary, run_fallback);
  }
  PyThreadState* thread = PyEval_SaveThread();
  PyObject* result = degrade::Call(
      *sw,
      [&]() -> absl::StatusOr<PyObject*> {
        PyEval_RestoreThread(thread);
        absl::StatusOr<PyObject*> r = run_primary();
        thread = PyEval_SaveThread();
        return r;
      },
      [&]() -> PyObject* {
        PyEval_RestoreThread(thread);
        PyObject* r = run_fallback();
        thread = PyEval_SaveThread();
        return r;
      });
  PyEval_RestoreThread(thread);
  return result;
}

PyMethodDef g_raw_methods[] = {
    {"call", reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)(void)>(CallPython)),
     METH_FASTCALL,
     "call(switch, primary, fallback)\n--\n\n"
     "degrade::Call for Python: returns primary() when the switch lets the call\n"
     "through; otherwise fallback(). In detail:\n"
     "  switch off (or the dimmer says no)  -> fallback()     counted skipped\n"
     "  injected \"error\" fault              -> fallback()     counted fault\n"
     "  injected \"delay\" fault              -> sleep (GIL released), then primary()\n"
     "  primary() raises an Exception       -> fallback()     counted failure\n"
     "  primary() returns                   -> its value      counted ok\n"
     "KeyboardInterrupt, SystemExit and other non-Exception BaseExceptions from the\n"
     "primary propagate (counted as failures); exceptions from the fallback\n"
     "propagate. The counters are the switch's, shared with C++ and C."},
    {nullptr, nullptr, 0, nullptr},
};

// --------------------------------------------------------------- listeners

// Set by _shutdown() (atexit): from then on no C++ thread touches Python.
std::atomic<bool> g_shutdown{false};

// A Python callable owned by a C++ std::function. The last reference may be
// dropped on any thread, with or without the GIL: take it to release.
struct PyCallback {
  explicit PyCallback(py::object f) : fn(std::move(f)) {}
  ~PyCallback() {
    if (g_shutdown.load() || !Py_IsInitialized()) {
      fn.release();  // the interpreter is going away: leak, never touch it
      return;
    }
    py::gil_scoped_acquire gil;
    fn = py::object();
  }
  PyCallback(const PyCallback&) = delete;
  PyCallback& operator=(const PyCallback&) = delete;
  py::object fn;
};

std::mutex g_listeners_mu;
std::set<uint64_t>* g_listener_ids = nullptr;  // registered from Python

uint64_t AddListener(py::object fn) {
  auto callback = std::make_shared<PyCallback>(std::move(fn));
  Registry::Listener listener = [callback](const degrade::ChangeEvent& event) {
    if (g_shutdown.load()) return;
    const std::string json = degrade::ChangeEventToJson(event);
    py::gil_scoped_acquire gil;
    if (g_shutdown.load()) return;
    try {
      callback->fn(py::str(json));
    } catch (py::error_already_set& e) {
      // As Python does for callbacks it cannot raise into: sys.unraisablehook.
      e.discard_as_unraisable("degrade change listener");
    } catch (const std::exception& e) {
      PyErr_SetString(PyExc_RuntimeError, e.what());
      PyErr_WriteUnraisable(callback->fn.ptr());
    }
  };
  uint64_t id;
  {
    py::gil_scoped_release release;
    id = Registry::Global().AddListener(std::move(listener));
    std::lock_guard<std::mutex> lock(g_listeners_mu);
    g_listener_ids->insert(id);
  }
  return id;
}

void RemoveListener(uint64_t id) {
  py::gil_scoped_release release;
  {
    std::lock_guard<std::mutex> lock(g_listeners_mu);
    g_listener_ids->erase(id);
  }
  Registry::Global().RemoveListener(id);
}

// atexit: stop delivering to Python and drop Python listeners, so that no
// background thread calls into a finalizing interpreter.
void Shutdown() {
  std::set<uint64_t> ids;
  {
    std::lock_guard<std::mutex> lock(g_listeners_mu);
    ids.swap(*g_listener_ids);
  }
  g_shutdown.store(true);
  py::gil_scoped_release release;
  for (uint64_t id : ids) Registry::Global().RemoveListener(id);
}

// ----------------------------------------------------------------- runtime

// Owns a degrade::Runtime. Stopping joins source threads that may be waiting
// for the GIL (a listener): always stop with the GIL released.
class PyRuntime {
 public:
  static std::unique_ptr<PyRuntime> FromEnv() {
    absl::StatusOr<std::unique_ptr<degrade::Runtime>> runtime;
    {
      py::gil_scoped_release release;
      runtime = degrade::Runtime::FromEnv();
    }
    Check(runtime.status());
    return std::unique_ptr<PyRuntime>(new PyRuntime(*std::move(runtime)));
  }

  ~PyRuntime() {
    if (runtime_ == nullptr) return;
    if (PyGILState_Check()) {
      py::gil_scoped_release release;
      runtime_.reset();
    } else {
      runtime_.reset();
    }
  }

  PyRuntime(const PyRuntime&) = delete;
  PyRuntime& operator=(const PyRuntime&) = delete;

  void Close() {
    std::unique_ptr<degrade::Runtime> runtime = std::move(runtime_);
    py::gil_scoped_release release;
    runtime.reset();
  }

  bool closed() const { return runtime_ == nullptr; }
  int admin_port() const { return runtime_ == nullptr ? 0 : runtime_->admin_port(); }

 private:
  explicit PyRuntime(std::unique_ptr<degrade::Runtime> runtime) : runtime_(std::move(runtime)) {}
  std::unique_ptr<degrade::Runtime> runtime_;
};

// ---------------------------------------------------------------- registry

absl::Status NotDefined(std::string_view name) {
  return absl::NotFoundError(absl::StrCat("switch \"", ToAbsl(name), "\" is not defined"));
}

py::object Define(const std::string& name, const std::string& description,
                  const std::string& owner, std::vector<std::string> groups, bool default_on,
                  double default_allow, int tier) {
  degrade::SwitchSpec spec;
  spec.tier = tier;
  spec.name = name;
  spec.description = description;
  spec.owner = owner;
  spec.groups = std::move(groups);
  spec.default_state = default_on ? degrade::State::kOn : degrade::State::kOff;
  if (default_on) {
    // SwitchSpec ignores an allow >= 1 (and NaN): catch the typo here.
    if (!(default_allow >= 0.0 && default_allow <= 1.0)) {
      Raise(absl::InvalidArgumentError(
          absl::StrCat("switch \"", name, "\" allow: ", default_allow,
                       " is not in [0, 1]; accepted: a fraction, 1 for a plain switch")));
    }
    spec.default_allow = default_allow;
  }
  absl::StatusOr<Switch*> sw;
  {
    py::gil_scoped_release release;
    sw = Registry::Global().Define(std::move(spec));
  }
  if (sw.status().code() == absl::StatusCode::kAlreadyExists &&
      Registry::Global().Find(name) != nullptr) {
    // The registry's message names the C++ way to share a switch; say the
    // Python one.
    Raise(absl::AlreadyExistsError(absl::StrCat(
        "switch \"", name, "\" is already defined; define it once (at module level) and share "
        "the object, or look it up with degrade.find(\"", name, "\")")));
  }
  Check(sw.status());
  return WrapSwitch(*sw);
}

py::object Find(const std::string& name) {
  Switch* sw;
  {
    py::gil_scoped_release release;
    sw = Registry::Global().Find(name);
  }
  if (sw == nullptr) Raise(NotDefined(name));
  return WrapSwitch(sw);
}

std::string GetJson(const std::string& name) {
  absl::StatusOr<degrade::SwitchInfo> info;
  {
    py::gil_scoped_release release;
    info = Registry::Global().Get(name);
  }
  Check(info.status());
  return degrade::SwitchInfoToJson(*info);
}

std::string ListJson() {
  py::gil_scoped_release release;
  return degrade::ListingToJson(Registry::Global());
}

// Sets an admin override from a snapshot value in JSON (what the admin
// endpoint's PUT takes), so values are checked, and errors worded, alike.
// `ttl_s` goes through the same parser as the PUT's "ttl_s" field, so it has
// the same bound (30 days) and the same message.
void SetOverride(const std::string& name, const std::string& value_json,
                 std::optional<std::string> reason, std::optional<std::string> actor,
                 std::optional<double> ttl_s) {
  const std::string path = absl::StrCat("switches.", name);
  absl::Status status;
  {
    py::gil_scoped_release release;
    Registry& registry = Registry::Global();
    const absl::Time now = registry.clock().Now();
    std::vector<std::string> warnings;
    absl::StatusOr<degrade::SwitchValue> value =
        degrade::ParseSwitchValue(value_json, "override", path, now, &warnings);
    absl::StatusOr<degrade::SwitchValue> ttl_value = degrade::SwitchValue();
    if (ttl_s) {
      // JSON has no NaN or infinity: send those as text, which the parser
      // refuses as "not a number" in its own words.
      const std::string number = std::isfinite(*ttl_s)
                                     ? absl::StrFormat("%.17g", *ttl_s)
                                     : absl::StrCat("\"", *ttl_s, "\"");
      ttl_value = degrade::ParseSwitchValue(absl::StrCat("{\"ttl_s\": ", number, "}"), "override",
                                            path, now);
    }
    if (!value.ok()) {
      status = value.status();
    } else if (!ttl_value.ok()) {
      status = ttl_value.status();
    } else if (ttl_s && value->expires_at) {
      status = absl::InvalidArgumentError(
          absl::StrCat("override: ", path,
                       ": ttl and the value's expires_at (or ttl_s) both given; accepted: one "
                       "of them"));
    } else {
      for (const std::string& w : warnings) registry.Log(degrade::LogLevel::kWarning, w);
      if (reason) value->reason = *reason;
      if (actor) value->actor = *actor;
      if (ttl_s) value->expires_at = ttl_value->expires_at;
      status = registry.SetOverride(name, *std::move(value));
    }
  }
  Check(status);
}

void ClearOverride(const std::string& name) {
  absl::Status status;
  {
    py::gil_scoped_release release;
    status = Registry::Global().ClearOverride(name);
  }
  Check(status);
}

// The switch's admin-layer entry as a snapshot value in JSON, or None.
std::optional<std::string> AdminEntryJson(const std::string& name) {
  degrade::Snapshot admin;
  {
    py::gil_scoped_release release;
    admin = Registry::Global().LayerSnapshot(degrade::Layer::kAdmin);
  }
  auto it = admin.switches.find(name);
  if (it == admin.switches.end()) return std::nullopt;
  return degrade::SwitchValueToJson(it->second);
}

degrade::Layer LayerFromName(const std::string& layer) {
  std::optional<degrade::Layer> parsed = degrade::ParseLayerName(layer);
  if (!parsed) {
    Raise(absl::InvalidArgumentError(absl::StrCat(
        "layer \"", layer, "\" is not a layer; accepted: file, remote, breaker, admin")));
  }
  return *parsed;
}

void ApplySnapshot(const std::string& layer, const std::string& json, const std::string& source) {
  const degrade::Layer parsed = LayerFromName(layer);
  absl::Status status;
  {
    py::gil_scoped_release release;
    status = Registry::Global().ApplySnapshotJson(parsed, json, source);
  }
  Check(status);
}

std::string CheckSnapshot(const std::string& json, const std::string& source) {
  absl::StatusOr<degrade::Snapshot> snapshot;
  {
    py::gil_scoped_release release;
    snapshot = degrade::ParseSnapshot(json, source, Registry::Global().clock().Now());
  }
  Check(snapshot.status());
  return degrade::SnapshotToJson(*snapshot);
}

std::string EnvVarForSwitch(const std::string& name) {
  Check(degrade::ValidateName(name, "switch name"));
  return degrade::EnvVarForSwitch(name);
}

std::string EnvVarForGroup(const std::string& name) {
  Check(degrade::ValidateName(name, "group name"));
  return degrade::EnvVarForGroup(name);
}

// ("on" | "off", allow): allow is 1 when off or plainly on.
std::pair<std::string, double> ParseEnvValue(const std::string& var, const std::string& value) {
  absl::StatusOr<degrade::SwitchValue> parsed = degrade::ParseEnvValue(var, value);
  Check(parsed.status());
  const bool on = parsed->state.value_or(degrade::State::kOn) == degrade::State::kOn;
  return {on ? "on" : "off", on ? parsed->allow.value_or(1.0) : 1.0};
}

}  // namespace

PYBIND11_MODULE(_degrade, m) {
  m.doc() = "The compiled half of degrade; use the degrade package instead.";

  g_error_types = new py::dict();  // never freed: lives as long as the module
  g_switch_objects = new std::unordered_map<const Switch*, PyObject*>();
  g_listener_ids = new std::set<uint64_t>();

  PyObject* type = PyType_FromSpec(&g_switch_spec);
  if (type == nullptr) throw py::error_already_set();
  g_switch_type = reinterpret_cast<PyTypeObject*>(type);
  m.add_object("Switch", py::reinterpret_borrow<py::object>(type));
  if (PyModule_AddFunctions(m.ptr(), g_raw_methods) != 0) throw py::error_already_set();

  m.attr("__version__") = DEGRADE_VERSION;

  m.def(
      "_set_error_types", [](py::dict types) { *g_error_types = std::move(types); },
      "Registers {absl status code: exception class}; -1 is the fallback class.");
  m.def("_shutdown", &Shutdown, "atexit hook: stop calling into Python from C++ threads.");

  m.def("define", &Define, py::arg("name"), py::arg("description"), py::arg("owner"),
        py::arg("groups"), py::arg("default_on"), py::arg("default_allow"), py::arg("tier"),
        "Registry::Global().Define; returns the Switch.");
  m.def("find", &Find, py::arg("name"), "Registry::Global().Find; raises NotFound.");
  m.def("get_json", &GetJson, py::arg("name"), "One switch of the listing, as JSON.");
  m.def("list_json", &ListJson, "The whole listing (degrade/listing.h), as JSON.");
  m.def("set_override", &SetOverride, py::arg("name"), py::arg("value_json"), py::arg("reason"),
        py::arg("actor"), py::arg("ttl_s"), "Registry::SetOverride from a snapshot value.");
  m.def("clear_override", &ClearOverride, py::arg("name"));
  m.def("admin_entry_json", &AdminEntryJson, py::arg("name"));
  m.def("apply_snapshot", &ApplySnapshot, py::arg("layer"), py::arg("json"), py::arg("source"));
  m.def("check_snapshot", &CheckSnapshot, py::arg("json"), py::arg("source"));
  m.def("env_var_for_switch", &EnvVarForSwitch, py::arg("name"));
  m.def("env_var_for_group", &EnvVarForGroup, py::arg("name"));
  m.def("parse_env_value", &ParseEnvValue, py::arg("var"), py::arg("value"));
  m.def("add_listener", &AddListener, py::arg("fn"));
  m.def("remove_listener", &RemoveListener, py::arg("id"));

  py::class_<PyRuntime>(m, "Runtime")
      .def_static("from_env", &PyRuntime::FromEnv)
      .def("close", &PyRuntime::Close)
      .def_property_readonly("closed", &PyRuntime::closed)
      .def_property_readonly("admin_port", &PyRuntime::admin_port);
}
