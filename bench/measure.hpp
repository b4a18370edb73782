// Timing shared by the bench programs: run an operation for a while, report ops/s, MB/s and
// latency percentiles, and print one Markdown table row with a ratio to a reference.
#pragma once

#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <barrier>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <stdexcept>
#include <thread>
#include <utility>
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

// Two ways of doing one operation that differ by a few percent — less than this machine drifts
// within a second — compared in alternating blocks of a few milliseconds (a, b, then b, a, …)
// for about `seconds` in all; ops/s of each over all its blocks. Timing two whole runs one after
// the other swung an identical pair's ratio by ±20 %; this keeps it within about 1 %.
struct PairedRates {
  double a, b;
};

inline PairedRates pairedRates(double seconds, int perBlock, const std::function<void()>& a,
                               const std::function<void()>& b) {
  auto block = [perBlock](const std::function<void()>& op) {
    auto t0 = Clock::now();
    for (int i = 0; i < perBlock; ++i) op();
    return std::chrono::duration<double>(Clock::now() - t0).count();
  };
  double timeA = 0, timeB = 0;
  uint64_t blocks = 0;
  for (; timeA + timeB < seconds || blocks < 2; ++blocks) {
    if (blocks % 2 == 0) {
      timeA += block(a);
      timeB += block(b);
    } else {
      timeB += block(b);
      timeA += block(a);
    }
  }
  double calls = double(blocks) * perBlock;
  return {calls / timeA, calls / timeB};
}

// Aggregate ops/s of `workers` threads or processes at once. Each runs work(ready): it sets up
// (its own connection and login), calls ready() — which returns once every worker is set up,
// with the common end of the measuring window — loops until then and returns its count.
// Processes talk to the parent through pipes; fork only with no other threads running.
using Worker = std::function<uint64_t(const std::function<Clock::time_point()>& ready)>;

inline double aggregateRate(int workers, bool processes, double seconds, const Worker& work) {
  auto window = std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
  uint64_t total = 0;
  if (processes) {
    struct Child {
      pid_t pid;
      int toParent, fromParent;
    };
    std::vector<Child> children;
    for (int i = 0; i < workers; ++i) {
      int up[2], down[2];
      if (pipe(up) != 0 || pipe(down) != 0) throw std::runtime_error("pipe");
      pid_t pid = fork();
      if (pid == 0) {
        uint64_t n = work([&] {
          char ready = 1;
          Clock::rep end = 0;
          if (write(up[1], &ready, 1) != 1 || read(down[0], &end, sizeof end) != sizeof end)
            _exit(1);
          return Clock::time_point(Clock::duration(end));
        });
        [[maybe_unused]] auto w = write(up[1], &n, sizeof n);
        _exit(0);
      }
      close(up[1]);
      close(down[0]);
      children.push_back({pid, up[0], down[1]});
    }
    for (auto& c : children) {
      char ready = 0;
      if (read(c.toParent, &ready, 1) != 1) throw std::runtime_error("a bench worker died");
    }
    Clock::rep end = (Clock::now() + window).time_since_epoch().count();
    for (auto& c : children)
      if (write(c.fromParent, &end, sizeof end) != sizeof end) throw std::runtime_error("pipe");
    for (auto& c : children) {
      uint64_t n = 0;
      if (read(c.toParent, &n, sizeof n) == sizeof n) total += n;
      close(c.toParent);
      close(c.fromParent);
      waitpid(c.pid, nullptr, 0);
    }
  } else {
    Clock::time_point end;
    std::barrier start(workers, [&]() noexcept { end = Clock::now() + window; });
    std::vector<std::thread> threads;
    std::atomic<uint64_t> sum{0};
    for (int i = 0; i < workers; ++i)
      threads.emplace_back([&] {
        sum += work([&] {
          start.arrive_and_wait();
          return end;
        });
      });
    for (auto& t : threads) t.join();
    total = sum;
  }
  return double(total) / seconds;
}

// The concurrency table: one row per (what, threads|processes), aggregate ops/s at 1, 2, 4 and
// 8 workers and the 4-vs-1 ratio the targets name.
inline void printConcurrencyHeader(const char* what) {
  std::printf("\n| %s, aggregate ops/s | 1 | 2 | 4 | 8 | 4 vs 1 |\n|---|---|---|---|---|---|\n",
              what);
}

inline void printConcurrencyRows(const char* what, double seconds, const Worker& work) {
  for (bool processes : {false, true}) {
    std::vector<double> rates;
    for (int workers : {1, 2, 4, 8})
      rates.push_back(aggregateRate(workers, processes, seconds, work));
    std::printf("| %s, client %s | %.0f | %.0f | %.0f | %.0f | %.2f |\n", what,
                processes ? "processes" : "threads", rates[0], rates[1], rates[2], rates[3],
                rates[2] / rates[0]);
  }
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
