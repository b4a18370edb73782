// The decoders for key URI files (`vhsm-admin key uri-pem ID`): PEM text that names a vhsm key
// instead of holding one, so that programs that only read key files — nginx 1.22's
// ssl_certificate_key, Python's load_cert_chain, `openssl pkey -in FILE`, any `-key FILE` —
// get the vhsm key without a change.
//
// Two steps, as OpenSSL's own PEM keys take: the PEM decoder (output "DER") unwraps the
// "VHSM KEY URI" block into its URI, as structure "vhsm-key-uri"; the key decoders (one per key
// management) take that structure and hand the key over by reference. One step from PEM to key
// would do for PEM_read_bio_PrivateKey, but OSSL_STORE's file: loader (the default provider's)
// walks only decoders that end in DER and passes what they produce to a new decoder context in
// the application's library context: there the second step runs, inside vhsm.
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
constexpr size_t kMaxUriBytes = 128;  // "vhsm:" and an id of at most 64 characters
constexpr const char* kUriStructure = "vhsm-key-uri";

struct DecoderCtx {
  ProviderContext* provider;
  const char* algorithm;  // a key decoder answers only for keys of its algorithm
};

void freeCtx(void* ctx) {
  delete static_cast<DecoderCtx*>(ctx);
}

int doesSelection(void*, int selection) {
  return selection == 0 || (selection & OSSL_KEYMGMT_SELECT_KEYPAIR);
}

// The first PEM object in the input, BEGIN to END line, as PEM_read_bio takes one: the rest of
// a file (a certificate after the key, say) stays for the next decode. nullopt when there is
// none within the bound.
std::optional<std::string> firstPemObject(ProviderContext* provider, OSSL_CORE_BIO* in) {
  std::string text, line, end;
  while (text.size() <= kMaxPemBytes && provider->readLine(in, line, kMaxPemBytes)) {
    if (end.empty()) {
      if (line.rfind("-----BEGIN ", 0) != 0) continue;  // text before it, as PEM_read_bio skips
      end = "-----END " + line.substr(11);
    }
    text += line;
    if (line == end || line + "\n" == end) return text;
  }
  return std::nullopt;
}

// Returning 1 without a callback means "not mine": OpenSSL then tries its other decoders.
int decodePem(void* vctx, OSSL_CORE_BIO* in, int, OSSL_CALLBACK* callback, void* arg,
              OSSL_PASSPHRASE_CALLBACK*, void*) {
  auto* c = static_cast<DecoderCtx*>(vctx);
  auto object = firstPemObject(c->provider, in);
  if (!object) return 1;
  auto uri = keyUriFromPem(*object);
  if (!uri) return 1;
  // A VHSM KEY URI block that names no key is this decoder's to refuse, precisely.
  std::string id;
  if (parseKeyRef(reinterpret_cast<const unsigned char*>(uri->data()), uri->size(), id) !=
      KeyRef::valid) {
    VHSM_RAISE(c->provider, kInvalidKeyUri, "the key URI file names no valid vhsm:<id>");
    return 0;
  }
  int type = OSSL_OBJECT_PKEY;
  OSSL_PARAM params[] = {
      OSSL_PARAM_construct_int(OSSL_OBJECT_PARAM_TYPE, &type),
      OSSL_PARAM_construct_utf8_string(OSSL_OBJECT_PARAM_DATA_STRUCTURE,
                                       const_cast<char*>(kUriStructure), 0),
      OSSL_PARAM_construct_octet_string(OSSL_OBJECT_PARAM_DATA, uri->data(), uri->size()),
      OSSL_PARAM_construct_end()};
  return callback(params, arg);
}

// OpenSSL offers this decoder any DER when no structure is asked for (d2i_AutoPrivateKey, an
// "EC PRIVATE KEY" PEM): whatever is not exactly a reference is not its business.
int decodeUri(void* vctx, OSSL_CORE_BIO* in, int, OSSL_CALLBACK* callback, void* arg,
              OSSL_PASSPHRASE_CALLBACK*, void*) {
  auto* c = static_cast<DecoderCtx*>(vctx);
  std::string uri, id;
  if (!c->provider->readAll(in, uri, kMaxUriBytes) ||
      parseKeyRef(reinterpret_cast<const unsigned char*>(uri.data()), uri.size(), id) !=
          KeyRef::valid)
    return 1;
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

const OSSL_DISPATCH kPemFunctions[] = {
    VHSM_DISPATCH(DECODER_NEWCTX, decoder_newctx, newCtx<kUriStructure>),
    VHSM_DISPATCH(DECODER_FREECTX, decoder_freectx, freeCtx),
    VHSM_DISPATCH(DECODER_DOES_SELECTION, decoder_does_selection, doesSelection),
    VHSM_DISPATCH(DECODER_DECODE, decoder_decode, decodePem),
    {0, nullptr}};

template <const char* const& Algorithm>
const OSSL_DISPATCH kKeyFunctions[] = {
    VHSM_DISPATCH(DECODER_NEWCTX, decoder_newctx, newCtx<Algorithm>),
    VHSM_DISPATCH(DECODER_FREECTX, decoder_freectx, freeCtx),
    VHSM_DISPATCH(DECODER_DOES_SELECTION, decoder_does_selection, doesSelection),
    VHSM_DISPATCH(DECODER_DECODE, decoder_decode, decodeUri),
    VHSM_DISPATCH(DECODER_EXPORT_OBJECT, decoder_export_object, declineReferenceExport),
    {0, nullptr}};

}  // namespace

extern const OSSL_DISPATCH* const kUriPemDecoderFunctions = kPemFunctions;
extern const OSSL_DISPATCH* const kEcUriDecoderFunctions = kKeyFunctions<kEc>;
extern const OSSL_DISPATCH* const kEd25519UriDecoderFunctions = kKeyFunctions<kEd25519>;
extern const OSSL_DISPATCH* const kRsaUriDecoderFunctions = kKeyFunctions<kRsa>;

}  // namespace vhsm::provider
