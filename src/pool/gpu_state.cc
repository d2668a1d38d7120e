#include "pool/gpu_state.h"

namespace gf {

GpuState effective_state(Health h, AdminState a) {
  if (h == Health::kLost) return GpuState::kLost;
  if (a == AdminState::kDraining) return GpuState::kDraining;
  if (a == AdminState::kCordoned) return GpuState::kCordoned;
  switch (h) {
    case Health::kHealthy:
      return GpuState::kHealthy;
    case Health::kSuspect:
      return GpuState::kSuspect;
    case Health::kReserved:
      return GpuState::kReserved;
    case Health::kFaulty:
      return GpuState::kFaulty;
    case Health::kProbation:
      return GpuState::kProbation;
    case Health::kLost:
      return GpuState::kLost;
  }
  return GpuState::kLost;
}

bool health_transition_allowed(Health from, Health to) {
  if (from == to || to == Health::kLost) return true;
  switch (from) {
    case Health::kHealthy:
    case Health::kSuspect:
    case Health::kReserved:
      // Usable states move freely among themselves and can fail.
      return to != Health::kProbation;
    case Health::kFaulty:
      // Back through probation, or straight to Healthy when an operator clears it.
      return to == Health::kProbation || to == Health::kHealthy;
    case Health::kProbation:
      return to == Health::kHealthy || to == Health::kFaulty;
    case Health::kLost:
      // A returning GPU has to prove itself first.
      return to == Health::kProbation;
  }
  return false;
}

bool allows_new_allocation(Health h, AdminState a, bool request_allows_reserved) {
  if (a != AdminState::kNone) return false;
  switch (h) {
    case Health::kHealthy:
    case Health::kSuspect:
      return true;
    case Health::kReserved:
      return request_allows_reserved;
    default:
      return false;
  }
}

const char* to_string(Health h) {
  switch (h) {
    case Health::kHealthy:
      return "Healthy";
    case Health::kSuspect:
      return "Suspect";
    case Health::kReserved:
      return "Reserved";
    case Health::kFaulty:
      return "Faulty";
    case Health::kProbation:
      return "Probation";
    case Health::kLost:
      return "Lost";
  }
  return "?";
}

const char* to_string(AdminState a) {
  switch (a) {
    case AdminState::kNone:
      return "None";
    case AdminState::kCordoned:
      return "Cordoned";
    case AdminState::kDraining:
      return "Draining";
  }
  return "?";
}

const char* to_string(GpuState s) {
  switch (s) {
    case GpuState::kHealthy:
      return "Healthy";
    case GpuState::kSuspect:
      return "Suspect";
    case GpuState::kReserved:
      return "Reserved";
    case GpuState::kFaulty:
      return "Faulty";
    case GpuState::kProbation:
      return "Probation";
    case GpuState::kCordoned:
      return "Cordoned";
    case GpuState::kDraining:
      return "Draining";
    case GpuState::kLost:
      return "Lost";
  }
  return "?";
}

std::optional<Health> parse_health(std::string_view name) {
  for (Health h : {Health::kHealthy, Health::kSuspect, Health::kReserved, Health::kFaulty,
                   Health::kProbation, Health::kLost}) {
    if (name == to_string(h)) return h;
  }
  return std::nullopt;
}

}  // namespace gf
