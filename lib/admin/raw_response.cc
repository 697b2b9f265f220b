// Responses written without cpp-httplib (raw_response.h).
#include "admin/raw_response.h"

#include "absl/strings/str_cat.h"
#include "core/str_util.h"

namespace degrade::internal {
namespace {

std::string_view Reason(int status) {
  switch (status) {
    case 400:
      return "Bad Request";
    case 408:
      return "Request Timeout";
    case 413:
      return "Payload Too Large";
    case 414:
      return "URI Too Long";
    case 431:
      return "Request Header Fields Too Large";
    case 503:
      return "Service Unavailable";
    default:
      return "Error";
  }
}

}  // namespace

std::string RawErrorResponse(int status, std::string_view message, std::string_view extra_headers) {
  std::string body = R"({"error":")";
  for (const char c : message) {
    if (c == '"' || c == '\\') body.push_back('\\');
    body.push_back(c);
  }
  body += "\"}";
  std::string out =
      absl::StrCat("HTTP/1.1 ", status, " ", ToAbsl(Reason(status)),
                   "\r\nContent-Type: application/json\r\nContent-Length: ", body.size(),
                   "\r\nConnection: close\r\n");
  for (const auto& [name, value] : kSecurityHeaders) {
    absl::StrAppend(&out, ToAbsl(name), ": ", ToAbsl(value), "\r\n");
  }
  absl::StrAppend(&out, ToAbsl(extra_headers), "\r\n", body);
  return out;
}

}  // namespace degrade::internal
