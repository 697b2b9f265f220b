// The etcd client's request plumbing and reply reading. See etcd_transport.h.
#include "etcd/etcd_transport.h"

#include <cerrno>
#include <optional>

#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "core/json_strict.h"
#include "core/str_util.h"
#include "etcd/etcd_json.h"
#include "sources/http_error.h"

namespace degrade::internal::etcd_transport {

using json = nlohmann::json;

using json = nlohmann::json;

ScopedSigpipeBlock::ScopedSigpipeBlock() {
  sigset_t pending;
  sigemptyset(&pending);
  sigpending(&pending);
  was_pending_ = sigismember(&pending, SIGPIPE) == 1;
  sigset_t block;
  sigemptyset(&block);
  sigaddset(&block, SIGPIPE);
  blocked_ = pthread_sigmask(SIG_BLOCK, &block, &old_) == 0;
}

ScopedSigpipeBlock::~ScopedSigpipeBlock() {
  if (!blocked_) return;
  if (!was_pending_) {
    sigset_t pipe;
    sigemptyset(&pipe);
    sigaddset(&pipe, SIGPIPE);
    const timespec zero = {0, 0};
    const int saved_errno = errno;
    for (;;) {
      const int sig = sigtimedwait(&pipe, nullptr, &zero);
      if (sig == SIGPIPE || (sig < 0 && errno == EINTR)) continue;
      break;  // none pending (EAGAIN)
    }
    errno = saved_errno;
  }
  pthread_sigmask(SIG_SETMASK, &old_, nullptr);
}

std::string EtcdMessage(const absl::Status& s) {
  return ToStd(absl::StripPrefix(s.message(), "etcd: "));
}

bool IsMemberProblem(absl::StatusCode code) {
  return code == absl::StatusCode::kUnavailable || code == absl::StatusCode::kDeadlineExceeded;
}

absl::Status ReplyError(int http_status, const std::string& body) {
  absl::StatusOr<json> j = ParseJsonStrict(body);
  if (j.ok()) {
    if (std::optional<absl::Status> s = EtcdErrorStatus(*j)) return *s;
  }
  json shown = body;
  return absl::UnknownError(absl::StrCat("HTTP ", http_status, " with body ", EtcdShowValue(shown),
                                         "; accepted: 200, or an etcd error reply"));
}

std::string Describe(httplib::Error error, bool timed_out, absl::Duration limit,
                     const std::string& ca_file) {
  return DescribeHttpError(error, timed_out, limit, ca_file,
                           "set the etcd CA file to the CA that signed the member's certificate");
}

absl::Status Malformed(const std::string& endpoint, std::string_view what,
                       const absl::Status& detail) {
  return absl::DataLossError(absl::StrCat("etcd ", endpoint, ": ", ToAbsl(what),
                                          ": unexpected reply: ", detail.message()));
}

absl::StatusOr<json> ParseReply(const std::string& body) {
  JsonProblem problem = JsonProblem::kSyntax;
  absl::StatusOr<json> j = ParseJsonStrict(body, "", &problem);
  // A duplicate key is named by its path ("kvs[0]: duplicate key ...");
  // for anything else the body itself says more than a parser position.
  if (!j.ok() && problem != JsonProblem::kSyntax) return j.status();
  if (!j.ok() || !j->is_object()) {
    json shown = body;
    return absl::InvalidArgumentError(
        absl::StrCat("not a JSON object: ", EtcdShowValue(shown)));
  }
  return j;
}

absl::StatusOr<int64_t> HeaderRevision(const json& j) {
  auto h = j.find("header");
  if (h == j.end() || !h->is_object()) {
    return absl::InvalidArgumentError("header: missing; accepted: an object with revision");
  }
  return EtcdInt64Field(*h, "revision", "header");
}

}  // namespace degrade::internal::etcd_transport
