// What went wrong with one attempt on a replica, as a type: the gateway shell maps its transport
// errors to a Failure at the boundary, and the serving core decides from the type alone (never
// from an error's text) what the router learns and whether another replica may take the request.
#pragma once

#include <cstdint>

#include "routing/outlier_detector.h"

namespace gf {

enum class Failure : uint8_t {
  kNoAddress,    // the routing table gave the replica no usable address: nothing was sent
  kRefused,      // the connection was refused: nothing reached the replica (its engine is down)
  kConnect,      // no connection, or it closed before a response head ("bad response" too)
  kTimeout,      // no response within the upstream timeout
  kUpstream5xx,  // the replica answered 5xx before anything reached the client
  kReset,        // the connection broke while reading the response
  kDrained,      // the replica left the routing table and its drain timeout cut the request
  kClientGone,   // the client went away (or stopped reading): neutral for the replica
};

// How far an attempt had got when it failed: what may still be retried depends on it.
enum class AttemptPhase : uint8_t {
  kBeforeHead,  // connecting, sending, or waiting for the response head
  kBody,        // reading a whole (non-streamed) response; nothing reached the client
  kStreaming,   // bytes already reached the client: it cannot go to another replica
};

struct FailureClass {
  Outcome outcome = Outcome::kConnectFailure;  // what the router (outlier ejection) learns
  bool counts_as_error = true;                 // in the traffic report (canary analysis)
  bool retry = false;                          // another replica may take the request
  // Whether the retry takes a place in the retry budget. Not when the replica never saw the
  // request (refused, no address): the retry adds no load anywhere, and refusing it would fail a
  // request the fleet can serve, for every client of an engine that just died (#17, chaos).
  bool spends_budget = true;
};

// The one table of failure classes. Before the head: a timeout is answered (504, the request
// may be running on the replica), anything else may be retried. Reading a whole body: any break
// may be retried, as nothing reached the client. Streaming: nothing is retried.
FailureClass classify(Failure failure, AttemptPhase phase);

}  // namespace gf
