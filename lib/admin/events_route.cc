// GET /degrade/v1/events (events_route.h).
#include "admin/events_route.h"

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "admin/admin_config.h"

namespace degrade::internal {
namespace {

constexpr char kUsage[] = "GET /degrade/v1/events?after=SEQ&wait_ms=N";

// A whole number without sign; nullopt otherwise.
std::optional<uint64_t> Whole(const std::string& text) {
  if (text.empty() || text.size() > 19) return std::nullopt;
  for (char c : text) {
    if (c < '0' || c > '9') return std::nullopt;
  }
  uint64_t v = 0;
  if (!absl::SimpleAtoi(text, &v)) return std::nullopt;
  return v;
}

// Text from the request, quoted and cut for a message.
std::string Quoted(std::string_view s) { return absl::StrCat("\"", ClipForMessage(s), "\""); }

}  // namespace

EventRing::EventRing(Registry& registry)
    : registry_(registry), s_(std::make_shared<Shared>()) {
  listener_ = registry_.AddListener(
      [shared = s_](const ChangeEvent& e) { shared->Push(e); });
}

EventRing::~EventRing() {
  registry_.RemoveListener(listener_);
  Close();
}

void EventRing::Close() {
  {
    std::lock_guard<std::mutex> lock(s_->mu);
    s_->closed = true;
  }
  s_->cv.notify_all();
}

// On the registry's delivery thread: the copy is made outside mu.
void EventRing::Shared::Push(const ChangeEvent& event) {
  ChangeEvent copy = event;
  {
    std::lock_guard<std::mutex> lock(mu);
    ring.emplace_back(++last_seq, std::move(copy));
    if (ring.size() > kCapacity) ring.pop_front();
  }
  cv.notify_all();
}

absl::StatusOr<nlohmann::json> EventRing::Serve(const httplib::Request& req) {
  auto bad = [](const std::string& message) { return absl::InvalidArgumentError(message); };
  std::optional<uint64_t> after;
  int64_t wait_ms = 0;
  for (const auto& [key, value] : req.params) {
    if (req.params.count(key) > 1) {
      return bad(absl::StrCat("parameter ", Quoted(key),
                              " is given more than once; accepted: each of after, wait_ms "
                              "at most once (",
                              kUsage, ")"));
    }
    if (key == "after") {
      after = Whole(value);
      if (!after) {
        return bad(absl::StrCat("after: ", Quoted(value),
                                " is not a sequence number; accepted: a whole number from 0 (the "
                                "\"next\" of the previous answer)"));
      }
    } else if (key == "wait_ms") {
      std::optional<uint64_t> w = Whole(value);
      if (!w || *w > static_cast<uint64_t>(kMaxWaitMs)) {
        return bad(absl::StrCat("wait_ms: ", Quoted(value),
                                " is not accepted; accepted: a whole number of milliseconds "
                                "from 0 to ",
                                kMaxWaitMs));
      }
      wait_ms = static_cast<int64_t>(*w);
    } else {
      return bad(absl::StrCat("unknown parameter ", Quoted(key),
                              "; accepted: after, wait_ms (", kUsage, ")"));
    }
  }
  Shared& s = *s_;
  std::unique_lock<std::mutex> lock(s.mu);
  const uint64_t from = after.value_or(s.last_seq);
  if (from > s.last_seq) {
    return bad(absl::StrCat("after: ", from, " is beyond the latest event (", s.last_seq,
                            "); accepted: a whole number from 0 to ", s.last_seq,
                            " (the server may have restarted: start again without after)"));
  }
  if (wait_ms > 0 && s.last_seq == from && !s.closed && s.waiters < kMaxWaiters) {
    ++s.waiters;
    s.cv.wait_for(lock, std::chrono::milliseconds(wait_ms),
                  [&] { return s.closed || s.last_seq > from; });
    --s.waiters;
  }
  nlohmann::json events = nlohmann::json::array();
  uint64_t missed = 0;
  if (!s.ring.empty() && s.ring.front().first > from + 1) missed = s.ring.front().first - from - 1;
  for (const auto& [seq, event] : s.ring) {
    if (seq <= from) continue;
    // The change line's own text, so the stream and the log cannot differ.
    nlohmann::json e =
        nlohmann::json::parse(ChangeEventToJson(event), nullptr, /*allow_exceptions=*/false);
    e["seq"] = seq;
    events.push_back(std::move(e));
  }
  return nlohmann::json{{"events", std::move(events)}, {"next", s.last_seq}, {"missed", missed}};
}

}  // namespace degrade::internal
