// The admin endpoint's routes (DESIGN section 7; admin_server.h lists them
// and docs/admin.md has every status code): the checks every request passes
// before routing (Host, Origin, body framing and type), the switch API, the
// console, /metrics and /healthz, and the JSON error bodies of everything the
// HTTP layer refuses. Not installed.
#ifndef DEGRADE_LIB_ADMIN_ROUTES_H_
#define DEGRADE_LIB_ADMIN_ROUTES_H_

#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "admin/admin_config.h"
#include "admin/events_route.h"
#include "admin/rate_window.h"
#include "admin/request_log.h"
#include "degrade/registry.h"
#include "httplib.h"
#include "nlohmann/json.hpp"

namespace degrade::internal {

class Routes {
 public:
  // `registry` and `config` outlive the routes and the server they are
  // installed on. Starts the sampler of the listings' rate_1m.
  Routes(Registry& registry, const AdminConfig& config)
      : registry_(registry), config_(config), rates_(registry) {}
  // Logs the refusals not yet reported (RefusalLog::Flush). After the
  // server has stopped: no handler runs any more.
  ~Routes();

  Routes(const Routes&) = delete;
  Routes& operator=(const Routes&) = delete;

  // Refused-request lines: one per distinct problem per interval.
  static constexpr absl::Duration kRefusalLogInterval = absl::Seconds(10);
  static constexpr size_t kMaxRefusalProblems = 64;

  // Registers the handlers on `server` (before it listens). Every path and
  // method reaches the routes, which answer 404 and 405 themselves.
  void Install(httplib::Server& server);

  // The change stream GET /degrade/v1/events serves (events_route.h); the
  // route answers 404 without one. Set before Install; outlives the server.
  void set_events(EventRing* events) { events_ = events; }

 private:
  bool Admissible(const httplib::Request& req, httplib::Response& res);
  std::string_view WhereTokenIs(const httplib::Request& req) const;
  void RefuseCarriedToken(const httplib::Request& req, httplib::Response& res,
                          std::string_view where);
  bool JsonBody(const httplib::Request& req, httplib::Response& res);
  httplib::Server::HandlerResponse LibraryError(httplib::Response& res);
  void Handle(const httplib::Request& req, httplib::Response& res);
  void MethodNotAllowed(const httplib::Request& req, httplib::Response& res,
                        std::string_view allow);
  void GetSwitch(const std::string& name, httplib::Response& res);
  bool Authorized(const httplib::Request& req, httplib::Response& res);
  void PutSwitch(const std::string& name, const httplib::Request& req, httplib::Response& res);
  void DeleteSwitch(const std::string& name, const httplib::Request& req,
                    httplib::Response& res);
  void NotDefined(const std::string& name, httplib::Response& res);
  void PutSwitches(const httplib::Request& req, httplib::Response& res);
  void PutShed(const httplib::Request& req, httplib::Response& res);
  void DeleteShed(const httplib::Request& req, httplib::Response& res);
  void PutGovernor(const httplib::Request& req, httplib::Response& res);
  void DeleteGovernor(const httplib::Request& req, httplib::Response& res);
  std::vector<std::string> ShedByAdmin() const;
  std::string DefaultActor(const httplib::Request& req) const;

  void SendJson(httplib::Response& res, int status, const nlohmann::json& body) const;
  void SendError(httplib::Response& res, int status, std::string_view message) const;
  void SendError(httplib::Response& res, int status, const absl::Status& error) const;
  void Audit(LogLevel level, std::string_view line) const;
  // Logs a refusal of kind `problem` (fixed text, never the request's own)
  // through the rate limit.
  void LogRefusal(std::string_view problem, std::string line);

  Registry& registry_;
  const AdminConfig& config_;
  RefusalLog refusals_{kRefusalLogInterval, kMaxRefusalProblems};
  RateWindow rates_;  // rate_1m in the listing and GET of one switch
  EventRing* events_ = nullptr;
};

}  // namespace degrade::internal

#endif  // DEGRADE_LIB_ADMIN_ROUTES_H_
