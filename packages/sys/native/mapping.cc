// @vmv/sys native addon: mmap of an fd into an external ArrayBuffer, and safe unmapping.
//
// Ownership: one MapRecord per mapping, shared by two owners with a count: the ArrayBuffer's
// finaliser and the External handle held by the JS Mapping. Explicit unmap detaches the
// ArrayBuffer first (every view then has length 0, so no JS access can touch the pages), then
// munmaps and marks the record; the finaliser munmaps only if that has not happened. Whichever
// owner goes last frees the record.
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmath>

#include "sys.h"

namespace vmv {
namespace {

struct MapRecord {
  void* base;      // what mmap returned (page aligned)
  size_t baseLen;  // what was mapped
  bool unmapped;
  bool finalized;  // the ArrayBuffer's finaliser has run
  int owners;
};

void Release(MapRecord* rec) {
  if (--rec->owners == 0) delete rec;
}

void FinalizeBuffer(napi_env, void*, void* hint) {
  auto* rec = static_cast<MapRecord*>(hint);
  rec->finalized = true;
  if (!rec->unmapped) {
    munmap(rec->base, rec->baseLen);
    rec->unmapped = true;
  }
  Release(rec);
}

void FinalizeHandle(Napi::Env, MapRecord* rec) { Release(rec); }

// mmap(fd, length, offset, shared) -> [ArrayBuffer, handle] | -errno
Napi::Value Mmap(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd;
  double length, offset;
  if (!ArgFd(info, 0, &fd) || !ArgDouble(info, 1, &length) || !ArgDouble(info, 2, &offset)) return Napi::Value();
  bool shared = info[3].ToBoolean().Value();
  const double kMaxSafe = 9007199254740991.0;
  if (!(length >= 1 && length <= kMaxSafe && offset >= 0 && offset <= kMaxSafe) || length != std::floor(length) ||
      offset != std::floor(offset) || length + offset > kMaxSafe) {
    return Fail(env, "mmap", EINVAL);
  }
  const uint64_t page = static_cast<uint64_t>(sysconf(_SC_PAGESIZE));
  const uint64_t off = static_cast<uint64_t>(offset);
  const uint64_t len = static_cast<uint64_t>(length);
  const uint64_t aligned = off & ~(page - 1);
  const uint64_t delta = off - aligned;

  // A page past the end of a file raises SIGBUS when touched: refuse such a range up front.
  struct stat st;
  if (fstat(fd, &st) < 0) return Fail(env, "fstat");
  if (S_ISREG(st.st_mode) && off + len > static_cast<uint64_t>(st.st_size)) return Fail(env, "mmap", ENXIO);

  const size_t mapLen = static_cast<size_t>(len + delta);
  void* base = mmap(nullptr, mapLen, PROT_READ | PROT_WRITE, shared ? MAP_SHARED : MAP_PRIVATE, fd, static_cast<off_t>(aligned));
  if (base == MAP_FAILED) return Fail(env, "mmap");

  // Two owners from the start: the ArrayBuffer's finaliser and this function (then the handle).
  auto* rec = new MapRecord{base, mapLen, false, false, 2};
  napi_value ab;
  napi_status s = napi_create_external_arraybuffer(env, static_cast<char*>(base) + delta, static_cast<size_t>(len), FinalizeBuffer, rec, &ab);
  if (s != napi_ok) {
    if (env.IsExceptionPending()) env.GetAndClearPendingException();
    // Node 20 runs the finaliser at once when it refuses a buffer (it did here for lengths above
    // buffer.constants.MAX_LENGTH); other versions may not run it at all. Unmap exactly once, and
    // free the record only if the finaliser has had its turn (else leak these few bytes rather
    // than risk a late finaliser touching freed memory).
    if (!rec->unmapped) {
      munmap(base, mapLen);
      rec->unmapped = true;
    }
    if (rec->finalized) Release(rec);
    return Fail(env, "napi_create_external_arraybuffer", ENOMEM);
  }
  Napi::External<MapRecord> handle = Napi::External<MapRecord>::New(env, rec, FinalizeHandle);
  Napi::Array result = Napi::Array::New(env, 2);
  result.Set(0u, Napi::Value(env, ab));
  result.Set(1u, handle);
  return result;
}

// munmap(handle, arrayBuffer) -> 0 | -errno
Napi::Value Munmap(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsExternal() || !info[1].IsArrayBuffer()) {
    Napi::TypeError::New(env, "munmap: (handle, ArrayBuffer) expected").ThrowAsJavaScriptException();
    return Napi::Value();
  }
  MapRecord* rec = info[0].As<Napi::External<MapRecord>>().Data();
  if (rec->unmapped) return Int(env, 0);
  // Detach before unmapping: afterwards no JS view can reach the pages.
  if (napi_detach_arraybuffer(env, info[1]) != napi_ok) {
    if (env.IsExceptionPending()) env.GetAndClearPendingException();
    return Fail(env, "napi_detach_arraybuffer", EINVAL);
  }
  rec->unmapped = true;
  if (munmap(rec->base, rec->baseLen) < 0) return Fail(env, "munmap");
  return Int(env, 0);
}

}  // namespace

void InitMapping(Napi::Env env, Napi::Object exports) {
  exports.Set("mmap", Napi::Function::New(env, Mmap, "mmap"));
  exports.Set("munmap", Napi::Function::New(env, Munmap, "munmap"));
}

}  // namespace vmv
