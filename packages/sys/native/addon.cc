// @vmv/sys native addon: module entry, errno names, plain fds, memfd, eventfd, timerfd and ptys.
#include <fcntl.h>
#include <linux/falloc.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <sys/uio.h>
#include <termios.h>
#include <unistd.h>

#include <cstdlib>

#include <cmath>
#include <cstring>
#include <string>

#include "sys.h"

namespace vmv {

thread_local const char* lastSyscall = "";

bool ArgFd(const Napi::CallbackInfo& info, size_t i, int* out) {
  Napi::Value v = info[i];
  if (!v.IsNumber()) {
    Napi::TypeError::New(info.Env(), "fd must be a number").ThrowAsJavaScriptException();
    return false;
  }
  double d = v.As<Napi::Number>().DoubleValue();
  if (!(d >= 0 && d <= 2147483647.0) || d != std::floor(d)) {
    Napi::RangeError::New(info.Env(), "fd out of range").ThrowAsJavaScriptException();
    return false;
  }
  *out = static_cast<int>(d);
  return true;
}

bool ArgDouble(const Napi::CallbackInfo& info, size_t i, double* out) {
  Napi::Value v = info[i];
  if (!v.IsNumber()) {
    Napi::TypeError::New(info.Env(), "number expected").ThrowAsJavaScriptException();
    return false;
  }
  *out = v.As<Napi::Number>().DoubleValue();
  return true;
}

bool ArgString(const Napi::CallbackInfo& info, size_t i, std::string* out) {
  Napi::Value v = info[i];
  if (!v.IsString()) {
    Napi::TypeError::New(info.Env(), "string expected").ThrowAsJavaScriptException();
    return false;
  }
  *out = v.As<Napi::String>().Utf8Value();
  return true;
}

bool ArgBytes(const Napi::CallbackInfo& info, size_t i, uint8_t** data, size_t* length) {
  Napi::Value v = info[i];
  if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array) {
    Napi::TypeError::New(info.Env(), "Uint8Array expected").ThrowAsJavaScriptException();
    return false;
  }
  Napi::Uint8Array a = v.As<Napi::Uint8Array>();
  *data = a.Data();
  *length = a.ByteLength();
  return true;
}

// Reads an eventfd counter: true on success, false with errno set.
bool ReadCounter(int fd, uint64_t* value) {
  ssize_t n;
  do n = read(fd, value, sizeof *value);
  while (n < 0 && errno == EINTR);
  if (n == sizeof *value) return true;
  if (n >= 0) errno = EINVAL;  // not an eventfd: a short read
  return false;
}

