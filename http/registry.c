/*
 * Model registry: name -> current version, swapped atomically under a mutex; reloads on the
 * registry's own worker threads, coalesced per model (registry.h).
 */
#define _GNU_SOURCE /* pthread_setname_np, gettid, malloc_trim */
#include "registry.h"

#include <dirent.h>
#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

/* Where a model is in its reload cycle. */
typedef enum {
  ENTRY_IDLE,    /* no reload asked for */
  ENTRY_QUEUED,  /* waiting in the queue for a worker; its load has not started */
  ENTRY_RUNNING, /* a worker is loading it (and PENDING says whether one more is asked for) */
} entry_state_t;

typedef struct entry {
  char *name; /* immutable once added: workers read both without the lock */
  char *path;
  registry_model_t *current;
  uint64_t reloads;  /* successful reloads */
  uint64_t failures; /* failed reloads */
  uint64_t loads;    /* reload loads started: numbers them for the waiters */
  entry_state_t state;
  int pending;             /* RUNNING, and another reload is asked for after it */
  registry_waiter_t *now;  /* answered by the queued or running load */
  registry_waiter_t *next; /* answered by the pending load */
  struct entry *queue_next;
} entry_t;

/* One registry_reload_all_async(): a waiter per model, the tally, its callback. */
typedef struct sweep {
  registry_t *r;
  registry_sweep_fn done;
  void *arg;
  size_t remaining;            /* models not answered yet */
  registry_sweep_result_t res; /* the tally */
  struct sweep *next_finished; /* r->finished */
  registry_waiter_t waiters[]; /* one per model it covers */
} sweep_t;

struct registry {
  pthread_mutex_t lock;   /* guards everything below and each entry's mutable fields */
  pthread_cond_t changed; /* a load finished or a worker left (registry_stop_reloads) */
  entry_t **entries;      /* never moved or removed once added: workers hold entry pointers */
  size_t count, cap;
  entry_t *queue_head, *queue_tail; /* QUEUED entries, in the order they were asked for */
  size_t queued;
  unsigned workers;    /* worker threads alive */
  unsigned busy;       /* workers inside a load */
  unsigned holds;      /* the owner's (until registry_free) + one per worker */
  int stopped;         /* registry_stop_reloads() or registry_free() was called */
  sweep_t *sweep_open; /* a sweep none of whose loads has started yet: joinable */
  sweep_t *finished;   /* complete sweeps, reported by a worker once unlocked */
  registry_reload_log_fn log;
  grove_load_opts_t load_opts; /* set before the first load, read unlocked after */
};

