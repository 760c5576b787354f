/*
 * The engine's helper threads (pool.h). Each helper has a mailbox: the caller writes a part
 * into it and bumps its count of posted parts; the helper runs the part and counts the job's
 * parts down. Between jobs a helper spins for a moment before it sleeps on its condition
 * variable, and the caller spins before it sleeps waiting for the last part: back-to-back
 * batches (a bench loop, a CSV scored in chunks) then hand over in well under a microsecond
 * instead of paying a futex wake-up and a scheduling delay per part each way.
 */
#include "pool.h"

#include <pthread.h>
#include <stdatomic.h>
#include <time.h>

/* At most this many parts per job (predict.c's MAX_THREADS). */
#define MAX_PARTS 256
/* How long a waiting thread spins before it sleeps. */
#define SPIN_NS   50000

#if defined(__x86_64__) || defined(__i386__)
#define cpu_relax() __builtin_ia32_pause()
#else
#define cpu_relax() ((void)0)
#endif

typedef struct {
  pthread_mutex_t mu;
  pthread_cond_t cv;
  int sleeping;        /* under mu */
  atomic_ulong posted; /* parts posted so far; the mailbox below is the last one's */
  grove_pool_fn fn;    /* written before POSTED is bumped (release), read after (acquire) */
  void *arg;
  uint32_t index;
} helper_t;

static pthread_mutex_t pool_use = PTHREAD_MUTEX_INITIALIZER; /* held by the running job */
static helper_t helpers[MAX_PARTS];                          /* [1, num_helpers) started */
static uint32_t num_helpers = 1;                             /* under pool_use */

/* The running job's parts not yet done, and where its caller sleeps. */
static atomic_uint parts_left;
static pthread_mutex_t done_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t done_cv = PTHREAD_COND_INITIALIZER;

static uint64_t now_ns(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

/* Spins up to SPIN_NS until DONE(ARG) holds; returns whether it did. */
static int spin_until(int (*done)(const void *), const void *arg) {
  const uint64_t start = now_ns();
  for (unsigned i = 1;; i++) {
    if (done(arg)) return 1;
    cpu_relax();
    if (i % 64 == 0 && now_ns() - start > SPIN_NS) return done(arg);
  }
}

typedef struct {
  const helper_t *h;
  unsigned long seen;
} mailbox_wait_t;

static int mailbox_has_part(const void *arg) {
  const mailbox_wait_t *w = arg;
  return atomic_load_explicit(&w->h->posted, memory_order_acquire) != w->seen;
}

static int job_done(const void *arg) {
  (void)arg;
  return atomic_load_explicit(&parts_left, memory_order_acquire) == 0;
}

static void *helper_main(void *arg) {
  helper_t *h = arg;
  mailbox_wait_t w = {h, 0};
  for (;;) {
    if (!spin_until(mailbox_has_part, &w)) {
      pthread_mutex_lock(&h->mu);
      h->sleeping = 1;
      while (!mailbox_has_part(&w)) pthread_cond_wait(&h->cv, &h->mu);
      h->sleeping = 0;
      pthread_mutex_unlock(&h->mu);
    }
    w.seen++;
    h->fn(h->arg, h->index);
    if (atomic_fetch_sub_explicit(&parts_left, 1, memory_order_acq_rel) == 1) {
      pthread_mutex_lock(&done_mu);
      pthread_cond_signal(&done_cv);
      pthread_mutex_unlock(&done_mu);
    }
  }
  return NULL;
}

/* A child of fork() has none of its parent's helpers: it starts its own when it needs them. */
static void helpers_forget(void) { num_helpers = 1; }
static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;
static void atfork_register(void) { pthread_atfork(NULL, NULL, helpers_forget); }

/* Starts helpers up to index N - 1; returns how many parts the helpers can take + 1. */
static uint32_t helpers_start(uint32_t n) {
  pthread_once(&atfork_once, atfork_register);
  for (; num_helpers < n; num_helpers++) {
    helper_t *h = &helpers[num_helpers];
    pthread_mutex_init(&h->mu, NULL);
    pthread_cond_init(&h->cv, NULL);
    atomic_init(&h->posted, 0);
    pthread_t tid;
    if (pthread_create(&tid, NULL, helper_main, h) != 0) {
      pthread_cond_destroy(&h->cv);
      pthread_mutex_destroy(&h->mu);
      break;
    }
    pthread_detach(tid);
  }
  return num_helpers < n ? num_helpers : n;
}

int grove__pool_run(grove_pool_fn fn, void *arg, uint32_t n) {
  if (n > MAX_PARTS) n = MAX_PARTS;
  if (pthread_mutex_trylock(&pool_use) != 0) return 0;
  const uint32_t on_helpers = helpers_start(n);
  atomic_store_explicit(&parts_left, on_helpers - 1, memory_order_relaxed);
  for (uint32_t i = 1; i < on_helpers; i++) {
    helper_t *h = &helpers[i];
    h->fn = fn;
    h->arg = arg;
    h->index = i;
    atomic_fetch_add_explicit(&h->posted, 1, memory_order_release);
    pthread_mutex_lock(&h->mu);
    if (h->sleeping) pthread_cond_signal(&h->cv);
    pthread_mutex_unlock(&h->mu);
  }
  fn(arg, 0);
  for (uint32_t i = on_helpers; i < n; i++) fn(arg, i); /* parts no helper could take */
  if (!spin_until(job_done, NULL)) {
    pthread_mutex_lock(&done_mu);
    while (!job_done(NULL)) pthread_cond_wait(&done_cv, &done_mu);
    pthread_mutex_unlock(&done_mu);
  }
  pthread_mutex_unlock(&pool_use);
  return 1;
}
