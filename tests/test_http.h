// JSON replies of the admin endpoint for degrade's gtest suites (namespace
// degrade::test_util; tests/test_util.h says how the test helpers are
// organised).
//
//   Json(result)      the reply's body as JSON; null when there was no reply
//                     or the body is not JSON (never throws)
//   ErrorOf(result)   the reply's {"error": "..."} text, or a placeholder
//                     that names what came instead (for failure messages)
#ifndef DEGRADE_TESTS_TEST_HTTP_H_
#define DEGRADE_TESTS_TEST_HTTP_H_

#include <string>

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

}  // namespace degrade::test_util

#endif  // DEGRADE_TESTS_TEST_HTTP_H_
