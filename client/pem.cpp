#include <vhsm/pem.hpp>

namespace vhsm {
namespace {

constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

int sextet(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+') return 62;
  if (c == '/') return 63;
  return -1;
}

std::optional<Bytes> base64Decode(std::string_view text) {
  Bytes out;
  uint32_t bits = 0;
  int count = 0, padding = 0;
  for (char c : text) {
    if (c == '\n' || c == '\r' || c == ' ' || c == '\t') continue;
    if (c == '=') {
      ++padding;
      continue;
    }
    int v = sextet(c);
    if (v < 0 || padding) return std::nullopt;
    bits = (bits << 6) | uint32_t(v);
    if (++count == 4) {
      out.insert(out.end(), {uint8_t(bits >> 16), uint8_t(bits >> 8), uint8_t(bits)});
      bits = 0;
      count = 0;
    }
  }
  if (count == 1 || padding > 2) return std::nullopt;
  if (count == 2) out.push_back(uint8_t(bits >> 4));
  if (count == 3) out.insert(out.end(), {uint8_t(bits >> 10), uint8_t(bits >> 2)});
  return out;
}

}  // namespace

std::string pemEncode(std::string_view label, ByteView der) {
  std::string body;
  for (size_t i = 0; i < der.size(); i += 3) {
    uint32_t n = uint32_t(der[i]) << 16;
    if (i + 1 < der.size()) n |= uint32_t(der[i + 1]) << 8;
    if (i + 2 < der.size()) n |= der[i + 2];
    body += kAlphabet[(n >> 18) & 63];
    body += kAlphabet[(n >> 12) & 63];
    body += i + 1 < der.size() ? kAlphabet[(n >> 6) & 63] : '=';
    body += i + 2 < der.size() ? kAlphabet[n & 63] : '=';
  }
  std::string out = "-----BEGIN " + std::string(label) + "-----\n";
  for (size_t i = 0; i < body.size(); i += 64) out += body.substr(i, 64) + "\n";
  return out + "-----END " + std::string(label) + "-----\n";
}

std::optional<Bytes> pemDecode(std::string_view text, std::string_view label) {
  std::string begin = "-----BEGIN " + std::string(label) + "-----";
  std::string end = "-----END " + std::string(label) + "-----";
  auto from = text.find(begin);
  if (from == std::string_view::npos) return std::nullopt;
  from += begin.size();
  auto to = text.find(end, from);
  if (to == std::string_view::npos) return std::nullopt;
  return base64Decode(text.substr(from, to - from));
}

std::string keyUriPem(const std::string& keyId) {
  std::string uri = "vhsm:" + keyId;
  return pemEncode(kKeyUriPemLabel, {reinterpret_cast<const uint8_t*>(uri.data()), uri.size()});
}

std::optional<std::string> keyUriFromPem(std::string_view text) {
  auto body = pemDecode(text, kKeyUriPemLabel);
  if (!body) return std::nullopt;
  return std::string(body->begin(), body->end());
}

}  // namespace vhsm
