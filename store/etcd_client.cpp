#include "store/etcd_client.hpp"

#include <curl/curl.h>
#include <openssl/evp.h>

#include <nlohmann/json.hpp>

#include <stdexcept>

namespace vhsm::store {
namespace {

using nlohmann::json;

// The gateway's bytes are base64: libcrypto's codec, which this library links for the records'
// HMAC anyway.
std::string base64(std::string_view in) {
  std::string out(4 * ((in.size() + 2) / 3) + 1, '\0');
  int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(in.data()), int(in.size()));
  out.resize(size_t(n));
  return out;
}

std::string unbase64(const std::string& in) {
  std::string out(in.size() / 4 * 3 + 3, '\0');
  int n = in.size() % 4 == 0
              ? EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(in.data()), int(in.size()))
              : -1;
  if (n < 0) throw EtcdError("etcd sent bad base64");
  // EVP_DecodeBlock counts the bytes the padding stands for.
  size_t padding = in.size() >= 2 && in[in.size() - 2] == '=' ? 2 : !in.empty() && in.back() == '=';
  out.resize(size_t(n) - padding);
  return out;
}

// The gateway writes int64 as strings and leaves out every field at its default.
int64_t number(const json& j, const char* field) {
  auto it = j.find(field);
  if (it == j.end()) return 0;
  try {
    return it->is_string() ? std::stoll(it->get<std::string>()) : it->get<int64_t>();
  } catch (const std::exception&) {
    throw EtcdError(std::string("etcd sent a bad ") + field);
  }
}

std::string bytesField(const json& j, const char* field) {
  auto it = j.find(field);
  return it == j.end() ? std::string() : unbase64(it->get<std::string>());
}

// Errors a member gives while it has no leader or cannot reach a quorum: the request failed
// for now, another moment (or member) may serve it.
bool isUnavailable(const json& error) {
  int64_t code = number(error, "code");
  return code == 14 /* UNAVAILABLE */ || code == 4 /* DEADLINE_EXCEEDED */ ||
         code == 10 /* ABORTED */;
}

size_t collect(char* data, size_t size, size_t count, void* out) {
  static_cast<std::string*>(out)->append(data, size * count);
  return size * count;
}

}  // namespace

struct EtcdClient::Handle {
  CURL* curl = curl_easy_init();
  ~Handle() { curl_easy_cleanup(curl); }
};

EtcdClient::EtcdClient(EtcdOptions options) : options_(std::move(options)) {
  if (options_.endpoints.empty()) throw std::invalid_argument("etcd: no endpoints");
  curl_global_init(CURL_GLOBAL_DEFAULT);
  scheme_ = options_.caFile.empty() ? "http://" : "https://";
}

EtcdClient::~EtcdClient() = default;

std::string EtcdClient::prefixEnd(std::string prefix) {
  while (!prefix.empty()) {
    if (uint8_t(prefix.back()) != 0xff) {
      prefix.back() = char(uint8_t(prefix.back()) + 1);
      return prefix;
    }
    prefix.pop_back();
  }
  return std::string(1, '\0');  // every key
}

std::unique_ptr<EtcdClient::Handle> EtcdClient::takeHandle() {
  {
    std::lock_guard lock(poolMutex_);
    if (!pool_.empty()) {
      auto h = std::move(pool_.back());
      pool_.pop_back();
      return h;
    }
  }
  auto h = std::make_unique<Handle>();
  if (!h->curl) throw std::bad_alloc();
  return h;
}

void EtcdClient::giveBack(std::unique_ptr<Handle> handle) {
  std::lock_guard lock(poolMutex_);
  pool_.push_back(std::move(handle));
}

namespace {

void configure(CURL* curl, const EtcdOptions& o, const std::string& url, const std::string& body,
               std::string* response, curl_slist* headers) {
  curl_easy_reset(curl);
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl, CURLOPT_POST, 1L);
  curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body.data());
  curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE, long(body.size()));
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, collect);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, response);
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, o.connectTimeoutMillis);
  curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(curl, CURLOPT_PROXY, "");  // never through a proxy from the environment
  if (!o.caFile.empty()) {
    curl_easy_setopt(curl, CURLOPT_CAINFO, o.caFile.c_str());
    curl_easy_setopt(curl, CURLOPT_CAPATH, nullptr);
  }
  if (!o.certFile.empty()) curl_easy_setopt(curl, CURLOPT_SSLCERT, o.certFile.c_str());
  if (!o.keyFile.empty()) curl_easy_setopt(curl, CURLOPT_SSLKEY, o.keyFile.c_str());
}

