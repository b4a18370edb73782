// Timing shared by the bench programs: run an operation for a while, report ops/s, MB/s and
// latency percentiles, and print one Markdown table row with a ratio to a reference.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <functional>
#include <vector>

namespace vhsm::bench {

using Clock = std::chrono::steady_clock;

struct Result {
  double opsPerSecond, mbPerSecond, p50us, p99us;
};

// Runs op repeatedly for about `seconds`, timing each call.
inline Result measure(double seconds, size_t bytesPerOp, const std::function<void()>& op) {
  std::vector<double> latencies;
  auto start = Clock::now();
  auto end =
      start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
  auto now = start;
  while (now < end) {
    auto t0 = Clock::now();
    op();
    now = Clock::now();
    latencies.push_back(std::chrono::duration<double, std::micro>(now - t0).count());
  }
  double elapsed = std::chrono::duration<double>(now - start).count();
  std::sort(latencies.begin(), latencies.end());
  double ops = double(latencies.size()) / elapsed;
  return {ops, ops * double(bytesPerOp) / 1e6, latencies[latencies.size() / 2],
          latencies[latencies.size() * 99 / 100]};
}

// The run with the median ops/s (runs are interleaved with their references by the caller).
inline Result medianOf(std::vector<Result> runs) {
  std::sort(runs.begin(), runs.end(),
            [](const Result& a, const Result& b) { return a.opsPerSecond < b.opsPerSecond; });
  return runs[runs.size() / 2];
}

inline void printHeader() {
  std::printf("| %-36s | %8s | %12s | %9s | %8s | %8s | %6s |\n", "case", "bytes", "ops/s", "MB/s",
              "p50 us", "p99 us", "ratio");
  std::printf(
      "|--------------------------------------|----------|--------------|-----------|"
      "----------|----------|--------|\n");
}

// ratio: ops/s over reference's (1.00 when there is none).
inline void print(const char* name, size_t size, const Result& r, double reference) {
  std::printf("| %-36s | %8zu | %12.0f | %9.1f | %8.1f | %8.1f | %6.2f |\n", name, size,
              r.opsPerSecond, r.mbPerSecond, r.p50us, r.p99us,
              reference > 0 ? r.opsPerSecond / reference : 1.0);
}

}  // namespace vhsm::bench