namespace {

Napi::Value ErrnoName(const Napi::CallbackInfo& info) {
  double n;
  if (!ArgDouble(info, 0, &n)) return Napi::Value();
  const char* name = n >= 0 && n < 4096 ? strerrorname_np(static_cast<int>(n)) : nullptr;
  if (name == nullptr) return Napi::String::New(info.Env(), "ERRNO_" + std::to_string(static_cast<long long>(n)));
  return Napi::String::New(info.Env(), name);
}

Napi::Value StrError(const Napi::CallbackInfo& info) {
  double n;
  if (!ArgDouble(info, 0, &n)) return Napi::Value();
  const char* text = n >= 0 && n < 4096 ? strerrordesc_np(static_cast<int>(n)) : nullptr;
  if (text == nullptr) return Napi::String::New(info.Env(), "Unknown error " + std::to_string(static_cast<long long>(n)));
  return Napi::String::New(info.Env(), text);
}

Napi::Value LastSyscall(const Napi::CallbackInfo& info) { return Napi::String::New(info.Env(), lastSyscall); }

Napi::Value PageSize(const Napi::CallbackInfo& info) { return Int(info.Env(), static_cast<double>(sysconf(_SC_PAGESIZE))); }

Napi::Value Close(const Napi::CallbackInfo& info) {
  int fd;
  if (!ArgFd(info, 0, &fd)) return Napi::Value();
  CloseWatcherOfFd(info.Env(), fd);
  // Linux releases the fd even when close() reports EINTR; retrying could close a reused number.
  if (close(fd) < 0 && errno != EINTR) return Fail(info.Env(), "close");
  return Int(info.Env(), 0);
}

Napi::Value Dup(const Napi::CallbackInfo& info) {
  int fd;
  if (!ArgFd(info, 0, &fd)) return Napi::Value();
  int r = fcntl(fd, F_DUPFD_CLOEXEC, 0);
  if (r < 0) return Fail(info.Env(), "fcntl");
  return Int(info.Env(), r);
}

Napi::Value SetNonBlocking(const Napi::CallbackInfo& info) {
  int fd;
  if (!ArgFd(info, 0, &fd)) return Napi::Value();
  bool on = info[1].ToBoolean().Value();
  int flags = fcntl(fd, F_GETFL);
  if (flags < 0) return Fail(info.Env(), "fcntl");
  int wanted = on ? (flags | O_NONBLOCK) : (flags & ~O_NONBLOCK);
  if (wanted != flags && fcntl(fd, F_SETFL, wanted) < 0) return Fail(info.Env(), "fcntl");
  return Int(info.Env(), 0);
}

Napi::Value FstatSize(const Napi::CallbackInfo& info) {
  int fd;
  if (!ArgFd(info, 0, &fd)) return Napi::Value();
  struct stat st;
  if (fstat(fd, &st) < 0) return Fail(info.Env(), "fstat");
  return Int(info.Env(), static_cast<double>(st.st_size));
}

Napi::Value Ftruncate(const Napi::CallbackInfo& info) {
  int fd;
  double size;
  if (!ArgFd(info, 0, &fd) || !ArgDouble(info, 1, &size)) return Napi::Value();
  if (!(size >= 0 && size <= 9007199254740991.0)) return Fail(info.Env(), "ftruncate", EINVAL);
  int r;
  do r = ftruncate(fd, static_cast<off_t>(size));
  while (r < 0 && errno == EINTR);
  if (r < 0) return Fail(info.Env(), "ftruncate");
  return Int(info.Env(), 0);
}

// fallocate(PUNCH_HOLE | KEEP_SIZE): frees the file blocks of a range, which then reads as zeros,
// without changing the file size. EOPNOTSUPP where the filesystem cannot.
Napi::Value PunchHole(const Napi::CallbackInfo& info) {
  int fd;
  double offset, length;
  if (!ArgFd(info, 0, &fd) || !ArgDouble(info, 1, &offset) || !ArgDouble(info, 2, &length)) return Napi::Value();
  if (!(offset >= 0 && length > 0 && offset + length <= 9007199254740991.0)) return Fail(info.Env(), "fallocate", EINVAL);
  int r;
  do r = fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, static_cast<off_t>(offset), static_cast<off_t>(length));
  while (r < 0 && errno == EINTR);
  if (r < 0) return Fail(info.Env(), "fallocate");
  return Int(info.Env(), 0);
}

Napi::Value MemfdCreate(const Napi::CallbackInfo& info) {
  std::string name;
  if (!ArgString(info, 0, &name)) return Napi::Value();
  unsigned flags = MFD_CLOEXEC;
  if (info[1].ToBoolean().Value()) flags |= MFD_ALLOW_SEALING;
  if (info[2].ToBoolean().Value()) flags |= MFD_HUGETLB;
  int fd = memfd_create(name.c_str(), flags);
  if (fd < 0) return Fail(info.Env(), "memfd_create");
  return Int(info.Env(), fd);
}

// addSeals(fd, shrink, grow, write, seal) -> 0 | -errno
Napi::Value AddSeals(const Napi::CallbackInfo& info) {
  int fd;
  if (!ArgFd(info, 0, &fd)) return Napi::Value();
  int seals = 0;
  if (info[1].ToBoolean().Value()) seals |= F_SEAL_SHRINK;
  if (info[2].ToBoolean().Value()) seals |= F_SEAL_GROW;
  if (info[3].ToBoolean().Value()) seals |= F_SEAL_WRITE;
  if (info[4].ToBoolean().Value()) seals |= F_SEAL_SEAL;
  if (fcntl(fd, F_ADD_SEALS, seals) < 0) return Fail(info.Env(), "fcntl");
  return Int(info.Env(), 0);
}

