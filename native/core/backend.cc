#include "backend.h"

namespace dgc {
namespace {
Backend* backends[2] = {nullptr, nullptr};
}

void registerBackend(Device device, Backend* backend) { backends[static_cast<int>(device)] = backend; }
bool hasBackend(Device device) { return backends[static_cast<int>(device)] != nullptr; }

Backend& backendFor(Device device) {
  Backend* b = backends[static_cast<int>(device)];
  DGC_CHECK(b != nullptr, Device, "the ", deviceName(device), " backend is not available in this build");
  return *b;
}

}  // namespace dgc
