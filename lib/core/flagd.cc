// flagd flag-definition files as snapshots (flagd.h).
//
// The reference for every field is flagd's JSON schema (flags.json and
// targeting.json of open-feature/flagd-schemas). Only what degrade can act
// on exactly is accepted for a switch: a fixed variant, or a fractional
// split whose share of true becomes allow. Anything else (rules on context
// attributes, bucketing by another attribute, computed weights) would be
// evaluated differently by degrade than by a flagd provider, so it is
// refused rather than approximated.
#include "core/flagd.h"

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/json_strict.h"
#include "core/snapshot_rules.h"
#include "nlohmann/json.hpp"

namespace degrade::internal {
namespace {

using snapshot::Cat;
using snapshot::Child;
using snapshot::Json;
using snapshot::Render;
using snapshot::RenderString;

// flagd's limit on the sum of a fractional split's weights.
constexpr uint64_t kMaxTotalWeight = 2'147'483'647;
// Flags named in the warning about flags left out.
constexpr size_t kMaxNamedIgnored = 10;

constexpr std::string_view kAcceptedTargeting =
    R"(no targeting, {}, or a fractional split between boolean variants: {"fractional": [["on", 25], ["off", 75]]}, optionally bucketed by {"var": "targetingKey"} and optionally through {"$ref": EVALUATOR})";
constexpr std::string_view kAcceptedBucketing =
    R"(no bucketing expression (flagd's default: the flag key and targetingKey), {"var": "targetingKey"}, or {"cat": [{"var": "$flagd.flagKey"}, {"var": "targetingKey"}]})";
constexpr std::string_view kAcceptedWeightArg =
    R"(["VARIANT"] or ["VARIANT", WEIGHT] with WEIGHT an integer >= 0)";

struct Context {
  std::string_view source;
  std::vector<std::string> warnings;

