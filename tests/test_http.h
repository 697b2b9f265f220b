// JSON replies of the admin endpoint for degrade's gtest suites (namespace
// degrade::test_util; tests/test_util.h says how the test helpers are
// organised).
//
//   Json(result)      the reply's body as JSON; null when there was no reply
//                     or the body is not JSON (never throws)
//   ErrorOf(result)   the reply's {"error": "..."} text, or a placeholder
//                     that names what came instead (for failure messages)
//   StartAdmin(registry, token)
//                     a Runtime serving `registry`'s admin endpoint on
//                     127.0.0.1 (a free port) with `token`; a failed start
//                     fails the test and returns null
#ifndef DEGRADE_TESTS_TEST_HTTP_H_
#define DEGRADE_TESTS_TEST_HTTP_H_

#include <memory>
#include <string>
#include <utility>

#include "degrade/registry.h"
#include "degrade/runtime.h"
#include "gtest/gtest.h"
#include "httplib.h"
#include "nlohmann/json.hpp"

namespace degrade::test_util {

inline nlohmann::json Json(const httplib::Result& r) {
  if (!r) return nullptr;
  return nlohmann::json::parse(r->body, nullptr, /*allow_exceptions=*/false);
}

inline std::string ErrorOf(const httplib::Result& r) {
  const nlohmann::json j = Json(r);
  return j.is_object() && j.contains("error") && j["error"].is_string()
             ? j["error"].get<std::string>()
             : std::string("<no JSON error in: ") + (r ? r->body : "no response") + ">";
}

inline std::unique_ptr<Runtime> StartAdmin(Registry& registry, std::string token) {
  Options o;
  o.registry = &registry;
  o.admin_addr = "127.0.0.1:0";
  o.admin_token = std::move(token);
  absl::StatusOr<std::unique_ptr<Runtime>> rt = Runtime::Start(o);
  EXPECT_TRUE(rt.ok()) << rt.status();
  return rt.ok() ? *std::move(rt) : nullptr;
}

}  // namespace degrade::test_util

#endif  // DEGRADE_TESTS_TEST_HTTP_H_
