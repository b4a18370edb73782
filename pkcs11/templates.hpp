// Reading the caller's attribute templates for C_GenerateKey, C_GenerateKeyPair and
// C_CreateObject: each attribute at most once, of the right size, with the spec's codes.
#pragma once

#include <optional>
#include <string>

#include <vhsm/client.hpp>
#include "pkcs11/cryptoki.hpp"

namespace vhsm::pkcs11 {

class Template {
 public:
  // Failure{CKR_ARGUMENTS_BAD} for a null template with entries, CKR_TEMPLATE_INCONSISTENT for
  // an attribute given twice.
  Template(const CK_ATTRIBUTE* attributes, CK_ULONG count);

  bool has(CK_ATTRIBUTE_TYPE type) const;
  std::optional<Bytes> bytes(CK_ATTRIBUTE_TYPE type) const;
  std::optional<CK_ULONG> ulong(CK_ATTRIBUTE_TYPE type) const;  // CKR_ATTRIBUTE_VALUE_INVALID
  std::optional<bool> boolean(CK_ATTRIBUTE_TYPE type) const;    // if not sized as its type

  // What keyd cannot honour: a session object, or an extractable key.
  void requireTokenKey() const;

 private:
  const CK_ATTRIBUTE* find(CK_ATTRIBUTE_TYPE type) const;
  const CK_ATTRIBUTE* attributes_;
  CK_ULONG count_;
};

// The key id named by CKA_ID or CKA_LABEL (equal if both are given) in either template: 1-64 of
// A-Za-z0-9._- (keyd's ids). Failure{CKR_TEMPLATE_INCOMPLETE} if neither names one.
std::string keyIdOf(const Template& a, const Template* b = nullptr);

}  // namespace vhsm::pkcs11
