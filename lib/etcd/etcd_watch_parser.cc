// The etcd watch stream parser. See etcd_watch_parser.h.
//
// Why the framing counts braces instead of splitting on "\n": the gateway
// ends each response with a newline, but not an error written as the stream
// closes. Counting braces and brackets outside strings finds the end of every
// object either way, bounds the nesting before nlohmann sees it, and lets a
// message longer than the limit be refused before it is all buffered.
#include "etcd/etcd_watch_parser.h"

#include <utility>

#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "etcd/etcd_json.h"
#include "core/json_strict.h"
#include "core/str_util.h"

namespace degrade::internal {
namespace {

constexpr int kMaxDepth = 64;
constexpr absl::string_view kWhat = "etcd watch stream";

absl::Status Invalid(absl::string_view detail) {
  return absl::InvalidArgumentError(absl::StrCat(kWhat, ": ", detail));
}

// Prefixes a reader's message (which names the path) with the stream.
absl::Status InStream(const absl::Status& s) {
  return absl::Status(s.code(), absl::StrCat(kWhat, ": ", s.message()));
}

absl::StatusOr<EtcdEvent> ParseEvent(const nlohmann::json& j, const std::string& path) {
  if (!j.is_object()) {
    return Invalid(absl::StrCat(path, ": ", EtcdShowValue(j), " is not an object; accepted: ",
                                "an event {\"type\": ..., \"kv\": {...}}"));
  }
  EtcdEvent event;
  if (auto t = j.find("type"); t != j.end()) {
    // The gateway writes enum names; a gateway set to emit enum numbers
    // writes 0 (PUT) and 1 (DELETE).
    if (*t == "PUT" || *t == 0) {
      event.type = EtcdEvent::Type::kPut;
    } else if (*t == "DELETE" || *t == 1) {
      event.type = EtcdEvent::Type::kDelete;
    } else {
      return Invalid(absl::StrCat(path, ".type: ", EtcdShowValue(*t),
                                  " is not an event type; accepted: \"PUT\" (or absent), "
                                  "\"DELETE\""));
    }
  }
  auto kv = j.find("kv");
  if (kv == j.end() || !kv->is_object()) {
    return Invalid(absl::StrCat(path, ".kv: ",
                                kv == j.end() ? std::string("missing") : EtcdShowValue(*kv),
                                "; accepted: an object with key, value, mod_revision"));
  }
  const std::string kv_path = absl::StrCat(path, ".kv");
  if (!kv->contains("key")) {
    return Invalid(absl::StrCat(kv_path, ".key: missing; accepted: a base64 string"));
  }
  auto key = EtcdBytesField(*kv, "key", kv_path);
  if (!key.ok()) return InStream(key.status());
  auto value = EtcdBytesField(*kv, "value", kv_path);
  if (!value.ok()) return InStream(value.status());
  auto mod = EtcdInt64Field(*kv, "mod_revision", kv_path);
  if (!mod.ok()) return InStream(mod.status());
  event.kv.key = *std::move(key);
  event.kv.value = *std::move(value);
  event.kv.mod_revision = *mod;
  return event;
}

absl::StatusOr<EtcdWatchMessage> ParseMessage(const nlohmann::json& j) {
  if (std::optional<absl::Status> error = EtcdErrorStatus(j)) {
    return absl::Status(error->code(), absl::StrCat(kWhat, ": ", error->message()));
  }
  auto result = j.find("result");
  if (result == j.end() || !result->is_object()) {
    return Invalid(absl::StrCat("message ", EtcdShowValue(j),
                                " has no \"result\" object; accepted: {\"result\": {...}} or ",
                                "{\"error\": ...}"));
  }
  const nlohmann::json& r = *result;
  EtcdWatchMessage m;
  if (auto h = r.find("header"); h != r.end()) {
    if (!h->is_object()) {
      return Invalid(absl::StrCat("result.header: ", EtcdShowValue(*h),
                                  " is not an object; accepted: an object"));
    }
    auto rev = EtcdInt64Field(*h, "revision", "result.header");
    if (!rev.ok()) return InStream(rev.status());
    m.header_revision = *rev;
  }
  auto created = EtcdBoolField(r, "created", "result");
  if (!created.ok()) return InStream(created.status());
  auto canceled = EtcdBoolField(r, "canceled", "result");
  if (!canceled.ok()) return InStream(canceled.status());
  auto compact = EtcdInt64Field(r, "compact_revision", "result");
  if (!compact.ok()) return InStream(compact.status());
  auto reason = EtcdStringField(r, "cancel_reason", "result");
  if (!reason.ok()) return InStream(reason.status());
  // etcd sends watch_id -1 with some cancels (no watcher was created):
  // only a well-formed non-negative id is kept.
  if (auto id = r.find("watch_id"); id != r.end()) {
    absl::StatusOr<int64_t> n = EtcdInt64(*id, "result.watch_id");
    if (n.ok()) m.watch_id = *n;
  }
  m.created = *created;
  m.canceled = *canceled;
  m.compact_revision = *compact;
  m.cancel_reason = *std::move(reason);
  if (auto events = r.find("events"); events != r.end()) {
    if (!events->is_array()) {
      return Invalid(absl::StrCat("result.events: ", EtcdShowValue(*events),
                                  " is not an array; accepted: an array of events"));
    }
    m.events.reserve(events->size());
    for (size_t i = 0; i < events->size(); ++i) {
      auto event = ParseEvent((*events)[i], absl::StrCat("result.events[", i, "]"));
      if (!event.ok()) return event.status();
      m.events.push_back(*std::move(event));
    }
  }
  return m;
}

bool IsSpace(char c) { return c == ' ' || c == '\n' || c == '\r' || c == '\t'; }

}  // namespace

EtcdWatchParser::EtcdWatchParser(size_t max_message_bytes)
    : max_message_bytes_(max_message_bytes) {}

absl::Status EtcdWatchParser::Feed(std::string_view bytes,
                                   const std::function<void(EtcdWatchMessage&&)>& on_message) {
  if (!error_.ok()) return error_;
  size_t i = 0;
  while (i < bytes.size()) {
    if (depth_ == 0) {  // between messages
      const char c = bytes[i];
      if (IsSpace(c)) {
        ++i;
        continue;
      }
      if (c != '{') {
        error_ = Invalid(absl::StrFormat(
            "byte 0x%02x ('%s') between messages; accepted: whitespace, then a JSON object",
            static_cast<unsigned char>(c),
            c >= 0x20 && c < 0x7f ? std::string(1, c) : std::string("?")));
        return error_;
      }
      message_.clear();
    }
    // Scan to the end of the message or of the input, then copy the span.
    // Both limits are checked byte by byte, so the error a stream gets does
    // not depend on where it was split (found by fuzz/etcd_watch_fuzz: a
    // message both too long and too deep got either error).
    const size_t start = i;
    bool complete = false;
    for (; i < bytes.size(); ++i) {
      if (message_.size() + (i - start) >= max_message_bytes_) {
        error_ = absl::ResourceExhaustedError(
            absl::StrCat(kWhat, ": message longer than the limit of ", max_message_bytes_,
                         " bytes; accepted: messages up to that size"));
        return error_;
      }
      const char c = bytes[i];
      if (in_string_) {
        if (escaped_) {
          escaped_ = false;
        } else if (c == '\\') {
          escaped_ = true;
        } else if (c == '"') {
          in_string_ = false;
        }
        continue;
      }
      if (c == '"') {
        in_string_ = true;
      } else if (c == '{' || c == '[') {
        if (++depth_ > kMaxDepth) {
          error_ = Invalid(absl::StrCat("message nested deeper than ", kMaxDepth,
                                        " levels; accepted: etcd watch responses"));
          return error_;
        }
      } else if (c == '}' || c == ']') {
        if (--depth_ == 0) {
          ++i;
          complete = true;
          break;
        }
      }
    }
    message_.append(bytes.data() + start, i - start);
    if (complete) {
      if (absl::Status s = Deliver(on_message); !s.ok()) {
        error_ = s;
        return error_;
      }
    }
  }
  return absl::OkStatus();
}

absl::Status EtcdWatchParser::Deliver(const std::function<void(EtcdWatchMessage&&)>& on_message) {
  JsonProblem problem = JsonProblem::kSyntax;
  absl::StatusOr<nlohmann::json> j = ParseJsonStrict(message_, "", &problem);
  if (!j.ok()) {
    // A duplicate key is named by its path ("result.events[0].kv: ...").
    if (problem != JsonProblem::kSyntax) return Invalid(j.status().message());
    nlohmann::json shown = message_;  // as a JSON string, cut, valid UTF-8
    return Invalid(absl::StrCat("message is not valid JSON: ", EtcdShowValue(shown)));
  }
  message_.clear();
  absl::StatusOr<EtcdWatchMessage> m = ParseMessage(*j);
  if (!m.ok()) return m.status();
  on_message(*std::move(m));
  return absl::OkStatus();
}

}  // namespace degrade::internal
