# The vhsm wire protocol: one Request or Response per frame (see frame.hpp for the header).
# Field numbers are part of the protocol: append, never renumber.
@0xf6a122833560ba83;

using Cxx = import "/capnp/c++.capnp";
$Cxx.namespace("vhsm::proto");

enum ErrorCode {
  ok @0;
  malformedFrame @1;          # header bad: magic, length, type
  unsupportedVersion @2;
  frameTooLarge @3;
  malformedMessage @4;        # Cap'n Proto body rejected (limits, unknown union member)
  notLoggedIn @5;
  wrongPassword @6;
  unknownUser @7;
  loginThrottled @8;          # too many recent failures for this user from this container
  containerNotAllowed @9;     # user not bound to the requesting container
  permissionDenied @10;       # role or flag missing
  unknownKey @11;
  keyExists @12;
  keyTypeMismatch @13;        # e.g. an AES key used for HMAC
  unsupportedAlgorithm @14;
  invalidArgument @15;        # bad length, name, flag or parameter
  tagMismatch @16;            # AES-GCM authentication failed
  unknownOperation @17;       # stream handle not open on this connection
  tooManyOperations @18;      # per-connection limit on open streams
  userExists @19;
  unknownContainer @20;
  containerExists @21;
  notUnlocked @22;            # passwordless login but no unlock for this container
  storeError @23;
  internalError @24;
  alreadyLoggedIn @25;
  passwordRequired @26;       # a password is needed that the request did not carry
  unknownRequest @27;         # request type this keyd does not implement
  usageNotPermitted @28;      # the key exists but its usage (fixed at creation) forbids this
  storeUnavailable @29;       # a shared store (etcd) cannot be reached now: retry later
}

enum HashAlgorithm {
  sha1 @0;
  sha256 @1;
  sha384 @2;
  sha512 @3;
}

enum KeyType {
  hmac @0;
  aes @1;
  ecP256 @2;
  ecP384 @3;
  ed25519 @4;
  rsa @5;
}

# What a key may be used for, fixed when it is created.
enum KeyUsage {
  mac @0;
  encrypt @1;                 # encrypt and decrypt
  sign @2;
}

enum RsaPadding {
  pkcs1 @0;
  pss @1;
}

enum UserType {
  user @0;
  so @1;
}

# Bit set of user flags, as in docs/security-model.md.
struct UserFlags {
  read @0 :Bool;
  create @1 :Bool;
  modify @2 :Bool;
  delete @3 :Bool;
  createExtended @4 :Bool;
}

struct UserInfo {
  name @0 :Text;
  type @1 :UserType;
  flags @2 :UserFlags;
  containers @3 :List(Text);
}

struct ContainerInfo {
  name @0 :Text;
  netnsInode @1 :UInt64;
  netnsCookie @2 :UInt64;
  # In containerAdd, instead of the two above: keyd reads the namespace of this process (in
  # keyd's pid namespace), or of this namespace file (in keyd's mount namespace), itself.
  pid @3 :UInt32;
  netnsPath @4 :Text;
  # In containerAdd: bind the name to this namespace whether or not the name exists (a
  # restarted container's new namespace replaces its old one); with no namespace given, keep
  # the name but unbind it, so that it names no namespace until bound again. What an OCI hook
  # does at each container start and stop.
  bind @5 :Bool;
  # With bind and conditional: only if the name now names the namespace with this cookie
  # (0: only if it names none — new, unbound, or registered in an earlier boot). An OCI hook
  # binds and unbinds this way, so that one container can never take over or unbind a name
  # another running container holds.
  conditional @6 :Bool;
  expectedCookie @7 :UInt64;
}

struct KeyInfo {
  id @0 :Text;
  type @1 :KeyType;
  bits @2 :UInt32;
  createdUnixSeconds @3 :Int64;
  owner @4 :Text;
  usage @5 :KeyUsage;
  hasCertificate @6 :Bool;    # keyCertificate has one to give
}

struct AuditRecord {
  sequence @0 :UInt64;
  unixMillis @1 :Int64;
  actor @2 :Text;             # user name, or "" before login
  container @3 :Text;         # container name or "unregistered:<inode>"
  action @4 :Text;
  target @5 :Text;
  result @6 :ErrorCode;
  detail @7 :Text;
  host @8 :Text;              # the keyd that wrote it, on a shared store (--host-name)
}

