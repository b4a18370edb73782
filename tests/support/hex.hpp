// Hex and byte helpers for tests.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace vhsm::test {

inline std::vector<uint8_t> fromHex(std::string_view hex) {
  std::vector<uint8_t> out;
  auto nibble = [](char c) { return c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10; };
  for (size_t i = 0; i + 1 < hex.size(); i += 2)
    out.push_back(uint8_t(nibble(hex[i]) * 16 + nibble(hex[i + 1])));
  return out;
}

inline std::string toHex(const std::vector<uint8_t>& bytes) {
  static const char* digits = "0123456789abcdef";
  std::string out;
  for (uint8_t b : bytes) {
    out.push_back(digits[b >> 4]);
    out.push_back(digits[b & 15]);
  }
  return out;
}

inline std::vector<uint8_t> bytesOf(std::string_view text) {
  return {text.begin(), text.end()};
}

inline std::vector<uint8_t> repeat(uint8_t byte, size_t n) {
  return std::vector<uint8_t>(n, byte);
}

}  // namespace vhsm::test
