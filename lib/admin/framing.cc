// Request framing checks (framing.h).
#include "admin/framing.h"

#include <algorithm>
#include <cstddef>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "core/str_util.h"

namespace degrade::internal {
namespace {

constexpr std::string_view kAccepted =
    "; accepted: CRLF line ends, one Content-Length of digits or one Transfer-Encoding: "
    "chunked (not both), one Host, no folded header lines (RFC 9112)";

// RFC 9110 section 5.6.2.
bool IsTchar(char c) {
  return absl::ascii_isalnum(static_cast<unsigned char>(c)) ||
         std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

std::string Refuse(std::string_view what) {
  return absl::StrCat("request framing refused: ", ToAbsl(what), ToAbsl(kAccepted));
}

}  // namespace

std::string CheckRequestFraming(std::string_view head) {
  size_t content_lengths = 0;
  size_t transfer_encodings = 0;
  size_t hosts = 0;
  bool chunked = false;
  bool http10 = false;
  bool first = true;
  while (!head.empty()) {
    const size_t lf = head.find('\n');
    if (lf == std::string_view::npos || lf == 0 || head[lf - 1] != '\r') {
      return Refuse("a line does not end in CRLF");
    }
    const std::string_view line = head.substr(0, lf - 1);
    head.remove_prefix(lf + 1);
    if (line.find('\r') != std::string_view::npos || line.find('\0') != std::string_view::npos) {
      return Refuse("a line contains a CR or NUL");
    }
    if (first) {  // the request line; cpp-httplib parses the rest of it
      first = false;
      http10 = absl::EndsWith(ToAbsl(line), " HTTP/1.0");
      continue;
    }
    if (line.front() == ' ' || line.front() == '\t') {
      return Refuse("a header line is folded (starts with a space or tab)");
    }
    const size_t colon = line.find(':');
    if (colon == std::string_view::npos) return Refuse("a header line has no colon");
    const std::string_view name = line.substr(0, colon);
    if (name.empty() || !std::all_of(name.begin(), name.end(), IsTchar)) {
      return Refuse("a header name is empty, not a token, or has whitespace before its colon");
    }
    const absl::string_view value = absl::StripAsciiWhitespace(ToAbsl(line.substr(colon + 1)));
    if (absl::EqualsIgnoreCase(ToAbsl(name), "Content-Length")) {
      if (++content_lengths > 1) return Refuse("more than one Content-Length");
      if (value.empty() || value.size() > 19 ||
          !std::all_of(value.begin(), value.end(),
                       [](char c) { return absl::ascii_isdigit(static_cast<unsigned char>(c)); })) {
        return Refuse("Content-Length is not 1 to 19 digits");
      }
    } else if (absl::EqualsIgnoreCase(ToAbsl(name), "Transfer-Encoding")) {
      if (++transfer_encodings > 1) return Refuse("more than one Transfer-Encoding");
      if (!absl::EqualsIgnoreCase(value, "chunked")) {
        return Refuse("a Transfer-Encoding other than exactly chunked");
      }
      chunked = true;
    } else if (absl::EqualsIgnoreCase(ToAbsl(name), "Host")) {
      if (++hosts > 1) return Refuse("more than one Host");
    }
  }
  if (chunked && content_lengths > 0) return Refuse("both Content-Length and Transfer-Encoding");
  if (chunked && http10) return Refuse("Transfer-Encoding in an HTTP/1.0 request");
  return {};
}

}  // namespace degrade::internal