static double wall_seconds(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static double mono_seconds(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

registry_t *registry_new(void) {
  registry_t *r = calloc(1, sizeof *r);
  if (r == NULL) return NULL;
  pthread_mutex_init(&r->lock, NULL);
  pthread_condattr_t ca;
  pthread_condattr_init(&ca);
  pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
  pthread_cond_init(&r->changed, &ca);
  pthread_condattr_destroy(&ca);
  r->holds = 1;
  return r;
}

void registry_model_unref(registry_model_t *m) {
  if (m == NULL) return;
  if (atomic_fetch_sub_explicit(&m->refs, 1, memory_order_acq_rel) != 1) return;
  grove_forest_free(m->forest);
  grove_schema_free(m->schema);
  free(m); /* name and path with it */
}

/* Frees R once its last hold is gone (the owner's and every worker's). */
static void destroy(registry_t *r) {
  for (size_t i = 0; i < r->count; i++) {
    registry_model_unref(r->entries[i]->current);
    free(r->entries[i]->name);
    free(r->entries[i]->path);
    free(r->entries[i]);
  }
  free(r->entries);
  pthread_cond_destroy(&r->changed);
  pthread_mutex_destroy(&r->lock);
  free(r);
}

void registry_set_load_opts(registry_t *r, const grove_load_opts_t *opts) { r->load_opts = *opts; }

/* Loads a new version of NAME from PATH (no lock held: loading may take a while), from a
 * compiled image when R's load options find a current one. */
static registry_model_t *load_version(const registry_t *r, const char *name, const char *path,
                                      char *err, size_t errlen) {
  size_t nlen = strlen(name) + 1, plen = strlen(path) + 1;
  registry_model_t *m = calloc(1, sizeof *m + nlen + plen);
  if (m == NULL) {
    snprintf(err, errlen, "out of memory");
    return NULL;
  }
  char *strings = (char *)(m + 1);
  m->name = memcpy(strings, name, nlen);
  m->path = memcpy(strings + nlen, path, plen);
  grove_error_t gerr;
  grove_load_report_t *report = malloc(sizeof *report); /* 9 kB: off the reload threads' stacks */
  double t0 = mono_seconds();
  if (report == NULL ||
      grove_model_load_ex(path, &r->load_opts, &m->forest, &m->schema, report, &gerr) != GROVE_OK) {
    snprintf(err, errlen, "%s", report == NULL ? "out of memory" : gerr.msg);
    free(report);
    free(m);
    return NULL;
  }
  m->from_image = report->image[0] != '\0';
  if (report->warning[0] != '\0') {
    char q[2048], nq[512];
    log_event("warn", "model image not used", "model=\"%s\" warning=\"%s\"",
              log_quote(name, nq, sizeof nq), log_quote(report->warning, q, sizeof q));
  }
  free(report);
  m->load_seconds = mono_seconds() - t0;
  m->loaded_at = wall_seconds();
  atomic_init(&m->refs, 1);
  return m;
}

static entry_t *find(registry_t *r, const char *name, size_t len) {
  for (size_t i = 0; i < r->count; i++)
    if (strlen(r->entries[i]->name) == len && memcmp(r->entries[i]->name, name, len) == 0)
      return r->entries[i];
  return NULL;
}

/* Appends a new entry for NAME at PATH serving M (lock held); -1 when out of memory. */
static int append_entry(registry_t *r, const char *name, const char *path, registry_model_t *m) {
  if (r->count == r->cap) {
    size_t cap = r->cap ? r->cap * 2 : 8;
    entry_t **e = realloc(r->entries, cap * sizeof *e);
    if (e == NULL) return -1;
    r->entries = e;
    r->cap = cap;
  }
  entry_t *e = calloc(1, sizeof *e);
  if (e == NULL || (e->name = strdup(name)) == NULL || (e->path = strdup(path)) == NULL) {
    if (e != NULL) free(e->name);
    free(e);
    return -1;
  }
  e->current = m;
  r->entries[r->count++] = e;
  r->sweep_open = NULL; /* an open sweep does not cover the new model */
  return 0;
}

registry_status_t registry_add(registry_t *r, const char *name, const char *path, char *err,
                               size_t errlen) {
  pthread_mutex_lock(&r->lock);
  int taken = find(r, name, strlen(name)) != NULL;
  pthread_mutex_unlock(&r->lock);
  if (taken) { /* checked again below: loading happens unlocked */
    snprintf(err, errlen, "%s: a model named \"%s\" is already loaded", path, name);
    return REGISTRY_EFAILED;
  }
  registry_model_t *m = load_version(r, name, path, err, errlen);
  /* A build from the source leaves json-c's freed tree in the heap: give it back, so a
   * served model costs its block, not its parse (bench/RESULTS.md, cold start). */
  if (m == NULL || !m->from_image) malloc_trim(0);
  if (m == NULL) return REGISTRY_EFAILED;
  pthread_mutex_lock(&r->lock);
  registry_status_t rc = REGISTRY_OK;
  if (find(r, name, strlen(name)) != NULL) {
    snprintf(err, errlen, "%s: a model named \"%s\" is already loaded", path, name);
    rc = REGISTRY_EFAILED;
  } else if (append_entry(r, name, path, m) != 0) {
    snprintf(err, errlen, "out of memory");
    rc = REGISTRY_EFAILED;
  }
  pthread_mutex_unlock(&r->lock);
  if (rc != REGISTRY_OK) registry_model_unref(m);
  return rc;
}

static int compare_names(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

long registry_dir_models(const char *dir, char ***names) {
  *names = NULL;
  DIR *d = opendir(dir);
  if (d == NULL) return -1;
  size_t n = 0, cap = 0;
  struct dirent *de;
  while ((de = readdir(d)) != NULL) {
    if (de->d_name[0] == '.') continue;
    char p[4096];
    struct stat st;
    if ((size_t)snprintf(p, sizeof p, "%s/%s", dir, de->d_name) >= sizeof p) continue;
    if (stat(p, &st) != 0 || !S_ISDIR(st.st_mode) || !grove_model_dir_has_model(p)) continue;
    if (n == cap) {
      cap = cap ? cap * 2 : 16;
      char **nn = realloc(*names, cap * sizeof *nn);
      if (nn == NULL) break;
      *names = nn;
    }
    if (((*names)[n] = strdup(de->d_name)) != NULL) n++;
  }
  closedir(d);
  /* Sorted, so that start-up order (and the default model) does not depend on readdir. */
  if (n > 1) qsort(*names, n, sizeof **names, compare_names);
  return (long)n;
}

void registry_dir_models_free(char **names, long n) {
  for (long i = 0; i < n; i++) free(names[i]);
  free(names);
}

int registry_add_dir(registry_t *r, const char *dir, char *err, size_t errlen) {
  char **names;
  const long n = registry_dir_models(dir, &names);
  if (n < 0) {
    snprintf(err, errlen, "%s: cannot read the models directory", dir);
    return -1;
  }
  int added = 0;
  for (long i = 0; i < n; i++) {
    char p[4096];
    int fits = (size_t)snprintf(p, sizeof p, "%s/%s", dir, names[i]) < sizeof p;
    if (added >= 0 && fits && registry_add(r, names[i], p, err, errlen) == REGISTRY_OK)
      added++;
    else
      added = -1;
  }
  registry_dir_models_free(names, n);
  return added;
}

registry_model_t *registry_get(registry_t *r, const char *name, size_t len) {
  pthread_mutex_lock(&r->lock);
  entry_t *e = find(r, name, len);
  registry_model_t *m = e ? e->current : NULL;
  if (m != NULL) atomic_fetch_add_explicit(&m->refs, 1, memory_order_relaxed);
  pthread_mutex_unlock(&r->lock);
  return m;
}

/* ---- waiters and sweeps (lock held unless said otherwise) ---- */

static void push_waiter(registry_waiter_t **list, registry_waiter_t *w, int coalesced) {
  w->coalesced = coalesced;
  w->next = NULL;
  while (*list != NULL) list = &(*list)->next;
  *list = w; /* in arrival order */
}

static void sweep_waiter_done(registry_waiter_t *w, const registry_reload_result_t *res);

/* One model of sweep S is answered (FAILED) or dropped (ANSWERED 0). */
static void sweep_count(sweep_t *s, int answered, int failed) {
  if (failed) s->res.failed++;
  if (--s->remaining > 0) return;
  if (s->r->sweep_open == s) s->r->sweep_open = NULL;
  if (answered) { /* reported by the worker once it has let go of the lock */
    s->next_finished = s->r->finished;
    s->r->finished = s;
  } else {
    free(s);
  }
}

static void sweep_waiter_done(registry_waiter_t *w, const registry_reload_result_t *res) {
  sweep_count((sweep_t *)(uintptr_t)w->owner, 1, res->status != REGISTRY_OK);
}

/* Calls every finished sweep's callback and frees it (no lock held). */
static void report_sweeps(sweep_t *s) {
  while (s != NULL) {
    sweep_t *next = s->next_finished;
    if (s->done != NULL) s->done(s->arg, &s->res);
    free(s);
    s = next;
  }
}

/*
 * Takes W out of the registry's hands: a sweep's own waiter is counted as dropped; another
 * one is put on *CANCELLED, whose cancelled() callbacks the caller runs once unlocked.
 */
static void take_back(registry_waiter_t *w, registry_waiter_t **cancelled) {
  if (w->done == sweep_waiter_done) {
    sweep_count((sweep_t *)(uintptr_t)w->owner, 0, 0);
    return;
  }
  w->next = *cancelled;
  *cancelled = w;
}

/* Takes back the waiters of *LIST whose owner is OWNER (any owner when MATCH_ALL). */
static void take_back_list(registry_waiter_t **list, const void *owner, int match_all,
                           registry_waiter_t **cancelled) {
  while (*list != NULL) {
    registry_waiter_t *w = *list;
    if (match_all || w->owner == owner) {
      *list = w->next;
      take_back(w, cancelled);
    } else {
      list = &w->next;
    }
  }
}

/* Runs the cancelled() callbacks of a list take_back() built (no lock held). */
static void run_cancelled(registry_waiter_t *w) {
  while (w != NULL) {
    registry_waiter_t *next = w->next;
    if (w->cancelled != NULL) w->cancelled(w);
    w = next;
  }
}

/* Gives RES to every waiter of LIST (each with its own coalesced flag). */
static void deliver(registry_waiter_t *list, registry_reload_result_t *res) {
  while (list != NULL) {
    registry_waiter_t *next = list->next; /* done() may free the waiter */
    res->coalesced = list->coalesced;
    list->done(list, res);
    list = next;
  }
}

/* ---- the queue and its workers ---- */

static void enqueue(registry_t *r, entry_t *e) {
  e->state = ENTRY_QUEUED;
  e->queue_next = NULL;
  if (r->queue_tail != NULL)
    r->queue_tail->queue_next = e;
  else
    r->queue_head = e;
  r->queue_tail = e;
  r->queued++;
}

static entry_t *dequeue(registry_t *r) {
  entry_t *e = r->queue_head;
  if (e == NULL) return NULL;
  r->queue_head = e->queue_next;
  if (r->queue_head == NULL) r->queue_tail = NULL;
  r->queued--;
  return e;
}

/* Takes E back out of the queue (it was the last one queued). */
static void unqueue_last(registry_t *r, entry_t *e) {
  entry_t **p = &r->queue_head, *prev = NULL;
  while (*p != e) {
    prev = *p;
    p = &(*p)->queue_next;
  }
  *p = e->queue_next;
  if (r->queue_tail == e) r->queue_tail = prev;
  r->queued--;
  e->state = ENTRY_IDLE;
}

/*
 * Loads E once, the lock let go meanwhile, logs the outcome (before anyone is answered, so
 * that a client who has its answer finds the log line) and answers its waiters; then queues
 * E again if another reload was asked for while it loaded. Called and returns with the lock
 * held.
 */
static void load_one(registry_t *r, entry_t *e) {
  e->state = ENTRY_RUNNING;
  r->busy++;
  r->sweep_open = NULL; /* a load starts: later reload_alls may not join what it answers */
  registry_reload_result_t res = {.reload = ++e->loads};
  registry_reload_log_fn log = r->log;
  pthread_mutex_unlock(&r->lock);
  double t0 = mono_seconds();
  registry_model_t *m = load_version(r, e->name, e->path, res.error, sizeof res.error), *old = NULL;
  res.seconds = mono_seconds() - t0;
  res.status = m != NULL ? REGISTRY_OK : REGISTRY_EFAILED;
  if (log != NULL) log(e->name, &res);
  pthread_mutex_lock(&r->lock);
  if (m != NULL) {
    old = e->current;
    e->current = m;
    e->reloads++;
  } else {
    e->failures++;
  }
  deliver(e->now, &res);
  e->now = NULL;
  r->busy--;
  if (e->pending) { /* stop clears it, so only while running normally */
    e->pending = 0;
    e->now = e->next;
    e->next = NULL;
    enqueue(r, e); /* behind the models already waiting */
  } else {
    e->state = ENTRY_IDLE;
  }
  pthread_cond_broadcast(&r->changed);
  sweep_t *finished = r->finished;
  r->finished = NULL;
  pthread_mutex_unlock(&r->lock);
  registry_model_unref(old); /* requests still holding it keep it alive */
  /* A load's scratch (json-c's tree is many times the model) was freed into this thread's
   * malloc arena, where glibc keeps it: give it back, or every reload thread's arena holds
   * a load's worth (peak RSS in a SIGHUP storm 60 MB -> 37 MB, bench/RESULTS.md). */
  malloc_trim(0);
  report_sweeps(finished);
  pthread_mutex_lock(&r->lock);
}

/* A worker: loads queued models until the queue is empty, then leaves. */
static void *reload_worker(void *arg) {
  registry_t *r = arg;
  pthread_setname_np(pthread_self(), "grove-reload");
  /* Loading is background work: the I/O and engine threads come first (a client's p99 in a
   * SIGHUP storm 2.7 ms -> 0.16 ms on 2 cores, bench/RESULTS.md). Linux nices threads one by
   * one; failing to is harmless. */
  setpriority(PRIO_PROCESS, (id_t)gettid(), 10);
  pthread_mutex_lock(&r->lock);
  entry_t *e;
  while ((e = dequeue(r)) != NULL) load_one(r, e);
  r->workers--;
  int last = --r->holds == 0;
  pthread_cond_broadcast(&r->changed);
  pthread_mutex_unlock(&r->lock);
  if (last) destroy(r); /* registry_free() came first */
  return NULL;
}

/* Starts a detached worker with every signal blocked (signals belong to the main loop). */
static int spawn_worker(registry_t *r) {
  pthread_attr_t attr;
  sigset_t all, old;
  pthread_t tid;
  pthread_attr_init(&attr);
  pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  int rc = pthread_create(&tid, &attr, reload_worker, r);
  pthread_sigmask(SIG_SETMASK, &old, NULL);
  pthread_attr_destroy(&attr);
  if (rc != 0) return -1;
  r->workers++;
  r->holds++;
  return 0;
}

/* Queues E (idle) for a load; -1 when nobody could ever load it (no worker would start). */
static int queue_for_load(registry_t *r, entry_t *e) {
  enqueue(r, e);
  while (r->queued > r->workers - r->busy && r->workers < REGISTRY_RELOAD_THREADS)
    if (spawn_worker(r) != 0) break;
  if (r->workers > 0) return 0; /* a worker alive reaches E in time */
  unqueue_last(r, e);
  return -1;
}

/* Asks for a reload of E, answered to W if not NULL; -1 when no worker could start. */
static int ask(registry_t *r, entry_t *e, registry_waiter_t *w) {
  switch (e->state) {
    case ENTRY_IDLE:
      if (queue_for_load(r, e) != 0) return -1;
      if (w != NULL) push_waiter(&e->now, w, 0);
      return 0;
    case ENTRY_QUEUED: /* its load has not started: it answers W too */
      if (w != NULL) push_waiter(&e->now, w, 1);
      return 0;
    case ENTRY_RUNNING: /* the running load may have read the old file: the next one */
      if (w != NULL) push_waiter(&e->next, w, e->pending);
      e->pending = 1;
      return 0;
  }
  return -1;
}

/* ---- asking for reloads ---- */

registry_status_t registry_reload_async(registry_t *r, const char *name, size_t len,
                                        registry_waiter_t *w, char *err, size_t errlen) {
  registry_status_t rc = REGISTRY_OK;
  pthread_mutex_lock(&r->lock);
  entry_t *e = find(r, name, len);
  if (e == NULL) {
    snprintf(err, errlen, "no model named \"%.*s\"", (int)(len > 128 ? 128 : len), name);
    rc = REGISTRY_ENOTFOUND;
  } else if (r->stopped) {
    snprintf(err, errlen, "reloads are stopped: the server is shutting down");
    rc = REGISTRY_ESTOPPED;
  } else if (ask(r, e, w) != 0) {
    snprintf(err, errlen, "cannot start a reload thread");
    rc = REGISTRY_EFAILED;
  }
  pthread_mutex_unlock(&r->lock);
  return rc;
}

/* registry_reload()'s waiter: the caller sleeps on COND until DONE. */
typedef struct {
  registry_waiter_t w; /* first: the callbacks cast back */
  pthread_mutex_t lock;
  pthread_cond_t cond;
  int finished;
  registry_reload_result_t res;
} sync_waiter_t;

static void sync_finish(registry_waiter_t *w, const registry_reload_result_t *res) {
  sync_waiter_t *s = (sync_waiter_t *)w;
  pthread_mutex_lock(&s->lock);
  s->res = *res;
  s->finished = 1;
  pthread_cond_signal(&s->cond);
  pthread_mutex_unlock(&s->lock);
}

static void sync_cancelled(registry_waiter_t *w) {
  registry_reload_result_t res = {.status = REGISTRY_ESTOPPED};
  snprintf(res.error, sizeof res.error, "reloads were stopped before this one finished");
  sync_finish(w, &res);
}

registry_status_t registry_reload(registry_t *r, const char *name, size_t len, char *err,
                                  size_t errlen) {
  sync_waiter_t s = {.w = {.done = sync_finish, .cancelled = sync_cancelled}};
  s.w.owner = &s;
  pthread_mutex_init(&s.lock, NULL);
  pthread_cond_init(&s.cond, NULL);
  registry_status_t rc = registry_reload_async(r, name, len, &s.w, err, errlen);
  if (rc == REGISTRY_OK) {
    pthread_mutex_lock(&s.lock);
    while (!s.finished) pthread_cond_wait(&s.cond, &s.lock);
    pthread_mutex_unlock(&s.lock);
    rc = s.res.status;
    if (rc != REGISTRY_OK) snprintf(err, errlen, "%s", s.res.error);
  }
  pthread_cond_destroy(&s.cond);
  pthread_mutex_destroy(&s.lock);
  return rc;
}

/* A new sweep over every model (lock held); NULL when out of memory. */
static sweep_t *sweep_start(registry_t *r, registry_sweep_fn done, void *arg) {
  sweep_t *s = calloc(1, sizeof *s + r->count * sizeof s->waiters[0]);
  if (s == NULL) return NULL;
  *s = (sweep_t){.r = r, .done = done, .arg = arg, .remaining = r->count + 1};
  s->res = (registry_sweep_result_t){.models = r->count, .requests = 1};
  for (size_t i = 0; i < r->count; i++) {
    registry_waiter_t *w = &s->waiters[i];
    *w = (registry_waiter_t){.done = sweep_waiter_done, .owner = s};
    if (ask(r, r->entries[i], w) != 0) sweep_count(s, 1, 1);
  }
  /* The extra count keeps S alive through the loop; no load can have started meanwhile
   * (workers need the lock), so S is joinable unless it is already complete. */
  if (s->remaining > 1) r->sweep_open = s;
  sweep_count(s, 1, 0);
  return s;
}

int registry_reload_all_async(registry_t *r, registry_sweep_fn done, void *arg) {
  pthread_mutex_lock(&r->lock);
  int rc = -1;
  if (r->stopped) {
    rc = -1;
  } else if (r->sweep_open != NULL) {
    r->sweep_open->res.requests++;
    rc = 0;
  } else if (sweep_start(r, done, arg) != NULL) {
    rc = 1;
  }
  sweep_t *finished = r->finished; /* one that failed at once, or covers no model */
  r->finished = NULL;
  pthread_mutex_unlock(&r->lock);
  report_sweeps(finished);
  return rc;
}

void registry_set_reload_log(registry_t *r, registry_reload_log_fn log) {
  pthread_mutex_lock(&r->lock);
  r->log = log;
  pthread_mutex_unlock(&r->lock);
}

/* ---- taking waiters back, stopping ---- */

void registry_cancel_waiters(registry_t *r, const void *owner) {
  registry_waiter_t *cancelled = NULL;
  pthread_mutex_lock(&r->lock);
  for (size_t i = 0; i < r->count; i++) {
    take_back_list(&r->entries[i]->now, owner, 0, &cancelled);
    take_back_list(&r->entries[i]->next, owner, 0, &cancelled);
  }
  pthread_mutex_unlock(&r->lock);
  run_cancelled(cancelled);
}

/* Refuses further reloads and drops the queued and pending ones (lock held). */
static void stop_locked(registry_t *r, registry_waiter_t **cancelled) {
  r->stopped = 1;
  r->sweep_open = NULL;
  entry_t *e;
  while ((e = dequeue(r)) != NULL) {
    e->state = ENTRY_IDLE;
    take_back_list(&e->now, NULL, 1, cancelled);
  }
  for (size_t i = 0; i < r->count; i++) {
    r->entries[i]->pending = 0;
    take_back_list(&r->entries[i]->next, NULL, 1, cancelled);
  }
}

unsigned registry_stop_reloads(registry_t *r, double wait_seconds) {
  registry_waiter_t *cancelled = NULL;
  pthread_mutex_lock(&r->lock);
  stop_locked(r, &cancelled);
  double deadline = mono_seconds() + (wait_seconds > 0 ? wait_seconds : 0);
  struct timespec ts = {.tv_sec = (time_t)deadline,
                        .tv_nsec = (long)((deadline - (double)(time_t)deadline) * 1e9)};
  int waited = 0;
  while (r->busy > 0 && waited == 0) waited = pthread_cond_timedwait(&r->changed, &r->lock, &ts);
  for (size_t i = 0; i < r->count; i++) /* loads still running: nobody waits for them */
    take_back_list(&r->entries[i]->now, NULL, 1, &cancelled);
  unsigned running = r->busy;
  pthread_mutex_unlock(&r->lock);
  run_cancelled(cancelled);
  return running;
}

void registry_free(registry_t *r) {
  if (r == NULL) return;
  registry_waiter_t *cancelled = NULL;
  pthread_mutex_lock(&r->lock);
  stop_locked(r, &cancelled);
  for (size_t i = 0; i < r->count; i++) take_back_list(&r->entries[i]->now, NULL, 1, &cancelled);
  int last = --r->holds == 0;
  pthread_mutex_unlock(&r->lock);
  run_cancelled(cancelled);
  if (last) destroy(r); /* else the last worker to leave does */
}

registry_model_t **registry_list(registry_t *r, size_t *n) {
  pthread_mutex_lock(&r->lock);
  registry_model_t **models = r->count ? malloc(r->count * sizeof *models) : NULL;
  *n = models ? r->count : 0;
  for (size_t i = 0; i < *n; i++) {
    models[i] = r->entries[i]->current;
    atomic_fetch_add_explicit(&models[i]->refs, 1, memory_order_relaxed);
  }
  pthread_mutex_unlock(&r->lock);
  return models;
}

void registry_list_free(registry_model_t **models, size_t n) {
  for (size_t i = 0; i < n; i++) registry_model_unref(models[i]);
  free(models);
}

void registry_reload_counts(registry_t *r, const char *name, uint64_t *reloads,
                            uint64_t *failures) {
  pthread_mutex_lock(&r->lock);
  entry_t *e = find(r, name, strlen(name));
  *reloads = e ? e->reloads : 0;
  *failures = e ? e->failures : 0;
  pthread_mutex_unlock(&r->lock);
}
