#include "pkcs11/templates.hpp"

#include <cstring>

#include "pkcs11/errors.hpp"

namespace vhsm::pkcs11 {

Template::Template(const CK_ATTRIBUTE* attributes, CK_ULONG count)
    : attributes_(attributes), count_(count) {
  if (!attributes && count) throw Failure{CKR_ARGUMENTS_BAD};
  for (CK_ULONG i = 0; i < count; ++i) {
    if (!attributes[i].pValue && attributes[i].ulValueLen) throw Failure{CKR_ARGUMENTS_BAD};
    for (CK_ULONG j = 0; j < i; ++j)
      if (attributes[j].type == attributes[i].type) throw Failure{CKR_TEMPLATE_INCONSISTENT};
  }
}

const CK_ATTRIBUTE* Template::find(CK_ATTRIBUTE_TYPE type) const {
  for (CK_ULONG i = 0; i < count_; ++i)
    if (attributes_[i].type == type) return &attributes_[i];
  return nullptr;
}

bool Template::has(CK_ATTRIBUTE_TYPE type) const {
  return find(type) != nullptr;
}

std::optional<Bytes> Template::bytes(CK_ATTRIBUTE_TYPE type) const {
  const CK_ATTRIBUTE* a = find(type);
  if (!a) return std::nullopt;
  auto* p = static_cast<const uint8_t*>(a->pValue);
  return Bytes(p, p + a->ulValueLen);
}

std::optional<CK_ULONG> Template::ulong(CK_ATTRIBUTE_TYPE type) const {
  const CK_ATTRIBUTE* a = find(type);
  if (!a) return std::nullopt;
  if (a->ulValueLen != sizeof(CK_ULONG)) throw Failure{CKR_ATTRIBUTE_VALUE_INVALID};
  CK_ULONG value;
  std::memcpy(&value, a->pValue, sizeof value);
  return value;
}

std::optional<bool> Template::boolean(CK_ATTRIBUTE_TYPE type) const {
  const CK_ATTRIBUTE* a = find(type);
  if (!a) return std::nullopt;
  if (a->ulValueLen != sizeof(CK_BBOOL)) throw Failure{CKR_ATTRIBUTE_VALUE_INVALID};
  return *static_cast<const CK_BBOOL*>(a->pValue) != CK_FALSE;
}

// CKA_SENSITIVE false is taken (pkcs11-tool asks for it unless told --sensitive): a key in
// keyd is sensitive whatever the template says, and reads back so. An extractable key would
// be a promise keyd cannot keep.
void Template::requireTokenKey() const {
  if (boolean(CKA_TOKEN) == false) throw Failure{CKR_TEMPLATE_INCONSISTENT};
  if (boolean(CKA_EXTRACTABLE) == true) throw Failure{CKR_ATTRIBUTE_VALUE_INVALID};
}

std::string keyIdOf(const Template& a, const Template* b) {
  std::optional<Bytes> named;
  for (const Template* t : {&a, b}) {
    if (!t) continue;
    for (CK_ATTRIBUTE_TYPE type : {CKA_ID, CKA_LABEL}) {
      auto value = t->bytes(type);
      if (!value) continue;
      if (named && *named != *value) throw Failure{CKR_TEMPLATE_INCONSISTENT};
      named = value;
    }
  }
  if (!named) throw Failure{CKR_TEMPLATE_INCOMPLETE};
  if (named->empty() || named->size() > 64) throw Failure{CKR_ATTRIBUTE_VALUE_INVALID};
  for (uint8_t c : *named)
    if (!std::isalnum(c) && c != '.' && c != '_' && c != '-')
      throw Failure{CKR_ATTRIBUTE_VALUE_INVALID};
  return std::string(named->begin(), named->end());
}

}  // namespace vhsm::pkcs11
