// @vmv/sys native addon: fd readiness on Node's event loop (one uv_poll_t per Watcher).
//
// Lifetime: the uv handle lives in a heap PollHandle that outlives the JS object until libuv's
// close callback. A started watcher holds a strong reference to its JS object (it cannot be
// collected while it may call back); a stopped one is weak, and its finaliser closes the handle.
// The JS callback is stored as a symbol-keyed property of the JS object, so it is reachable only
// through the watcher (no GC root keeps a stopped watcher alive). Every live handle is also
// tracked per environment so that closing an fd closes its watcher first, and so that an async
// cleanup hook can close all handles when a worker thread's environment is torn down.
#include <uv.h>
#include <unistd.h>

#include <memory>
#include <unordered_map>
#include <unordered_set>

#include "sys.h"

namespace vmv {
namespace {

class Watcher;

struct Instance {
  std::unordered_map<int, Watcher*> byFd;
  std::unordered_set<Watcher*> live;
  Napi::FunctionReference constructor;
  Napi::Reference<Napi::Symbol> callbackKey;
  napi_async_cleanup_hook_handle cleanupHook = nullptr;
  size_t pendingCloses = 0;
  bool tearingDown = false;
};

struct PollHandle {
  uv_poll_t poll;  // first member: a uv_handle_t* is a PollHandle*
  Instance* instance;
  Watcher* owner;  // null once the watcher let go of the handle
};

void OnClosed(uv_handle_t* h) {
  auto* ph = reinterpret_cast<PollHandle*>(h);
  Instance* instance = ph->instance;
  delete ph;
  if (--instance->pendingCloses == 0 && instance->tearingDown && instance->cleanupHook != nullptr) {
    napi_async_cleanup_hook_handle hook = instance->cleanupHook;
    instance->cleanupHook = nullptr;
    napi_remove_async_cleanup_hook(hook);
  }
}

constexpr int kModePlain = 0;
constexpr int kModeEventFd = 1;

class Watcher : public Napi::ObjectWrap<Watcher> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "Watcher",
                       {
                           InstanceMethod<&Watcher::Init>("init"),
                           InstanceMethod<&Watcher::Start>("start"),
                           InstanceMethod<&Watcher::Stop>("stop"),
                           InstanceMethod<&Watcher::Close>("close"),
                           InstanceMethod<&Watcher::RefHandle>("ref"),
                           InstanceMethod<&Watcher::UnrefHandle>("unref"),
                           InstanceMethod<&Watcher::HasRef>("hasRef"),
                           InstanceMethod<&Watcher::IsActive>("isActive"),
                           InstanceMethod<&Watcher::IsClosed>("isClosed"),
                       });
  }

  explicit Watcher(const Napi::CallbackInfo& info)
      : Napi::ObjectWrap<Watcher>(info), instance_(info.Env().GetInstanceData<Instance>()) {}

  // Finaliser: the JS object is gone, so the watcher was stopped (or never started).
  ~Watcher() override { ReleaseHandle(); }

  // Closes the handle from a JS-callable context (drops the strong reference of an active watcher).
  void CloseFromJs() {
    const bool wasActive = active_;
    ReleaseHandle();
    if (wasActive) Unref();
  }

  // Closes the handle without touching JS (finaliser and environment teardown).
  void ReleaseHandle() {
    if (closed_) return;
    closed_ = true;
    active_ = false;
    if (ph_ == nullptr) return;
    auto it = instance_->byFd.find(fd_);
    if (it != instance_->byFd.end() && it->second == this) instance_->byFd.erase(it);
    instance_->live.erase(this);
    ph_->owner = nullptr;
    instance_->pendingCloses++;
    uv_close(reinterpret_cast<uv_handle_t*>(&ph_->poll), OnClosed);
    ph_ = nullptr;
  }

 private:
  // init(fd, mode, callback) -> 0 | -errno
  Napi::Value Init(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    int fd;
    double mode;
    if (!ArgFd(info, 0, &fd) || !ArgDouble(info, 1, &mode)) return Napi::Value();
    if (!info[2].IsFunction()) {
      Napi::TypeError::New(env, "callback must be a function").ThrowAsJavaScriptException();
      return Napi::Value();
    }
    if (ph_ != nullptr || closed_) return Fail(env, "uv_poll_init", EINVAL);
    if (instance_->byFd.count(fd) != 0) return Fail(env, "uv_poll_init", EEXIST);
    uv_loop_t* loop;
    if (napi_get_uv_event_loop(env, &loop) != napi_ok) return Fail(env, "napi_get_uv_event_loop", EINVAL);
    auto* ph = new PollHandle{};
    int r = uv_poll_init(loop, &ph->poll, fd);
    if (r < 0) {
      // An initialised-then-failed handle is not registered anywhere; plain delete is safe.
      delete ph;
      closed_ = true;
      return Fail(env, "uv_poll_init", -r);
    }
    ph->instance = instance_;
    ph->owner = this;
    ph_ = ph;
    fd_ = fd;
    mode_ = mode == kModeEventFd ? kModeEventFd : kModePlain;
    instance_->byFd[fd] = this;
    instance_->live.insert(this);
    Value().Set(instance_->callbackKey.Value(), info[2]);
    context_ = std::make_unique<Napi::AsyncContext>(env, "vmv:FdWatcher");
    return Int(env, 0);
  }

  // start(events) -> 0 | -errno
  Napi::Value Start(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    double events;
    if (!ArgDouble(info, 0, &events)) return Napi::Value();
    if (closed_ || ph_ == nullptr) return Fail(env, "uv_poll_start", EBADF);
    int mask = static_cast<int>(events) & (UV_READABLE | UV_WRITABLE | UV_DISCONNECT | UV_PRIORITIZED);
    int r = uv_poll_start(&ph_->poll, mask, OnPoll);
    if (r < 0) return Fail(env, "uv_poll_start", -r);
    if (!active_) {
      active_ = true;
      Ref();
    }
    return Int(env, 0);
  }

  void StopHandle() {
    if (!active_) return;
    active_ = false;
    uv_poll_stop(&ph_->poll);
    Unref();
  }

  Napi::Value Stop(const Napi::CallbackInfo& info) {
    StopHandle();
    return info.Env().Undefined();
  }

  Napi::Value Close(const Napi::CallbackInfo& info) {
    CloseFromJs();
    return info.Env().Undefined();
  }

  Napi::Value RefHandle(const Napi::CallbackInfo& info) {
    refed_ = true;
    if (!closed_ && ph_ != nullptr) uv_ref(reinterpret_cast<uv_handle_t*>(&ph_->poll));
    return info.Env().Undefined();
  }

  Napi::Value UnrefHandle(const Napi::CallbackInfo& info) {
    refed_ = false;
    if (!closed_ && ph_ != nullptr) uv_unref(reinterpret_cast<uv_handle_t*>(&ph_->poll));
    return info.Env().Undefined();
  }

  Napi::Value HasRef(const Napi::CallbackInfo& info) { return Napi::Boolean::New(info.Env(), refed_); }
  Napi::Value IsActive(const Napi::CallbackInfo& info) { return Napi::Boolean::New(info.Env(), active_); }
  Napi::Value IsClosed(const Napi::CallbackInfo& info) { return Napi::Boolean::New(info.Env(), closed_); }

  static void OnPoll(uv_poll_t* h, int status, int events) {
    Watcher* w = reinterpret_cast<PollHandle*>(h)->owner;
    if (w == nullptr || !w->active_) return;
    if (status < 0) {
      w->Dispatch("uv_poll", status, 0, true);
      return;
    }
    if (w->mode_ == kModeEventFd) {
      if ((events & UV_READABLE) == 0) return;
      uint64_t count;
      if (ReadCounter(w->fd_, &count)) {
        w->Dispatch(nullptr, 0, static_cast<double>(count), false);
      } else if (errno != EAGAIN) {
        w->Dispatch("read", -errno, 0, true);
      }
      return;
    }
    w->Dispatch(nullptr, 0, events, false);
  }

  // Calls the JS callback as (status, value). With `stop`, the watcher stops first (errors).
  // Through the C API with every status checked: while Node tears the environment down (process
  // exit runs the loop once more to close handles, and an unref'd fd may be ready then),
  // JavaScript cannot run and a property read or call fails with no exception pending. The
  // C++ wrappers would then throw into JavaScript, which is a fatal error (abort at exit); here
  // the event is dropped, as nothing is left to receive it.
  void Dispatch(const char* syscall, int status, double value, bool stop) {
    napi_env env = Env();
    Napi::HandleScope scope(Env());
    Napi::Object self = Value();  // strong while active: taken before a stop can weaken it
    if (self.IsEmpty()) return;
    if (stop) StopHandle();
    if (syscall != nullptr) lastSyscall = syscall;
    napi_value cb;
    napi_valuetype type;
    if (napi_get_property(env, self, instance_->callbackKey.Value(), &cb) != napi_ok) return Failed(env);
    if (napi_typeof(env, cb, &type) != napi_ok || type != napi_function) return;
    napi_value argv[2];
    napi_value result;
    if (napi_create_double(env, status, &argv[0]) != napi_ok || napi_create_double(env, value, &argv[1]) != napi_ok) return Failed(env);
    if (napi_make_callback(env, *context_, self, cb, 2, argv, &result) != napi_ok) Failed(env);
  }

  // After a failed call: like any I/O callback, an exception goes to process 'uncaughtException';
  // with none pending, JavaScript could not run (the environment is going away).
  static void Failed(napi_env env) {
    bool pending = false;
    napi_value error;
    if (napi_is_exception_pending(env, &pending) == napi_ok && pending && napi_get_and_clear_last_exception(env, &error) == napi_ok) {
      napi_fatal_exception(env, error);
    }
  }

  Instance* instance_;
  PollHandle* ph_ = nullptr;
  int fd_ = -1;
  int mode_ = kModePlain;
  bool active_ = false;
  bool closed_ = false;
  bool refed_ = true;
  std::unique_ptr<Napi::AsyncContext> context_;
};

