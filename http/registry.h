/*
 * Served models by name. Each load is an immutable, refcounted registry_model_t; a reload
 * builds a new one off to the side and swaps the pointer, so requests in flight finish
 * on the version they started with and a failed reload leaves the old one serving.
 *
 * Reloads run on the registry's own threads (at most REGISTRY_RELOAD_THREADS at once), never
 * on the caller's: a model path that blocks (a hung network mount) stalls one reload thread,
 * not a signal loop or an I/O loop. Asking is coalesced per model: a model is idle, queued,
 * or reloading with at most one more reload pending, so a storm of requests costs at most
 * two loads per model, and every caller is answered by a load that started after it asked.
 */
#ifndef GROVE_REGISTRY_H
#define GROVE_REGISTRY_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "grove_engine.h"

/* How many models may be loading at once (each load holds a second copy of its model). */
#define REGISTRY_RELOAD_THREADS 2

/* One loaded version of a served model: the only refcount a served model has (requests,
 * the registry and metadata readers each hold one). Immutable once published. */
typedef struct {
  atomic_uint refs;
  char *name;
  char *path; /* file or directory it was loaded from */
  grove_forest_t *forest;
  grove_schema_t *schema; /* NULL when the directory has none */
  double loaded_at;       /* unix seconds */
  double load_seconds;
  int from_image; /* 1: mapped from a compiled image (engine/image.c), not built */
} registry_model_t;

typedef struct registry registry_t;

/* What the registry's fallible calls return. */
typedef enum {
  REGISTRY_OK = 0,
  REGISTRY_EFAILED = -1,   /* the model did not load (ERR says why); nothing changed */
  REGISTRY_ENOTFOUND = -2, /* no model of that name */
  REGISTRY_ESTOPPED = -3,  /* reloads are stopped (shutting down); nothing changed */
} registry_status_t;

/* The outcome of one reload, as a waiter gets it. */
typedef struct {
  registry_status_t status; /* REGISTRY_OK (swapped in) or REGISTRY_EFAILED */
  uint64_t reload;          /* which load of the model this was: 1 for its first reload, ... */
  int coalesced;   /* 1: the waiter joined a reload that someone else had already asked for */
  double seconds;  /* the load's duration */
  char error[512]; /* REGISTRY_EFAILED: the file and the problem */
} registry_reload_result_t;

typedef struct registry_waiter registry_waiter_t;

/*
 * Someone waiting for a reload's outcome, owned by the caller, who fills done, cancelled and
 * owner and keeps it alive until one of the two callbacks has been called.
 */
struct registry_waiter {
  /* The outcome, on a reload thread with the registry's lock held: copy it and wake the
   * owner; never block, never call the registry. */
  void (*done)(registry_waiter_t *w, const registry_reload_result_t *res);
  /* Instead of done: registry_cancel_waiters() or registry_stop_reloads() took the waiter
   * back, on the thread that called them, lock not held. May be NULL. */
  void (*cancelled)(registry_waiter_t *w);
  const void *owner;       /* what registry_cancel_waiters() matches */
  registry_waiter_t *next; /* the registry's */
  int coalesced;           /* the registry's */
};

/* What a reload_all gets when every model's reload has finished. */
typedef struct {
  size_t models, failed;
  uint64_t requests; /* registry_reload_all_async() calls this one answers (1 + coalesced) */
} registry_sweep_result_t;

/* Called on a reload thread (no lock held) when a reload_all is complete. */
typedef void (*registry_sweep_fn)(void *arg, const registry_sweep_result_t *res);

/* Called on a reload thread (no lock held) after each reload of model NAME, for logging. */
typedef void (*registry_reload_log_fn)(const char *name, const registry_reload_result_t *res);

registry_t *registry_new(void);

/*
 * Stops reloads (registry_stop_reloads() without waiting) and drops the caller's hold. A
 * reload thread still loading keeps what it uses alive and frees the rest when it returns,
 * if it ever does: registry_free() never waits for one.
 */
