// OFREP on the admin endpoint (ofrep.h).
#include "admin/ofrep.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <string>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "admin/auth.h"
#include "core/json_strict.h"
#include "core/listing_json.h"
#include "core/str_util.h"
#include "degrade/switch.h"

namespace degrade::internal {
namespace {

constexpr std::string_view kOnePrefix = "/ofrep/v1/evaluate/flags/";
constexpr char kAcceptedBody[] =
    R"(a JSON object {"context": {"targetingKey": "<user, session or tenant id>", ...}})";

// FNV-1a, 64 bits: a fixed hash, so equal answers get equal ETags in every
// process and after restarts.
constexpr uint64_t kFnvOffset = 0xCBF29CE484222325ull;
uint64_t Fnv(uint64_t h, std::string_view bytes) {
  for (const char c : bytes) {
    h ^= static_cast<unsigned char>(c);
    h *= 0x100000001B3ull;
  }
  return h;
}

std::string Hex16(uint64_t v) {
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(v));
  return std::string(buf, 16);
}

// The bulk ETag: the table's hash, then whether there is a key and the key.
std::string BulkETag(uint64_t table_hash, const std::optional<std::string>& key) {
  uint64_t h = Fnv(table_hash, key ? "k" : "-");
  if (key) h = Fnv(h, *key);
  return absl::StrCat("\"", Hex16(h), "\"");
}

// True when an If-None-Match header names `etag` (or is "*"). Weak
// comparison, as RFC 9110 asks of If-None-Match.
bool NoneMatchHits(const std::string& header, std::string_view etag) {
  for (absl::string_view tag : absl::StrSplit(header, ',')) {
    tag = absl::StripAsciiWhitespace(tag);
    if (tag == "*") return true;
    absl::ConsumePrefix(&tag, "W/");
    if (tag == ToAbsl(etag)) return true;
  }
  return false;
}

void Send(httplib::Response& res, int status, const nlohmann::json& body) {
  res.status = status;
  res.set_content(Dump(body), "application/json");
}

nlohmann::json Failure(std::string_view key, std::string_view code, std::string_view details) {
  nlohmann::json body = nlohmann::json::object();
  if (!key.empty()) body["key"] = std::string(key);
  body["errorCode"] = std::string(code);
  body["errorDetails"] = std::string(details);
  return body;
}

void SendFailure(httplib::Response& res, int status, std::string_view key, std::string_view code,
                 std::string_view details) {
  Send(res, status, Failure(key, code, details));
}

std::string TargetingKeyMissing(std::string_view name, double allow) {
  return absl::StrCat("switch \"", ClipForMessage(name), "\" is dimmed to allow ", allow,
                      ", so whether to call the dependency depends on who asks; accepted: a "
                      "context with a non-empty string targetingKey (a user, session or "
                      "tenant id)");
}

nlohmann::json Metadata(const SwitchInfo& info) {
  nlohmann::json m = {{"layer", std::string(LayerName(info.deciding_layer))},
                      {"scope", info.scope},
                      {"actor", info.actor},
                      {"reason", info.reason}};
  if (info.expires_at) {
    m["expires_at"] = absl::FormatTime(absl::RFC3339_full, *info.expires_at, absl::UTCTimeZone());
  }
  if (info.effective.state == State::kOn && info.effective.allow < 1.0) {
    m["allow"] = info.effective.allow;
  }
  return m;
}

uint64_t Threshold(double allow) {
  return static_cast<uint64_t>(std::ldexp(std::clamp(allow, 0.0, 1.0), 32));
}

nlohmann::json Success(std::string_view key, const OfrepVerdict& v, nlohmann::json metadata) {
  return {{"key", std::string(key)},
          {"value", v.value},
          {"variant", std::string(v.variant)},
          {"reason", std::string(v.reason)},
          {"metadata", std::move(metadata)}};
}

}  // namespace

