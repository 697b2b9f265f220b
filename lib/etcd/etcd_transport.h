// What the etcd client's files share: the request plumbing around
// cpp-httplib and the reading of etcd's replies. Not installed.
#ifndef DEGRADE_LIB_ETCD_TRANSPORT_H_
#define DEGRADE_LIB_ETCD_TRANSPORT_H_

#include <httplib.h>

#include <csignal>
#include <cstdint>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "core/str_util.h"

namespace degrade::internal::etcd_transport {

// Blocks SIGPIPE on this thread while a request runs, and discards one the
// request raised. cpp-httplib 0.11 sends with MSG_NOSIGNAL, but OpenSSL's
// shutdown after Client::stop() writes to the closed socket with write(2):
// unblocked, that SIGPIPE would end the whole process (seen with https
// endpoints when a watch is stopped).
class ScopedSigpipeBlock {
 public:
  ScopedSigpipeBlock();
  ~ScopedSigpipeBlock();
  ScopedSigpipeBlock(const ScopedSigpipeBlock&) = delete;
  ScopedSigpipeBlock& operator=(const ScopedSigpipeBlock&) = delete;

 private:
  sigset_t old_;
  bool blocked_ = false;
  bool was_pending_ = false;
};

using internal::ToStd;  // core/str_util.h

// etcd's own message without the "etcd: " that EtcdErrorStatus puts first.
std::string EtcdMessage(const absl::Status& s);

// Retrying on another member can help: it has a leader, or it is up.
bool IsMemberProblem(absl::StatusCode code);

// The status etcd's error reply stands for, or one describing an
// unexpected reply.
absl::Status ReplyError(int http_status, const std::string& body);

// A failed request in words: what cpp-httplib's `error` means here.
// `timed_out`: the request ran for about `limit`.
std::string Describe(httplib::Error error, bool timed_out, absl::Duration limit,
                     const std::string& ca_file);

// DataLoss: "etcd <endpoint>: <what>: unexpected reply: <detail>".
absl::Status Malformed(const std::string& endpoint, std::string_view what,
                       const absl::Status& detail);

// The reply body as a JSON object.
absl::StatusOr<nlohmann::json> ParseReply(const std::string& body);

// header.revision of a reply.
absl::StatusOr<int64_t> HeaderRevision(const nlohmann::json& j);

}  // namespace degrade::internal::etcd_transport

#endif  // DEGRADE_LIB_ETCD_TRANSPORT_H_
