// The OpenFeature Remote Evaluation Protocol on the admin endpoint (DESIGN
// section 14; docs/openfeature.md has examples and every status code). The
// shapes are those of open-feature/protocol's service/openapi.yaml. Not
// installed.
//
//   POST /ofrep/v1/evaluate/flags/{key}  one switch as a boolean flag
//   POST /ofrep/v1/evaluate/flags        every defined switch, with an ETag;
//                                        If-None-Match that matches: 304
//   GET  /ofrep/v1/configuration         capabilities (OFREP's former
//                                        configuration route: polling and
//                                        its minimum interval, boolean flags)
//
// Each switch this process defines is a boolean flag whose value says
// whether the dependency should be called for the request's context:
//   on (allow 1)     value true,  variant "on",  reason STATIC
//   off              value false, variant "off", reason DISABLED
//   dimmed (allow<1) reason SPLIT; with a targetingKey, the switch's sticky
//                    answer for it (Switch::enabled(key): the key's
//                    StickyPoint against allow); without one, error
//                    TARGETING_KEY_MISSING (400 for one flag, an error item
//                    in the bulk answer), since the answer depends on the
//                    key -- except at allow 0, where it is false for every
//                    key.
// metadata: the deciding layer and scope, actor, reason, expires_at (when
// set) and allow (when dimmed). Other context attributes are ignored: a
// switch does not target on them. Names no process defines (unknown
// entries of a layer) are not flags: FLAG_NOT_FOUND.
//
// Requests are reads: they need no token (the endpoint's rule for reads),
// but a request that presents an Authorization header when a token is
// configured must present the right one (else 401), so that a client
// configured with a stale token learns it. The endpoint's checks before
// routing (Host, Origin of a POST, body size and type, the token outside
// Authorization) apply; their refusals of an /ofrep/ request are written in
// OFREP's error shape by OfrepErrorShape. Errors: {"key", "errorCode",
// "errorDetails"} with PARSE_ERROR (the body is not a JSON object),
// INVALID_CONTEXT (no context object, a targetingKey that is not a string),
// TARGETING_KEY_MISSING, FLAG_NOT_FOUND (404) or GENERAL (anything else: the
// route, the method, the endpoint's own refusals).
//
// The bulk answer's ETag is a hash of what every flag says and of the
// targetingKey, so equal answers have equal ETags in every process. The
// table it is computed from is rebuilt after any change the registry
// reports (a listener counts them), and at least every kTableMaxAge (a
// switch defined later, which the registry reports no change for, shows
// within that); a 304 therefore costs a body parse, a lock and a hash
// (bench/ofrep_benchmark.cc).
//
// Thread safety: Handle from any number of threads at once.
#ifndef DEGRADE_LIB_ADMIN_OFREP_H_
#define DEGRADE_LIB_ADMIN_OFREP_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/time/time.h"
#include "admin/admin_config.h"
#include "degrade/registry.h"
#include "httplib.h"
#include "nlohmann/json.hpp"

namespace degrade::internal {

class OfrepRoutes {
 public:
  static constexpr std::string_view kPrefix = "/ofrep/";
  static constexpr std::string_view kBulkPath = "/ofrep/v1/evaluate/flags";
  static constexpr std::string_view kConfigurationPath = "/ofrep/v1/configuration";
  // The polling interval the configuration asks clients not to go below.
  static constexpr int64_t kMinPollingIntervalMs = 1000;
  static constexpr absl::Duration kTableMaxAge = absl::Seconds(1);

  // `registry` and `config` outlive the routes. Listens to `registry` until
  // destroyed.
  OfrepRoutes(Registry& registry, const AdminConfig& config);
  ~OfrepRoutes();

  OfrepRoutes(const OfrepRoutes&) = delete;
  OfrepRoutes& operator=(const OfrepRoutes&) = delete;

  // True for every path under /ofrep/, which Handle answers (404 included).
  static bool Handles(std::string_view path);

  // Answers a request that passed the endpoint's checks before routing.
  void Handle(const httplib::Request& req, httplib::Response& res);

  // Rewrites an endpoint error body {"error": "..."} of an /ofrep/ request
  // into {"errorCode": "GENERAL", "errorDetails": "..."}.
  static void OfrepErrorShape(httplib::Response& res);

 private:
  // One switch as the bulk answer needs it: its item of the "flags" array
  // written out once per table for each answer it can give, so that a bulk
  // answer is a concatenation.
  struct FlagRow {
    std::string name;
    State state = State::kOn;
    double allow = 1.0;
    std::string on_json;       // the item when the value is true (or fixed)
    std::string off_json;      // when false
    std::string missing_json;  // dimmed without a targetingKey
  };
  struct Table {
    std::vector<FlagRow> rows;
    uint64_t hash = 0;  // of every row
    uint64_t generation = 0;
    absl::Time built;
  };
  // The request's targetingKey: nullopt when absent or empty.
  struct Context {
    std::optional<std::string> targeting_key;
  };

  bool CheckPresentedToken(const httplib::Request& req, httplib::Response& res,
                           std::string_view key) const;
  std::optional<Context> ParseContext(const httplib::Request& req, httplib::Response& res,
                                      std::string_view key) const;
  void EvaluateOne(const std::string& key, const httplib::Request& req, httplib::Response& res);
  void EvaluateAll(const httplib::Request& req, httplib::Response& res);
  void Configuration(const httplib::Request& req, httplib::Response& res) const;
  std::shared_ptr<const Table> CurrentTable();

  Registry& registry_;
  const AdminConfig& config_;
  // Changes the registry reported; shared with the listener, which a
  // delivery under way may call after RemoveListener returns.
  std::shared_ptr<std::atomic<uint64_t>> generation_;
  uint64_t listener_ = 0;
  std::mutex table_mu_;
  std::shared_ptr<const Table> table_;  // guarded by table_mu_
};

// The OFREP evaluation of one switch state (exposed for tests): value,
// variant and reason, or the TARGETING_KEY_MISSING case (nullopt).
struct OfrepVerdict {
  bool value = false;
  std::string_view variant;
  std::string_view reason;
};
std::optional<OfrepVerdict> OfrepEvaluate(std::string_view name, State state, double allow,
                                          const std::optional<std::string>& targeting_key);

}  // namespace degrade::internal

#endif  // DEGRADE_LIB_ADMIN_OFREP_H_