struct Request {
  union {
    ping @0 :Void;
    login @1 :Login;
    logout @2 :Void;
    whoami @3 :Void;

    userCreate @4 :UserCreate;
    userModify @5 :UserModify;
    userDelete @6 :Text;
    userList @7 :Void;
    userPasswd @8 :UserPasswd;

    containerAdd @9 :ContainerInfo;
    containerRemove @10 :Text;
    containerList @11 :Void;

    unlock @12 :Unlock;
    lock @13 :Lock;

    keyGenerate @14 :KeyGenerate;
    keyImport @15 :KeyImport;
    keyList @16 :Void;
    keyInfo @17 :Text;
    keyDelete @18 :Text;

    hmac @19 :Hmac;
    digest @20 :Digest;
    gcmEncrypt @21 :GcmEncrypt;
    gcmDecrypt @22 :GcmDecrypt;

    streamInit @23 :StreamInit;
    streamUpdate @24 :StreamUpdate;
    streamFinal @25 :StreamFinal;
    streamAbort @26 :UInt32;

    auditList @27 :AuditList;
    auditVerify @28 :Void;

    streamClone @29 :UInt32;   # a new, independent stream in the same state (EVP dup)

    sign @30 :Sign;
    keyPublic @31 :Text;       # reply: bytes = the public key, DER SubjectPublicKeyInfo
    keyListPage @32 :KeyListPage;  # reply: keys (in id order) and moreKeys
    status @34 :Void;          # security officers; reply: status
    # A certificate kept beside a key pair (PKCS#11's CKO_CERTIFICATE): set, or removed
    # with an empty one; its public key must be the key's. Reply of keyCertificate: bytes.
    keyCertificateSet @35 :KeyCertificate;
    keyCertificate @36 :Text;
    # No login needed. Reply: users = the key users bound to the caller's own container (names
    # only; nothing for an unregistered namespace) — the PKCS#11 module's slots.
    boundUsers @37 :Void;
    # Security officers. One chunk of a backup of the whole store taken in one snapshot while
    # keyd serves: offset 0 takes a new snapshot (replacing this session's last), a later
    # offset reads on in it. Reply: bytes = the chunk (empty past the end), backupSize.
    backup @38 :UInt64;
  }

  # Streams the client is done with (an encryption whose tag came with its last update, a
  # freed EVP context): keyd drops them before this request runs, so letting a stream go
  # needs no request of its own. Handles keyd does not know are ignored.
  abandonedStreams @33 :List(UInt32);

  # One page of the caller's keys: those whose id sorts after startAfter ("" = from the
  # first), at most limit of them (0 or more than keyd's page size = keyd's page size).
  struct KeyListPage {
    startAfter @0 :Text;
    limit @1 :UInt32;
  }