Napi::Value EventFdCreate(const Napi::CallbackInfo& info) {
  double initval;
  if (!ArgDouble(info, 0, &initval)) return Napi::Value();
  if (!(initval >= 0 && initval <= 4294967295.0)) return Fail(info.Env(), "eventfd", EINVAL);
  int flags = EFD_CLOEXEC | EFD_NONBLOCK;
  if (info[1].ToBoolean().Value()) flags |= EFD_SEMAPHORE;
  int fd = eventfd(static_cast<unsigned>(initval), flags);
  if (fd < 0) return Fail(info.Env(), "eventfd");
  return Int(info.Env(), fd);
}

Napi::Value EventFdRead(const Napi::CallbackInfo& info) {
  int fd;
  if (!ArgFd(info, 0, &fd)) return Napi::Value();
  uint64_t v;
  if (!ReadCounter(fd, &v)) return Fail(info.Env(), "read");
  return Int(info.Env(), static_cast<double>(v));
}

Napi::Value EventFdReadBigInt(const Napi::CallbackInfo& info) {
  int fd;
  if (!ArgFd(info, 0, &fd)) return Napi::Value();
  uint64_t v;
  if (!ReadCounter(fd, &v)) return Fail(info.Env(), "read");
  return Napi::BigInt::New(info.Env(), v);
}

Napi::Value EventFdWrite(const Napi::CallbackInfo& info) {
  int fd;
  if (!ArgFd(info, 0, &fd)) return Napi::Value();
  uint64_t v;
  Napi::Value arg = info[1];
  if (arg.IsBigInt()) {
    bool lossless;
    v = arg.As<Napi::BigInt>().Uint64Value(&lossless);
    if (!lossless || v == UINT64_MAX) return Fail(info.Env(), "write", EINVAL);
  } else if (arg.IsNumber()) {
    double d = arg.As<Napi::Number>().DoubleValue();
    if (!(d >= 0 && d <= 9007199254740991.0)) return Fail(info.Env(), "write", EINVAL);
    v = static_cast<uint64_t>(d);
  } else {
    Napi::TypeError::New(info.Env(), "number or bigint expected").ThrowAsJavaScriptException();
    return Napi::Value();
  }
  ssize_t n;
  do n = write(fd, &v, sizeof v);
  while (n < 0 && errno == EINTR);
  if (n < 0) return Fail(info.Env(), "write");
  if (n != sizeof v) return Fail(info.Env(), "write", EINVAL);
  return Int(info.Env(), 0);
}

// timerfdCreate() -> fd | -errno: CLOCK_MONOTONIC, non-blocking, close-on-exec.
Napi::Value TimerFdCreate(const Napi::CallbackInfo& info) {
  int fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
  if (fd < 0) return Fail(info.Env(), "timerfd_create");
  return Int(info.Env(), fd);
}

// timerfdSet(fd, initialNs, intervalNs) -> 0 | -errno: arms (relative) or, with initialNs 0, disarms.
Napi::Value TimerFdSet(const Napi::CallbackInfo& info) {
  int fd;
  double initial, interval;
  if (!ArgFd(info, 0, &fd) || !ArgDouble(info, 1, &initial) || !ArgDouble(info, 2, &interval)) return Napi::Value();
  if (!(initial >= 0 && initial <= 9007199254740991.0 && interval >= 0 && interval <= 9007199254740991.0)) {
    return Fail(info.Env(), "timerfd_settime", EINVAL);
  }
  auto ns = [](double v) {
    uint64_t n = static_cast<uint64_t>(v);
    struct timespec t;
    t.tv_sec = static_cast<time_t>(n / 1000000000u);
    t.tv_nsec = static_cast<long>(n % 1000000000u);
    return t;
  };
  struct itimerspec spec;
  spec.it_value = ns(initial);
  spec.it_interval = ns(interval);
  if (timerfd_settime(fd, 0, &spec, nullptr) < 0) return Fail(info.Env(), "timerfd_settime");
  return Int(info.Env(), 0);
}

