// The C API (see degrade_c.h): thin marshalling over the C++ API on
// Registry::Global(). Every error goes through SaveError; every entry point
// that can fail runs its body through Guard, so no C++ exception crosses into
// C.
#include "degrade_c.h"

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <memory>
#include <new>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
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

struct degrade_runtime_t {
  std::unique_ptr<degrade::Runtime> rep;
};

namespace {

using degrade::Registry;
using degrade::Switch;
using degrade::SwitchValue;

// The handle is the Switch itself: degrade_enabled is then one call and the
// load, with no indirection. degrade_switch_t is never defined.
const Switch* AsSwitch(const degrade_switch_t* sw) { return reinterpret_cast<const Switch*>(sw); }
degrade_switch_t* AsHandle(Switch* sw) { return reinterpret_cast<degrade_switch_t*>(sw); }

// Debian's Abseil has its own string_view (TOOLCHAIN.md pitfall 3).
absl::string_view ToAbsl(std::string_view s) { return absl::string_view(s.data(), s.size()); }

// A malloc'd copy, so that degrade_free (free) releases it. Null when out of
// memory.
char* CopyString(std::string_view s) {
  char* out = static_cast<char*>(std::malloc(s.size() + 1));
  if (out == nullptr) return nullptr;
  std::memcpy(out, s.data(), s.size());
  out[s.size()] = '\0';
  return out;
}

// The one place an error leaves the library (convention 2).
int SaveError(const absl::Status& status, char** errptr) {
  if (status.ok()) return DEGRADE_OK;
  if (errptr != nullptr) {
    std::free(*errptr);
    *errptr = CopyString(std::string_view(status.message().data(), status.message().size()));
  }
  return static_cast<int>(status.code());
}

// Runs `body` (returning absl::Status) and turns any C++ exception into an
// error code: nothing may unwind into C.
template <typename Body>
int Guard(char** errptr, Body&& body) noexcept {
  absl::Status status;
  try {
    status = body();
  } catch (const std::bad_alloc&) {
    status = absl::ResourceExhaustedError("degrade: out of memory");
  } catch (const std::exception& e) {
    status = absl::InternalError(absl::StrCat("degrade: unexpected exception: ", e.what()));
  } catch (...) {
    status = absl::InternalError("degrade: unexpected exception");
  }
  return SaveError(status, errptr);
}

absl::Status Null(std::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat(ToAbsl(what), " is NULL"));
}

std::string_view OrEmpty(const char* s) { return s == nullptr ? std::string_view() : s; }

// ttl_s as a duration: finite and >= 0; 0 means none.
absl::Status TtlFromSeconds(std::string_view name, double ttl_s, absl::Duration* out) {
  if (!std::isfinite(ttl_s) || ttl_s < 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "override of \"", ToAbsl(name), "\": ttl_s ", ttl_s,
        " is not valid; accepted: a finite number of seconds > 0, or 0 for none"));
  }
  *out = absl::Seconds(ttl_s);
  return absl::OkStatus();
}

constexpr const char* kLayerNames[] = {"default", "file", "env", "remote", "breaker", "governor",
                                      "admin"};
static_assert(sizeof(kLayerNames) / sizeof(kLayerNames[0]) == degrade::kLayerCount);

}  // namespace

// The return codes are absl::StatusCode's.
static_assert(DEGRADE_INVALID_ARGUMENT == static_cast<int>(absl::StatusCode::kInvalidArgument));
static_assert(DEGRADE_NOT_FOUND == static_cast<int>(absl::StatusCode::kNotFound));
static_assert(DEGRADE_ALREADY_EXISTS == static_cast<int>(absl::StatusCode::kAlreadyExists));
static_assert(DEGRADE_RESOURCE_EXHAUSTED ==
              static_cast<int>(absl::StatusCode::kResourceExhausted));
static_assert(DEGRADE_FAILED_PRECONDITION ==
              static_cast<int>(absl::StatusCode::kFailedPrecondition));
static_assert(DEGRADE_INTERNAL == static_cast<int>(absl::StatusCode::kInternal));
static_assert(DEGRADE_UNAUTHENTICATED == static_cast<int>(absl::StatusCode::kUnauthenticated));
static_assert(DEGRADE_LAYER_ADMIN == static_cast<int>(degrade::Layer::kAdmin));
static_assert(DEGRADE_LAYER_GOVERNOR == static_cast<int>(degrade::Layer::kGovernor));
static_assert(DEGRADE_LAYER_ENV == static_cast<int>(degrade::Layer::kEnv));

