// Responses the admin server's connection layer writes itself, without
// cpp-httplib: the refusal of a connection beyond the line (503) and the
// answers to requests cut off at a limit (413, 414, 431). Also the security
// headers every response of the endpoint carries. Not installed.
#ifndef DEGRADE_LIB_ADMIN_RAW_RESPONSE_H_
#define DEGRADE_LIB_ADMIN_RAW_RESPONSE_H_

#include <string>
#include <string_view>
#include <utility>

namespace degrade::internal {

// On every response, errors included. The console's CSP lets only its own
// inline code run and talk only to this origin; there are no CORS headers,
// so other origins cannot call the API from a browser.
inline constexpr std::pair<std::string_view, std::string_view> kSecurityHeaders[] = {
    {"Content-Security-Policy",
     "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
     "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"},
    {"X-Content-Type-Options", "nosniff"},
    {"X-Frame-Options", "DENY"},
    {"Cache-Control", "no-store"},
    {"Referrer-Policy", "no-referrer"},
};

// A complete HTTP/1.1 response with {"error": message} as its body,
// "Connection: close", the security headers and `extra_headers` (each line
// ending in "\r\n"). `message` must not need JSON escaping beyond what
// this does for quotes and backslashes (it is the server's own text).
std::string RawErrorResponse(int status, std::string_view message,
                             std::string_view extra_headers = {});

}  // namespace degrade::internal

#endif  // DEGRADE_LIB_ADMIN_RAW_RESPONSE_H_
