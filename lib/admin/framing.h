// Request framing checks of the admin endpoint (RFC 9112 sections 2.2, 5 and
// 6): a request whose length could be read two ways by two parsers (a proxy
// and this server, or this server and itself) is refused before it is
// parsed, so no body can be run as a second, smuggled request. Not
// installed.
#ifndef DEGRADE_LIB_ADMIN_FRAMING_H_
#define DEGRADE_LIB_ADMIN_FRAMING_H_

#include <string>
#include <string_view>

namespace degrade::internal {

// Checks a request head: the request line and header lines, each ending in
// CRLF, without the empty line that ends the head. Returns "" when its
// framing is unambiguous, else what is wrong and what is accepted (never
// quoting a header value). Refused:
//   - a line ending in a bare LF, a CR or NUL inside a line;
//   - obs-fold (a header line starting with a space or tab), a line without
//     a colon, a field name that is not a token or has whitespace before
//     its colon;
//   - more than one Content-Length (even with equal values), or a value that
//     is not 1 to 19 digits (a sign, inner spaces, a list, hex);
//   - Transfer-Encoding together with Content-Length, more than one
//     Transfer-Encoding, one other than exactly "chunked", or one in an
//     HTTP/1.0 request;
//   - more than one Host header.
std::string CheckRequestFraming(std::string_view head);

}  // namespace degrade::internal

#endif  // DEGRADE_LIB_ADMIN_FRAMING_H_