extern "C" {

// ------------------------------------------------------------------ general

const char* degrade_version(void) { return DEGRADE_VERSION; }

void degrade_free(void* ptr) { std::free(ptr); }

const char* degrade_layer_name(int layer) {
  if (layer < 0 || layer >= degrade::kLayerCount) return nullptr;
  return kLayerNames[layer];
}

// ----------------------------------------------------------------- switches

int degrade_switch_define(const char* name, const char* description, const char* owner,
                          const char* const* groups, uint8_t default_on, double default_allow,
                          degrade_switch_t** out, char** errptr) {
  return Guard(errptr, [&]() -> absl::Status {
    if (name == nullptr) return Null("name");
    if (out == nullptr) return Null("out");
    degrade::SwitchSpec spec;
    spec.name = name;
    spec.description = std::string(OrEmpty(description));
    spec.owner = std::string(OrEmpty(owner));
    if (groups != nullptr) {
      for (const char* const* g = groups; *g != nullptr; ++g) spec.groups.emplace_back(*g);
    }
    spec.default_state = default_on != 0 ? degrade::State::kOn : degrade::State::kOff;
    if (default_on != 0) {
      // SwitchSpec ignores an allow >= 1 (and NaN): catch the typo here.
      if (!(default_allow >= 0.0 && default_allow <= 1.0)) {
        return absl::InvalidArgumentError(
            absl::StrCat("switch \"", spec.name, "\" default_allow: ", default_allow,
                         " is not in [0, 1]; accepted: a fraction, 1 for a plain switch"));
      }
      spec.default_allow = default_allow;
    }
    absl::StatusOr<Switch*> sw = Registry::Global().Define(std::move(spec));
    if (!sw.ok()) return sw.status();
    *out = AsHandle(*sw);
    return absl::OkStatus();
  });
}

int degrade_switch_find(const char* name, degrade_switch_t** out, char** errptr) {
  return Guard(errptr, [&]() -> absl::Status {
    if (name == nullptr) return Null("name");
    if (out == nullptr) return Null("out");
    Switch* sw = Registry::Global().Find(name);
    if (sw == nullptr) {
      return absl::NotFoundError(absl::StrCat("switch \"", name, "\" is not defined"));
    }
    *out = AsHandle(sw);
    return absl::OkStatus();
  });
}

// ----------------------------------------------------------------- hot path

uint8_t degrade_enabled(const degrade_switch_t* sw) { return AsSwitch(sw)->enabled() ? 1 : 0; }

uint8_t degrade_enabled_for(const degrade_switch_t* sw, const char* key, size_t key_len) {
  const std::string_view k = key == nullptr ? std::string_view() : std::string_view(key, key_len);
  return AsSwitch(sw)->enabled(k) ? 1 : 0;
}

// ----------------------------------------------------------- switch details

const char* degrade_switch_name(const degrade_switch_t* sw) {
  // SwitchSpec's strings are std::string: data() is NUL-terminated.
  return sw == nullptr ? nullptr : AsSwitch(sw)->name().data();
}

const char* degrade_switch_description(const degrade_switch_t* sw) {
  return sw == nullptr ? nullptr : AsSwitch(sw)->description().data();
}

}  // extern "C"

// A C++ helper: outside the extern "C" block, so it has C++ linkage (clang
// rejects a C-linkage function returning absl::StatusOr).
namespace {

absl::StatusOr<degrade::SwitchInfo> InfoOf(const Switch* sw) {
  Registry* registry = sw->registry();
  if (registry == nullptr) {
    return absl::FailedPreconditionError(absl::StrCat(
        "switch \"", ToAbsl(sw->name()), "\" is detached from its registry (see the log)"));
  }
  return registry->Get(sw->name());
}

}  // namespace