struct Headers {
  curl_slist* list = curl_slist_append(nullptr, "Content-Type: application/json");
  ~Headers() { curl_slist_free_all(list); }
};

}  // namespace

// Tries the member that answered last, then the others. A request that reached a member and
// failed there is tried on the next only if retrySent (a read; a commit's outcome would be
// unknown).
std::string EtcdClient::post(const std::string& path, const std::string& body, bool retrySent) {
  std::string problem;
  bool sent = false;
  size_t n = options_.endpoints.size(), first = preferred_.load();
  Headers headers;
  for (size_t i = 0; i < n; ++i) {
    size_t index = (first + i) % n;
    std::string response;
    auto handle = takeHandle();
    configure(handle->curl, options_, scheme_ + options_.endpoints[index] + path, body, &response,
              headers.list);
    curl_easy_setopt(handle->curl, CURLOPT_TIMEOUT_MS, options_.requestTimeoutMillis);
    CURLcode rc = curl_easy_perform(handle->curl);
    long status = 0;
    curl_off_t uploaded = 0;
    curl_easy_getinfo(handle->curl, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_getinfo(handle->curl, CURLINFO_SIZE_UPLOAD_T, &uploaded);
    giveBack(std::move(handle));
    std::string where = "etcd " + options_.endpoints[index] + ": ";
    if (rc != CURLE_OK) {
      problem = where + curl_easy_strerror(rc);
      // Not a byte of the request sent (no connection, no TLS): nothing reached the member.
      if (uploaded > 0) {
        sent = true;
        if (!retrySent) break;
      }
      continue;
    }
    json reply = json::parse(response, nullptr, false);
    if (reply.is_discarded()) throw EtcdError(where + "reply is not JSON");
    if (reply.contains("error") || status != 200) {
      std::string message = reply.value("message", reply.value("error", std::string("HTTP error")));
      if (!isUnavailable(reply)) throw EtcdError(where + message);
      problem = where + message;
      sent = true;
      if (!retrySent) break;
      continue;
    }
    preferred_ = index;
    return response;
  }
  throw EtcdUnavailable(problem, sent);
}

EtcdRange EtcdClient::range(const std::string& key, const std::string& rangeEnd, int64_t revision,
                            int64_t limit, bool descending) {
  json body = {{"key", base64(key)}};
  if (!rangeEnd.empty()) body["range_end"] = base64(rangeEnd);
  if (revision) body["revision"] = std::to_string(revision);
  if (limit) body["limit"] = std::to_string(limit);
  if (descending) {
    body["sort_order"] = "DESCEND";
    body["sort_target"] = "KEY";
  }
  json reply = json::parse(post("/v3/kv/range", body.dump(), true));
  EtcdRange out;
  out.revision = number(reply["header"], "revision");
  out.more = reply.value("more", false);
  for (const auto& kv : reply.value("kvs", json::array()))
    out.kvs.push_back({bytesField(kv, "key"), bytesField(kv, "value"), number(kv, "mod_revision"),
                       number(kv, "create_revision"), number(kv, "version")});
  return out;
}

bool EtcdClient::txn(const std::vector<EtcdCompare>& compares, const std::vector<EtcdOp>& ops,
                     int64_t* revision) {
  json body = {{"compare", json::array()}, {"success", json::array()}};
  for (const auto& c : compares) {
    bool mod = c.target == EtcdCompare::Target::modRevision;
    json j = {{"key", base64(c.key)},
              {"target", mod ? "MOD" : "CREATE"},
              {"result", c.result == EtcdCompare::Result::equal ? "EQUAL" : "LESS"},
              {mod ? "mod_revision" : "create_revision", std::to_string(c.value)}};
    if (!c.rangeEnd.empty()) j["range_end"] = base64(c.rangeEnd);
    body["compare"].push_back(j);
  }
  for (const auto& op : ops) {
    if (op.erase) {
      json erase = {{"key", base64(op.key)}};
      if (!op.rangeEnd.empty()) erase["range_end"] = base64(op.rangeEnd);
      body["success"].push_back({{"request_delete_range", erase}});
    } else
      body["success"].push_back(
          {{"request_put", {{"key", base64(op.key)}, {"value", base64(op.value)}}}});
  }
  json reply = json::parse(post("/v3/kv/txn", body.dump(), false));
  if (revision) *revision = number(reply["header"], "revision");
  return reply.value("succeeded", false);
}

namespace {

struct WatchState {
  const std::atomic<bool>* stop;
  const std::function<void(const std::vector<EtcdEvent>&, int64_t)>* onEvents;
  std::string buffer;
  std::string problem;
  bool compacted = false;
};

size_t onWatchLines(WatchState* state, const char* data, size_t bytes);

// The gateway streams one JSON object per line: {"result": {"header", "events", ...}}.
// Nothing may be thrown through libcurl's C frames: a failure ends the transfer instead.
size_t onWatchData(char* data, size_t size, size_t count, void* p) {
  auto* state = static_cast<WatchState*>(p);
  try {
    return onWatchLines(state, data, size * count);
  } catch (const std::exception& e) {
    state->problem = std::string("watch: ") + e.what();
    return 0;
  }
}

int onWatchProgress(void* p, curl_off_t, curl_off_t, curl_off_t, curl_off_t) {
  return static_cast<WatchState*>(p)->stop->load() ? 1 : 0;
}

size_t onWatchLines(WatchState* state, const char* data, size_t bytes) {
  state->buffer.append(data, bytes);
  size_t newline;
  while ((newline = state->buffer.find('\n')) != std::string::npos) {
    json message = json::parse(state->buffer.substr(0, newline), nullptr, false);
    state->buffer.erase(0, newline + 1);
    if (message.is_discarded()) continue;
    if (message.contains("error")) {
      state->problem = message["error"].value("message", std::string("watch failed"));
      return 0;
    }
    const json& result = message.value("result", json::object());
    if (number(result, "compact_revision") != 0) {
      state->compacted = true;
      return 0;
    }
    if (result.value("canceled", false)) {
      state->problem = result.value("cancel_reason", std::string("watch canceled"));
      return 0;
    }
    std::vector<EtcdEvent> events;
    for (const auto& e : result.value("events", json::array())) {
      const json& kv = e.value("kv", json::object());
      events.push_back({bytesField(kv, "key"), e.value("type", std::string()) == "DELETE",
                        number(kv, "mod_revision"), number(kv, "version")});
    }
    (*state->onEvents)(events, number(result.value("header", json::object()), "revision"));
  }
  return bytes;
}

}  // namespace

void EtcdClient::watch(
    const std::string& key, const std::string& rangeEnd, int64_t startRevision,
    const std::atomic<bool>& stop,
    const std::function<void(const std::vector<EtcdEvent>&, int64_t)>& onEvents) {
  json create = {{"key", base64(key)},
                 {"range_end", base64(rangeEnd)},
                 {"start_revision", std::to_string(startRevision)}};
  std::string body = json{{"create_request", create}}.dump();
  size_t index = preferred_.load() % options_.endpoints.size();
  WatchState state{&stop, &onEvents, {}, {}, false};
  Handle handle;
  Headers headers;
  // A member that loses its quorum ends the watch (gRPC metadata through the gateway) rather
  // than keeping it open and silent while others commit.
  headers.list = curl_slist_append(headers.list, "Grpc-Metadata-Hasleader: true");
  std::string unused;
  configure(handle.curl, options_, scheme_ + options_.endpoints[index] + "/v3/watch", body, &unused,
            headers.list);
  curl_easy_setopt(handle.curl, CURLOPT_WRITEFUNCTION, onWatchData);
  curl_easy_setopt(handle.curl, CURLOPT_WRITEDATA, &state);
  curl_easy_setopt(handle.curl, CURLOPT_NOPROGRESS, 0L);
  curl_easy_setopt(handle.curl, CURLOPT_XFERINFOFUNCTION, onWatchProgress);
  curl_easy_setopt(handle.curl, CURLOPT_XFERINFODATA, &state);
  // A member that stops answering without closing the connection: the watch notices within
  // seconds, since etcd sends progress only on request, by a keep-alive probe.
  curl_easy_setopt(handle.curl, CURLOPT_TCP_KEEPALIVE, 1L);
  curl_easy_setopt(handle.curl, CURLOPT_TCP_KEEPIDLE, 2L);
  curl_easy_setopt(handle.curl, CURLOPT_TCP_KEEPINTVL, 1L);
  CURLcode rc = curl_easy_perform(handle.curl);
  if (stop) return;
  if (state.compacted) throw EtcdCompacted("etcd compacted the watched revisions");
  // The next attempt starts at the next member.
  preferred_ = index + 1;
  throw EtcdUnavailable("etcd " + options_.endpoints[index] + " watch: " +
                            (state.problem.empty() ? curl_easy_strerror(rc) : state.problem),
                        false);
}

}  // namespace vhsm::store