void registry_free(registry_t *r);

/* Loads PATH as model NAME and adds it; on failure ERR says why (file and problem). */
registry_status_t registry_add(registry_t *r, const char *name, const char *path, char *err,
                               size_t errlen);

/*
 * The names of DIR's subdirectories that hold a model (grove_model_dir_has_model), sorted,
 * into *NAMES (free with registry_dir_models_free); returns their number, or -1 (errno set)
 * when DIR cannot be read.
 */
long registry_dir_models(const char *dir, char ***names);
void registry_dir_models_free(char **names, long n);

/*
 * Adds every subdirectory of DIR that holds a model file (grove_model_dir_has_model), named
 * after the subdirectory, in name order. Returns the number added, or -1 with ERR filled
 * when one fails to load (those before it stay added; the caller gives up on start-up) or
 * DIR cannot be read.
 */
int registry_add_dir(registry_t *r, const char *dir, char *err, size_t errlen);

/* The current version of model NAME (LEN bytes) with a reference taken, or NULL. */
registry_model_t *registry_get(registry_t *r, const char *name, size_t len);

/* Drops a reference taken by registry_get(). */
void registry_model_unref(registry_model_t *m);

/*
 * Asks for a reload of NAME (LEN bytes) and returns at once. REGISTRY_OK: W (if not NULL)
 * gets exactly one done() with the outcome of a load that starts after this call, unless it
 * is cancelled. REGISTRY_ENOTFOUND, REGISTRY_ESTOPPED, or REGISTRY_EFAILED (no reload thread
 * could start): ERR says why and W is not kept.
 */
registry_status_t registry_reload_async(registry_t *r, const char *name, size_t len,
                                        registry_waiter_t *w, char *err, size_t errlen);

/*
 * Reloads NAME and waits for the outcome (for tests and tools; the daemon uses the async
 * call). On REGISTRY_EFAILED (ERR filled) the old version keeps serving.
 */
registry_status_t registry_reload(registry_t *r, const char *name, size_t len, char *err,
                                  size_t errlen);

/*
 * Asks for a reload of every model; DONE(ARG) gets the tally once all have finished. A call
 * made while an earlier one still waits with none of its loads started joins it (its DONE is
 * not called; the first one's counts it in requests). Returns 1 (started), 0 (joined), or -1
 * (stopped, or out of memory).
 */
int registry_reload_all_async(registry_t *r, registry_sweep_fn done, void *arg);

/* Sets the function told about every finished reload (NULL: none). Call before any reload. */
void registry_set_reload_log(registry_t *r, registry_reload_log_fn log);

/* Where loads look for compiled images (grove_model_load_ex()); set before the first load.
 * OPTS is copied; its cache_dir string must outlive the registry. A stale or corrupt image
 * is logged as a warning and the source loaded. */
void registry_set_load_opts(registry_t *r, const grove_load_opts_t *opts);

/*
 * Takes back every waiter whose owner is OWNER: their done() is never called after this
 * returns; their cancelled() is called here, on this thread, before it returns.
 */
void registry_cancel_waiters(registry_t *r, const void *owner);

/*
 * Shutdown: refuses further reloads, drops the pending and queued ones, waits up to
 * WAIT_SECONDS for the loads under way, then cancels every waiter left. Returns how many
 * loads are still running (abandoned: they finish, or not, without anyone waiting).
 */
unsigned registry_stop_reloads(registry_t *r, double wait_seconds);

/*
 * The current version of every model, each referenced, in load order: a malloc'd array of
 * *N that the caller gives back with registry_list_free(). NULL (with *N 0) when there are
 * none or out of memory.
 */
registry_model_t **registry_list(registry_t *r, size_t *n);

/* Drops the references registry_list() took and frees its array. */
void registry_list_free(registry_model_t **models, size_t n);

/* Counters per model name for /metrics. */
void registry_reload_counts(registry_t *r, const char *name, uint64_t *reloads, uint64_t *failures);

#endif /* GROVE_REGISTRY_H */
