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
#include "admin/admin_config.h"
#include "admin/events_route.h"
#include "degrade/registry.h"
#include "httplib.h"
#include "nlohmann/json.hpp"

namespace degrade::internal {

class Routes {
 public:
  // `registry` and `config` outlive the routes and the server they are
  // installed on.
  Routes(Registry& registry, const AdminConfig& config) : registry_(registry), config_(config) {}

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

  void SendJson(httplib::Response& res, int status, const nlohmann::json& body) const;
  void SendError(httplib::Response& res, int status, std::string_view message) const;
  void SendError(httplib::Response& res, int status, const absl::Status& error) const;
  void Audit(LogLevel level, std::string_view line) const;

  Registry& registry_;
  const AdminConfig& config_;
  EventRing* events_ = nullptr;
};

}  // namespace degrade::internal

#endif  // DEGRADE_LIB_ADMIN_ROUTES_H_
