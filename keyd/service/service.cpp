#include "service.hpp"

namespace vhsm::keyd {

Service::Service(store::Store& store, proto::NetnsIdentity hostNetns, ServiceLimits limits)
    : store_(store), hostNetns_(hostNetns), limits_(limits) {}

}  // namespace vhsm::keyd
