// ThreadSanitizer builds only: librdkafka (Debian's, not instrumented)
// creates its threads and locks its mutexes through C11 <threads.h>
// (thrd_create, mtx_lock, cnd_wait). glibc implements those by calling its
// internal pthread functions directly, past TSan's interceptors, so TSan
// never learns about librdkafka's threads and crashes (SEGV in its runtime)
// the first time one of them allocates. Defined in the executable, these
// definitions take precedence over glibc's for librdkafka, and route the
// same calls through the public pthread functions TSan intercepts.
//
// And one suppression: librdkafka is not instrumented, so TSan sees only
// the libc calls it makes (pthread_rwlock_*, free ...) without the memory
// accesses around them, and reports "races" between two librdkafka threads
// (e.g. a topic's rwlock destroyed by one, read-locked by another, with no
// keel frame in either stack). called_from_lib ignores only the
// interceptors librdkafka itself calls; the two race: lines ignore the
// same kind of report about librdkafka's own mutexes and condition
// variables (made by one of its threads, used by another, published through
// its uninstrumented atomics), whose calls come through this file. keel
// uses no C11 locks: its own code stays fully checked.
#if defined(__SANITIZE_THREAD__)

#include <pthread.h>
#include <threads.h>

#include <cerrno>
#include <cstdint>

namespace {

struct thread_start {
    thrd_start_t function;
    void* argument;
};

void* run_thread(void* p) {
    const thread_start start = *static_cast<thread_start*>(p);
    delete static_cast<thread_start*>(p);
    return reinterpret_cast<void*>(static_cast<std::intptr_t>(start.function(start.argument)));
}

int result(int pthread_error) {
    switch (pthread_error) {
    case 0:
        return thrd_success;
    case ENOMEM:
        return thrd_nomem;
    case EBUSY:
        return thrd_busy;
    case ETIMEDOUT:
        return thrd_timedout;
    default:
        return thrd_error;
    }
}

pthread_mutex_t* native(mtx_t* m) {
    return reinterpret_cast<pthread_mutex_t*>(m);
}
pthread_cond_t* native(cnd_t* c) {
    return reinterpret_cast<pthread_cond_t*>(c);
}

static_assert(sizeof(mtx_t) >= sizeof(pthread_mutex_t) && sizeof(cnd_t) >= sizeof(pthread_cond_t) &&
              sizeof(thrd_t) == sizeof(pthread_t));

} // namespace

extern "C" {

int thrd_create(thrd_t* thread, thrd_start_t function, void* argument) {
    auto* start = new thread_start{function, argument};
    const int rc =
        pthread_create(reinterpret_cast<pthread_t*>(thread), nullptr, &run_thread, start);
    if (rc)
        delete start;
    return result(rc);
}

int thrd_join(thrd_t thread, int* status) {
    void* value = nullptr;
    const int rc = pthread_join(static_cast<pthread_t>(thread), &value);
    if (!rc && status)
        *status = static_cast<int>(reinterpret_cast<std::intptr_t>(value));
    return result(rc);
}

int thrd_detach(thrd_t thread) {
    return result(pthread_detach(static_cast<pthread_t>(thread)));
}

int mtx_init(mtx_t* m, int type) {
    pthread_mutexattr_t attributes;
    pthread_mutexattr_init(&attributes);
    if (type & mtx_recursive)
        pthread_mutexattr_settype(&attributes, PTHREAD_MUTEX_RECURSIVE);
    const int rc = pthread_mutex_init(native(m), &attributes);
    pthread_mutexattr_destroy(&attributes);
    return result(rc);
}
int mtx_lock(mtx_t* m) {
    return result(pthread_mutex_lock(native(m)));
}
int mtx_trylock(mtx_t* m) {
    return result(pthread_mutex_trylock(native(m)));
}
int mtx_timedlock(mtx_t* __restrict m, const struct timespec* __restrict until) {
    return result(pthread_mutex_timedlock(native(m), until));
}
int mtx_unlock(mtx_t* m) {
    return result(pthread_mutex_unlock(native(m)));
}
void mtx_destroy(mtx_t* m) {
    pthread_mutex_destroy(native(m));
}

int cnd_init(cnd_t* c) {
    return result(pthread_cond_init(native(c), nullptr));
}
int cnd_signal(cnd_t* c) {
    return result(pthread_cond_signal(native(c)));
}
int cnd_broadcast(cnd_t* c) {
    return result(pthread_cond_broadcast(native(c)));
}
int cnd_wait(cnd_t* c, mtx_t* m) {
    return result(pthread_cond_wait(native(c), native(m)));
}
int cnd_timedwait(cnd_t* __restrict c, mtx_t* __restrict m,
                  const struct timespec* __restrict until) {
    return result(pthread_cond_timedwait(native(c), native(m), until));
}
void cnd_destroy(cnd_t* c) {
    pthread_cond_destroy(native(c));
}

const char* __tsan_default_suppressions() {
    return "called_from_lib:librdkafka.so.1\n"
           "race:^mtx_\n"
           "race:^cnd_\n";
}

} // extern "C"

#endif
