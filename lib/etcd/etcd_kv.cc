// etcd client: the key-value, compaction and member requests. See
// etcd_client.h for the behaviour.
#include <algorithm>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"
#include "core/str_util.h"
#include "etcd/etcd_client.h"
#include "etcd/etcd_json.h"
#include "etcd/etcd_transport.h"
#include "sources/http_source.h"

namespace degrade::internal {

using etcd_transport::HeaderRevision;
using etcd_transport::Malformed;
using etcd_transport::ParseReply;
using json = nlohmann::json;

namespace {

// A KV reply and the revision of its header: the part every KV reply shares.
struct KvReply {
  json j;
  int64_t revision = 0;
};

// Parses `body`, the reply from `ep` to `what`; an error names both
// (Malformed).
absl::StatusOr<KvReply> ParseKvReply(const std::string& ep, std::string_view what,
                                   const std::string& body) {
  absl::StatusOr<json> j = ParseReply(body);
  if (!j.ok()) return Malformed(ep, what, j.status());
  absl::StatusOr<int64_t> rev = HeaderRevision(*j);
  if (!rev.ok()) return Malformed(ep, what, rev.status());
  return KvReply{*std::move(j), *rev};
}

}  // namespace

absl::StatusOr<EtcdClient::RangeResult> EtcdClient::RangeOnce(std::string_view key,
                                                              std::string_view range_end,
                                                              int64_t revision, int64_t limit,
                                                              std::string_view what) {
  json req = {{"key", EtcdBase64(key)}};
  if (!range_end.empty()) req["range_end"] = EtcdBase64(range_end);
  if (revision > 0) req["revision"] = std::to_string(revision);
  if (limit > 0) req["limit"] = std::to_string(limit);
  std::string ep;
  absl::StatusOr<std::string> body = Call("/v3/kv/range", req.dump(), what, &ep);
  if (!body.ok()) return body.status();
  absl::StatusOr<KvReply> reply = ParseKvReply(ep, what, *body);
  if (!reply.ok()) return reply.status();
  const json& j = reply->j;
  RangeResult out;
  out.pages = 1;
  out.revision = reply->revision;
  absl::StatusOr<bool> more = EtcdBoolField(j, "more", "");
  if (!more.ok()) return Malformed(ep, what, more.status());
  out.more = *more;
  if (auto kvs = j.find("kvs"); kvs != j.end()) {
    if (!kvs->is_array()) {
      return Malformed(ep, what, absl::InvalidArgumentError("kvs: not an array"));
    }
    out.kvs.reserve(kvs->size());
    for (size_t i = 0; i < kvs->size(); ++i) {
      const json& kv = (*kvs)[i];
      const std::string path = absl::StrCat("kvs[", i, "]");
      if (!kv.is_object()) {
        return Malformed(ep, what, absl::InvalidArgumentError(path + ": not an object"));
      }
      EtcdKv item;
      absl::StatusOr<std::string> k = EtcdBytesField(kv, "key", path);
      if (!k.ok()) return Malformed(ep, what, k.status());
      absl::StatusOr<std::string> v = EtcdBytesField(kv, "value", path);
      if (!v.ok()) return Malformed(ep, what, v.status());
      absl::StatusOr<int64_t> mod = EtcdInt64Field(kv, "mod_revision", path);
      if (!mod.ok()) return Malformed(ep, what, mod.status());
      item.key = *std::move(k);
      item.value = *std::move(v);
      item.mod_revision = *mod;
      out.kvs.push_back(std::move(item));
    }
  }
  if (out.more && out.kvs.empty()) {
    return Malformed(ep, what, absl::InvalidArgumentError("more: true with no kvs"));
  }
  return out;
}

absl::StatusOr<EtcdClient::RangeResult> EtcdClient::Range(std::string_view key,
                                                          std::string_view range_end) {
  const std::string what = absl::StrCat("range ", ToAbsl(key));
  return RangeOnce(key, range_end, 0, 0, what);
}

absl::StatusOr<EtcdClient::RangeResult> EtcdClient::RangePrefix(std::string_view prefix) {
  const std::string end = EtcdPrefixEnd(prefix);
  // Pages of at most range_page_keys keys, every one read at the first
  // page's revision, so the result is one consistent view however many
  // pages it takes. A page too large for max_response_bytes is asked for
  // again with half the keys.
  for (int attempt = 0;; ++attempt) {
    RangeResult out;
    std::string from(prefix);
    int64_t limit = static_cast<int64_t>(config_.range_page_keys);
    absl::Status failed;
    for (;;) {
      // The first page reads as any range; later ones say where they are.
      const std::string what =
          out.pages == 0
              ? absl::StrCat("range ", ToAbsl(prefix))
              : absl::StrCat("range ", ToAbsl(prefix), " from ", from, " at revision ",
                             out.revision, " (page ", out.pages + 1, ", ", limit, " keys)");
      absl::StatusOr<RangeResult> page = RangeOnce(from, end, out.revision, limit, what);
      if (!page.ok()) {
        if (absl::IsResourceExhausted(page.status()) && limit > 1) {
          limit = std::max<int64_t>(1, limit / 2);
          continue;
        }
        failed = page.status();
        break;
      }
      ++out.pages;
      if (out.revision == 0) out.revision = page->revision;
      const bool more = page->more;
      if (more) from = page->kvs.back().key + std::string(1, '\0');
      for (EtcdKv& kv : page->kvs) out.kvs.push_back(std::move(kv));
      if (!more) return out;
    }
    // The revision was compacted between two pages: start again, once or
    // twice, at a newer one.
    if (absl::IsOutOfRange(failed) && out.pages > 0 && attempt < 2) continue;
    return failed;
  }
}

absl::StatusOr<int64_t> EtcdClient::PutAll(
    const std::vector<std::pair<std::string, std::string>>& kvs) {
  if (kvs.empty() || kvs.size() > kMaxTxnOps) {
    return absl::InvalidArgumentError(absl::StrCat("put of ", kvs.size(),
                                                   " keys in one transaction; accepted: 1 to ",
                                                   kMaxTxnOps, " (etcd's --max-txn-ops)"));
  }
  const std::string what = absl::StrCat("put ", kvs.size(), " keys from ", kvs.front().first);
  json ops = json::array();
  for (const auto& [k, v] : kvs) {
    ops.push_back({{"request_put", {{"key", EtcdBase64(k)}, {"value", EtcdBase64(v)}}}});
  }
  const json req = {{"success", std::move(ops)}};
  std::string ep;
  absl::StatusOr<std::string> body = Call("/v3/kv/txn", req.dump(), what, &ep);
  if (!body.ok()) return body.status();
  absl::StatusOr<KvReply> reply = ParseKvReply(ep, what, *body);
  if (!reply.ok()) return reply.status();
  return reply->revision;
}

absl::StatusOr<int64_t> EtcdClient::Put(std::string_view key, std::string_view value) {
  const std::string what = absl::StrCat("put ", ToAbsl(key));
  const json req = {{"key", EtcdBase64(key)}, {"value", EtcdBase64(value)}};
  std::string ep;
  absl::StatusOr<std::string> body = Call("/v3/kv/put", req.dump(), what, &ep);
  if (!body.ok()) return body.status();
  absl::StatusOr<KvReply> reply = ParseKvReply(ep, what, *body);
  if (!reply.ok()) return reply.status();
  return reply->revision;
}

namespace {

absl::StatusOr<EtcdClient::DeleteResult> ParseDelete(const std::string& ep, std::string_view what,
                                                     const std::string& body) {
  absl::StatusOr<KvReply> reply = ParseKvReply(ep, what, body);
  if (!reply.ok()) return reply.status();
  EtcdClient::DeleteResult out;
  absl::StatusOr<int64_t> deleted = EtcdInt64Field(reply->j, "deleted", "");
  if (!deleted.ok()) return Malformed(ep, what, deleted.status());
  out.revision = reply->revision;
  out.deleted = *deleted;
  return out;
}

}  // namespace

absl::StatusOr<EtcdClient::DeleteResult> EtcdClient::Delete(std::string_view key) {
  const std::string what = absl::StrCat("delete ", ToAbsl(key));
  const json req = {{"key", EtcdBase64(key)}};
  std::string ep;
  absl::StatusOr<std::string> body = Call("/v3/kv/deleterange", req.dump(), what, &ep);
  if (!body.ok()) return body.status();
  return ParseDelete(ep, what, *body);
}

absl::StatusOr<EtcdClient::DeleteResult> EtcdClient::DeletePrefix(std::string_view prefix) {
  const std::string what = absl::StrCat("delete prefix ", ToAbsl(prefix));
  const json req = {{"key", EtcdBase64(prefix)}, {"range_end", EtcdBase64(EtcdPrefixEnd(prefix))}};
  std::string ep;
  absl::StatusOr<std::string> body = Call("/v3/kv/deleterange", req.dump(), what, &ep);
  if (!body.ok()) return body.status();
  return ParseDelete(ep, what, *body);
}

absl::StatusOr<EtcdClient::TxnResult> EtcdClient::PutIfModRevision(std::string_view key,
                                                                   std::string_view value,
                                                                   int64_t mod_revision) {
  const std::string what = absl::StrCat("put ", ToAbsl(key), " if at revision ", mod_revision);
  const std::string k = EtcdBase64(key);
  const json req = {
      {"compare", json::array({{{"key", k},
                                {"target", "MOD"},
                                {"result", "EQUAL"},
                                {"mod_revision", std::to_string(mod_revision)}}})},
      {"success",
       json::array({{{"request_put", {{"key", k}, {"value", EtcdBase64(value)}}}}})},
  };
  std::string ep;
  absl::StatusOr<std::string> body = Call("/v3/kv/txn", req.dump(), what, &ep);
  if (!body.ok()) return body.status();
  absl::StatusOr<KvReply> reply = ParseKvReply(ep, what, *body);
  if (!reply.ok()) return reply.status();
  TxnResult out;
  absl::StatusOr<bool> ok = EtcdBoolField(reply->j, "succeeded", "");
  if (!ok.ok()) return Malformed(ep, what, ok.status());
  out.revision = reply->revision;
  out.succeeded = *ok;
  return out;
}

absl::Status EtcdClient::Compact(int64_t revision) {
  const std::string what = absl::StrCat("compact to revision ", revision);
  const json req = {{"revision", std::to_string(revision)}, {"physical", true}};
  std::string ep;
  absl::StatusOr<std::string> body = Call("/v3/kv/compaction", req.dump(), what, &ep);
  return body.status();
}

absl::StatusOr<std::vector<std::string>> EtcdClient::MemberClientUrls() {
  const std::string what = "member list";
  std::string ep;
  absl::StatusOr<std::string> body = Call("/v3/cluster/member/list", "{}", what, &ep);
  if (!body.ok()) return body.status();
  absl::StatusOr<json> j = ParseReply(*body);
  if (!j.ok()) return Malformed(ep, what, j.status());
  std::vector<std::string> urls;
  auto members = j->find("members");
  if (members == j->end()) return urls;
  if (!members->is_array()) {
    return Malformed(ep, what, absl::InvalidArgumentError("members: not an array"));
  }
  for (const json& m : *members) {
    if (!m.is_object()) continue;
    auto client_urls = m.find("clientURLs");
    if (client_urls == m.end() || !client_urls->is_array()) continue;  // not started yet
    for (const json& u : *client_urls) {
      if (u.is_string()) urls.push_back(u.get<std::string>());
    }
  }
  return urls;
}

absl::StatusOr<size_t> EtcdClient::DiscoverMembers() {
  absl::StatusOr<std::vector<std::string>> urls = MemberClientUrls();
  if (!urls.ok()) return urls.status();
  size_t added = 0;
  std::lock_guard<std::mutex> lock(mu_);
  for (const std::string& u : *urls) {
    absl::StatusOr<SplitUrlResult> split = SplitUrl(u);
    if (!split.ok() || split->target != "/") continue;  // not one we could use
    bool known = false;
    for (const std::string& e : endpoints_) known = known || e == split->origin;
    if (!known) {
      endpoints_.push_back(split->origin);
      ++added;
    }
  }
  return added;
}

}  // namespace degrade::internal
