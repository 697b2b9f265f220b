// The etcd v3 watch stream, as the JSON gateway of etcd 3.4 sends it, parsed
// without a socket. Not installed.
//
// POST /v3/watch answers with a stream of JSON objects, one per watch
// response, each normally followed by "\n" (an error at the end of the
// stream may have none):
//
//   {"result":{"header":{"revision":"2",...},"created":true}}
//   {"result":{"header":{...},"events":[{"kv":{"key":"L2Qv...","mod_revision":"3",
//       "value":"Im9mZiI=",...}},{"type":"DELETE","kv":{"key":"...","mod_revision":"4"}}]}}
//   {"result":{"header":{...},"canceled":true,"compact_revision":"5"}}
//   {"error":"etcdserver: ...","message":"etcdserver: ...","code":16}
//
// Keys and values are base64; 64-bit numbers are strings (numbers are
// accepted too); fields equal to zero, false or "" are omitted, so a PUT
// event has no "type" and a deleted key no "value". Unknown fields are
// ignored (newer servers add some).
//
// Thread safety: one parser belongs to one stream and one thread.
#ifndef DEGRADE_LIB_ETCD_WATCH_PARSER_H_
#define DEGRADE_LIB_ETCD_WATCH_PARSER_H_

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"

namespace degrade::internal {

struct EtcdKv {
  std::string key;    // decoded bytes
  std::string value;  // decoded bytes; empty for a DELETE
  int64_t mod_revision = 0;
};

struct EtcdEvent {
  enum class Type { kPut, kDelete };
  Type type = Type::kPut;
  EtcdKv kv;
};

struct EtcdWatchMessage {
  // The store's revision when etcd sent the message. For a message with
  // events it may be ahead of the last event's mod_revision (a watcher
  // catching up gets batches stamped with the current revision), so resume
  // from the events' mod_revision, not from this. For a progress
  // notification (no events, not created, not canceled) every change up to
  // this revision has been delivered.
  int64_t header_revision = 0;
  // Which watcher of the stream it is for: etcd numbers the watchers of
  // one stream 0, 1, ... in the order they were created
  // (EtcdClient::WatchOptions::more_ranges).
  int64_t watch_id = 0;
  bool created = false;
  bool canceled = false;
  // Set with canceled when the requested start revision has been compacted:
  // the oldest revision still available.
  int64_t compact_revision = 0;
  std::string cancel_reason;
  std::vector<EtcdEvent> events;
};

class EtcdWatchParser {
 public:
  // A message (one JSON object) larger than `max_message_bytes` is an error.
  explicit EtcdWatchParser(size_t max_message_bytes = 4 << 20);

  // Feed bytes as they arrive, split anywhere. Calls on_message for each
  // complete message, in order, before returning.
  //
  // Returns an error naming what was wrong, and calls on_message no more:
  //   - InvalidArgument: bytes between messages that do not start a JSON
  //     object, a message that is not valid JSON, nested deeper than 64
  //     levels, without "result", or with a field of the wrong type or value
  //     (the message names its path: "result.events[0].kv.key: 12 is not
  //     base64; ...");
  //   - ResourceExhausted: a message longer than max_message_bytes;
  //   - an {"error": ...} message from etcd: the error's gRPC code as the
  //     status code (Unauthenticated for an expired token, ...), message
  //     "etcd: <etcd's message>".
  // After an error the stream must be dropped: every later call returns the
  // same error.
  absl::Status Feed(std::string_view bytes,
                    const std::function<void(EtcdWatchMessage&&)>& on_message);

 private:
  absl::Status Deliver(const std::function<void(EtcdWatchMessage&&)>& on_message);

  const size_t max_message_bytes_;
  std::string message_;  // bytes of the message being read, from its '{'
  int depth_ = 0;        // open objects and arrays; 0 between messages
  bool in_string_ = false;
  bool escaped_ = false;  // in a string, after a backslash
  absl::Status error_;    // sticky
};

}  // namespace degrade::internal

#endif  // DEGRADE_LIB_ETCD_WATCH_PARSER_H_