// preadv(fd, buffers, offset, nowait) -> bytes | -errno: preadv2, with RWF_NOWAIT when asked (EAGAIN
// instead of waiting for the disk when the data is not in the page cache).
Napi::Value Preadv(const Napi::CallbackInfo& info) {
  int fd;
  double offset;
  if (!ArgFd(info, 0, &fd) || !ArgDouble(info, 2, &offset)) return Napi::Value();
  if (!info[1].IsArray()) {
    Napi::TypeError::New(info.Env(), "buffers must be an array").ThrowAsJavaScriptException();
    return Napi::Value();
  }
  Napi::Array list = info[1].As<Napi::Array>();
  uint32_t count = list.Length();
  if (count > 1024 || !(offset >= 0 && offset <= 9007199254740991.0)) return Fail(info.Env(), "preadv2", EINVAL);
  struct iovec iov[1024];
  for (uint32_t i = 0; i < count; i++) {
    Napi::Value v = list.Get(i);
    if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array) {
      Napi::TypeError::New(info.Env(), "buffers must hold Uint8Arrays").ThrowAsJavaScriptException();
      return Napi::Value();
    }
    Napi::Uint8Array a = v.As<Napi::Uint8Array>();
    iov[i].iov_base = a.Data();
    iov[i].iov_len = a.ByteLength();
  }
  int flags = info[3].ToBoolean().Value() ? RWF_NOWAIT : 0;
  ssize_t n;
  do n = preadv2(fd, iov, static_cast<int>(count), static_cast<off_t>(offset), flags);
  while (n < 0 && errno == EINTR);
  if (n < 0) return Fail(info.Env(), "preadv2");
  return Int(info.Env(), static_cast<double>(n));
}

// openPty(raw): [masterFd, slavePath] or -errno. The master is non-blocking and close-on-exec;
// `raw` puts the line discipline in raw mode (cfmakeraw: no echo, no signals, no CR/LF mapping).
Napi::Value OpenPty(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  bool raw = info[0].ToBoolean().Value();
  int fd = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
  if (fd < 0) return Fail(env, "posix_openpt");
  auto failClosing = [&](const char* call, int err) {
    close(fd);
    return Fail(env, call, err);
  };
  if (grantpt(fd) < 0) return failClosing("grantpt", errno);
  if (unlockpt(fd) < 0) return failClosing("unlockpt", errno);
  char name[128];
  int r = ptsname_r(fd, name, sizeof name);
  if (r != 0) return failClosing("ptsname_r", r);
  if (raw) {
    struct termios t;
    if (tcgetattr(fd, &t) < 0) return failClosing("tcgetattr", errno);
    cfmakeraw(&t);
    if (tcsetattr(fd, TCSANOW, &t) < 0) return failClosing("tcsetattr", errno);
  }
  int flags = fcntl(fd, F_GETFL);
  if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0) return failClosing("fcntl", errno);
  Napi::Array out = Napi::Array::New(env, 2);
  out.Set(0u, Int(env, fd));
  out.Set(1u, Napi::String::New(env, name));
  return out;
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  auto fn = [&](const char* name, Napi::Function::Callback cb) { exports.Set(name, Napi::Function::New(env, cb, name)); };
  fn("errnoName", ErrnoName);
  fn("strerror", StrError);
  fn("lastSyscall", LastSyscall);
  fn("pageSize", PageSize);
  fn("close", Close);
  fn("dup", Dup);
  fn("setNonBlocking", SetNonBlocking);
  fn("fstatSize", FstatSize);
  fn("ftruncate", Ftruncate);
  fn("punchHole", PunchHole);
  fn("memfdCreate", MemfdCreate);
  fn("addSeals", AddSeals);
  fn("eventfd", EventFdCreate);
  fn("eventfdRead", EventFdRead);
  fn("eventfdReadBigInt", EventFdReadBigInt);
  fn("eventfdWrite", EventFdWrite);
  fn("preadv", Preadv);
  fn("timerfdCreate", TimerFdCreate);
  fn("timerfdSet", TimerFdSet);
  fn("openPty", OpenPty);
  InitMapping(env, exports);
  InitUnix(env, exports);
  InitWatcher(env, exports);
  return exports;
}

}  // namespace
}  // namespace vmv

static Napi::Object InitModule(Napi::Env env, Napi::Object exports) { return vmv::Init(env, exports); }

NODE_API_MODULE(vmv_sys, InitModule)
