// Readers for the etcd v3 gateway's JSON. See etcd_json.h.
#include "etcd/etcd_json.h"

#include <limits>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "core/str_util.h"

namespace degrade::internal {
namespace {

constexpr size_t kShowLimit = 64;

std::string Path(std::string_view path, const char* field) {
  return path.empty() ? std::string(field) : absl::StrCat(ToAbsl(path), ".", field);
}

}  // namespace

std::string EtcdShowValue(const nlohmann::json& value) {
  std::string text = value.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  if (text.size() > kShowLimit) {
    // Cut on a UTF-8 boundary so the message stays valid UTF-8.
    size_t cut = kShowLimit;
    while (cut > 0 && (static_cast<unsigned char>(text[cut]) & 0xC0) == 0x80) --cut;
    text.resize(cut);
    text += "...";
  }
  return text;
}

absl::StatusOr<int64_t> EtcdInt64(const nlohmann::json& value, std::string_view path) {
  if (value.is_number_unsigned()) {
    const uint64_t u = value.get<uint64_t>();
    if (u <= static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
      return static_cast<int64_t>(u);
    }
  } else if (value.is_number_integer()) {
    const int64_t i = value.get<int64_t>();
    if (i >= 0) return i;
  } else if (value.is_string()) {
    const std::string& s = value.get_ref<const std::string&>();
    int64_t i = 0;
    // SimpleAtoi allows surrounding spaces and a sign; etcd writes neither.
    if (!s.empty() && absl::ascii_isdigit(static_cast<unsigned char>(s[0])) &&
        absl::ascii_isdigit(static_cast<unsigned char>(s.back())) && absl::SimpleAtoi(s, &i) &&
        i >= 0) {
      return i;
    }
  }
  return absl::InvalidArgumentError(
      absl::StrCat(ToAbsl(path), ": ", EtcdShowValue(value),
                   " is not a revision; accepted: a non-negative 64-bit integer, as a string "
                   "(\"42\") or a number"));
}

absl::StatusOr<int64_t> EtcdInt64Field(const nlohmann::json& obj, const char* field,
                                       std::string_view path) {
  auto it = obj.find(field);
  if (it == obj.end()) return 0;
  return EtcdInt64(*it, Path(path, field));
}

absl::StatusOr<bool> EtcdBoolField(const nlohmann::json& obj, const char* field,
                                   std::string_view path) {
  auto it = obj.find(field);
  if (it == obj.end()) return false;
  if (!it->is_boolean()) {
    return absl::InvalidArgumentError(absl::StrCat(Path(path, field), ": ", EtcdShowValue(*it),
                                                   " is not a boolean; accepted: true, false"));
  }
  return it->get<bool>();
}

absl::StatusOr<std::string> EtcdStringField(const nlohmann::json& obj, const char* field,
                                            std::string_view path) {
  auto it = obj.find(field);
  if (it == obj.end()) return std::string();
  if (!it->is_string()) {
    return absl::InvalidArgumentError(absl::StrCat(Path(path, field), ": ", EtcdShowValue(*it),
                                                   " is not a string; accepted: a string"));
  }
  return it->get<std::string>();
}

absl::StatusOr<std::string> EtcdBytesField(const nlohmann::json& obj, const char* field,
                                           std::string_view path) {
  auto it = obj.find(field);
  if (it == obj.end()) return std::string();
  std::string out;
  if (!it->is_string() || !absl::Base64Unescape(it->get_ref<const std::string&>(), &out)) {
    return absl::InvalidArgumentError(absl::StrCat(
        Path(path, field), ": ", EtcdShowValue(*it), " is not base64; accepted: a base64 string"));
  }
  return out;
}

std::string EtcdBase64(std::string_view bytes) {
  std::string out;
  absl::Base64Escape(ToAbsl(bytes), &out);
  return out;
}

std::optional<absl::Status> EtcdErrorStatus(const nlohmann::json& body) {
  if (!body.is_object()) return std::nullopt;
  auto it = body.find("error");
  if (it == body.end()) return std::nullopt;
  const nlohmann::json* detail = &body;
  const char* code_field = "code";
  std::string message;
  if (it->is_object()) {  // {"error": {"grpc_code": N, "message": "..."}}
    detail = &*it;
    code_field = "grpc_code";
  } else if (it->is_string()) {
    message = it->get<std::string>();
  }
  if (auto m = detail->find("message"); m != detail->end() && m->is_string() &&
                                        !m->get_ref<const std::string&>().empty()) {
    message = m->get<std::string>();
  }
  if (message.empty()) message = EtcdShowValue(*it);
  absl::StatusCode code = absl::StatusCode::kUnknown;
  if (auto c = detail->find(code_field); c != detail->end() && c->is_number_integer()) {
    const int64_t n = c->get<int64_t>();
    if (n > 0 && n <= static_cast<int64_t>(absl::StatusCode::kUnauthenticated)) {
      code = static_cast<absl::StatusCode>(n);
    }
  }
  return absl::Status(code, absl::StrCat("etcd: ", message));
}

std::string EtcdPrefixEnd(std::string_view prefix) {
  std::string end(prefix);
  while (!end.empty()) {
    unsigned char& last = reinterpret_cast<unsigned char&>(end.back());
    if (last < 0xff) {
      ++last;
      return end;
    }
    end.pop_back();
  }
  return std::string(1, '\0');
}

}  // namespace degrade::internal