  absl::Status Error(std::string_view path, std::string_view message) const {
    std::string out;
    if (!source.empty()) out = Cat(source, ": ");
    if (!path.empty()) out += Cat(path, ": ");
    return absl::InvalidArgumentError(Cat(out, message));
  }
  absl::Status BadValue(std::string_view path, const Json& value, std::string_view problem,
                        std::string_view accepted) const {
    return Error(path, Cat(Render(value), " ", problem, "; accepted: ", accepted));
  }
  void WarnUnknown(std::string_view path) {
    std::string out;
    if (!source.empty()) out = Cat(source, ": ");
    warnings.push_back(Cat(out, path, ": unknown field, ignored"));
  }
};

// One flag, checked against the schema; `value` is what it means for a
// switch, when it can mean something.
struct Flag {
  bool enabled = true;
  const Json::object_t* variants = nullptr;
  std::optional<std::string> default_variant;
  const Json* targeting = nullptr;  // after $ref; null: none
  std::string targeting_path;
};

bool IsEmptyObject(const Json& value) {
  const auto* object = value.get_ptr<const Json::object_t*>();
  return object != nullptr && object->empty();
}

std::optional<uint64_t> AsWeight(const Json& value) {
  if (const auto* v = value.get_ptr<const Json::number_unsigned_t*>()) return *v;
  if (const auto* v = value.get_ptr<const Json::number_integer_t*>()) {
    if (*v >= 0) return static_cast<uint64_t>(*v);
  }
  return std::nullopt;
}

bool IsVar(const Json& value, std::string_view name) {
  const auto* object = value.get_ptr<const Json::object_t*>();
  if (object == nullptr || object->size() != 1) return false;
  auto it = object->find("var");
  if (it == object->end()) return false;
  const auto* text = it->second.get_ptr<const std::string*>();
  return text != nullptr && *text == name;
}

// flagd's bucketing value: absent (its default), the targeting key, or the
// default written out. degrade buckets each switch by the targeting key
// alone (StickyPoint(switch, key)), which has the same shares.
bool AcceptedBucketing(const Json& value) {
  if (IsVar(value, "targetingKey")) return true;
  const auto* object = value.get_ptr<const Json::object_t*>();
  if (object == nullptr || object->size() != 1) return false;
  auto it = object->find("cat");
  if (it == object->end()) return false;
  const auto* parts = it->second.get_ptr<const Json::array_t*>();
  return parts != nullptr && parts->size() == 2 && IsVar((*parts)[0], "$flagd.flagKey") &&
         IsVar((*parts)[1], "targetingKey");
}

// Structure of one flag, whatever it names (flags.json's baseFlag).
absl::StatusOr<Flag> ParseFlag(Context& context, const std::string& path, const Json& value,
                               const Json::object_t* evaluators) {
  const auto* object = value.get_ptr<const Json::object_t*>();
  if (object == nullptr) {
    return context.BadValue(path, value, "is not a flag",
                            "an object with state, variants, defaultVariant, targeting, metadata");
  }
  Flag flag;
  bool has_state = false;
  for (const auto& [key, field] : *object) {
    const std::string field_path = Child(path, key);
    if (key == "state") {
      const auto* state = field.get_ptr<const std::string*>();
      if (state == nullptr || (*state != "ENABLED" && *state != "DISABLED")) {
        return context.BadValue(field_path, field, "is not a flag state",
                                R"("ENABLED" or "DISABLED")");
      }
      flag.enabled = *state == "ENABLED";
      has_state = true;
    } else if (key == "variants") {
      flag.variants = field.get_ptr<const Json::object_t*>();
      if (flag.variants == nullptr || flag.variants->empty()) {
        return context.BadValue(field_path, field, "is not a set of variants",
                                R"(an object with at least one variant, {"on": true, "off": false})");
      }
    } else if (key == "defaultVariant") {
      if (field.is_null()) continue;
      const auto* name = field.get_ptr<const std::string*>();
      if (name == nullptr) {
        return context.BadValue(field_path, field, "is not a variant name",
                                "the name of one of the flag's variants, or null");
      }
      flag.default_variant = *name;
    } else if (key == "targeting") {
      flag.targeting = &field;
      flag.targeting_path = field_path;
    } else if (key == "metadata") {
      if (!field.is_object()) {
        return context.BadValue(field_path, field, "is not an object",
                                "an object of booleans, strings and numbers");
      }
    } else {
      context.WarnUnknown(field_path);
    }
  }
  if (!has_state) {
    return context.Error(path, R"(has no state; accepted: "state": "ENABLED" or "DISABLED")");
  }
  if (flag.variants == nullptr) {
    return context.Error(path, R"(has no variants; accepted: "variants": {"on": true, "off": false})");
  }
  if (flag.default_variant && !flag.variants->contains(*flag.default_variant)) {
    return context.Error(Child(path, "defaultVariant"),
                         Cat(RenderString(*flag.default_variant),
                             " names no variant of the flag; accepted: one of its variants, or "
                             "null"));
  }
  // {"$ref": NAME} stands for the evaluator NAME (flagd substitutes it).
  if (flag.targeting != nullptr) {
    const auto* target = flag.targeting->get_ptr<const Json::object_t*>();
    if (target != nullptr && target->size() == 1 && target->contains("$ref")) {
      const Json& ref = target->at("$ref");
      const auto* name = ref.get_ptr<const std::string*>();
      if (name == nullptr || evaluators == nullptr || !evaluators->contains(*name)) {
        return context.BadValue(Child(flag.targeting_path, "$ref"), ref,
                                "names no evaluator of the document",
                                "the name of an entry of the top-level \"$evaluators\"");
      }
      flag.targeting = &evaluators->at(*name);
      flag.targeting_path = Child("$evaluators", *name);
    } else if (flag.targeting->is_null() || IsEmptyObject(*flag.targeting)) {
      flag.targeting = nullptr;
    } else if (target == nullptr) {
      return context.BadValue(flag.targeting_path, *flag.targeting, "is not a targeting rule",
                              "a JSONLogic rule (an object), or {}");
    }
  }
  return flag;
}

// The share of true of a fractional split, or an error saying why the
// targeting is not one degrade can follow.
absl::StatusOr<double> FractionalShare(const Context& context, const std::string& flag_path,
                                       const Flag& flag) {
  const Json& targeting = *flag.targeting;
  const auto* object = targeting.get_ptr<const Json::object_t*>();
  if (object == nullptr || object->size() != 1 || !object->contains("fractional")) {
    return context.BadValue(flag.targeting_path, targeting,
                            Cat("is targeting that degrade cannot follow for switch flag ",
                                flag_path),
                            kAcceptedTargeting);
  }
  const std::string path = Child(flag.targeting_path, "fractional");
  const auto* args = object->at("fractional").get_ptr<const Json::array_t*>();
  if (args == nullptr || args->empty()) {
    return context.BadValue(path, object->at("fractional"), "is not a fractional split",
                            kAcceptedTargeting);
  }
  size_t first = 0;
  if (!(*args)[0].is_array()) {
    if (!AcceptedBucketing((*args)[0])) {
      return context.BadValue(Cat(path, "[0]"), (*args)[0],
                              "buckets by something other than the targeting key, which degrade "
                              "does not do",
                              kAcceptedBucketing);
    }
    first = 1;
  }
  if (args->size() == first) {
    return context.Error(path, Cat("has no variants to split between; accepted: ",
                                   kAcceptedTargeting));
  }
  uint64_t total = 0;
  uint64_t on = 0;
  for (size_t i = first; i < args->size(); ++i) {
    const std::string arg_path = Cat(path, "[", std::to_string(i), "]");
    const auto* arg = (*args)[i].get_ptr<const Json::array_t*>();
    if (arg == nullptr || arg->empty() || arg->size() > 2) {
      return context.BadValue(arg_path, (*args)[i], "is not a variant and its weight",
                              kAcceptedWeightArg);
    }
    const auto* variant = (*arg)[0].get_ptr<const std::string*>();
    if (variant == nullptr) {
      return context.BadValue(Cat(arg_path, "[0]"), (*arg)[0],
                              "is not a variant name (degrade does not compute variants)",
                              "the name of one of the flag's variants, as a string");
    }
    auto it = flag.variants->find(*variant);
    if (it == flag.variants->end()) {
      return context.BadValue(Cat(arg_path, "[0]"), (*arg)[0], "names no variant of the flag",
                              "the name of one of the flag's variants");
    }
    uint64_t weight = 1;  // flagd's default weight
    if (arg->size() == 2) {
      const std::optional<uint64_t> w = AsWeight((*arg)[1]);
      if (!w) {
        return context.BadValue(Cat(arg_path, "[1]"), (*arg)[1],
                                "is not a weight (degrade does not compute weights)",
                                "an integer >= 0");
      }
      weight = *w;
    }
    total += weight;
    if (total > kMaxTotalWeight) {
      return context.Error(path, "weights sum to more than 2147483647; accepted: at most that");
    }
    if (it->second.get<bool>()) on += weight;
  }
  if (total == 0) {
    return context.Error(path, "weights sum to 0; accepted: weights with a positive sum");
  }
  return static_cast<double>(on) / static_cast<double>(total);
}

// What the flag says about switch `name`: nullopt when it says nothing.
absl::StatusOr<std::optional<SwitchValue>> SwitchValueOf(const Context& context,
                                                         const std::string& path,
                                                         const Flag& flag) {
  for (const auto& [variant, v] : *flag.variants) {
    if (!v.is_boolean()) {
      return context.BadValue(Child(Child(path, "variants"), variant), v,
                              "is not a boolean, so the flag cannot set a switch",
                              R"(boolean variants, {"on": true, "off": false})");
    }
  }
  if (flag.targeting != nullptr) {
    absl::StatusOr<double> share = FractionalShare(context, path, flag);
    if (!share.ok()) return share.status();
    if (!flag.enabled) return std::nullopt;
    SwitchValue value;
    value.allow = *share;
    value.reason = Cat("flagd: fractional split, ", snapshot::FormatNumber(*share * 100),
                       "% true");
    return value;
  }
  if (!flag.enabled || !flag.default_variant) return std::nullopt;
  SwitchValue value;
  const bool on = flag.variants->at(*flag.default_variant).get<bool>();
  value.state = on ? State::kOn : State::kOff;
  value.reason = Cat("flagd: defaultVariant ", RenderString(*flag.default_variant));
  return value;
}

absl::StatusOr<Snapshot> ParseFlagdJson(Context& context, const Json& root,
                                        const IsSwitchFn& is_switch) {
  const auto* top = root.get_ptr<const Json::object_t*>();
  if (top == nullptr) {
    return context.BadValue("", root, "is not a flagd document",
                            R"(an object with "flags": {KEY: FLAG, ...})");
  }
  const Json::object_t* flags = nullptr;
  const Json::object_t* evaluators = nullptr;
  for (const auto& [key, field] : *top) {
    if (key == "flags") {
      flags = field.get_ptr<const Json::object_t*>();
      if (flags == nullptr) {
        return context.BadValue("flags", field, "is not an object of flags",
                                "an object keyed by flag key (flagd's provider form; the array "
                                "form of the flagd daemon is not read)");
      }
    } else if (key == "$evaluators") {
      evaluators = field.get_ptr<const Json::object_t*>();
      if (evaluators == nullptr) {
        return context.BadValue(snapshot::PathKey(key), field, "is not an object",
                                "an object of named targeting rules");
      }
    } else if (key == "metadata") {
      if (!field.is_object()) {
        return context.BadValue("metadata", field, "is not an object",
                                "an object of booleans, strings and numbers");
      }
    } else if (key != "$schema") {
      context.WarnUnknown(snapshot::PathKey(key));
    }
  }
  if (flags == nullptr) {
    return context.Error("", R"(has no "flags"; accepted: a flagd document, {"flags": {KEY: FLAG, ...}})");
  }
  if (flags->size() > kMaxSnapshotEntries) {
    return context.Error("flags", Cat("has ", std::to_string(flags->size()),
                                      " flags; accepted: at most ",
                                      std::to_string(kMaxSnapshotEntries)));
  }
  Snapshot out;
  std::vector<std::string> ignored;
  for (const auto& [key, field] : *flags) {
    const std::string path = Child("flags", key);
    absl::StatusOr<Flag> flag = ParseFlag(context, path, field, evaluators);
    if (!flag.ok()) return flag.status();
    const bool valid_name = !snapshot::NameProblem(key).has_value();
    const bool names_switch = valid_name && (!is_switch || is_switch(key));
    absl::StatusOr<std::optional<SwitchValue>> value = SwitchValueOf(context, path, *flag);
    if (!value.ok()) {
      if (names_switch) return value.status();
      ignored.push_back(key);
      continue;
    }
    if (!valid_name) {
      ignored.push_back(key);
      continue;
    }
    if (value->has_value()) out.switches.emplace(key, **std::move(value));
  }
  if (!ignored.empty()) {
    std::string names;
    for (size_t i = 0; i < ignored.size() && i < kMaxNamedIgnored; ++i) {
      if (i > 0) names += ", ";
      names += RenderString(ignored[i]);
    }
    if (ignored.size() > kMaxNamedIgnored) {
      names += Cat(" and ", std::to_string(ignored.size() - kMaxNamedIgnored), " more");
    }
    std::string prefix;
    if (!context.source.empty()) prefix = Cat(context.source, ": ");
    context.warnings.push_back(
        Cat(prefix, std::to_string(ignored.size()),
            ignored.size() == 1 ? " flag names" : " flags name",
            " no switch and cannot set one (not a switch name, not boolean, or targeting "
            "other than a fractional split), left out: ",
            names));
  }
  return out;
}

}  // namespace

std::string_view SnapshotFormatName(SnapshotFormat format) {
  switch (format) {
    case SnapshotFormat::kAuto:
      return "auto";
    case SnapshotFormat::kDegrade:
      return "degrade";
    case SnapshotFormat::kFlagd:
      return "flagd";
  }
  return "auto";
}

absl::StatusOr<SnapshotFormat> ParseSnapshotFormat(std::string_view value,
                                                   std::string_view setting) {
  if (value == "auto") return SnapshotFormat::kAuto;
  if (value == "degrade") return SnapshotFormat::kDegrade;
  if (value == "flagd") return SnapshotFormat::kFlagd;
  return absl::InvalidArgumentError(
      Cat(setting, ": ", RenderString(value),
          R"( is not a snapshot format; accepted: "auto" (the default: flagd when the document is unambiguously a flagd flag file), "degrade", "flagd")"));
}

bool LooksLikeFlagd(std::string_view json) {
  if (json.find("\"flags\"") == std::string_view::npos) return false;
  absl::StatusOr<Json> root = ParseJsonStrict(json);
  if (!root.ok()) return false;
  const auto* top = root->get_ptr<const Json::object_t*>();
  if (top == nullptr) return false;
  auto flags = top->find("flags");
  return flags != top->end() && flags->second.is_object() && !top->contains("switches") &&
         !top->contains("groups") && !top->contains("all");
}

absl::StatusOr<Snapshot> ParseFlagdSnapshot(std::string_view json, std::string_view source,
                                            const IsSwitchFn& is_switch,
                                            std::vector<std::string>* warnings) {
  Context context{source, {}};
  absl::StatusOr<Json> root = ParseJsonStrict(json);
  if (!root.ok()) {
    const absl::string_view message = root.status().message();
    return context.Error("", std::string_view(message.data(), message.size()));
  }
  absl::StatusOr<Snapshot> out = ParseFlagdJson(context, *root, is_switch);
  if (out.ok() && warnings != nullptr) {
    for (std::string& w : context.warnings) warnings->push_back(std::move(w));
  }
  return out;
}

absl::StatusOr<Snapshot> ParseSnapshotAs(SnapshotFormat format, std::string_view json,
                                         std::string_view source, absl::Time now,
                                         const IsSwitchFn& is_switch,
                                         std::vector<std::string>* warnings) {
  if (format == SnapshotFormat::kFlagd ||
      (format == SnapshotFormat::kAuto && LooksLikeFlagd(json))) {
    return ParseFlagdSnapshot(json, source, is_switch, warnings);
  }
  return ParseSnapshot(json, source, now, warnings);
}

}  // namespace degrade::internal
