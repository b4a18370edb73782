// The operators' counters in-process: connections and sessions per container, with every
// namespace anyone can make counted on one "unregistered" line, and the Prometheus text.
#include <catch2/catch.hpp>
#include <string>

#include "keyd/service/container_directory.hpp"
#include "keyd/service/init_store.hpp"
#include "keyd/service/metrics.hpp"
#include "tests/support/keyd_process.hpp"

using namespace vhsm;
using keyd::ContainerDirectory;
using keyd::Metrics;

namespace {

const NetnsIdentity kHost{1, 1};

struct Fixture {
  test::TempDir dir;
  std::unique_ptr<store::Store> store;
  std::unique_ptr<ContainerDirectory> containers;
  Fixture() {
    std::string root = "root-pw";
    keyd::initStore(dir.path() / "store",
                    {reinterpret_cast<const uint8_t*>(root.data()), root.size()}, 1000);
    store = store::Store::open(dir.path() / "store");
    containers = std::make_unique<ContainerDirectory>(*store, kHost);
  }
};

}  // namespace

TEST_CASE("metrics: a thousand namespaces of an attacker are one line, the host its own") {
  Fixture f;
  Metrics m;
  m.connectionOpened(kHost);
  m.sessionStarted(kHost);
  for (uint64_t i = 0; i < 1000; ++i) m.connectionOpened({1000 + i, 5000 + i});
  auto s = m.snapshot(*f.containers);
  REQUIRE(s.containers.size() == 2);
  CHECK(s.containers[0].first == "host");
  CHECK(s.containers[0].second.connections == 1);
  CHECK(s.containers[0].second.sessions == 1);
  CHECK(s.containers[1].first == "unregistered");
  CHECK(s.containers[1].second.connections == 1000);

  // Ended connections leave nothing behind.
  m.sessionEnded(kHost);
  m.connectionClosed(kHost);
  for (uint64_t i = 0; i < 1000; ++i) m.connectionClosed({1000 + i, 5000 + i});
  CHECK(m.snapshot(*f.containers).containers.empty());
}

TEST_CASE("metrics: requests and refusals by their schema names, in Prometheus text") {
  Fixture f;
  Metrics m;
  m.request(unsigned(proto::Request::LOGIN));
  m.request(unsigned(proto::Request::LOGIN));
  m.request(unsigned(proto::Request::HMAC));
  m.refusal(unsigned(proto::ErrorCode::WRONG_PASSWORD));
  m.request(9999);  // out of range: ignored, never a crash
  m.connectionOpened(kHost);
  auto text = keyd::prometheusText(m.snapshot(*f.containers), 7, 3);
  CHECK(text.find("vhsm_requests_total{request=\"login\"} 2\n") != std::string::npos);
  CHECK(text.find("vhsm_requests_total{request=\"hmac\"} 1\n") != std::string::npos);
  CHECK(text.find("vhsm_refusals_total{code=\"wrongPassword\"} 1\n") != std::string::npos);
  CHECK(text.find("vhsm_connections{container=\"host\"} 1\n") != std::string::npos);
  CHECK(text.find("vhsm_uptime_seconds 7\n") != std::string::npos);
  CHECK(text.find("vhsm_audit_queued 3\n") != std::string::npos);
  CHECK(text.find("# TYPE vhsm_requests_total counter\n") != std::string::npos);
}
