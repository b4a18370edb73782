#include "keyd/service/streams.hpp"

#include <vector>

namespace vhsm::keyd {
namespace {

using proto::ErrorCode;

std::span<const uint8_t> bytesOf(capnp::Data::Reader data) {
  return {data.begin(), data.size()};
}

class HashStream final : public Stream {
 public:
  explicit HashStream(Hasher hasher) : hasher_(std::move(hasher)) {}

  void update(proto::Request::StreamUpdate::Reader request, proto::Response::Builder) override {
    if (request.hasAad())
      throw Refusal(ErrorCode::INVALID_ARGUMENT, "AAD given to a digest or HMAC stream");
    auto data = request.getData();
    hasher_->Update(data.begin(), data.size());
  }

  void final(proto::Request::StreamFinal::Reader request,
             proto::Response::Builder response) override {
    auto data = request.getData();
    hasher_->Update(data.begin(), data.size());
    auto out = response.initBytes(hasher_->DigestSize());
    hasher_->TruncatedFinal(out.begin(), out.size());
  }

  std::unique_ptr<Stream> clone() const override {
    throwIfFailed();
    return std::make_unique<HashStream>(cloneHasher(*hasher_));
  }

 private:
  Hasher hasher_;
};

class GcmStream final : public Stream {
 public:
  GcmStream(bool encrypt, std::span<const uint8_t> key, std::span<const uint8_t> iv,
            std::span<const uint8_t> tag)
      : gcm_(encrypt, key, iv), encrypt_(encrypt), tag_(tag.begin(), tag.end()) {}

  void update(proto::Request::StreamUpdate::Reader request,
              proto::Response::Builder response) override {
    gcm_.addAad(bytesOf(request.getAad()));
    auto data = request.getData();
    auto out = response.initBytes(data.size());
    gcm_.process(bytesOf(data), out.begin());
    if (request.getTagSoFar()) setTagSoFar(response);
  }

  void first(std::span<const uint8_t> aad, std::span<const uint8_t> data, bool tagSoFar,
             proto::Response::Builder response) override {
    gcm_.addAad(aad);
    if (!data.empty()) gcm_.process(data, response.initOutput(unsigned(data.size())).begin());
    if (tagSoFar) setTagSoFar(response);
  }

  void final(proto::Request::StreamFinal::Reader request,
             proto::Response::Builder response) override {
    auto data = bytesOf(request.getData());
    if (encrypt_) {
      auto tagLength = request.getTagLength();
      AesGcm::checkTagLength(tagLength);
      auto result = response.initGcm();
      gcm_.process(data, result.initCiphertext(unsigned(data.size())).begin());
      gcm_.tag({result.initTag(tagLength).begin(), tagLength});
      return;
    }
    // Decrypt: the last piece of plaintext is released only with a verified tag.
    auto expected = request.hasTag() ? bytesOf(request.getTag()) : std::span<const uint8_t>(tag_);
    gcm_.finishDecrypt(data, response.initBytes(unsigned(data.size())).begin(), expected);
  }

  std::unique_ptr<Stream> clone() const override {
    throwIfFailed();
    return std::make_unique<GcmStream>(*this);
  }

 private:
  // Finishes a copy, leaving this stream able to go on.
  void setTagSoFar(proto::Response::Builder response) const {
    if (!encrypt_)
      throw Refusal(ErrorCode::INVALID_ARGUMENT, "tags so far are for encryption only");
    AesGcm copy(gcm_);
    auto tag = response.initTagSoFar(kMaxGcmTagBytes);
    copy.tag({tag.begin(), tag.size()});
  }

  AesGcm gcm_;
  bool encrypt_;
  std::vector<uint8_t> tag_;
};

}  // namespace

std::unique_ptr<Stream> newHashStream(Hasher hasher) {
  return std::make_unique<HashStream>(std::move(hasher));
}

std::unique_ptr<Stream> newGcmStream(bool encrypt, std::span<const uint8_t> key,
                                     std::span<const uint8_t> iv, std::span<const uint8_t> tag) {
  return std::make_unique<GcmStream>(encrypt, key, iv, tag);
}

}  // namespace vhsm::keyd
