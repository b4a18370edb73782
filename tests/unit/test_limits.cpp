// keyd's limits in-process: the login throttle and the refusal-record limiter.
#include <catch2/catch.hpp>
#include <thread>

#include "keyd/service/login_throttle.hpp"
#include "keyd/service/refusal_limiter.hpp"

using namespace vhsm::keyd;

TEST_CASE("login throttle: free failures, then one attempt per doubling delay") {
  LoginThrottle t;
  LoginThrottle::Who who{"alice", "web", 1000};
  for (unsigned i = 1; i < LoginThrottle::kFreeFailures; ++i) {
    REQUIRE(t.begin(who) == 0);
    CHECK(t.end(who, false) == 0);
  }
  REQUIRE(t.begin(who) == 0);
  auto delay = t.end(who, false);
  CHECK(delay > 900);
  CHECK(delay <= 1000);
  CHECK(t.begin(who) > 0);  // refused, not counted
  // Someone else (another uid, another container, another user) is not slowed.
  CHECK(t.begin({"alice", "web", 1001}) == 0);
  CHECK(t.begin({"alice", "db", 1000}) == 0);
  CHECK(t.begin({"bob", "web", 1000}) == 0);
}

TEST_CASE("login throttle: racing attempts get no more guesses than one caller") {
  LoginThrottle t;
  LoginThrottle::Who who{"root", "host", 65534};
  // Started together: only as many as there are free failures run at once.
  unsigned running = 0;
  for (int i = 0; i < 8; ++i) running += t.begin(who) == 0;
  CHECK(running == LoginThrottle::kFreeFailures);
  CHECK(t.begin(who) == LoginThrottle::kBusyRetryMillis);  // retry soon: others are running
  for (unsigned i = 0; i < running; ++i) t.end(who, false);
  CHECK(t.begin(who) > LoginThrottle::kBusyRetryMillis);  // the failures' delay now
}

TEST_CASE("login throttle: a success forgives, concurrent correct logins go on") {
  LoginThrottle t;
  LoginThrottle::Who who{"alice", "host", 0};
  REQUIRE(t.begin(who) == 0);
  t.end(who, false);
  REQUIRE(t.begin(who) == 0);
  REQUIRE(t.begin(who) == 0);
  t.end(who, true);
  t.end(who, true);
  for (int round = 0; round < 10; ++round) {
    REQUIRE(t.begin(who) == 0);
    t.end(who, true);
  }
  t.forget("alice");
  CHECK(t.begin(who) == 0);
}

TEST_CASE("refusal limiter: 20 records per second per key, then a count of those left out") {
  RefusalLimiter limiter;
  for (unsigned i = 0; i < RefusalLimiter::kRecordsPerSecond; ++i)
    REQUIRE(limiter.admit("unregistered namespaces/3"));
  for (int i = 0; i < 5; ++i) CHECK_FALSE(limiter.admit("unregistered namespaces/3"));
  CHECK(limiter.admit("unregistered namespaces/4"));  // another kind has its own budget
  std::this_thread::sleep_for(std::chrono::milliseconds(1050));
  auto next = limiter.admit("unregistered namespaces/3");
  REQUIRE(next);
  CHECK(*next == 5);
}

TEST_CASE("login throttle: forgetting a user while its login runs leaves no stale count") {
  LoginThrottle t;
  LoginThrottle::Who who{"alice", "host", 0};
  REQUIRE(t.begin(who) == 0);
  t.forget("alice");           // deleted while the attempt runs
  REQUIRE(t.begin(who) == 0);  // a new alice logs in
  t.end(who, true);
  t.end(who, true);
  for (int i = 0; i < 5; ++i) {
    REQUIRE(t.begin(who) == 0);
    t.end(who, true);
  }
}
