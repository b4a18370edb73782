// Encoders of a key's public part as SubjectPublicKeyInfo, DER or PEM: what
// `openssl pkey -pubout`, certificate requests and X509_PUBKEY_set need. There is no
// encoder for the private part of a vhsm key: it is not here to encode.
#include <openssl/core_dispatch.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/x509.h>

#include <vhsm/pem.hpp>
#include "provider/asymmetric_key.hpp"
#include "provider/dispatch.hpp"

namespace vhsm::provider {
namespace {

void* newCtx(void* provctx) {
  return provctx;  // the encoder keeps no state of its own
}

void freeCtx(void*) {}

int doesSelection(void*, int selection) {
  return (selection & OSSL_KEYMGMT_SELECT_PUBLIC_KEY) &&
         !(selection & OSSL_KEYMGMT_SELECT_PRIVATE_KEY);
}

template <bool Pem>
int encode(void* ctx, OSSL_CORE_BIO* out, const void* obj, const OSSL_PARAM[], int selection,
           OSSL_PASSPHRASE_CALLBACK*, void*) {
  auto* provider = static_cast<ProviderContext*>(ctx);
  auto* key = static_cast<const AsymmetricKey*>(obj);
  if (!key || !key->pkey || !doesSelection(ctx, selection)) return 0;
  unsigned char* der = nullptr;
  int length = i2d_PUBKEY(key->pkey, &der);
  if (length <= 0) return 0;
  bool ok;
  if (Pem) {
    auto text = pemEncode("PUBLIC KEY", {der, size_t(length)});
    ok = provider->write(out, text.data(), text.size());
  } else {
    ok = provider->write(out, der, size_t(length));
  }
  OPENSSL_free(der);
  return ok;
}

template <bool Pem>
const OSSL_DISPATCH kFunctions[] = {
    VHSM_DISPATCH(ENCODER_NEWCTX, encoder_newctx, newCtx),
    VHSM_DISPATCH(ENCODER_FREECTX, encoder_freectx, freeCtx),
    VHSM_DISPATCH(ENCODER_DOES_SELECTION, encoder_does_selection, doesSelection),
    VHSM_DISPATCH(ENCODER_ENCODE, encoder_encode, encode<Pem>),
    {0, nullptr}};

}  // namespace

extern const OSSL_DISPATCH* const kPublicKeyDerEncoderFunctions = kFunctions<false>;
extern const OSSL_DISPATCH* const kPublicKeyPemEncoderFunctions = kFunctions<true>;

}  // namespace vhsm::provider
