// etcd client: leases, puts under a lease, and ranges at a past revision.
// See etcd_client.h for the behaviour.
//
// Why the keep-alive is one POST per renewal: the gateway maps etcd's
// bidirectional LeaseKeepAlive stream onto one HTTP request; a body holding
// one request gets one reply, {"result": {...}}, and the stream ends. A
// long-lived stream would hold a connection per instance for nothing: a
// renewal every few seconds is cheap.
#include <cmath>
#include <string>
#include <utility>

#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"
#include "core/str_util.h"
#include "etcd/etcd_client.h"
#include "etcd/etcd_json.h"
#include "etcd/etcd_transport.h"

namespace degrade::internal {

using etcd_transport::HeaderRevision;
using etcd_transport::Malformed;
using etcd_transport::ParseReply;
using json = nlohmann::json;

absl::StatusOr<EtcdClient::Lease> EtcdClient::LeaseGrant(absl::Duration ttl) {
  const int64_t seconds = std::max<int64_t>(1, absl::ToInt64Seconds(absl::Ceil(ttl, absl::Seconds(1))));
  const std::string what = absl::StrCat("lease grant ", seconds, "s");
  const json req = {{"TTL", std::to_string(seconds)}};
  std::string ep;
  absl::StatusOr<std::string> body = Call("/v3/lease/grant", req.dump(), what, &ep);
  if (!body.ok()) return body.status();
  absl::StatusOr<json> j = ParseReply(*body);
  if (!j.ok()) return Malformed(ep, what, j.status());
  absl::StatusOr<int64_t> id = EtcdInt64Field(*j, "ID", "");
  if (!id.ok()) return Malformed(ep, what, id.status());
  absl::StatusOr<int64_t> granted = EtcdInt64Field(*j, "TTL", "");
  if (!granted.ok()) return Malformed(ep, what, granted.status());
  if (*id == 0) return Malformed(ep, what, absl::InvalidArgumentError("ID: missing"));
  return Lease{*id, *granted};
}

absl::StatusOr<int64_t> EtcdClient::LeaseKeepAliveOnce(int64_t lease_id) {
  const std::string what = absl::StrCat("lease keep-alive ", lease_id);
  const json req = {{"ID", std::to_string(lease_id)}};
  std::string ep;
  absl::StatusOr<std::string> body = Call("/v3/lease/keepalive", req.dump(), what, &ep);
  if (!body.ok()) return body.status();
  // One streamed message: {"result": {...}}, possibly followed by a newline.
  absl::StatusOr<json> j = ParseReply(*body);
  if (!j.ok()) return Malformed(ep, what, j.status());
  const json* result = &*j;
  if (auto r = j->find("result"); r != j->end()) {
    if (!r->is_object()) {
      return Malformed(ep, what, absl::InvalidArgumentError("result: not an object"));
    }
    result = &*r;
  }
  absl::StatusOr<int64_t> ttl = EtcdInt64Field(*result, "TTL", "result");
  if (!ttl.ok()) return Malformed(ep, what, ttl.status());
  // etcd answers a lease it does not know with TTL 0 (omitted).
  if (*ttl <= 0) {
    return absl::NotFoundError(
        absl::StrCat("etcd ", ep, ": ", what, ": etcd: requested lease not found"));
  }
  return *ttl;
}

absl::Status EtcdClient::LeaseRevoke(int64_t lease_id) {
  const std::string what = absl::StrCat("lease revoke ", lease_id);
  const json req = {{"ID", std::to_string(lease_id)}};
  std::string ep;
  absl::StatusOr<std::string> body = Call("/v3/lease/revoke", req.dump(), what, &ep);
  return body.status();
}

absl::StatusOr<int64_t> EtcdClient::PutWithLease(std::string_view key, std::string_view value,
                                                 int64_t lease_id) {
  const std::string what = absl::StrCat("put ", ToAbsl(key));
  json req = {{"key", EtcdBase64(key)}, {"value", EtcdBase64(value)}};
  if (lease_id != 0) req["lease"] = std::to_string(lease_id);
  std::string ep;
  absl::StatusOr<std::string> body = Call("/v3/kv/put", req.dump(), what, &ep);
  if (!body.ok()) return body.status();
  absl::StatusOr<json> j = ParseReply(*body);
  if (!j.ok()) return Malformed(ep, what, j.status());
  absl::StatusOr<int64_t> rev = HeaderRevision(*j);
  if (!rev.ok()) return Malformed(ep, what, rev.status());
  return *rev;
}

absl::StatusOr<EtcdClient::RangeResult> EtcdClient::RangeAt(std::string_view key,
                                                            std::string_view range_end,
                                                            int64_t revision) {
  const std::string what = absl::StrCat("range ", ToAbsl(key), " at revision ", revision);
  return RangeOnce(key, range_end, revision, 0, what);
}

}  // namespace degrade::internal
