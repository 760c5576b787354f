/* Model registry: name -> current version, swapped atomically under a mutex. */
#include "registry.h"

#include <dirent.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

typedef struct {
  char *name;
  char *path;
  registry_model_t *current;
  uint64_t reloads;
  uint64_t failures;
} entry_t;

struct registry {
  pthread_mutex_t lock; /* guards entries and each entry's current pointer */
  entry_t *entries;
  size_t count, cap;
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
  if (r != NULL) pthread_mutex_init(&r->lock, NULL);
  return r;
}

void registry_model_unref(registry_model_t *m) {
  if (m == NULL) return;
  if (atomic_fetch_sub_explicit(&m->refs, 1, memory_order_acq_rel) != 1) return;
  grove_forest_free(m->forest);
  grove_schema_free(m->schema);
  free(m); /* name and path with it */
}

void registry_free(registry_t *r) {
  if (r == NULL) return;
  for (size_t i = 0; i < r->count; i++) {
    registry_model_unref(r->entries[i].current);
    free(r->entries[i].name);
    free(r->entries[i].path);
  }
  free(r->entries);
  pthread_mutex_destroy(&r->lock);
  free(r);
}

/* Loads a new version of NAME from PATH (no lock held: loading may take a while). */
static registry_model_t *load_version(const char *name, const char *path, char *err,
                                      size_t errlen) {
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
  double t0 = mono_seconds();
  if (grove_model_load(path, &m->forest, &m->schema, &gerr) != GROVE_OK) {
    snprintf(err, errlen, "%s", gerr.msg);
    free(m);
    return NULL;
  }
  m->load_seconds = mono_seconds() - t0;
  m->loaded_at = wall_seconds();
  atomic_init(&m->refs, 1);
  return m;
}

static entry_t *find(registry_t *r, const char *name, size_t len) {
  for (size_t i = 0; i < r->count; i++)
    if (strlen(r->entries[i].name) == len && memcmp(r->entries[i].name, name, len) == 0)
      return &r->entries[i];
  return NULL;
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
  registry_model_t *m = load_version(name, path, err, errlen);
  if (m == NULL) return REGISTRY_EFAILED;
  pthread_mutex_lock(&r->lock);
  registry_status_t rc = REGISTRY_OK;
  if (find(r, name, strlen(name)) != NULL) {
    snprintf(err, errlen, "%s: a model named \"%s\" is already loaded", path, name);
    rc = REGISTRY_EFAILED;
  } else if (r->count == r->cap) {
    size_t cap = r->cap ? r->cap * 2 : 8;
    entry_t *e = realloc(r->entries, cap * sizeof *e);
    if (e == NULL) {
      snprintf(err, errlen, "out of memory");
      rc = REGISTRY_EFAILED;
    } else {
      r->entries = e;
      r->cap = cap;
    }
  }
  if (rc == REGISTRY_OK) {
    entry_t *e = &r->entries[r->count];
    *e = (entry_t){.name = strdup(name), .path = strdup(path), .current = m};
    if (e->name == NULL || e->path == NULL) {
      free(e->name);
      free(e->path);
      snprintf(err, errlen, "out of memory");
      rc = REGISTRY_EFAILED;
    } else {
      r->count++;
    }
  }
  pthread_mutex_unlock(&r->lock);
  if (rc != REGISTRY_OK) registry_model_unref(m);
  return rc;
}

static int compare_names(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

int registry_add_dir(registry_t *r, const char *dir, char *err, size_t errlen) {
  DIR *d = opendir(dir);
  if (d == NULL) {
    snprintf(err, errlen, "%s: cannot read the models directory", dir);
    return -1;
  }
  /* Sorted, so that start-up order (and the default model) does not depend on readdir. */
  char **names = NULL;
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
      char **nn = realloc(names, cap * sizeof *nn);
      if (nn == NULL) break;
      names = nn;
    }
    if ((names[n] = strdup(de->d_name)) != NULL) n++;
  }
  closedir(d);
  if (n > 1) qsort(names, n, sizeof *names, compare_names);
  int added = 0;
  for (size_t i = 0; i < n; i++) {
    char p[4096];
    int fits = (size_t)snprintf(p, sizeof p, "%s/%s", dir, names[i]) < sizeof p;
    if (added >= 0 && fits && registry_add(r, names[i], p, err, errlen) == REGISTRY_OK)
      added++;
    else
      added = -1;
    free(names[i]);
  }
  free(names);
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

registry_status_t registry_reload(registry_t *r, const char *name, size_t len, char *err,
                                  size_t errlen) {
  /* Copies: entries may move (and nothing is held) while the new version loads. */
  char *key = NULL, *path = NULL;
  pthread_mutex_lock(&r->lock);
  entry_t *e = find(r, name, len);
  if (e != NULL) {
    key = strdup(e->name);
    path = strdup(e->path);
  }
  pthread_mutex_unlock(&r->lock);
  registry_status_t rc = REGISTRY_EFAILED;
  if (e == NULL) {
    snprintf(err, errlen, "no model named \"%.*s\"", (int)(len > 128 ? 128 : len), name);
    rc = REGISTRY_ENOTFOUND;
  } else if (key == NULL || path == NULL) {
    snprintf(err, errlen, "out of memory");
  } else {
    registry_model_t *m = load_version(key, path, err, errlen), *old = NULL;
    pthread_mutex_lock(&r->lock);
    e = find(r, key, strlen(key));
    if (m != NULL) {
      old = e->current;
      e->current = m;
      e->reloads++;
      rc = REGISTRY_OK;
    } else {
      e->failures++;
    }
    pthread_mutex_unlock(&r->lock);
    registry_model_unref(old); /* requests still holding it keep it alive */
  }
  free(key);
  free(path);
  return rc;
}

int registry_reload_all(registry_t *r, void (*log)(const char *name, const char *error)) {
  int failed = 0;
  /* Entries are only ever added, so an index walks them all even while one reloads. */
  for (size_t i = 0;; i++) {
    pthread_mutex_lock(&r->lock);
    char *name = i < r->count ? strdup(r->entries[i].name) : NULL;
    int more = i < r->count;
    pthread_mutex_unlock(&r->lock);
    if (!more) break;
    char err[512];
    if (name == NULL) {
      snprintf(err, sizeof err, "out of memory");
    } else if (registry_reload(r, name, strlen(name), err, sizeof err) == REGISTRY_OK) {
      free(name);
      continue;
    }
    failed++;
    if (log) log(name ? name : "?", err);
    free(name);
  }
  return failed;
}

registry_model_t **registry_list(registry_t *r, size_t *n) {
  pthread_mutex_lock(&r->lock);
  registry_model_t **models = r->count ? malloc(r->count * sizeof *models) : NULL;
  *n = models ? r->count : 0;
  for (size_t i = 0; i < *n; i++) {
    models[i] = r->entries[i].current;
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
