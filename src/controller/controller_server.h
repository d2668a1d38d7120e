// `gpufleet controller` as an object: the REST API (/api/v1), the agent endpoint, /metrics, the
// routing-table watch and the reconcile timer around one Fleet, persisted in a StateStore. Runs
// on one io_context thread, so the fleet needs no locks.
#pragma once

#include <utility>  // before asio (Boost 1.74 + GCC 12)

#include <boost/asio/io_context.hpp>
#include <memory>
#include <string>

#include "common/clock.h"
#include "fleet/fleet.h"
#include "store/state_store.h"

namespace gf {

struct ControllerOptions {
  std::string host = "127.0.0.1";
  uint16_t port = 7070;
  // Writes (and agent heartbeats) need "Authorization: Bearer <token>" when set.
  std::string admin_token;
  bool auth_reads = false;  // reads need the token too
  PlacementSpec placement;
  FleetOptions fleet;
  std::vector<TenantSpec> tenants;
  Duration reconcile_interval = std::chrono::milliseconds(200);
  Duration max_watch_wait = std::chrono::seconds(30);
};

class ControllerServer {
 public:
  // Reads the store's records back before it serves anything: agents are never answered from an
  // empty view after a restart.
  static Result<std::unique_ptr<ControllerServer>> create(boost::asio::io_context& io,
                                                          ControllerOptions options,
                                                          std::unique_ptr<StateStore> store,
                                                          const Clock& clock);
  ~ControllerServer();

  uint16_t port() const;
  void start();
  void stop();

  struct Impl;

 private:
  explicit ControllerServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace gf
