// @vmv/sys native addon: AF_UNIX stream sockets and fd passing (SCM_RIGHTS).
// Every socket is SOCK_NONBLOCK | SOCK_CLOEXEC; every send and receive also passes MSG_DONTWAIT
// (so an adopted blocking socket cannot stall the event loop), sends pass MSG_NOSIGNAL, and
// receives pass MSG_CMSG_CLOEXEC.
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstddef>
#include <cstring>
#include <vector>

#include "sys.h"

namespace vmv {
namespace {

constexpr int kMaxFds = 253;  // SCM_MAX_FD
constexpr int kSockFlags = SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC;

// Fills `addr` from a path; a leading NUL selects the abstract namespace. false if too long.
bool MakeAddress(const std::string& path, sockaddr_un* addr, socklen_t* len) {
  std::memset(addr, 0, sizeof *addr);
  addr->sun_family = AF_UNIX;
  const bool abstract = !path.empty() && path[0] == '\0';
  // A filesystem path needs its terminating NUL inside sun_path; an abstract name does not.
  if (path.empty() || path.size() > sizeof addr->sun_path - (abstract ? 0 : 1)) return false;
  std::memcpy(addr->sun_path, path.data(), path.size());
  *len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + path.size() + (abstract ? 0 : 1));
  return true;
}

// Closes `fd` keeping errno, then records the failure of `syscall`.
Napi::Value FailAndClose(Napi::Env env, int fd, const char* syscall) {
  int err = errno;
  close(fd);
  return Fail(env, syscall, err);
}

Napi::Value UnixListen(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string path;
  double backlog;
  if (!ArgString(info, 0, &path) || !ArgDouble(info, 1, &backlog)) return Napi::Value();
  sockaddr_un addr;
  socklen_t len;
  if (!MakeAddress(path, &addr, &len)) return Fail(env, "bind", ENAMETOOLONG);
  int fd = socket(AF_UNIX, kSockFlags, 0);
  if (fd < 0) return Fail(env, "socket");
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), len) < 0) return FailAndClose(env, fd, "bind");
  if (listen(fd, static_cast<int>(backlog)) < 0) {
    int err = errno;
    close(fd);
    if (path[0] != '\0') unlink(path.c_str());
    return Fail(env, "listen", err);
  }
  return Int(env, fd);
}

// Takes over a listening socket made by another process (a manager passing --fd): it must be an
// AF_UNIX SOCK_STREAM socket in the listening state. It becomes non-blocking (accept never stalls
// the event loop) and close-on-exec. Fails with ENOTSOCK, EAFNOSUPPORT (not AF_UNIX), EPROTOTYPE
// (not a stream socket) or EINVAL (not listening).
Napi::Value AdoptListener(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd;
  if (!ArgFd(info, 0, &fd)) return Napi::Value();
  int value = 0;
  socklen_t len = sizeof value;
  if (getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &value, &len) < 0) return Fail(env, "getsockopt");
  if (value != AF_UNIX) return Fail(env, "getsockopt", EAFNOSUPPORT);
  len = sizeof value;
  if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &value, &len) < 0) return Fail(env, "getsockopt");
  if (value != SOCK_STREAM) return Fail(env, "getsockopt", EPROTOTYPE);
  len = sizeof value;
  if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &value, &len) < 0) return Fail(env, "getsockopt");
  if (value != 1) return Fail(env, "getsockopt", EINVAL);
  int fl = fcntl(fd, F_GETFL);
  if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0) return Fail(env, "fcntl");
  int fdfl = fcntl(fd, F_GETFD);
  if (fdfl < 0 || fcntl(fd, F_SETFD, fdfl | FD_CLOEXEC) < 0) return Fail(env, "fcntl");
  return Int(env, fd);
}

Napi::Value UnixConnect(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string path;
  if (!ArgString(info, 0, &path)) return Napi::Value();
  sockaddr_un addr;
  socklen_t len;
  if (!MakeAddress(path, &addr, &len)) return Fail(env, "connect", ENAMETOOLONG);
  int fd = socket(AF_UNIX, kSockFlags, 0);
  if (fd < 0) return Fail(env, "socket");
  // A unix stream connect completes at once or fails (EAGAIN when the backlog is full).
  int r;
  do r = connect(fd, reinterpret_cast<sockaddr*>(&addr), len);
  while (r < 0 && errno == EINTR);
  if (r < 0) return FailAndClose(env, fd, "connect");
  return Int(env, fd);
}

