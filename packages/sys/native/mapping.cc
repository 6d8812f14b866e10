// @vmv/sys native addon: mmap of an fd into an external ArrayBuffer, and safe unmapping.
//
// Ownership: one MapRecord per mapping, shared by two owners with a count: the ArrayBuffer's
// finaliser and the External handle held by the JS Mapping. Explicit unmap detaches the
// ArrayBuffer first (every view then has length 0, so no JS access can touch the pages), then
// munmaps and marks the record; the finaliser munmaps only if that has not happened. Whichever
// owner goes last frees the record.
//
// SIGBUS: a page of a file mapping that lies past the end of the file raises SIGBUS when touched.
// mmap() refuses such ranges up front, but the file can shrink later (a vhost-user frontend that
// truncates the memory file it shared). A process-wide SIGBUS handler covers that: when the fault
// address lies in one of our live mappings, the page is replaced by a private zero page (reads give
// zeros, writes are kept privately and never reach the file) and the access is retried; any other
// SIGBUS goes to the previous disposition, so real crashes stay crashes.
#include <fcntl.h>
#include <linux/fs.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cmath>
#include <mutex>

#include "sys.h"

namespace vmv {
namespace {

// ---- live mapping ranges, readable from a signal handler (lock-free reads; writes under a mutex)
constexpr size_t kSlots = 16384;
struct Range {
  std::atomic<uintptr_t> start;  // 0: free
  std::atomic<uintptr_t> end;
};
Range gRanges[kSlots];
std::mutex gRangesMutex;
std::atomic<size_t> gHighWater{0};  // slots [0, gHighWater) may be in use
std::atomic<uint64_t> gRecovered{0};
uintptr_t gPageSize = 4096;
struct sigaction gPrevious;
std::once_flag gInstallOnce;

void OnSigbus(int sig, siginfo_t* info, void* context) {
  if (info != nullptr && info->si_code == BUS_ADRERR) {
    const uintptr_t addr = reinterpret_cast<uintptr_t>(info->si_addr);
    const size_t n = gHighWater.load(std::memory_order_acquire);
    for (size_t i = 0; i < n; i++) {
      const uintptr_t start = gRanges[i].start.load(std::memory_order_acquire);
      if (start == 0 || addr < start || addr >= gRanges[i].end.load(std::memory_order_acquire)) continue;
      void* page = reinterpret_cast<void*>(addr & ~(gPageSize - 1));
      if (mmap(page, gPageSize, PROT_READ | PROT_WRITE, MAP_FIXED | MAP_PRIVATE | MAP_ANONYMOUS, -1, 0) != MAP_FAILED) {
        gRecovered.fetch_add(1, std::memory_order_relaxed);
        return;  // the faulting access runs again, on the zero page
      }
      break;
    }
  }
  // Not one of ours: what would have happened without us.
  if ((gPrevious.sa_flags & SA_SIGINFO) != 0 && gPrevious.sa_sigaction != nullptr) {
    gPrevious.sa_sigaction(sig, info, context);
    return;
  }
  if (gPrevious.sa_handler != SIG_DFL && gPrevious.sa_handler != SIG_IGN && gPrevious.sa_handler != nullptr) {
    gPrevious.sa_handler(sig);
    return;
  }
  // An ignored SIGBUS that another process sent stays ignored (a fault cannot be ignored).
  if (gPrevious.sa_handler == SIG_IGN && info != nullptr && info->si_code <= 0) return;
  // The default action: SIGBUS is blocked while we run, so it is delivered, with the default
  // disposition, as soon as we return.
  signal(SIGBUS, SIG_DFL);
  raise(SIGBUS);
}

void InstallSigbusHandler() {
  std::call_once(gInstallOnce, [] {
    gPageSize = static_cast<uintptr_t>(sysconf(_SC_PAGESIZE));
    struct sigaction sa {};
    sa.sa_sigaction = OnSigbus;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_RESTART;
    sigaction(SIGBUS, &sa, &gPrevious);
  });
}

// A slot for [start, end), or -1 when every slot is taken (the mapping then just has no cover).
int RegisterRange(uintptr_t start, uintptr_t end) {
  std::lock_guard<std::mutex> lock(gRangesMutex);
  for (size_t i = 0; i < kSlots; i++) {
    if (gRanges[i].start.load(std::memory_order_relaxed) != 0) continue;
    gRanges[i].end.store(end, std::memory_order_relaxed);
    gRanges[i].start.store(start, std::memory_order_release);
    if (i >= gHighWater.load(std::memory_order_relaxed)) gHighWater.store(i + 1, std::memory_order_release);
    return static_cast<int>(i);
  }
  return -1;
}

void UnregisterRange(int slot) {
  if (slot < 0) return;
  std::lock_guard<std::mutex> lock(gRangesMutex);
  gRanges[slot].start.store(0, std::memory_order_release);
  gRanges[slot].end.store(0, std::memory_order_release);
}

// The size of what `st` describes, as mmap sees it: the file size, or a block device's size.
bool MappableSize(int fd, const struct stat& st, uint64_t* size) {
  if (S_ISREG(st.st_mode)) {
    *size = static_cast<uint64_t>(st.st_size);
    return true;
  }
  if (S_ISBLK(st.st_mode)) {
    uint64_t bytes = 0;
    if (ioctl(fd, BLKGETSIZE64, &bytes) < 0) return false;
    *size = bytes;
    return true;
  }
  return false;  // other kinds (character devices): the driver decides
}

struct MapRecord {
  void* base;      // what mmap returned (page aligned)
  size_t baseLen;  // what was mapped
  bool unmapped;
  bool finalized;  // the ArrayBuffer's finaliser has run
  int owners;
  int slot;        // SIGBUS cover (RegisterRange), -1 if none
};

// Unmaps once: the SIGBUS cover goes first, so the handler never acts on an unmapped range.
void UnmapRecord(MapRecord* rec) {
  if (rec->unmapped) return;
  rec->unmapped = true;
  UnregisterRange(rec->slot);
  rec->slot = -1;
  munmap(rec->base, rec->baseLen);
}

void Release(MapRecord* rec) {
  if (--rec->owners == 0) delete rec;
}

void FinalizeBuffer(napi_env, void*, void* hint) {
  auto* rec = static_cast<MapRecord*>(hint);
  rec->finalized = true;
  UnmapRecord(rec);
  Release(rec);
}

void FinalizeHandle(Napi::Env, MapRecord* rec) { Release(rec); }

// The mapping [base, base + mapLen) as [ArrayBuffer over `len` bytes at `data`, handle] (the handle
// owns the unmapping; `slot` is its fault-range registration, -1 for none), or -ENOMEM (unmapped).
Napi::Value WrapMapping(Napi::Env env, void* base, size_t mapLen, void* data, size_t len, int slot) {
  // Two owners from the start: the ArrayBuffer's finaliser and this function (then the handle).
  auto* rec = new MapRecord{base, mapLen, false, false, 2, slot};
  napi_value ab;
  napi_status s = napi_create_external_arraybuffer(env, data, len, FinalizeBuffer, rec, &ab);
  if (s != napi_ok) {
    if (env.IsExceptionPending()) env.GetAndClearPendingException();
    // Node 20 runs the finaliser at once when it refuses a buffer (it did here for lengths above
    // buffer.constants.MAX_LENGTH); other versions may not run it at all. Unmap exactly once, and
    // free the record only if the finaliser has had its turn (else leak these few bytes rather
    // than risk a late finaliser touching freed memory).
    UnmapRecord(rec);
    if (rec->finalized) Release(rec);
    return Fail(env, "napi_create_external_arraybuffer", ENOMEM);
  }
  Napi::External<MapRecord> handle = Napi::External<MapRecord>::New(env, rec, FinalizeHandle);
  Napi::Array result = Napi::Array::New(env, 2);
  result.Set(0u, Napi::Value(env, ab));
  result.Set(1u, handle);
  return result;
}

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
  uint64_t fileSize;
  if (MappableSize(fd, st, &fileSize) && off + len > fileSize) return Fail(env, "mmap", ENXIO);

