#include "common/result.h"

namespace gf {

const char* to_string(ErrorCode code) {
  switch (code) {
    case ErrorCode::kInvalidArgument:
      return "invalid argument";
    case ErrorCode::kNotFound:
      return "not found";
    case ErrorCode::kAlreadyExists:
      return "already exists";
    case ErrorCode::kFailedPrecondition:
      return "failed precondition";
    case ErrorCode::kUnschedulable:
      return "unschedulable";
    case ErrorCode::kInfeasible:
      return "infeasible";
    case ErrorCode::kUnavailable:
      return "unavailable";
    case ErrorCode::kCompacted:
      return "revision compacted";
    case ErrorCode::kInternal:
      return "internal error";
  }
  return "unknown error";
}

}  // namespace gf
