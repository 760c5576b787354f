/*
 * Served models by name. Each load is an immutable, refcounted registry_model_t; a reload
 * builds a new one off to the side and swaps the pointer, so requests in flight finish
 * on the version they started with and a failed reload leaves the old one serving.
 */
#ifndef GROVE_REGISTRY_H
#define GROVE_REGISTRY_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "grove_engine.h"

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
} registry_model_t;

typedef struct registry registry_t;

/* What the registry's fallible calls return. */
typedef enum {
  REGISTRY_OK = 0,
  REGISTRY_EFAILED = -1,   /* the model did not load (ERR says why); nothing changed */
  REGISTRY_ENOTFOUND = -2, /* no model of that name */
} registry_status_t;

registry_t *registry_new(void);
void registry_free(registry_t *r);

/* Loads PATH as model NAME and adds it; on failure ERR says why (file and problem). */
registry_status_t registry_add(registry_t *r, const char *name, const char *path, char *err,
                               size_t errlen);

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
 * Reloads NAME from its path and swaps it in. On REGISTRY_EFAILED (ERR filled) the old
 * version keeps serving.
 */
registry_status_t registry_reload(registry_t *r, const char *name, size_t len, char *err,
                                  size_t errlen);

/* Reloads every model; returns how many failed (each logged through LOG if given). */
int registry_reload_all(registry_t *r, void (*log)(const char *name, const char *error));

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
