// @vmv/sys native addon: shared declarations.
//
// Convention: every function that wraps a system call returns a JS number; a negative number is
// -errno, and the name of the failing call is recorded in a thread-local (read back by
// lastSyscall()). The TypeScript layer turns that into a SysError. Only argument-type misuse that the
// TypeScript layer already rules out throws here (TypeError), so nothing can reach a syscall with a
// garbage argument.
#pragma once

#include <napi.h>

#include <cerrno>
#include <cstdint>
#include <string>

namespace vmv {

// The name of the last failed call on this thread (one JS environment per thread).
extern thread_local const char* lastSyscall;

// Records the failing call and returns -errno as a JS number.
inline Napi::Value Fail(Napi::Env env, const char* syscall, int err = errno) {
  lastSyscall = syscall;
  return Napi::Number::New(env, -static_cast<double>(err));
}

inline Napi::Value Int(Napi::Env env, double v) { return Napi::Number::New(env, v); }

// Argument readers: false (with a pending TypeError) if the argument has the wrong type.
bool ArgFd(const Napi::CallbackInfo& info, size_t i, int* out);
bool ArgDouble(const Napi::CallbackInfo& info, size_t i, double* out);
bool ArgString(const Napi::CallbackInfo& info, size_t i, std::string* out);
bool ArgBytes(const Napi::CallbackInfo& info, size_t i, uint8_t** data, size_t* length);

// Reads an eventfd counter (8 bytes): true on success, false with errno set.
bool ReadCounter(int fd, uint64_t* value);

// Closes the watcher of `fd`, if any (before the fd itself is closed).
void CloseWatcherOfFd(Napi::Env env, int fd);

void InitMapping(Napi::Env env, Napi::Object exports);
void InitUnix(Napi::Env env, Napi::Object exports);
void InitWatcher(Napi::Env env, Napi::Object exports);

}  // namespace vmv