extern "C" {

int degrade_switch_state(const degrade_switch_t* sw, degrade_state_t* out, char** errptr) {
  return Guard(errptr, [&]() -> absl::Status {
    if (sw == nullptr) return Null("sw");
    if (out == nullptr) return Null("out");
    absl::StatusOr<degrade::SwitchInfo> info = InfoOf(AsSwitch(sw));
    if (!info.ok()) return info.status();
    const degrade::EffectiveState& e = info->effective;
    degrade_state_t s;
    s.on = e.state == degrade::State::kOn ? 1 : 0;
    s.allow = e.allow;
    s.fault_kind = DEGRADE_FAULT_NONE;
    s.fault_rate = 0.0;
    s.fault_delay_ms = 0;
    if (e.fault) {
      s.fault_kind =
          e.fault->kind == degrade::Fault::Kind::kError ? DEGRADE_FAULT_ERROR : DEGRADE_FAULT_DELAY;
      s.fault_rate = e.fault->rate;
      s.fault_delay_ms = e.fault->delay_ms;
    }
    s.layer = static_cast<int>(info->deciding_layer);
    s.fault_layer = info->fault_layer ? static_cast<int>(*info->fault_layer) : -1;
    *out = s;
    return absl::OkStatus();
  });
}

int degrade_switch_counters(const degrade_switch_t* sw, degrade_counters_t* out,
                            char** errptr) {
  return Guard(errptr, [&]() -> absl::Status {
    if (sw == nullptr) return Null("sw");
    if (out == nullptr) return Null("out");
    absl::StatusOr<degrade::SwitchInfo> info = InfoOf(AsSwitch(sw));
    if (!info.ok()) return info.status();
    const degrade::Counters& c = info->counters;
    out->calls = c.calls;
    out->primary_ok = c.primary_ok;
    out->skipped = c.skipped;
    out->primary_failures = c.primary_failures;
    out->injected_faults = c.injected_faults;
    out->fallbacks = c.fallbacks;
    return absl::OkStatus();
  });
}

// --------------------------------------------------------------------- call

uint8_t degrade_call(const degrade_switch_t* sw, degrade_primary_fn primary,
                     degrade_fallback_fn fallback, void* arg) {
  bool primary_ok = false;
  // A non-OK status with an empty message is stored inline: no allocation.
  (void)degrade::Call(
      *AsSwitch(sw),
      [&]() -> absl::Status {
        if (primary(arg) != 0) return absl::Status(absl::StatusCode::kUnknown, "");
        primary_ok = true;
        return absl::OkStatus();
      },
      [&]() -> absl::Status {
        fallback(arg);
        return absl::OkStatus();
      });
  return primary_ok ? 1 : 0;
}

// -------------------------------------------------------------- admin layer

int degrade_set_override(const char* name, uint8_t on, double allow, const char* reason,
                         const char* actor, double ttl_s, char** errptr) {
  return Guard(errptr, [&]() -> absl::Status {
    if (name == nullptr) return Null("name");
    absl::Duration ttl;
    if (absl::Status s = TtlFromSeconds(name, ttl_s, &ttl); !s.ok()) return s;
    SwitchValue value;
    value.state = on != 0 ? degrade::State::kOn : degrade::State::kOff;
    // allow 1 is plain on; anything else (NaN included) is checked by the
    // registry and named in its message.
    if (on != 0 && allow != 1.0) value.allow = allow;
    value.reason = std::string(OrEmpty(reason));
    value.actor = std::string(OrEmpty(actor));
    return Registry::Global().SetOverride(name, std::move(value), ttl);
  });
}

int degrade_set_fault(const char* name, const char* kind, double rate, uint32_t delay_ms,
                      const char* reason, const char* actor, double ttl_s, char** errptr) {
  return Guard(errptr, [&]() -> absl::Status {
    if (name == nullptr) return Null("name");
    absl::Duration ttl;
    if (absl::Status s = TtlFromSeconds(name, ttl_s, &ttl); !s.ok()) return s;
    Registry& registry = Registry::Global();
    if (registry.Find(name) == nullptr) {
      return absl::NotFoundError(absl::StrCat("switch \"", name, "\" is not defined"));
    }
    SwitchValue value;
    const degrade::Snapshot admin = registry.LayerSnapshot(degrade::Layer::kAdmin);
    if (auto it = admin.switches.find(name); it != admin.switches.end()) value = it->second;
    value.fault.reset();
    value.fault_cleared = false;
    const std::string_view k = OrEmpty(kind);
    if (kind == nullptr) {
      if (!value.SetsState()) return registry.ClearOverride(name);
    } else if (k == "off") {
      value.fault_cleared = true;
    } else if (k == "error" || k == "delay") {
      degrade::Fault fault;
      fault.kind = k == "error" ? degrade::Fault::Kind::kError : degrade::Fault::Kind::kDelay;
      fault.rate = rate;
      fault.delay_ms = delay_ms;
      value.fault = fault;
    } else {
      return absl::InvalidArgumentError(absl::StrCat("fault of \"", name, "\": kind \"", kind,
                                                     "\" is not valid; accepted: \"error\", "
                                                     "\"delay\", \"off\", or NULL for none"));
    }
    if (reason != nullptr) value.reason = reason;
    if (actor != nullptr) value.actor = actor;
    return registry.SetOverride(name, std::move(value), ttl);
  });
}

int degrade_clear_override(const char* name, char** errptr) {
  return Guard(errptr, [&]() -> absl::Status {
    if (name == nullptr) return Null("name");
    return Registry::Global().ClearOverride(name);
  });
}

// ---------------------------------------------------------------- snapshots

int degrade_apply_snapshot(const char* layer, const char* json, const char* source,
                           char** errptr) {
  return Guard(errptr, [&]() -> absl::Status {
    if (layer == nullptr) return Null("layer");
    if (json == nullptr) return Null("json");
    std::optional<degrade::Layer> parsed = degrade::ParseLayerName(layer);
    if (!parsed) {
      return absl::InvalidArgumentError(absl::StrCat(
          "layer \"", layer, "\" is not a layer; accepted: file, remote, breaker, admin"));
    }
    const std::string who = source != nullptr ? std::string(source) : std::string(layer);
    return Registry::Global().ApplySnapshotJson(*parsed, json, who);
  });
}

int degrade_snapshot_check(const char* json, const char* source, char** normalized_out,
                           char** errptr) {
  return Guard(errptr, [&]() -> absl::Status {
    if (json == nullptr) return Null("json");
    absl::StatusOr<degrade::Snapshot> snapshot = degrade::ParseSnapshot(
        json, source != nullptr ? source : "snapshot", Registry::Global().clock().Now());
    if (!snapshot.ok()) return snapshot.status();
    if (normalized_out != nullptr) {
      char* text = CopyString(degrade::SnapshotToJson(*snapshot));
      if (text == nullptr) throw std::bad_alloc();
      *normalized_out = text;
    }
    return absl::OkStatus();
  });
}

// ------------------------------------------------------------------ listing

char* degrade_list_json(void) {
  try {
    return CopyString(degrade::ListingToJson(Registry::Global()));
  } catch (...) {
    return nullptr;
  }
}

int degrade_get_json(const char* name, char** json_out, char** errptr) {
  return Guard(errptr, [&]() -> absl::Status {
    if (name == nullptr) return Null("name");
    if (json_out == nullptr) return Null("json_out");
    absl::StatusOr<degrade::SwitchInfo> info = Registry::Global().Get(name);
    if (!info.ok()) return info.status();
    char* text = CopyString(degrade::SwitchInfoToJson(*info));
    if (text == nullptr) throw std::bad_alloc();
    *json_out = text;
    return absl::OkStatus();
  });
}

// -------------------------------------------------------------- environment

int degrade_env_var_for_switch(const char* name, char** var_out, char** errptr) {
  return Guard(errptr, [&]() -> absl::Status {
    if (name == nullptr) return Null("name");
    if (var_out == nullptr) return Null("var_out");
    if (absl::Status s = degrade::ValidateName(name, "switch name"); !s.ok()) return s;
    char* text = CopyString(degrade::EnvVarForSwitch(name));
    if (text == nullptr) throw std::bad_alloc();
    *var_out = text;
    return absl::OkStatus();
  });
}

int degrade_env_var_for_group(const char* name, char** var_out, char** errptr) {
  return Guard(errptr, [&]() -> absl::Status {
    if (name == nullptr) return Null("name");
    if (var_out == nullptr) return Null("var_out");
    if (absl::Status s = degrade::ValidateName(name, "group name"); !s.ok()) return s;
    char* text = CopyString(degrade::EnvVarForGroup(name));
    if (text == nullptr) throw std::bad_alloc();
    *var_out = text;
    return absl::OkStatus();
  });
}

int degrade_parse_env_value(const char* var, const char* value, uint8_t* on, double* allow,
                            char** errptr) {
  return Guard(errptr, [&]() -> absl::Status {
    if (value == nullptr) return Null("value");
    if (on == nullptr) return Null("on");
    if (allow == nullptr) return Null("allow");
    absl::StatusOr<SwitchValue> parsed =
        degrade::ParseEnvValue(var != nullptr ? var : "value", value);
    if (!parsed.ok()) return parsed.status();
    const bool is_on = parsed->state.value_or(degrade::State::kOn) == degrade::State::kOn;
    *on = is_on ? 1 : 0;
    *allow = is_on ? parsed->allow.value_or(1.0) : 1.0;
    return absl::OkStatus();
  });
}

// ------------------------------------------------------------ change events

int degrade_add_listener(degrade_change_fn fn, void* arg, uint64_t* id_out, char** errptr) {
  return Guard(errptr, [&]() -> absl::Status {
    if (fn == nullptr) return Null("fn");
    if (id_out == nullptr) return Null("id_out");
    *id_out = Registry::Global().AddListener([fn, arg](const degrade::ChangeEvent& event) {
      const std::string json = degrade::ChangeEventToJson(event);
      fn(arg, json.c_str());
    });
    return absl::OkStatus();
  });
}

void degrade_remove_listener(uint64_t id) { Registry::Global().RemoveListener(id); }

// ------------------------------------------------------------------ runtime

int degrade_runtime_from_env(degrade_runtime_t** out, char** errptr) {
  return Guard(errptr, [&]() -> absl::Status {
    if (out == nullptr) return Null("out");
    absl::StatusOr<std::unique_ptr<degrade::Runtime>> runtime = degrade::Runtime::FromEnv();
    if (!runtime.ok()) return runtime.status();
    *out = new degrade_runtime_t{*std::move(runtime)};
    return absl::OkStatus();
  });
}

int degrade_runtime_admin_port(const degrade_runtime_t* rt) {
  return rt == nullptr ? 0 : rt->rep->admin_port();
}

void degrade_runtime_destroy(degrade_runtime_t* rt) { delete rt; }

}  // extern "C"
