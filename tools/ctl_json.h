// Typed, non-throwing access to the fields of the JSON a service answers
// with: the JSON is the service's, not ours, so a missing or mistyped field
// reads as empty, never as an exception.
#ifndef DEGRADE_TOOLS_CTL_JSON_H_
#define DEGRADE_TOOLS_CTL_JSON_H_

#include <optional>
#include <string>

#include "nlohmann/json.hpp"

namespace degrade::ctl {

// j[key], or null when j is not an object or has no such key.
inline const nlohmann::json* Field(const nlohmann::json& j, const char* key) {
  if (!j.is_object()) return nullptr;
  auto it = j.find(key);
  return it == j.end() ? nullptr : &*it;
}
// j[key] when it is a string, else "".
inline std::string Str(const nlohmann::json& j, const char* key) {
  const nlohmann::json* f = Field(j, key);
  return f != nullptr && f->is_string() ? f->get<std::string>() : std::string();
}
// j[key] when it is a number.
inline std::optional<double> Num(const nlohmann::json& j, const char* key) {
  const nlohmann::json* f = Field(j, key);
  if (f == nullptr || !f->is_number()) return std::nullopt;
  return f->get<double>();
}

}  // namespace degrade::ctl

#endif  // DEGRADE_TOOLS_CTL_JSON_H_
