# On-disk records of the vhsm store. Field numbers are part of the file format: append only,
# and bump kSchemaVersion (store.cpp) for any change an older keyd must not misread.
@0xca8b5e67f03fdcac;

using Cxx = import "/capnp/c++.capnp";
$Cxx.namespace("vhsm::store::records");

struct User {
  name @0 :Text;
  isSo @1 :Bool;
  flags @2 :UInt32;
  containers @3 :List(Text);
  kdfSalt @4 :Data;
  kdfIterations @5 :UInt32;
  wrappedSecret @6 :Data;
  createdUnixSeconds @7 :Int64;
  # Random, never reused: a session or unlock of a deleted user never acts as a new user of
  # the same name. Empty for users made before it existed (still unequal to any new one).
  id @8 :Data;
}

struct Container {
  name @0 :Text;
  netnsInode @1 :UInt64;
  netnsCookie @2 :UInt64;
  bootId @3 :Text;
}

struct Key {
  owner @0 :Text;
  id @1 :Text;
  type @2 :UInt16;
  bits @3 :UInt32;
  createdUnixSeconds @4 :Int64;
  wrapped @5 :Data;
  usage @6 :UInt32;
  # DER X.509 certificate of a key pair's public key (empty: none). Public, so not wrapped:
  # keyd checks it against the key's public key whenever it hands it out.
  certificate @7 :Data;
}

struct AuditEntry {
  sequence @0 :UInt64;
  unixMillis @1 :Int64;
  actor @2 :Text;
  container @3 :Text;
  action @4 :Text;
  target @5 :Text;
  result @6 :UInt16;
  detail @7 :Text;
  prevHash @8 :Data;
  hash @9 :Data;
  # The keyd that wrote it, when keyd runs on a shared store (--host-name); empty otherwise.
  host @10 :Text;
}
