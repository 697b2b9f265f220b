// Fuzz target: the etcd watch stream parser (lib/etcd_watch_parser.h) with
// arbitrary chunk boundaries.
//
// Input: the last byte (if any) chooses up to 15 split points and the
// message size limit; the split offsets come from the bytes before it
// (FuzzedDataProvider takes integers from the end); the rest is the stream.
//
// Properties checked (besides no crash, leak or sanitizer report, and
// memory bounded by the limit):
//   - feeding the stream in chunks split at the chosen points gives exactly
//     the messages, and the same status (code and message), as feeding it
//     whole; so does feeding it byte by byte (streams up to 4 KiB);
//   - after an error, a further Feed returns the same error and delivers no
//     message (the error is sticky);
//   - every error names the stream ("etcd watch stream: ...").
#include <fuzzer/FuzzedDataProvider.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "etcd/etcd_watch_parser.h"
#include "fuzz_check.h"

namespace {

using degrade::internal::EtcdEvent;
using degrade::internal::EtcdWatchMessage;
using degrade::internal::EtcdWatchParser;

bool SameEvent(const EtcdEvent& a, const EtcdEvent& b) {
  return a.type == b.type && a.kv.key == b.kv.key && a.kv.value == b.kv.value &&
         a.kv.mod_revision == b.kv.mod_revision;
}

bool SameMessage(const EtcdWatchMessage& a, const EtcdWatchMessage& b) {
  return a.header_revision == b.header_revision && a.created == b.created &&
         a.canceled == b.canceled && a.compact_revision == b.compact_revision &&
         a.cancel_reason == b.cancel_reason && a.events.size() == b.events.size() &&
         std::equal(a.events.begin(), a.events.end(), b.events.begin(), SameEvent);
}

struct Run {
  std::vector<EtcdWatchMessage> messages;
  absl::Status status;
};

// Feeds `stream` in pieces ending at `cuts` (sorted offsets), stopping at
// the first error, then checks the error is sticky.
Run Feed(std::string_view stream, const std::vector<size_t>& cuts, size_t limit) {
  EtcdWatchParser parser(limit);
  Run run;
  const auto collect = [&](EtcdWatchMessage&& m) { run.messages.push_back(std::move(m)); };
  size_t at = 0;
  for (size_t i = 0; i <= cuts.size() && run.status.ok(); ++i) {
    const size_t end = i < cuts.size() ? cuts[i] : stream.size();
    run.status = parser.Feed(stream.substr(at, end - at), collect);
    at = end;
  }
  if (!run.status.ok()) {
    const size_t delivered = run.messages.size();
    const absl::Status again = parser.Feed("{\"result\":{}}\n", collect);
    DEGRADE_FUZZ_CHECK(again == run.status, "error not sticky: " + again.ToString() + " after " +
                                                run.status.ToString());
    DEGRADE_FUZZ_CHECK(run.messages.size() == delivered, "a message delivered after an error");
  }
  return run;
}

void CheckSame(const Run& whole, const Run& split, std::string_view how) {
  DEGRADE_FUZZ_CHECK(whole.status == split.status,
                     std::string(how) + ": " + split.status.ToString() + " vs whole " +
                         whole.status.ToString());
  DEGRADE_FUZZ_CHECK(whole.messages.size() == split.messages.size(),
                     std::string(how) + ": " + std::to_string(split.messages.size()) +
                         " messages vs whole " + std::to_string(whole.messages.size()));
  for (size_t i = 0; i < whole.messages.size(); ++i) {
    DEGRADE_FUZZ_CHECK(SameMessage(whole.messages[i], split.messages[i]),
                       std::string(how) + ": message " + std::to_string(i) + " differs");
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  FuzzedDataProvider in(data, size);
  const uint8_t control = in.ConsumeIntegral<uint8_t>();
  const size_t splits = control & 0x0F;
  // Mostly the default limit; sometimes a small one, so the limit is hit.
  const size_t limit = (control & 0x30) == 0x30 ? 64 + in.ConsumeIntegralInRange<size_t>(0, 1024)
                                                : size_t{4} << 20;
  std::vector<size_t> offsets;
  for (size_t i = 0; i < splits; ++i) offsets.push_back(in.ConsumeIntegral<uint16_t>());
  const std::string stream = in.ConsumeRemainingBytesAsString();
  std::vector<size_t> cuts;
  for (size_t o : offsets) {
    if (!stream.empty()) cuts.push_back(o % (stream.size() + 1));
  }
  std::sort(cuts.begin(), cuts.end());

  const Run whole = Feed(stream, {}, limit);
  const Run split = Feed(stream, cuts, limit);
  CheckSame(whole, split, "split at fuzz-chosen points");
  if (stream.size() <= 4096) {
    std::vector<size_t> every(stream.size());
    for (size_t i = 0; i < every.size(); ++i) every[i] = i;
    CheckSame(whole, Feed(stream, every, limit), "byte by byte");
  }

  if (!whole.status.ok()) {
    const std::string_view message(whole.status.message().data(), whole.status.message().size());
    DEGRADE_FUZZ_CHECK(message.starts_with("etcd watch stream: "), whole.status.ToString());
    DEGRADE_FUZZ_CHECK(whole.status.code() != absl::StatusCode::kOk, "ok");
  }
  return 0;
}