// Environment teardown (a worker exiting): close every handle and let Node run the loop until
// libuv has called back for each, then release the hook.
void Teardown(napi_async_cleanup_hook_handle hook, void* data) {
  auto* instance = static_cast<Instance*>(data);
  instance->tearingDown = true;
  instance->cleanupHook = hook;
  std::unordered_set<Watcher*> live;
  live.swap(instance->live);
  for (Watcher* w : live) w->ReleaseHandle();
  if (instance->pendingCloses == 0) {
    instance->cleanupHook = nullptr;
    napi_remove_async_cleanup_hook(hook);
  }
}

}  // namespace

void CloseWatcherOfFd(Napi::Env env, int fd) {
  auto* instance = env.GetInstanceData<Instance>();
  auto it = instance->byFd.find(fd);
  if (it != instance->byFd.end()) it->second->CloseFromJs();
}

void InitWatcher(Napi::Env env, Napi::Object exports) {
  auto* instance = new Instance();
  Napi::Function ctor = Watcher::Define(env);
  instance->constructor = Napi::Persistent(ctor);
  instance->callbackKey = Napi::Persistent(Napi::Symbol::New(env, "vmv.callback"));
  env.SetInstanceData<Instance>(instance);
  napi_add_async_cleanup_hook(env, Teardown, instance, nullptr);
  exports.Set("Watcher", ctor);
}

}  // namespace vmv
