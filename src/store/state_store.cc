#include "store/state_store.h"

namespace gf {

namespace {

Compare make_compare(std::string key, CompareTarget target, CompareOp op, int64_t number) {
  Compare c;
  c.key = std::move(key);
  c.target = target;
  c.op = op;
  c.number = number;
  return c;
}

}  // namespace

Compare compare_value(std::string key, CompareOp op, std::string value) {
  Compare c = make_compare(std::move(key), CompareTarget::kValue, op, 0);
  c.value = std::move(value);
  return c;
}

Compare compare_version(std::string key, CompareOp op, int64_t version) {
  return make_compare(std::move(key), CompareTarget::kVersion, op, version);
}

Compare compare_create_revision(std::string key, CompareOp op, Revision revision) {
  return make_compare(std::move(key), CompareTarget::kCreateRevision, op, revision);
}

Compare compare_mod_revision(std::string key, CompareOp op, Revision revision) {
  return make_compare(std::move(key), CompareTarget::kModRevision, op, revision);
}

Compare compare_lease(std::string key, CompareOp op, LeaseId lease) {
  return make_compare(std::move(key), CompareTarget::kLease, op, lease);
}

TxnOp op_get(std::string key, RangeOptions options) {
  return RangeRequest{KeyRange::single(std::move(key)), options};
}

TxnOp op_range(KeyRange range, RangeOptions options) {
  return RangeRequest{std::move(range), options};
}

TxnOp op_put(std::string key, std::string value, PutOptions options) {
  return PutRequest{std::move(key), std::move(value), options};
}

TxnOp op_delete(std::string key, DeleteOptions options) {
  return DeleteRequest{KeyRange::single(std::move(key)), options};
}

TxnOp op_delete_range(KeyRange range, DeleteOptions options) {
  return DeleteRequest{std::move(range), options};
}

WatchHandle& WatchHandle::operator=(WatchHandle&& o) noexcept {
  if (this != &o) {
    cancel();
    id_ = std::exchange(o.id_, 0);
    cancel_ = std::exchange(o.cancel_, nullptr);
  }
  return *this;
}

void WatchHandle::cancel() {
  if (auto c = std::exchange(cancel_, nullptr)) c();
}

Result<RangeResponse> StateStore::get(std::string_view key, const RangeOptions& options) {
  return range(KeyRange::single(std::string(key)), options);
}

Result<RangeResponse> StateStore::get_prefix(std::string_view prefix, const RangeOptions& options) {
  return range(KeyRange::prefix(std::string(prefix)), options);
}

Result<DeleteResponse> StateStore::delete_key(std::string_view key, const DeleteOptions& options) {
  return delete_range(KeyRange::single(std::string(key)), options);
}

Result<DeleteResponse> StateStore::delete_prefix(std::string_view prefix,
                                                 const DeleteOptions& options) {
  return delete_range(KeyRange::prefix(std::string(prefix)), options);
}

Result<WatchHandle> StateStore::watch_key(std::string_view key, Revision start_revision,
                                          WatchCallback callback, const WatchOptions& options) {
  return watch(KeyRange::single(std::string(key)), start_revision, std::move(callback), options);
}

Result<WatchHandle> StateStore::watch_prefix(std::string_view prefix, Revision start_revision,
                                             WatchCallback callback, const WatchOptions& options) {
  return watch(KeyRange::prefix(std::string(prefix)), start_revision, std::move(callback), options);
}

const char* to_string(CompareTarget target) {
  switch (target) {
    case CompareTarget::kValue:
      return "value";
    case CompareTarget::kVersion:
      return "version";
    case CompareTarget::kCreateRevision:
      return "create_revision";
    case CompareTarget::kModRevision:
      return "mod_revision";
    case CompareTarget::kLease:
      return "lease";
  }
  return "?";
}

const char* to_string(CompareOp op) {
  switch (op) {
    case CompareOp::kEqual:
      return "==";
    case CompareOp::kNotEqual:
      return "!=";
    case CompareOp::kLess:
      return "<";
    case CompareOp::kGreater:
      return ">";
  }
  return "?";
}

const char* to_string(Event::Type type) {
  return type == Event::Type::kPut ? "PUT" : "DELETE";
}

}  // namespace gf
