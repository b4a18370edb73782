#include "keyd/transport/frame_handler.hpp"

#include "keyd/base/secure_memory.hpp"

namespace vhsm::keyd {
namespace {

bool carriesSecrets(proto::Request::Which which) {
  using W = proto::Request::Which;
  return which == W::LOGIN || which == W::USER_CREATE || which == W::USER_PASSWD ||
         which == W::UNLOCK || which == W::KEY_IMPORT;
}

void refuseFrame(Service& service, Session& session, proto::ErrorCode code,
                 const std::string& detail, capnp::MessageBuilder& reply) {
  service.auditTransportRefusal(session, code, detail);
  auto out = reply.initRoot<proto::Response>();
  out.setError(code);
  out.setMessage(detail);
}

}  // namespace

FrameOutcome handleFrame(Service& service, Session& session, std::span<std::byte> frame,
                         size_t fullSize, capnp::MessageBuilder& reply) {
  proto::FrameHeader header;
  auto error = proto::decodeHeader(frame, header);
  if (fullSize > frame.size()) error = proto::FrameError::tooLarge;  // cut off on receipt
  if (error == proto::FrameError::none && header.type != proto::FrameType::request)
    error = proto::FrameError::badType;

  FrameOutcome outcome;
  outcome.requestId = header.requestId;
  if (error != proto::FrameError::none) {
    auto code = error == proto::FrameError::tooLarge     ? proto::ErrorCode::FRAME_TOO_LARGE
                : error == proto::FrameError::badVersion ? proto::ErrorCode::UNSUPPORTED_VERSION
                                                         : proto::ErrorCode::MALFORMED_FRAME;
    refuseFrame(service, session, code,
                std::string(proto::describe(error)) + " (" + std::to_string(fullSize) + " bytes)",
                reply);
    outcome.malformed = true;
    // A header too broken to trust gives no request id to answer; 0 stands for "unknown".
    if (error == proto::FrameError::tooShort || error == proto::FrameError::badMagic)
      outcome.requestId = 0;
    return outcome;
  }
  auto payload = frame.subspan(proto::kHeaderSize);
  kj::ArrayPtr<const capnp::word> words(reinterpret_cast<const capnp::word*>(payload.data()),
                                        payload.size() / sizeof(capnp::word));
  try {
    auto message = proto::openMessage(words);
    auto request = message->getRoot<proto::Request>();
    outcome.replyDue = service.handle(session, request, reply, header.flags & proto::kFlagNoReply);
    // Passwords and imported keys do not linger in the buffer until the next frame.
    if (carriesSecrets(request.which())) wipe(payload.data(), payload.size());
  } catch (const kj::Exception& e) {
    // The segment table itself was bad; the service never saw the request.
    refuseFrame(service, session, proto::ErrorCode::MALFORMED_MESSAGE,
                "malformed message: " + std::string(e.getDescription().cStr()), reply);
    outcome.malformed = true;
    outcome.replyDue = true;
  }
  return outcome;
}

bool sendReply(const proto::FrameHeader& header, capnp::MessageBuilder& reply,
               const std::function<bool(const proto::OutgoingFrame&)>& send) {
  proto::OutgoingFrame out(header, reply);
  if (out.size() <= proto::kMaxFrame) return send(out);
  capnp::MallocMessageBuilder tooBig;
  auto r = tooBig.initRoot<proto::Response>();
  r.setError(proto::ErrorCode::FRAME_TOO_LARGE);
  r.setMessage("the reply would exceed the maximum frame size; ask for less at a time");
  return send(proto::OutgoingFrame(header, tooBig));
}

}  // namespace vhsm::keyd