Napi::Value Accept(const Napi::CallbackInfo& info) {
  int fd;
  if (!ArgFd(info, 0, &fd)) return Napi::Value();
  int c;
  do c = accept4(fd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
  while (c < 0 && errno == EINTR);
  if (c < 0) return Fail(info.Env(), "accept4");
  return Int(info.Env(), c);
}

Napi::Value SocketPair(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int sv[2];
  if (socketpair(AF_UNIX, kSockFlags, 0, sv) < 0) return Fail(env, "socketpair");
  Napi::Array result = Napi::Array::New(env, 2);
  result.Set(0u, Int(env, sv[0]));
  result.Set(1u, Int(env, sv[1]));
  return result;
}

// sendmsg(fd, bytes, fds[]) -> bytes sent | -errno
Napi::Value SendMsg(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd;
  uint8_t* data;
  size_t length;
  if (!ArgFd(info, 0, &fd) || !ArgBytes(info, 1, &data, &length)) return Napi::Value();
  if (!info[2].IsArray()) {
    Napi::TypeError::New(env, "fds must be an array").ThrowAsJavaScriptException();
    return Napi::Value();
  }
  Napi::Array list = info[2].As<Napi::Array>();
  const uint32_t count = list.Length();
  if (count > kMaxFds) return Fail(env, "sendmsg", EINVAL);
  int fds[kMaxFds];
  for (uint32_t i = 0; i < count; i++) {
    Napi::Value v = list.Get(i);
    if (!v.IsNumber()) {
      Napi::TypeError::New(env, "fds must hold numbers").ThrowAsJavaScriptException();
      return Napi::Value();
    }
    fds[i] = v.As<Napi::Number>().Int32Value();
  }

  iovec iov{data, length};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * kMaxFds)];
  if (count > 0) {
    msg.msg_control = control;
    msg.msg_controllen = CMSG_SPACE(sizeof(int) * count);
    std::memset(control, 0, msg.msg_controllen);
    cmsghdr* cmsg = CMSG_FIRSTHDR(&msg);
    cmsg->cmsg_level = SOL_SOCKET;
    cmsg->cmsg_type = SCM_RIGHTS;
    cmsg->cmsg_len = CMSG_LEN(sizeof(int) * count);
    std::memcpy(CMSG_DATA(cmsg), fds, sizeof(int) * count);
  }
  ssize_t n;
  do n = sendmsg(fd, &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
  while (n < 0 && errno == EINTR);
  if (n < 0) return Fail(env, "sendmsg");
  return Int(env, static_cast<double>(n));
}

// recvmsg(fd, buffer) -> [bytes, fds[], truncated] | -errno
Napi::Value RecvMsg(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd;
  uint8_t* data;
  size_t length;
  if (!ArgFd(info, 0, &fd) || !ArgBytes(info, 1, &data, &length)) return Napi::Value();
  iovec iov{data, length};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * kMaxFds)];
  msg.msg_control = control;
  msg.msg_controllen = sizeof control;
  ssize_t n;
  do n = recvmsg(fd, &msg, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
  while (n < 0 && errno == EINTR);
  if (n < 0) return Fail(env, "recvmsg");

  Napi::Array fds = Napi::Array::New(env);
  uint32_t k = 0;
  for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
    if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
    const size_t m = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
    for (size_t i = 0; i < m; i++) {
      int received;
      std::memcpy(&received, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
      fds.Set(k++, Int(env, received));
    }
  }
  Napi::Array result = Napi::Array::New(env, 3);
  result.Set(0u, Int(env, static_cast<double>(n)));
  result.Set(1u, fds);
  result.Set(2u, Napi::Boolean::New(env, (msg.msg_flags & MSG_CTRUNC) != 0));
  return result;
}

Napi::Value PeerCred(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd;
  if (!ArgFd(info, 0, &fd)) return Napi::Value();
  ucred cred{};
  socklen_t len = sizeof cred;
  if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0) return Fail(env, "getsockopt");
  Napi::Array result = Napi::Array::New(env, 3);
  result.Set(0u, Int(env, cred.pid));
  result.Set(1u, Int(env, cred.uid));
  result.Set(2u, Int(env, cred.gid));
  return result;
}

Napi::Value Shutdown(const Napi::CallbackInfo& info) {
  int fd;
  double how;
  if (!ArgFd(info, 0, &fd) || !ArgDouble(info, 1, &how)) return Napi::Value();
  const int modes[] = {SHUT_RD, SHUT_WR, SHUT_RDWR};
  if (!(how >= 0 && how <= 2)) return Fail(info.Env(), "shutdown", EINVAL);
  if (shutdown(fd, modes[static_cast<int>(how)]) < 0) return Fail(info.Env(), "shutdown");
  return Int(info.Env(), 0);
}

}  // namespace

void InitUnix(Napi::Env env, Napi::Object exports) {
  exports.Set("unixListen", Napi::Function::New(env, UnixListen, "unixListen"));
  exports.Set("adoptListener", Napi::Function::New(env, AdoptListener, "adoptListener"));
  exports.Set("unixConnect", Napi::Function::New(env, UnixConnect, "unixConnect"));
  exports.Set("accept", Napi::Function::New(env, Accept, "accept"));
  exports.Set("socketpair", Napi::Function::New(env, SocketPair, "socketpair"));
  exports.Set("sendmsg", Napi::Function::New(env, SendMsg, "sendmsg"));
  exports.Set("recvmsg", Napi::Function::New(env, RecvMsg, "recvmsg"));
  exports.Set("peerCred", Napi::Function::New(env, PeerCred, "peerCred"));
  exports.Set("shutdown", Napi::Function::New(env, Shutdown, "shutdown"));
}

}  // namespace vmv
