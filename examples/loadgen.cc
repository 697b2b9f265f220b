// loadgen: steady HTTP load against one URL, reported once a second.
//
//   loadgen --url http://127.0.0.1:8080/checkout [--rate 100] [--concurrency 16]
//           [--duration-s 5] [--timeout-ms 1000] [--label TEXT]
//
// Each of --concurrency workers sends GETs at --rate / --concurrency per
// second (immediately again when a request took longer than that), one
// connection per request. A request succeeds when it gets a 200 within
// --timeout-ms: the user's patience. Every second prints one line:
//   [slow] t=3s  req  98  ok  41.8%  p50  1000ms  p99  1003ms  degraded: recommendations 100%
// where the latencies are of every request (a timed-out one counts as its
// timeout) and "degraded" is how many answers left out each optional part
// (the "degraded" list of the shop's answer). At the end, one summary line:
//   [slow] total: req 490  ok  40.2%  p50  1000ms  p99  1004ms
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "httplib.h"
#include "nlohmann/json.hpp"

namespace {

using Clock = std::chrono::steady_clock;

struct Bucket {
  std::vector<double> latency_ms;
  uint64_t ok = 0;
  std::map<std::string, uint64_t> degraded;
};

std::string Summary(const std::string& label, const std::string& when, Bucket b) {
  const size_t n = b.latency_ms.size();
  if (n == 0) return "[" + label + "] " + when + "  no request completed\n";
  std::sort(b.latency_ms.begin(), b.latency_ms.end());
  auto pct = [&](double p) { return b.latency_ms[std::min(n - 1, static_cast<size_t>(p * n))]; };
  char line[256];
  std::snprintf(line, sizeof line, "[%s] %-6s  req %4zu  ok %5.1f%%  p50 %5.0fms  p99 %5.0fms",
                label.c_str(), when.c_str(), n, 100.0 * static_cast<double>(b.ok) / n, pct(0.5),
                pct(0.99));
  std::string out = line;
  if (!b.degraded.empty()) {
    out += "  degraded:";
    for (const auto& [name, count] : b.degraded) {
      std::snprintf(line, sizeof line, " %s %.0f%%", name.c_str(),
                    100.0 * static_cast<double>(count) / n);
      out += line;
    }
  }
  return out + "\n";
}

}  // namespace

int main(int argc, char** argv) {
  std::string url, label = "load";
  double rate = 100;
  int concurrency = 16, duration_s = 5, timeout_ms = 1000;
  bool bad = argc % 2 == 0;  // options come in pairs
  for (int i = 1; !bad && i + 1 < argc; i += 2) {
    const std::string arg = argv[i], value = argv[i + 1];
    if (arg == "--url") {
      url = value;
    } else if (arg == "--rate") {
      rate = std::atof(value.c_str());
    } else if (arg == "--concurrency") {
      concurrency = std::atoi(value.c_str());
    } else if (arg == "--duration-s") {
      duration_s = std::atoi(value.c_str());
    } else if (arg == "--timeout-ms") {
      timeout_ms = std::atoi(value.c_str());
    } else if (arg == "--label") {
      label = value;
    } else {
      bad = true;
    }
  }
  if (bad || url.empty() || rate <= 0 || concurrency < 1 || concurrency > 256 || duration_s < 1 ||
      duration_s > 600 || timeout_ms < 1) {
    std::fprintf(stderr,
                 "usage: loadgen --url URL [--rate RPS] [--concurrency N] [--duration-s S] "
                 "[--timeout-ms MS] [--label TEXT]\n");
    return 2;
  }
  // "http://host:port/path" -> client "http://host:port", path "/path".
  const size_t scheme = url.find("://");
  const size_t slash = url.find('/', scheme == std::string::npos ? 0 : scheme + 3);
  const std::string host = url.substr(0, slash);
  const std::string path = slash == std::string::npos ? "/" : url.substr(slash);

  const Clock::time_point start = Clock::now();
  const Clock::time_point end = start + std::chrono::seconds(duration_s);
  std::mutex mu;
  std::vector<Bucket> buckets(duration_s + 1);  // by completion second
  const auto interval = std::chrono::duration_cast<Clock::duration>(
      std::chrono::duration<double>(concurrency / rate));

  std::vector<std::thread> workers;
  for (int w = 0; w < concurrency; ++w) {
    workers.emplace_back([&, w] {
      httplib::Client client(host);
      client.set_keep_alive(false);
      client.set_connection_timeout(std::chrono::milliseconds(timeout_ms));
      client.set_read_timeout(std::chrono::milliseconds(timeout_ms));
      // Spread the workers over one interval so the load is even.
      Clock::time_point next = start + interval * w / concurrency;
      while (true) {
        std::this_thread::sleep_until(next);
        const Clock::time_point t0 = Clock::now();
        if (t0 >= end) break;
        httplib::Result res = client.Get(path);
        const Clock::time_point t1 = Clock::now();
        double ms = std::chrono::duration<double, std::milli>(t1 - t0).count();
        const bool ok = res && res->status == 200 && ms <= timeout_ms;
        std::vector<std::string> degraded;
        if (ok) {
          auto body = nlohmann::json::parse(res->body, nullptr, /*allow_exceptions=*/false);
          if (body.is_object() && body.contains("degraded") && body["degraded"].is_array()) {
            for (const auto& d : body["degraded"]) {
              if (d.is_string()) degraded.push_back(d.get<std::string>());
            }
          }
        } else {
          ms = std::min<double>(ms, timeout_ms);
        }
        const size_t second = std::min<size_t>(
            std::chrono::duration_cast<std::chrono::seconds>(t1 - start).count(), duration_s);
        {
          std::lock_guard<std::mutex> lock(mu);
          Bucket& b = buckets[second];
          b.latency_ms.push_back(ms);
          b.ok += ok ? 1 : 0;
          for (const auto& d : degraded) ++b.degraded[d];
        }
        next = std::max(next + interval, Clock::now());
      }
    });
  }

  // Print each second once it is over.
  for (int s = 1; s <= duration_s; ++s) {
    std::this_thread::sleep_until(start + std::chrono::seconds(s));
    Bucket copy;
    {
      std::lock_guard<std::mutex> lock(mu);
      copy = buckets[s - 1];
    }
    std::fputs(Summary(label, "t=" + std::to_string(s) + "s", copy).c_str(), stdout);
    std::fflush(stdout);
  }
  for (auto& t : workers) t.join();
  Bucket total;
  for (const Bucket& b : buckets) {
    total.latency_ms.insert(total.latency_ms.end(), b.latency_ms.begin(), b.latency_ms.end());
    total.ok += b.ok;
    for (const auto& [name, count] : b.degraded) total.degraded[name] += count;
  }
  std::fputs(Summary(label, "total:", total).c_str(), stdout);
  return 0;
}
