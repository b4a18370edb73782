// The decoder for key URI files (`vhsm-admin key uri-pem ID`): PEM text that names a vhsm key
// instead of holding one, so that programs that only read key files — nginx 1.22's
// ssl_certificate_key, Python's load_cert_chain — get the vhsm key through
// PEM_read_bio_PrivateKey without a change.
#include <openssl/core_dispatch.h>
#include <openssl/core_names.h>
#include <openssl/core_object.h>
#include <openssl/params.h>

#include <cstring>
#include <memory>

#include <vhsm/pem.hpp>
#include "provider/asymmetric_key.hpp"
#include "provider/dispatch.hpp"
#include "provider/key_uri.hpp"

namespace vhsm::provider {
namespace {

constexpr size_t kMaxPemBytes = 64 * 1024;

struct DecoderCtx {
  ProviderContext* provider;
  const char* algorithm;  // this decoder answers only for keys of its algorithm
};

void freeCtx(void* ctx) {
  delete static_cast<DecoderCtx*>(ctx);
}

int doesSelection(void*, int selection) {
  return selection == 0 || (selection & OSSL_KEYMGMT_SELECT_KEYPAIR);
}

// Returning 1 without a callback means "not mine": OpenSSL then tries its own decoders.
int decode(void* vctx, OSSL_CORE_BIO* in, int, OSSL_CALLBACK* callback, void* arg,
           OSSL_PASSPHRASE_CALLBACK*, void*) {
  auto* c = static_cast<DecoderCtx*>(vctx);
  std::string text;
  if (!c->provider->readAll(in, text, kMaxPemBytes)) return 1;
  auto uri = keyUriFromPem(text);
  if (!uri) return 1;
  std::string id;
  if (parseKeyRef(reinterpret_cast<const unsigned char*>(uri->data()), uri->size(), id) !=
      KeyRef::valid) {
    VHSM_RAISE(c->provider, kInvalidKeyUri, "the key URI file names no valid vhsm:<id>");
    return 0;
  }
  std::unique_ptr<AsymmetricKey> key(loadVhsmKey(c->provider, id));
  if (!key) return 0;
  // The decoder registered for the key's algorithm takes it.
  if (std::strcmp(key->algorithm, c->algorithm) != 0) return 1;
  return passByReference(*key, callback, arg);
}

template <const char* const& Algorithm>
void* newCtx(void* provctx) {
  return new DecoderCtx{static_cast<ProviderContext*>(provctx), Algorithm};
}

template <const char* const& Algorithm>
const OSSL_DISPATCH kFunctions[] = {
    VHSM_DISPATCH(DECODER_NEWCTX, decoder_newctx, newCtx<Algorithm>),
    VHSM_DISPATCH(DECODER_FREECTX, decoder_freectx, freeCtx),
    VHSM_DISPATCH(DECODER_DOES_SELECTION, decoder_does_selection, doesSelection),
    VHSM_DISPATCH(DECODER_DECODE, decoder_decode, decode),
    VHSM_DISPATCH(DECODER_EXPORT_OBJECT, decoder_export_object, declineReferenceExport),
    {0, nullptr}};

}  // namespace

extern const OSSL_DISPATCH* const kEcUriPemDecoderFunctions = kFunctions<kEc>;
extern const OSSL_DISPATCH* const kEd25519UriPemDecoderFunctions = kFunctions<kEd25519>;
extern const OSSL_DISPATCH* const kRsaUriPemDecoderFunctions = kFunctions<kRsa>;

}  // namespace vhsm::provider