std::optional<OfrepVerdict> OfrepEvaluate(std::string_view name, State state, double allow,
                                          const std::optional<std::string>& targeting_key) {
  if (state == State::kOff) return OfrepVerdict{false, "off", "DISABLED"};
  if (allow >= 1.0) return OfrepVerdict{true, "on", "STATIC"};
  const uint64_t threshold = Threshold(allow);
  // Exactly the switch word's test (Switch::enabled(key)).
  if (threshold > 0xFFFF'FFFFull) return OfrepVerdict{true, "on", "STATIC"};
  if (threshold == 0) return OfrepVerdict{false, "off", "SPLIT"};
  if (!targeting_key) return std::nullopt;
  const bool in = StickyPoint(name, *targeting_key) < threshold;
  return OfrepVerdict{in, in ? "on" : "off", "SPLIT"};
}

OfrepRoutes::OfrepRoutes(Registry& registry, const AdminConfig& config)
    : registry_(registry),
      config_(config),
      generation_(std::make_shared<std::atomic<uint64_t>>(0)) {
  listener_ = registry_.AddListener([generation = generation_](const ChangeEvent&) {
    generation->fetch_add(1, std::memory_order_release);
  });
}

OfrepRoutes::~OfrepRoutes() { registry_.RemoveListener(listener_); }

bool OfrepRoutes::Handles(std::string_view path) { return path.substr(0, kPrefix.size()) == kPrefix; }

void OfrepRoutes::OfrepErrorShape(httplib::Response& res) {
  const nlohmann::json body = nlohmann::json::parse(res.body, nullptr, /*allow_exceptions=*/false);
  if (!body.is_object() || !body.contains("error") || !body["error"].is_string()) return;
  res.set_content(Dump(Failure("", "GENERAL", body["error"].get<std::string>())),
                  "application/json");
}

void OfrepRoutes::Handle(const httplib::Request& req, httplib::Response& res) {
  const std::string& path = req.path;
  if (path == kConfigurationPath) {
    if (req.method != "GET" && req.method != "HEAD") {
      res.set_header("Allow", "GET, HEAD");
      return SendFailure(res, 405, "", "GENERAL",
                         absl::StrCat("method ", ClipForMessage(req.method), " is not allowed on ",
                                      ToAbsl(kConfigurationPath), "; allowed: GET, HEAD"));
    }
    return Configuration(req, res);
  }
  const bool bulk = path == kBulkPath;
  std::string key;
  if (!bulk && path.size() > kOnePrefix.size() &&
      path.compare(0, kOnePrefix.size(), kOnePrefix) == 0 &&
      path.find('/', kOnePrefix.size()) == std::string::npos) {
    key = path.substr(kOnePrefix.size());
  }
  if (!bulk && key.empty()) {
    return SendFailure(res, 404, "", "GENERAL",
                       absl::StrCat("no route for ", ClipForMessage(path),
                                    "; OFREP routes: POST /ofrep/v1/evaluate/flags/{key}, POST "
                                    "/ofrep/v1/evaluate/flags, GET /ofrep/v1/configuration"));
  }
  if (req.method != "POST") {
    res.set_header("Allow", "POST");
    return SendFailure(res, 405, key, "GENERAL",
                       absl::StrCat("method ", ClipForMessage(req.method), " is not allowed on ",
                                    ClipForMessage(path),
                                    "; allowed: POST (OFREP evaluations are POSTs with a "
                                    "JSON body)"));
  }
  if (!CheckPresentedToken(req, res, key)) return;
  if (bulk) return EvaluateAll(req, res);
  EvaluateOne(key, req, res);
}

// Reads are open; a presented credential must be right (ofrep.h).
bool OfrepRoutes::CheckPresentedToken(const httplib::Request& req, httplib::Response& res,
                                      std::string_view key) const {
  if (config_.token.empty() || !req.has_header("Authorization")) return true;
  const std::string header = req.get_header_value("Authorization");
  const AuthVerdict verdict = CheckBearer(&header, config_.token);
  if (verdict.status == 0) return true;
  SendFailure(res, verdict.status, key, "GENERAL", verdict.problem);
  if (verdict.status == 401) res.set_header("WWW-Authenticate", "Bearer realm=\"degrade\"");
  return false;
}

std::optional<OfrepRoutes::Context> OfrepRoutes::ParseContext(const httplib::Request& req,
                                                              httplib::Response& res,
                                                              std::string_view key) const {
  if (!config_.token.empty() && req.body.find(config_.token) != std::string::npos) {
    SendFailure(res, 400, key, "GENERAL",
                "the request carries the admin token in its body, where the endpoint would "
                "quote it; refused so that the token never reaches a response or a log line; "
                "send it only as Authorization: Bearer <DEGRADE_ADMIN_TOKEN>");
    return std::nullopt;
  }
  if (req.body.empty()) {
    SendFailure(res, 400, key, "PARSE_ERROR",
                absl::StrCat("the request has no body; accepted: ", kAcceptedBody));
    return std::nullopt;
  }
  absl::StatusOr<nlohmann::json> body = ParseJsonStrict(req.body, "body");
  if (!body.ok()) {
    SendFailure(res, 400, key, "PARSE_ERROR",
                absl::StrCat(body.status().message(), "; accepted: ", kAcceptedBody));
    return std::nullopt;
  }
  if (!body->is_object()) {
    SendFailure(res, 400, key, "PARSE_ERROR",
                absl::StrCat("body: ", ClipForMessage(Dump(*body)),
                             " is not a JSON object; accepted: ", kAcceptedBody));
    return std::nullopt;
  }
  auto context = body->find("context");
  if (context == body->end() || !context->is_object()) {
    SendFailure(res, 400, key, "INVALID_CONTEXT",
                absl::StrCat("body.context: ",
                             context == body->end() ? std::string("is missing")
                                                    : absl::StrCat(ClipForMessage(Dump(*context)),
                                                                   " is not an object"),
                             "; accepted: ", kAcceptedBody));
    return std::nullopt;
  }
  Context out;
  if (auto tk = context->find("targetingKey"); tk != context->end()) {
    if (!tk->is_string()) {
      SendFailure(res, 400, key, "INVALID_CONTEXT",
                  absl::StrCat("body.context.targetingKey: ", ClipForMessage(Dump(*tk)),
                               " is not a string; accepted: a string (a user, session or "
                               "tenant id)"));
      return std::nullopt;
    }
    if (!tk->get_ref<const std::string&>().empty()) out.targeting_key = tk->get<std::string>();
  }
  return out;
}

void OfrepRoutes::EvaluateOne(const std::string& key, const httplib::Request& req,
                              httplib::Response& res) {
  std::optional<Context> context = ParseContext(req, res, key);
  if (!context) return;
  absl::StatusOr<SwitchInfo> info = registry_.Get(key);
  if (!info.ok() || !info->defined) {
    return SendFailure(res, 404, key, "FLAG_NOT_FOUND",
                       absl::StrCat("no switch \"", ClipForMessage(key),
                                    "\" is defined in this process; POST "
                                    "/ofrep/v1/evaluate/flags lists every flag"));
  }
  const std::optional<OfrepVerdict> verdict = OfrepEvaluate(
      key, info->effective.state, info->effective.allow, context->targeting_key);
  if (!verdict) {
    return SendFailure(res, 400, key, "TARGETING_KEY_MISSING",
                       TargetingKeyMissing(key, info->effective.allow));
  }
  Send(res, 200, Success(key, *verdict, Metadata(*info)));
}

std::shared_ptr<const OfrepRoutes::Table> OfrepRoutes::CurrentTable() {
  const absl::Time now = registry_.clock().Now();
  std::lock_guard<std::mutex> lock(table_mu_);
  // Read before listing: a change during the listing leaves the table one
  // generation behind, so the next request rebuilds it.
  const uint64_t generation = generation_->load(std::memory_order_acquire);
  if (table_ != nullptr && table_->generation == generation && now >= table_->built &&
      now - table_->built < kTableMaxAge) {
    return table_;
  }
  auto table = std::make_shared<Table>();
  table->generation = generation;
  table->built = now;
  uint64_t h = kFnvOffset;
  for (SwitchInfo& info : registry_.List()) {
    if (!info.defined) continue;
    FlagRow row;
    row.state = info.effective.state;
    row.allow = info.effective.allow;
    row.name = std::move(info.name);
    const nlohmann::json metadata = Metadata(info);
    // Every answer the row can give, each from OfrepEvaluate itself.
    const std::optional<OfrepVerdict> fixed =
        OfrepEvaluate(row.name, row.state, row.allow, std::nullopt);
    if (fixed) {
      row.on_json = Dump(Success(row.name, *fixed, metadata));
    } else {
      row.on_json = Dump(Success(row.name, {true, "on", "SPLIT"}, metadata));
      row.off_json = Dump(Success(row.name, {false, "off", "SPLIT"}, metadata));
      row.missing_json = Dump(
          Failure(row.name, "TARGETING_KEY_MISSING", TargetingKeyMissing(row.name, row.allow)));
    }
    h = Fnv(h, row.on_json);
    h = Fnv(h, row.off_json);
    h = Fnv(h, row.state == State::kOn ? "|on|" : "|off|");
    h = Fnv(h, Hex16(Threshold(row.allow)));
    table->rows.push_back(std::move(row));
  }
  table->hash = h;
  table_ = table;
  return table_;
}

void OfrepRoutes::EvaluateAll(const httplib::Request& req, httplib::Response& res) {
  std::optional<Context> context = ParseContext(req, res, "");
  if (!context) return;
  const std::shared_ptr<const Table> table = CurrentTable();
  const std::string etag = BulkETag(table->hash, context->targeting_key);
  res.set_header("ETag", etag);
  if (req.has_header("If-None-Match") &&
      NoneMatchHits(req.get_header_value("If-None-Match"), etag)) {
    res.status = 304;
    return;
  }
  std::string body = "{\"flags\":[";
  for (size_t i = 0; i < table->rows.size(); ++i) {
    const FlagRow& row = table->rows[i];
    if (i > 0) body += ',';
    const std::optional<OfrepVerdict> verdict =
        OfrepEvaluate(row.name, row.state, row.allow, context->targeting_key);
    if (!verdict) {
      body += row.missing_json;
    } else {
      body += verdict->value || row.off_json.empty() ? row.on_json : row.off_json;
    }
  }
  body += "]}";
  res.status = 200;
  res.set_content(body, "application/json");
}

void OfrepRoutes::Configuration(const httplib::Request& req, httplib::Response& res) const {
  static const std::string body = Dump(
      {{"name", "degrade"},
       {"capabilities",
        {{"cacheInvalidation",
          {{"polling", {{"enabled", true}, {"minPollingIntervalMs", kMinPollingIntervalMs}}}}},
         {"flagEvaluation", {{"supportedTypes", {"boolean"}}}}}}});
  static const std::string etag = absl::StrCat("\"", Hex16(Fnv(kFnvOffset, body)), "\"");
  res.set_header("ETag", etag);
  if (req.has_header("If-None-Match") &&
      NoneMatchHits(req.get_header_value("If-None-Match"), etag)) {
    res.status = 304;
    return;
  }
  res.status = 200;
  res.set_content(body, "application/json");
}

}  // namespace degrade::internal