  InstallSigbusHandler();
  const size_t mapLen = static_cast<size_t>(len + delta);
  void* base = mmap(nullptr, mapLen, PROT_READ | PROT_WRITE, shared ? MAP_SHARED : MAP_PRIVATE, fd, static_cast<off_t>(aligned));
  if (base == MAP_FAILED) return Fail(env, "mmap");
  const uintptr_t start = reinterpret_cast<uintptr_t>(base);
  const int slot = RegisterRange(start, start + mapLen);

  return WrapMapping(env, base, mapLen, static_cast<char*>(base) + delta, static_cast<size_t>(len), slot);
}

// mmapAnonymous(length, hugePages) -> [ArrayBuffer, handle] | -errno
// Private anonymous memory (MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE), zero on first touch. With
// hugePages, the mapping starts on a 2 MiB boundary (one 2 MiB more is reserved, then the unaligned
// head and tail are unmapped) and is advised MADV_HUGEPAGE, so that transparent huge pages back it
// when /sys/kernel/mm/transparent_hugepage/enabled is "always" or "madvise": one TLB entry then
// covers 2 MiB instead of 4 KiB. No SIGBUS cover: anonymous memory has no file to shrink.
Napi::Value MmapAnonymous(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  double length;
  if (!ArgDouble(info, 0, &length)) return Napi::Value();
  const bool huge = info[1].ToBoolean().Value();
  if (!(length >= 1 && length <= 9007199254740991.0) || length != std::floor(length)) return Fail(env, "mmap", EINVAL);
  const size_t len = static_cast<size_t>(length);
  constexpr size_t kHuge = size_t{2} << 20;
  const size_t reserve = huge ? len + kHuge : len;
  if (reserve < len) return Fail(env, "mmap", ENOMEM);
  void* raw = mmap(nullptr, reserve, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (raw == MAP_FAILED) return Fail(env, "mmap");
  void* base = raw;
  size_t mapLen = reserve;
  if (huge) {
    const uintptr_t r = reinterpret_cast<uintptr_t>(raw);
    const uintptr_t start = (r + kHuge - 1) & ~(uintptr_t{kHuge} - 1);
    const size_t head = start - r;
    const size_t tail = reserve - head - len;
    if (head > 0) munmap(raw, head);
    if (tail > 0) munmap(reinterpret_cast<void*>(start + len), tail);
    base = reinterpret_cast<void*>(start);
    mapLen = len;
    if (madvise(base, mapLen, MADV_HUGEPAGE) < 0) {
      const int err = errno;
      munmap(base, mapLen);
      return Fail(env, "madvise", err);
    }
  }
  return WrapMapping(env, base, mapLen, base, len, -1);
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
  UnregisterRange(rec->slot);
  rec->slot = -1;
  if (munmap(rec->base, rec->baseLen) < 0) return Fail(env, "munmap");
  return Int(env, 0);
}

// recoveredFaults() -> SIGBUS faults on shrunk files answered with a zero page, process-wide
Napi::Value RecoveredFaults(const Napi::CallbackInfo& info) {
  return Int(info.Env(), static_cast<double>(gRecovered.load(std::memory_order_relaxed)));
}

}  // namespace

void InitMapping(Napi::Env env, Napi::Object exports) {
  exports.Set("mmap", Napi::Function::New(env, Mmap, "mmap"));
  exports.Set("mmapAnonymous", Napi::Function::New(env, MmapAnonymous, "mmapAnonymous"));
  exports.Set("munmap", Napi::Function::New(env, Munmap, "munmap"));
  exports.Set("recoveredFaults", Napi::Function::New(env, RecoveredFaults, "recoveredFaults"));
}

}  // namespace vmv
