// Request text in log lines, and the rate limit of refusals (request_log.h).
#include "admin/request_log.h"

#include <algorithm>
#include <cstdint>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace degrade::internal {
namespace {

// The length of the UTF-8 sequence starting at s[i] and its code point, or
// 0 when the bytes there are not a valid, shortest-form sequence.
size_t DecodeUtf8(std::string_view s, size_t i, uint32_t& cp) {
  const auto byte = [&](size_t k) { return static_cast<unsigned char>(s[k]); };
  const unsigned char b = byte(i);
  size_t n = 0;
  uint32_t min = 0;
  if (b >= 0xC2 && b <= 0xDF) {
    n = 2, cp = b & 0x1FU, min = 0x80;
  } else if (b >= 0xE0 && b <= 0xEF) {
    n = 3, cp = b & 0x0FU, min = 0x800;
  } else if (b >= 0xF0 && b <= 0xF4) {
    n = 4, cp = b & 0x07U, min = 0x10000;
  } else {
    return 0;
  }
  if (i + n > s.size()) return 0;
  for (size_t k = 1; k < n; ++k) {
    if ((byte(i + k) & 0xC0U) != 0x80U) return 0;
    cp = (cp << 6U) | (byte(i + k) & 0x3FU);
  }
  if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
  return n;
}

// Characters that a terminal or a log viewer shows as something else than
// text in place: C1 controls, line and paragraph separators, and the
// bidirectional embeddings, overrides and isolates ("Trojan Source").
bool IsFormatting(uint32_t cp) {
  return (cp >= 0x80 && cp <= 0x9F) || cp == 0x2028 || cp == 0x2029 ||
         (cp >= 0x202A && cp <= 0x202E) || (cp >= 0x2066 && cp <= 0x2069) || cp == 0x200E ||
         cp == 0x200F || cp == 0x061C;
}

std::string Escape(std::string_view s, size_t max_bytes, bool backslash) {
  std::string out;
  out.reserve(std::min(s.size(), max_bytes) + 8);
  size_t i = 0;
  while (i < s.size()) {
    const auto b = static_cast<unsigned char>(s[i]);
    size_t n = 1;
    if (b < 0x80) {
      if (i + 1 > max_bytes) break;
      if (b < 0x20 || b == 0x7F) {
        absl::StrAppendFormat(&out, "\\x%02X", b);
      } else if (b == '\\' && backslash) {
        out += "\\\\";
      } else {
        out += static_cast<char>(b);
      }
    } else {
      uint32_t cp = 0;
      n = DecodeUtf8(s, i, cp);
      if (n == 0) {
        n = 1;
        if (i + 1 > max_bytes) break;
        absl::StrAppendFormat(&out, "\\x%02X", b);
      } else {
        if (i + n > max_bytes) break;
        if (IsFormatting(cp)) {
          absl::StrAppendFormat(&out, "\\u%04X", cp);
        } else {
          out.append(s.substr(i, n));
        }
      }
    }
    i += n;
  }
  if (i < s.size()) out += "...";
  return out;
}

}  // namespace

std::string LogText(std::string_view s, size_t max_bytes) {
  return Escape(s, max_bytes, /*backslash=*/true);
}

std::string LogLine(std::string_view line) {
  return Escape(line, kMaxLogLineBytes, /*backslash=*/false);
}

RefusalLog::RefusalLog(absl::Duration interval, size_t max_problems)
    : interval_(interval), max_problems_(std::max<size_t>(max_problems, 1)) {}

std::string RefusalLog::Since(absl::Time logged, absl::Time now) {
  return absl::StrCat(absl::ToInt64Seconds(absl::Ceil(now - logged, absl::Seconds(1))), " s");
}

std::string RefusalLog::Summary(const Problem& p, absl::Time now) {
  return absl::StrCat("admin: ", p.suppressed, " similar refused ",
                      p.suppressed == 1 ? "request" : "requests", " in the last ",
                      Since(p.logged, now), " not logged: ", p.key);
}

std::vector<std::string> RefusalLog::Refused(std::string_view problem, std::string line,
                                             absl::Time now) {
  // A problem that could not get a slot of its own: every such refusal is
  // counted under this one key.
  constexpr std::string_view kOverflow = "other refusals (too many kinds to tell apart)";
  std::vector<std::string> out;
  std::lock_guard<std::mutex> lock(mu_);
  auto it = std::find_if(problems_.begin(), problems_.end(),
                         [&](const Problem& p) { return p.key == problem; });
  if (it == problems_.end() && problems_.size() >= max_problems_) {
    // The slot of the problem logged longest ago, once its interval is over.
    auto oldest = problems_.end();
    for (auto p = problems_.begin(); p != problems_.end(); ++p) {
      if (p->key != kOverflow && now - p->logged >= interval_ &&
          (oldest == problems_.end() || p->logged < oldest->logged)) {
        oldest = p;
      }
    }
    if (oldest != problems_.end()) {
      if (oldest->suppressed > 0) out.push_back(Summary(*oldest, now));
      *oldest = Problem{std::string(problem), absl::InfinitePast(), 0};
      it = oldest;
    } else {
      it = std::find_if(problems_.begin(), problems_.end(),
                        [&](const Problem& p) { return p.key == kOverflow; });
      if (it == problems_.end()) {
        problems_.push_back(Problem{std::string(kOverflow), absl::InfinitePast(), 0});
        it = problems_.end() - 1;
      }
    }
  } else if (it == problems_.end()) {
    problems_.push_back(Problem{std::string(problem), absl::InfinitePast(), 0});
    it = problems_.end() - 1;
  }
  if (now - it->logged < interval_) {
    ++it->suppressed;
  } else {
    if (it->suppressed > 0) {
      absl::StrAppend(&line, " (", it->suppressed, " similar refused in the last ",
                      Since(it->logged, now), ")");
    }
    out.push_back(std::move(line));
    it->logged = now;
    it->suppressed = 0;
  }
  // Other problems whose counts are due are reported now, rather than only
  // when that problem comes back.
  for (Problem& p : problems_) {
    if (p.suppressed > 0 && now - p.logged >= interval_) {
      out.push_back(Summary(p, now));
      p.logged = now;
      p.suppressed = 0;
    }
  }
  return out;
}

std::vector<std::string> RefusalLog::Flush(absl::Time now) {
  std::vector<std::string> out;
  std::lock_guard<std::mutex> lock(mu_);
  for (const Problem& p : problems_) {
    if (p.suppressed > 0) out.push_back(Summary(p, now));
  }
  problems_.clear();
  return out;
}

size_t RefusalLog::problems() const {
  std::lock_guard<std::mutex> lock(mu_);
  return problems_.size();
}

}  // namespace degrade::internal
