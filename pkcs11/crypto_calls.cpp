// Digest, sign, verify, encrypt and decrypt: the spec's call protocol around the operations of
// mechanisms.hpp. An output buffer of null asks for the length; one too short gets
// CKR_BUFFER_TOO_SMALL and the operation stays; any other failure ends the operation.
#include <openssl/rand.h>

#include "pkcs11/calls.hpp"
#include "pkcs11/errors.hpp"
#include "pkcs11/mechanisms.hpp"
#include "pkcs11/state.hpp"

namespace vhsm::pkcs11::calls {

namespace {

// Whether the output may be written: false with the length set (and CKR_BUFFER_TOO_SMALL in
// rv) when the caller asked for the length or gave too little room.
bool roomFor(size_t needed, CK_BYTE_PTR out, CK_ULONG_PTR outLength, CK_RV& rv) {
  if (!outLength) throw Failure{CKR_ARGUMENTS_BAD};
  rv = CKR_OK;
  if (out && *outLength >= needed) {
    *outLength = needed;
    return true;
  }
  if (out) rv = CKR_BUFFER_TOO_SMALL;
  *outLength = needed;
  return false;
}

// One call's data: bounded, so that no length computed from it can wrap.
constexpr CK_ULONG kMaxCallData = CK_ULONG(1) << 30;

ByteView input(CK_BYTE_PTR data, CK_ULONG length) {
  if (!data && length) throw Failure{CKR_ARGUMENTS_BAD};
  if (length > kMaxCallData) throw Failure{CKR_DATA_LEN_RANGE};
  return {data, length};
}

template <typename Op>
CK_RV ended(std::unique_ptr<Op>& op, CK_RV rv) {
  op.reset();
  return rv;
}

// Runs body on an operation of the session, ending it when body fails.
template <typename Op, typename Body>
CK_RV withOperation(CK_SESSION_HANDLE handle, std::unique_ptr<Op> Session::*which, Body body) {
  return guarded([&] {
    auto s = state().session(handle);
    std::lock_guard lock(s->mutex);
    auto& op = (*s).*which;
    if (!op) return CKR_OPERATION_NOT_INITIALIZED;
    try {
      return body(op);
    } catch (const Error& e) {
      op.reset();
      s->token.noteRefusal(e);
      throw;
    } catch (const Failure& f) {
      op.reset();
      // keyd's answer did not fit what the token knew of the key (made again under its id
      // with another size): learn it afresh at the next init.
      if (f.rv == CKR_DEVICE_ERROR) s->token.forgetKeys();
      throw;
    } catch (...) {
      op.reset();
      throw;
    }
  });
}

// C_*Init: the session, its token logged in, the key, and no operation of the kind running.
template <typename Op, typename Make>
CK_RV start(CK_SESSION_HANDLE handle, std::unique_ptr<Op> Session::*which,
            CK_MECHANISM_PTR mechanism, bool needsLogin, Make make) {
  return guarded([&] {
    auto s = state().session(handle);
    std::lock_guard lock(s->mutex);
    if (!mechanism) return CKR_ARGUMENTS_BAD;
    if ((*s).*which) return CKR_OPERATION_ACTIVE;
    if (needsLogin && !s->token.loggedIn()) return CKR_USER_NOT_LOGGED_IN;
    try {
      (*s).*which = make(*s);
    } catch (const Error& e) {
      s->token.noteRefusal(e);
      throw;
    }
    return CKR_OK;
  });
}

// Single-part: all the data in, all the output out.
template <typename Op>
CK_RV single(CK_SESSION_HANDLE handle, std::unique_ptr<Op> Session::*which, CK_BYTE_PTR data,
             CK_ULONG length, CK_BYTE_PTR out, CK_ULONG_PTR outLength) {
  return withOperation(handle, which, [&](std::unique_ptr<Op>& op) {
    auto in = input(data, length);
    CK_RV rv;
    if (!roomFor(op->oneShotLength(in.size()), out, outLength, rv)) return rv;
    op->oneShot(in, out);
    return ended(op, CKR_OK);
  });
}

template <typename Op>
CK_RV update(CK_SESSION_HANDLE handle, std::unique_ptr<Op> Session::*which, CK_BYTE_PTR data,
             CK_ULONG length, CK_BYTE_PTR out, CK_ULONG_PTR outLength) {
  return withOperation(handle, which, [&](std::unique_ptr<Op>& op) {
    auto in = input(data, length);
    size_t produced = op->updateLength(in.size());
    if (outLength) {
      CK_RV rv;
      if (!roomFor(produced, out, outLength, rv)) return rv;
    } else if (produced) {
      return ended(op, CKR_ARGUMENTS_BAD);
    }
    op->update(in, out);
    return CKR_OK;
  });
}

template <typename Op>
CK_RV finish(CK_SESSION_HANDLE handle, std::unique_ptr<Op> Session::*which, CK_BYTE_PTR out,
             CK_ULONG_PTR outLength) {
  return withOperation(handle, which, [&](std::unique_ptr<Op>& op) {
    CK_RV rv;
    if (!roomFor(op->finalLength(), out, outLength, rv)) return rv;
    op->final(out);
    return ended(op, CKR_OK);
  });
}

Object keyFor(Session& s, CK_OBJECT_HANDLE key, Lookup lookup) {
  try {
    return objectFor(s.token, key, lookup);
  } catch (const Failure& f) {
    throw Failure{f.rv == CKR_OBJECT_HANDLE_INVALID ? CKR_KEY_HANDLE_INVALID : f.rv};
  }
}

}  // namespace

CK_RV C_DigestInit(CK_SESSION_HANDLE session, CK_MECHANISM_PTR mechanism) {
  return start(session, &Session::digest, mechanism, false,
               [&](Session&) { return digestFor(*mechanism); });
}

CK_RV C_Digest(CK_SESSION_HANDLE session, CK_BYTE_PTR data, CK_ULONG length, CK_BYTE_PTR digest,
               CK_ULONG_PTR digestLength) {
  return single(session, &Session::digest, data, length, digest, digestLength);
}

CK_RV C_DigestUpdate(CK_SESSION_HANDLE session, CK_BYTE_PTR data, CK_ULONG length) {
  return update(session, &Session::digest, data, length, nullptr, nullptr);
}

// Digesting a key would compute with its bytes outside keyd's operations.
CK_RV C_DigestKey(CK_SESSION_HANDLE session, CK_OBJECT_HANDLE) {
  return withOperation(session, &Session::digest,
                       [](std::unique_ptr<Operation>&) { return CKR_KEY_INDIGESTIBLE; });
}

CK_RV C_DigestFinal(CK_SESSION_HANDLE session, CK_BYTE_PTR digest, CK_ULONG_PTR digestLength) {
  return finish(session, &Session::digest, digest, digestLength);
}

CK_RV C_SignInit(CK_SESSION_HANDLE session, CK_MECHANISM_PTR mechanism, CK_OBJECT_HANDLE key) {
  return start(session, &Session::sign, mechanism, true, [&](Session& s) {
    auto object = keyFor(s, key, Lookup::known);
    return signerFor(s.token.client(), object, *mechanism);
  });
}

CK_RV C_Sign(CK_SESSION_HANDLE session, CK_BYTE_PTR data, CK_ULONG length, CK_BYTE_PTR signature,
             CK_ULONG_PTR signatureLength) {
  return single(session, &Session::sign, data, length, signature, signatureLength);
}

CK_RV C_SignUpdate(CK_SESSION_HANDLE session, CK_BYTE_PTR data, CK_ULONG length) {
  return update(session, &Session::sign, data, length, nullptr, nullptr);
}

CK_RV C_SignFinal(CK_SESSION_HANDLE session, CK_BYTE_PTR signature, CK_ULONG_PTR signatureLength) {
  return finish(session, &Session::sign, signature, signatureLength);
}

CK_RV C_SignRecoverInit(CK_SESSION_HANDLE session, CK_MECHANISM_PTR, CK_OBJECT_HANDLE) {
  // No mechanism here recovers data from a signature.
  return refusedFor(session, CKR_MECHANISM_INVALID);
}

CK_RV C_SignRecover(CK_SESSION_HANDLE session, CK_BYTE_PTR, CK_ULONG, CK_BYTE_PTR, CK_ULONG_PTR) {
  return refusedFor(session, CKR_OPERATION_NOT_INITIALIZED);
}

CK_RV C_VerifyInit(CK_SESSION_HANDLE session, CK_MECHANISM_PTR mechanism, CK_OBJECT_HANDLE key) {
  return start(session, &Session::verify, mechanism, true, [&](Session& s) {
    auto object = keyFor(s, key, Lookup::fresh);  // verified here, so on the current key
    return verifierFor(object, *mechanism);
  });
}

CK_RV C_Verify(CK_SESSION_HANDLE session, CK_BYTE_PTR data, CK_ULONG length, CK_BYTE_PTR signature,
               CK_ULONG signatureLength) {
  return withOperation(session, &Session::verify, [&](std::unique_ptr<Verifier>& op) {
    auto in = input(data, length);
    auto sig = input(signature, signatureLength);
    op->update(in);
    bool good = op->final(sig);
    return ended(op, good ? CKR_OK : CKR_SIGNATURE_INVALID);
  });
}

CK_RV C_VerifyUpdate(CK_SESSION_HANDLE session, CK_BYTE_PTR data, CK_ULONG length) {
  return withOperation(session, &Session::verify, [&](std::unique_ptr<Verifier>& op) {
    op->update(input(data, length));
    return CKR_OK;
  });
}

CK_RV C_VerifyFinal(CK_SESSION_HANDLE session, CK_BYTE_PTR signature, CK_ULONG signatureLength) {
  return withOperation(session, &Session::verify, [&](std::unique_ptr<Verifier>& op) {
    bool good = op->final(input(signature, signatureLength));
    return ended(op, good ? CKR_OK : CKR_SIGNATURE_INVALID);
  });
}

CK_RV C_VerifyRecoverInit(CK_SESSION_HANDLE session, CK_MECHANISM_PTR, CK_OBJECT_HANDLE) {
  return refusedFor(session, CKR_MECHANISM_INVALID);
}

CK_RV C_VerifyRecover(CK_SESSION_HANDLE session, CK_BYTE_PTR, CK_ULONG, CK_BYTE_PTR, CK_ULONG_PTR) {
  return refusedFor(session, CKR_OPERATION_NOT_INITIALIZED);
}

CK_RV C_EncryptInit(CK_SESSION_HANDLE session, CK_MECHANISM_PTR mechanism, CK_OBJECT_HANDLE key) {
  return start(session, &Session::encrypt, mechanism, true, [&](Session& s) {
    auto object = keyFor(s, key, Lookup::known);
    return cipherFor(s.token.client(), object, *mechanism, true);
  });
}

CK_RV C_Encrypt(CK_SESSION_HANDLE session, CK_BYTE_PTR data, CK_ULONG length, CK_BYTE_PTR out,
                CK_ULONG_PTR outLength) {
  return single(session, &Session::encrypt, data, length, out, outLength);
}

CK_RV C_EncryptUpdate(CK_SESSION_HANDLE session, CK_BYTE_PTR data, CK_ULONG length, CK_BYTE_PTR out,
                      CK_ULONG_PTR outLength) {
  return update(session, &Session::encrypt, data, length, out, outLength);
}

CK_RV C_EncryptFinal(CK_SESSION_HANDLE session, CK_BYTE_PTR out, CK_ULONG_PTR outLength) {
  return finish(session, &Session::encrypt, out, outLength);
}

CK_RV C_DecryptInit(CK_SESSION_HANDLE session, CK_MECHANISM_PTR mechanism, CK_OBJECT_HANDLE key) {
  return start(session, &Session::decrypt, mechanism, true, [&](Session& s) {
    auto object = keyFor(s, key, Lookup::known);
    return cipherFor(s.token.client(), object, *mechanism, false);
  });
}

CK_RV C_Decrypt(CK_SESSION_HANDLE session, CK_BYTE_PTR data, CK_ULONG length, CK_BYTE_PTR out,
                CK_ULONG_PTR outLength) {
  return single(session, &Session::decrypt, data, length, out, outLength);
}

CK_RV C_DecryptUpdate(CK_SESSION_HANDLE session, CK_BYTE_PTR data, CK_ULONG length, CK_BYTE_PTR out,
                      CK_ULONG_PTR outLength) {
  return update(session, &Session::decrypt, data, length, out, outLength);
}

CK_RV C_DecryptFinal(CK_SESSION_HANDLE session, CK_BYTE_PTR out, CK_ULONG_PTR outLength) {
  return finish(session, &Session::decrypt, out, outLength);
}

// The dual-function calls combine operations this module runs one at a time.
CK_RV C_DigestEncryptUpdate(CK_SESSION_HANDLE session, CK_BYTE_PTR, CK_ULONG, CK_BYTE_PTR,
                            CK_ULONG_PTR) {
  return refusedFor(session, CKR_FUNCTION_NOT_SUPPORTED);
}

CK_RV C_DecryptDigestUpdate(CK_SESSION_HANDLE session, CK_BYTE_PTR, CK_ULONG, CK_BYTE_PTR,
                            CK_ULONG_PTR) {
  return refusedFor(session, CKR_FUNCTION_NOT_SUPPORTED);
}

CK_RV C_SignEncryptUpdate(CK_SESSION_HANDLE session, CK_BYTE_PTR, CK_ULONG, CK_BYTE_PTR,
                          CK_ULONG_PTR) {
  return refusedFor(session, CKR_FUNCTION_NOT_SUPPORTED);
}

CK_RV C_DecryptVerifyUpdate(CK_SESSION_HANDLE session, CK_BYTE_PTR, CK_ULONG, CK_BYTE_PTR,
                            CK_ULONG_PTR) {
  return refusedFor(session, CKR_FUNCTION_NOT_SUPPORTED);
}

CK_RV C_SeedRandom(CK_SESSION_HANDLE session, CK_BYTE_PTR seed, CK_ULONG length) {
  return guarded([&] {
    state().session(session);
    input(seed, length);
    return CKR_RANDOM_SEED_NOT_SUPPORTED;
  });
}

// OpenSSL's generator in this process: randomness is no key, and keyd has no request for it.
CK_RV C_GenerateRandom(CK_SESSION_HANDLE session, CK_BYTE_PTR out, CK_ULONG length) {
  return guarded([&] {
    state().session(session);
    if (!out && length) return CKR_ARGUMENTS_BAD;
    if (length > 0x7fffffff) return CKR_ARGUMENTS_BAD;
    return length == 0 || RAND_bytes(out, int(length)) == 1 ? CKR_OK : CKR_FUNCTION_FAILED;
  });
}

}  // namespace vhsm::pkcs11::calls
