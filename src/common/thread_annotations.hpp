#pragma once
// Clang's thread-safety annotations (https://clang.llvm.org/docs/ThreadSafetyAnalysis.html),
// checked by the `clang -Wthread-safety` pass of scripts/test and empty for other compilers. Shared
// state names the mutex that guards it; functions name the locks they need or must not hold:
//   Mutex mutex_;
//   int count_ OUTPOST_GUARDED_BY(mutex_);
//   void bump() OUTPOST_EXCLUDES(mutex_);
//   void bump_locked() OUTPOST_REQUIRES(mutex_);

#if defined(__clang__)
#define OUTPOST_THREAD_ANNOTATION(x) __attribute__((x))
#else
#define OUTPOST_THREAD_ANNOTATION(x)
#endif

#define OUTPOST_CAPABILITY(x) OUTPOST_THREAD_ANNOTATION(capability(x))
#define OUTPOST_SCOPED_CAPABILITY OUTPOST_THREAD_ANNOTATION(scoped_lockable)
#define OUTPOST_GUARDED_BY(x) OUTPOST_THREAD_ANNOTATION(guarded_by(x))
#define OUTPOST_PT_GUARDED_BY(x) OUTPOST_THREAD_ANNOTATION(pt_guarded_by(x))
#define OUTPOST_ACQUIRED_AFTER(...) OUTPOST_THREAD_ANNOTATION(acquired_after(__VA_ARGS__))
#define OUTPOST_ACQUIRED_BEFORE(...) OUTPOST_THREAD_ANNOTATION(acquired_before(__VA_ARGS__))
#define OUTPOST_REQUIRES(...) OUTPOST_THREAD_ANNOTATION(requires_capability(__VA_ARGS__))
#define OUTPOST_ACQUIRE(...) OUTPOST_THREAD_ANNOTATION(acquire_capability(__VA_ARGS__))
#define OUTPOST_RELEASE(...) OUTPOST_THREAD_ANNOTATION(release_capability(__VA_ARGS__))
#define OUTPOST_TRY_ACQUIRE(...) OUTPOST_THREAD_ANNOTATION(try_acquire_capability(__VA_ARGS__))
#define OUTPOST_EXCLUDES(...) OUTPOST_THREAD_ANNOTATION(locks_excluded(__VA_ARGS__))
#define OUTPOST_ASSERT_CAPABILITY(x) OUTPOST_THREAD_ANNOTATION(assert_capability(x))
#define OUTPOST_RETURN_CAPABILITY(x) OUTPOST_THREAD_ANNOTATION(lock_returned(x))
#define OUTPOST_NO_THREAD_SAFETY_ANALYSIS OUTPOST_THREAD_ANNOTATION(no_thread_safety_analysis)