  struct Login {
    user @0 :Text;
    password @1 :Data;        # empty: use an unlock for the requesting container
  }
  struct UserCreate {
    info @0 :UserInfo;
    password @1 :Data;
  }
  struct UserModify {
    name @0 :Text;
    setFlags @1 :Bool;
    flags @2 :UserFlags;
    setContainers @3 :Bool;
    containers @4 :List(Text);
  }
  struct UserPasswd {
    name @0 :Text;            # empty: the logged-in user
    oldPassword @1 :Data;     # needed when name is another user
    newPassword @2 :Data;
  }
  struct Unlock {
    user @0 :Text;
    password @1 :Data;        # the unlocked user's password
    container @2 :Text;
    ttlSeconds @3 :UInt32;
  }
  struct Lock {
    user @0 :Text;
    container @1 :Text;       # empty: every container
  }
  struct KeyGenerate {
    id @0 :Text;
    type @1 :KeyType;
    bits @2 :UInt32;          # 0: the type's default
  }
  struct KeyCertificate {
    keyId @0 :Text;
    certificate @1 :Data;     # DER X.509; empty: remove the key's certificate
  }
  struct KeyImport {
    id @0 :Text;
    type @1 :KeyType;
    material @2 :Data;        # raw bytes (hmac, aes); a private key, PEM or DER (ec, ed25519, rsa)
  }
  struct Sign {
    keyId @0 :Text;
    # ECDSA and RSA: the digest of the message (hash names its algorithm) — or, with raw,
    # bytes signed as given. Ed25519: the whole message (hash is ignored).
    data @1 :Data;
    hash @2 :HashAlgorithm;
    raw @3 :Bool;
    rsaPadding @4 :RsaPadding;
    pssSaltLength @5 :Int32 = -1;  # OpenSSL's convention: -1 digest length, -2 or -3 maximum
    mgf1Hash @6 :HashAlgorithm;
  }
  struct Hmac {
    keyId @0 :Text;
    algorithm @1 :HashAlgorithm;
    data @2 :Data;
  }
  struct Digest {
    algorithm @0 :HashAlgorithm;
    data @1 :Data;
  }
  struct GcmEncrypt {
    keyId @0 :Text;
    iv @1 :Data;              # empty: keyd draws a random 12-byte IV and returns it
    aad @2 :Data;
    plaintext @3 :Data;
    tagLength @4 :UInt8 = 16;
    tagSoFar @5 :Bool;        # streamInit: also return the tag of the message so far
  }
  struct GcmDecrypt {
    keyId @0 :Text;
    iv @1 :Data;
    aad @2 :Data;
    ciphertext @3 :Data;
    tag @4 :Data;
  }
  struct StreamInit {
    union {
      hmac @0 :Hmac;          # data, if any, is the first update
      digest @1 :Digest;
      gcmEncrypt @2 :GcmEncrypt; # aad and plaintext, if any, are the first update
      gcmDecrypt @3 :GcmDecrypt; # likewise; the tag may be empty here and given at final
    }
  }
  struct StreamUpdate {
    handle @0 :UInt32;
    aad @1 :Data;             # GCM only, before any data
    data @2 :Data;
    tagSoFar @3 :Bool;        # GCM encrypt: also return the tag of the message so far
  }
  struct StreamFinal {
    handle @0 :UInt32;
    data @1 :Data;            # a last update, saving a round trip
    tag @2 :Data;             # GCM decrypt: the expected tag
    tagLength @3 :UInt8 = 16; # GCM encrypt
  }
  struct AuditList {
    fromSequence @0 :UInt64;
    limit @1 :UInt32;         # 0: all
  }
}

# What keyd is doing, for operators (vhsm-admin status, and --metrics-socket's Prometheus text).
struct ServiceStatus {
  version @0 :Text;
  uptimeSeconds @1 :UInt64;
  store @2 :Text;
  containers @3 :List(ContainerLoad);  # every container with a connection open now
  requests @4 :List(Count);            # by request kind, since keyd started
  refusals @5 :List(Count);            # by error code, since keyd started
  auditQueued @6 :UInt64;              # records waiting for the audit writer
  ready @7 :Bool;                      # the store answers (always, for an embedded one)
  storeProblem @8 :Text;               # why not, when not ready
  host @9 :Text;                       # --host-name, on a shared store

  struct ContainerLoad {
    name @0 :Text;
    connections @1 :UInt32;   # Unix connections and netlink clients that have sent a request
    sessions @2 :UInt32;      # of those, logged in
  }
  struct Count {
    name @0 :Text;
    count @1 :UInt64;
  }
}

struct Response {
  error @0 :ErrorCode;
  message @1 :Text;           # one human-readable line; never secret material
  retryAfterMillis @2 :UInt32;
  output @14 :Data;           # streamInit: output for data sent with the init (AES-GCM)
  # AES-GCM encryption: the 16-byte tag the message would have if it ended here, so that a
  # final with no new data needs no request (the tag reveals nothing the final would not).
  tagSoFar @15 :Data;
  moreKeys @16 :Bool;         # keyListPage: keys follow the last one listed
  backupSize @18 :UInt64;     # backup: the whole backup's length in bytes
  union {
    none @3 :Void;
    whoami @4 :UserInfo;
    users @5 :List(UserInfo);
    containers @6 :List(ContainerInfo);
    keys @7 :List(KeyInfo);
    key @8 :KeyInfo;
    bytes @9 :Data;           # MAC or digest, or plaintext
    gcm @10 :GcmResult;
    stream @11 :UInt32;       # handle of a new stream
    audit @12 :List(AuditRecord);
    auditVerify @13 :AuditVerifyResult;
    status @17 :ServiceStatus;
  }

  struct GcmResult {
    iv @0 :Data;
    ciphertext @1 :Data;
    tag @2 :Data;
  }
  struct AuditVerifyResult {
    records @0 :UInt64;
    ok @1 :Bool;
    firstBadSequence @2 :UInt64;
  }
}
