/*
 * The model registry: add / get / list / unref and their references, duplicate names,
 * failed loads and their messages, registry_add_dir's choice and order of subdirectories,
 * reloads that swap versions (while old references stay valid), fail (the old version
 * keeps serving, a failure is counted) or name no model; a FIFO in place of a model file
 * (refused at once); the asynchronous side: reload_all sweeps and their tally, the reload
 * log, coalescing (many asks cost at most two loads, each waiter answered once, by a load
 * that started after it asked), cancelling waiters, stopping, registry_free with a load
 * under way; and reloads racing with readers. Every model directory lives in a mkdtemp
 * directory under /tmp that is removed at the end.
 */
#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "grove_engine.h"
#include "registry.h"
#include "test.h"

#define INCOME_DIR GROVE_SOURCE_ROOT "/models/income"
#define FIXTURES   GROVE_SOURCE_ROOT "/tests/fixtures/"
#define BIN_JSON   FIXTURES "binary_logistic.json"
#define BIN_UBJ    FIXTURES "binary_logistic.ubj"
#define MULTI_JSON FIXTURES "multi_softprob.json"

/* A LightGBM text model (as in test_loader.c): a directory holding only model.txt. */
static const char lightgbm_model[] =
    "tree\nversion=v4\nnum_class=1\nnum_tree_per_iteration=1\nlabel_index=0\nmax_feature_idx=1\n"
    "objective=binary sigmoid:1\nfeature_names=colour size\nfeature_infos=0:1:2 [0:10]\n\n"
    "Tree=0\nnum_leaves=2\nnum_cat=1\nsplit_feature=0\nthreshold=0\ndecision_type=1\nleft_child=-"
    "1\n"
    "right_child=-2\nleaf_value=0.5 -0.5\ncat_boundaries=0 1\ncat_threshold=5\nshrinkage=1\n\n\n"
    "end of trees\n\npandas_categorical:[[\"red\",\"green\",\"blue\"]]\n";

static const char garbage[] = "this is not a model {\"learner\":";

/* ---- files ---- */

static char root[] = "/tmp/grove-test-registry-XXXXXX";

static void write_file(const char *path, const char *data, size_t len) {
  FILE *fp = fopen(path, "wb");
  if (fp == NULL || fwrite(data, 1, len, fp) != len || fclose(fp) != 0) {
    printf("Bail out! cannot write %s\n", path);
    exit(1);
  }
}

static void copy_file(const char *from, const char *to) {
  size_t len;
  char *data = test_read_file(from, &len);
  write_file(to, data, len);
  free(data);
}

/* ROOT/REL, in a static rotation of buffers so that a call can use several. */
static const char *at(const char *fmt_rel) {
  static char bufs[8][1024];
  static int next;
  char *b = bufs[next++ % 8];
  snprintf(b, sizeof bufs[0], "%s/%s", root, fmt_rel);
  return b;
}

static void make_dir(const char *path) {
  if (mkdir(path, 0755) != 0 && errno != EEXIST) {
    printf("Bail out! cannot create %s\n", path);
    exit(1);
  }
}

/* ROOT/DIR/model.json + schema.json: a copy of models/income. */
static void copy_income(const char *dir) {
  char p[1024];
  make_dir(at(dir));
  snprintf(p, sizeof p, "%s/model.json", at(dir));
  copy_file(INCOME_DIR "/model.json", p);
  snprintf(p, sizeof p, "%s/schema.json", at(dir));
  copy_file(INCOME_DIR "/schema.json", p);
}

/* Removes PATH and everything under it (no symlinks are followed). */
static void remove_tree(const char *path) {
  struct stat st;
  if (lstat(path, &st) != 0) return;
  if (S_ISDIR(st.st_mode)) {
    DIR *d = opendir(path);
    struct dirent *de;
    while (d != NULL && (de = readdir(d)) != NULL) {
      if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0) continue;
      char p[2048];
      snprintf(p, sizeof p, "%s/%s", path, de->d_name);
      remove_tree(p);
    }
    if (d != NULL) closedir(d);
    rmdir(path);
  } else {
    unlink(path);
  }
}

/* ---- predictions ---- */

enum { ROWS = 64 };

/* Reference rows and outputs of one model file. */
typedef struct {
  uint32_t num_features, num_trees;
  float *rows, *expect;
} ref_t;

static ref_t reference(const char *path) {
  ref_t r = {0, 0, NULL, NULL};
  grove_forest_t *f;
  grove_error_t err;
  if (grove_forest_load_file(path, &f, &err) != GROVE_OK) {
    printf("Bail out! %s\n", err.msg);
    exit(1);
  }
  grove_forest_info_t info;
  grove_forest_get_info(f, &info);
  r.num_features = info.num_features;
  r.num_trees = info.num_trees;
  r.rows = malloc(ROWS * info.num_features * sizeof(float));
  r.expect = malloc(ROWS * grove_forest_output_width(f, 0) * sizeof(float));
  grove_forest_synthesize_rows(f, ROWS, 42, r.rows);
  grove_forest_predict(f, r.rows, ROWS, r.expect, NULL, NULL);
  grove_forest_free(f);
  return r;
}

static void ref_free(ref_t *r) {
  free(r->rows);
  free(r->expect);
}

/* 1 when F is REF's model: same shape and the same outputs on REF's rows. */
static int predicts_like(const grove_forest_t *f, const ref_t *ref) {
  grove_forest_info_t info;
  grove_forest_get_info(f, &info);
  if (info.num_features != ref->num_features || info.num_trees != ref->num_trees) return 0;
  uint32_t w = grove_forest_output_width(f, 0);
  float *out = malloc(ROWS * w * sizeof(float));
  int ok = grove_forest_predict(f, ref->rows, ROWS, out, NULL, NULL) == GROVE_OK &&
           memcmp(out, ref->expect, ROWS * w * sizeof(float)) == 0;
  free(out);
  return ok;
}

static registry_model_t *get(registry_t *r, const char *name) {
  return registry_get(r, name, strlen(name));
}

static uint64_t reloads_of(registry_t *r, const char *name, uint64_t *failures) {
  uint64_t reloads;
  registry_reload_counts(r, name, &reloads, failures);
  return reloads;
}

/* The names registry_list gives, comma-separated, into BUF. */
static const char *list_names(registry_t *r, char *buf, size_t size) {
  size_t n, used = 0;
  registry_model_t **models = registry_list(r, &n);
  buf[0] = '\0';
  for (size_t i = 0; i < n; i++) {
    int w = snprintf(buf + used, size - used, "%s%s", i ? "," : "", models[i]->name);
    if (w > 0 && (size_t)w < size - used) used += (size_t)w;
  }
  registry_list_free(models, n);
  return buf;
}

/* ---- tests ---- */

static ref_t income_ref, bin_ref, multi_ref;

static void test_add_get_list(void) {
  char err[512] = "", names[512];
  copy_income("inc");
  registry_t *r = registry_new();
  CHECK(r != NULL, "registry_new");
  CHECK_EQ_INT(registry_add(r, "income", at("inc"), err, sizeof err), REGISTRY_OK,
               "add a model directory");
  CHECK_EQ_INT(registry_add(r, "bin", BIN_JSON, err, sizeof err), REGISTRY_OK,
               "add a JSON model file");
  CHECK_EQ_INT(registry_add(r, "ubj", BIN_UBJ, err, sizeof err), REGISTRY_OK,
               "add a UBJSON model file");
  CHECK_EQ_INT(registry_add(r, "multi", MULTI_JSON, err, sizeof err), REGISTRY_OK,
               "add a multi-class model");
  CHECK(strcmp(list_names(r, names, sizeof names), "income,bin,ubj,multi") == 0,
        "registry_list in load order");
  printf("# list: %s\n", names);

  registry_model_t *m = get(r, "income");
  CHECK(m != NULL, "get income");
  CHECK(m && strcmp(m->name, "income") == 0 && strcmp(m->path, at("inc")) == 0,
        "name and path recorded");
  CHECK(m && m->schema != NULL, "a directory's schema.json is loaded");
  CHECK(m && predicts_like(m->forest, &income_ref), "its forest is models/income");
  CHECK(m && m->loaded_at > 1e9 && m->load_seconds >= 0,
        "loaded_at in unix seconds, load_seconds set");
  CHECK_EQ_INT(m ? atomic_load(&m->refs) : 0, 2, "the registry's reference plus ours");
  registry_model_t *again = get(r, "income");
  CHECK(again == m, "get again: the same version");
  CHECK_EQ_INT(m ? atomic_load(&m->refs) : 0, 3, "each get takes a reference");
  registry_model_unref(again);
  CHECK_EQ_INT(m ? atomic_load(&m->refs) : 0, 2, "unref drops one");

  registry_model_t *b = get(r, "bin"), *u = get(r, "ubj"), *mc = get(r, "multi");
  CHECK(b && b->schema == NULL && predicts_like(b->forest, &bin_ref),
        "bin: the JSON fixture, no schema");
  CHECK(u && predicts_like(u->forest, &bin_ref), "ubj: the UBJSON copy predicts the same");
  CHECK(mc && predicts_like(mc->forest, &multi_ref), "multi: the multi-class fixture");
  registry_model_unref(b);
  registry_model_unref(u);
  registry_model_unref(mc);

  registry_model_t *prefix = registry_get(r, "income-and-more", 6);
  CHECK(prefix == m, "get uses LEN bytes of NAME");
  registry_model_unref(prefix);
  registry_model_unref(m);
  CHECK(registry_get(r, "inc", 3) == NULL, "a prefix is not a name");
  CHECK(registry_get(r, "incomes", 7) == NULL, "nor is a longer name");
  CHECK(registry_get(r, "", 0) == NULL, "empty name: NULL");
  CHECK(get(r, "nope") == NULL, "unknown name: NULL");

  size_t n;
  registry_model_t **models = registry_list(r, &n);
  CHECK(n == 4 && strcmp(models[0]->name, "income") == 0 && strcmp(models[1]->name, "bin") == 0,
        "registry_list: every model, in load order");
  CHECK_EQ_INT(atomic_load(&models[0]->refs), 2,
               "registry_list takes a reference (plus the registry's)");
  registry_list_free(models, n);

  /* Duplicates and failed loads change nothing. */
  registry_model_t *before = get(r, "bin");
  err[0] = '\0';
  CHECK_EQ_INT(registry_add(r, "bin", at("inc"), err, sizeof err), REGISTRY_EFAILED,
               "a duplicate name is refused");
  CHECK_CONTAINS(err, "already loaded", "duplicate: says so");
  CHECK_CONTAINS(err, "\"bin\"", "duplicate: names the model");
  registry_model_t *after = get(r, "bin");
  CHECK(after == before && predicts_like(after->forest, &bin_ref),
        "duplicate: the first one still served");
  registry_model_unref(before);
  registry_model_unref(after);

  write_file(at("garbage.json"), garbage, sizeof garbage - 1);
  err[0] = '\0';
  CHECK_EQ_INT(registry_add(r, "garbage", at("garbage.json"), err, sizeof err), REGISTRY_EFAILED,
               "a malformed model fails");
  CHECK_CONTAINS(err, at("garbage.json"), "malformed: the message names the file");
  err[0] = '\0';
  CHECK_EQ_INT(registry_add(r, "missing", at("missing.json"), err, sizeof err), REGISTRY_EFAILED,
               "a missing file fails");
  CHECK_CONTAINS(err, at("missing.json"), "missing: the message names the file");
  make_dir(at("empty"));
  err[0] = '\0';
  CHECK_EQ_INT(registry_add(r, "empty", at("empty"), err, sizeof err), REGISTRY_EFAILED,
               "a directory without a model file fails");
  CHECK_CONTAINS(err, at("empty"), "empty dir: the message names the directory");
  CHECK(get(r, "garbage") == NULL && get(r, "missing") == NULL && get(r, "empty") == NULL,
        "failed models are not served");
  CHECK(strcmp(list_names(r, names, sizeof names), "income,bin,ubj,multi") == 0,
        "failures leave the list alone");

  /* A reference outlives the registry. */
  registry_model_t *kept = get(r, "income");
  registry_free(r);
  CHECK(kept && predicts_like(kept->forest, &income_ref),
        "a reference stays valid after registry_free");
  registry_model_unref(kept);
  registry_free(NULL);
  registry_model_unref(NULL);
  CHECK(1, "registry_free(NULL) and registry_model_unref(NULL) are no-ops");
}

static void test_add_dir(void) {
  char err[512] = "", names[512], p[1024];
  make_dir(at("models"));
  /* Created out of name order; readdir's order is the file system's. */
  copy_income("models/gamma");
  make_dir(at("models/.hidden"));
  copy_file(BIN_JSON, at("models/.hidden/model.json"));
  make_dir(at("models/beta"));
  copy_file(BIN_UBJ, at("models/beta/model.ubj"));
  make_dir(at("models/delta"));
  write_file(at("models/delta/model.txt"), lightgbm_model, sizeof lightgbm_model - 1);
  make_dir(at("models/alpha"));
  copy_file(BIN_JSON, at("models/alpha/model.json"));
  make_dir(at("models/empty"));
  make_dir(at("models/notes"));
  write_file(at("models/notes/readme.txt"), "no model here\n", 14);
  copy_file(BIN_JSON, at("models/zeta.json"));
  copy_file(BIN_JSON, at("models/model.json"));

  registry_t *r = registry_new();
  int n = registry_add_dir(r, at("models"), err, sizeof err);
  CHECK_EQ_INT(n, 4, "registry_add_dir: four model directories");
  if (n < 0) printf("# %s\n", err);
  CHECK(strcmp(list_names(r, names, sizeof names), "alpha,beta,delta,gamma") == 0,
        "registry_add_dir: sorted by name; dotfiles, plain files and model-less dirs skipped");
  printf("# list: %s\n", names);
  registry_model_t *m = get(r, "gamma");
  CHECK(m && m->schema != NULL && predicts_like(m->forest, &income_ref),
        "gamma is the income copy with schema");
  snprintf(p, sizeof p, "%s/gamma", at("models"));
  CHECK(m && strcmp(m->path, p) == 0, "path is DIR/name");
  registry_model_unref(m);
  m = get(r, "beta");
  CHECK(m && predicts_like(m->forest, &bin_ref), "beta: model.ubj");
  registry_model_unref(m);
  m = get(r, "delta");
  CHECK(m && m->forest != NULL, "delta: model.txt (LightGBM)");
  registry_model_unref(m);
  CHECK(get(r, ".hidden") == NULL && get(r, "empty") == NULL && get(r, "notes") == NULL &&
            get(r, "zeta") == NULL && get(r, "zeta.json") == NULL && get(r, "model.json") == NULL,
        "skipped entries are not served");

  /* The same directory again: every name is a duplicate. */
  err[0] = '\0';
  CHECK_EQ_INT(registry_add_dir(r, at("models"), err, sizeof err), -1,
               "adding the directory twice fails");
  CHECK_CONTAINS(err, "already loaded", "twice: duplicate names");
  registry_free(r);

  /* One broken model among good ones. */
  make_dir(at("bad"));
  make_dir(at("bad/a"));
  copy_file(BIN_JSON, at("bad/a/model.json"));
  make_dir(at("bad/b"));
  write_file(at("bad/b/model.json"), garbage, sizeof garbage - 1);
  make_dir(at("bad/c"));
  copy_file(BIN_JSON, at("bad/c/model.json"));
  r = registry_new();
  err[0] = '\0';
  CHECK_EQ_INT(registry_add_dir(r, at("bad"), err, sizeof err), -1,
               "a model that fails to load: -1");
  CHECK_CONTAINS(err, at("bad/b/model.json"), "the message names the broken file");
  printf("# left registered after the failure: \"%s\"\n", list_names(r, names, sizeof names));
  registry_free(r);

  r = registry_new();
  err[0] = '\0';
  CHECK_EQ_INT(registry_add_dir(r, at("no-such-dir"), err, sizeof err), -1,
               "a missing directory: -1");
  CHECK_CONTAINS(err, at("no-such-dir"), "the message names the directory");
  err[0] = '\0';
  CHECK_EQ_INT(registry_add_dir(r, at("models/zeta.json"), err, sizeof err), -1,
               "a file, not a directory: -1");
  CHECK_EQ_INT(registry_add_dir(r, at("models/empty"), err, sizeof err), 0,
               "an empty directory: 0 added");
  registry_free(r);
}

static void test_reload(void) {
  char err[512] = "", names[512], model_path[1024], schema_path[1024];
  copy_income("reload");
  snprintf(model_path, sizeof model_path, "%s/model.json", at("reload"));
  snprintf(schema_path, sizeof schema_path, "%s/schema.json", at("reload"));
  registry_t *r = registry_new();
  CHECK_EQ_INT(registry_add(r, "income", at("reload"), err, sizeof err), REGISTRY_OK,
               "reload: add");
  CHECK_EQ_INT(registry_add(r, "bin", BIN_JSON, err, sizeof err), REGISTRY_OK,
               "reload: add a second");
  uint64_t failures = 99;
  CHECK(reloads_of(r, "income", &failures) == 0 && failures == 0, "no reloads yet");

  registry_model_t *v1 = get(r, "income");
  const grove_forest_t *f1 = v1->forest;
  CHECK_EQ_INT(registry_reload(r, "income", 6, err, sizeof err), REGISTRY_OK,
               "reload: REGISTRY_OK");
  CHECK(reloads_of(r, "income", &failures) == 1 && failures == 0, "reload counted");
  registry_model_t *v2 = get(r, "income");
  CHECK(v2 != v1, "reload swapped in a new version");
  CHECK(v2->forest != f1, "with its own forest");
  CHECK(v1->forest == f1 && predicts_like(v1->forest, &income_ref),
        "the old reference still sees its forest");
  CHECK(predicts_like(v2->forest, &income_ref), "the new version predicts");
  CHECK(v2->loaded_at >= v1->loaded_at, "loaded_at does not go back");

  /* A different model at the same path: the swap is visible, old references unchanged. */
  copy_file(BIN_JSON, model_path);
  unlink(schema_path);
  CHECK_EQ_INT(registry_reload(r, "income", 6, err, sizeof err), REGISTRY_OK,
               "reload a different model");
  registry_model_t *v3 = get(r, "income");
  CHECK(v3 != v2 && predicts_like(v3->forest, &bin_ref) && v3->schema == NULL,
        "the new model is served");
  CHECK(predicts_like(v2->forest, &income_ref) && v2->schema != NULL,
        "the reference taken before still has the old");
  CHECK(predicts_like(v1->forest, &income_ref), "and so has the one before that");
  registry_model_unref(v1);
  registry_model_unref(v2); /* the last references to replaced versions: freed here */
  CHECK(reloads_of(r, "income", &failures) == 2 && failures == 0, "two reloads");

  /* A reload that fails leaves the old version serving. */
  write_file(model_path, garbage, sizeof garbage - 1);
  err[0] = '\0';
  CHECK_EQ_INT(registry_reload(r, "income", 6, err, sizeof err), REGISTRY_EFAILED,
               "garbage: REGISTRY_EFAILED");
  CHECK_CONTAINS(err, model_path, "the message names the file");
  registry_model_t *v4 = get(r, "income");
  CHECK(v4 == v3 && predicts_like(v4->forest, &bin_ref), "the old version keeps serving");
  CHECK(reloads_of(r, "income", &failures) == 2 && failures == 1,
        "a failure counted, reloads unchanged");
  registry_model_unref(v4);
  unlink(model_path);
  CHECK_EQ_INT(registry_reload(r, "income", 6, err, sizeof err), REGISTRY_EFAILED,
               "model file gone: EFAILED");
  CHECK(reloads_of(r, "income", &failures) == 2 && failures == 2, "second failure counted");

  /* Restored: the next reload works again. */
  copy_income("reload");
  CHECK_EQ_INT(registry_reload(r, "income", 6, err, sizeof err), REGISTRY_OK,
               "restored: reload works");
  registry_model_t *v5 = get(r, "income");
  CHECK(v5 != v3 && predicts_like(v5->forest, &income_ref) && v5->schema != NULL, "income is back");
  registry_model_unref(v5);
  registry_model_unref(v3);
  CHECK(reloads_of(r, "income", &failures) == 3 && failures == 2, "three reloads, two failures");

  err[0] = '\0';
  CHECK_EQ_INT(registry_reload(r, "nope", 4, err, sizeof err), REGISTRY_ENOTFOUND,
               "unknown name: ENOTFOUND");
  CHECK_CONTAINS(err, "nope", "ENOTFOUND names the model");
  CHECK_EQ_INT(registry_reload(r, "inc", 3, err, sizeof err), REGISTRY_ENOTFOUND,
               "a prefix: ENOTFOUND");
  CHECK(reloads_of(r, "nope", &failures) == 0 && failures == 0, "counts of an unknown name: 0, 0");
  CHECK_EQ_INT(registry_reload(r, "binary", 3, err, sizeof err), REGISTRY_OK,
               "reload uses LEN bytes of NAME");
  CHECK(reloads_of(r, "bin", &failures) == 1 && failures == 0, "bin reloaded once");
  CHECK(reloads_of(r, "income", &failures) == 3 && failures == 2,
        "income's counts untouched by bin's");
  CHECK(strcmp(list_names(r, names, sizeof names), "income,bin") == 0,
        "load order survives reloads");
  registry_free(r);
}

/* ---- asynchronous reloads: waiters, coalescing, sweeps, stopping ---- */

/* A waiter that records what it got. */
typedef struct {
  registry_waiter_t w; /* first */
  atomic_int done, cancelled;
  registry_reload_result_t res;
} test_waiter_t;

static void tw_done(registry_waiter_t *w, const registry_reload_result_t *res) {
  test_waiter_t *t = (test_waiter_t *)w;
  t->res = *res;
  atomic_fetch_add(&t->done, 1);
}

static void tw_cancelled(registry_waiter_t *w) {
  atomic_fetch_add(&((test_waiter_t *)w)->cancelled, 1);
}

static void tw_init(test_waiter_t *t, const void *owner) {
  memset(t, 0, sizeof *t);
  t->w.done = tw_done;
  t->w.cancelled = tw_cancelled;
  t->w.owner = owner;
}

/* Waits (up to 20 s) until every waiter of TW[N] got done() or cancelled(); 1 when they did. */
static int tw_wait(test_waiter_t *tw, size_t n) {
  for (int tries = 0; tries < 20000; tries++) {
    size_t finished = 0;
    for (size_t i = 0; i < n; i++)
      finished += atomic_load(&tw[i].done) + atomic_load(&tw[i].cancelled) > 0;
    if (finished == n) return 1;
    usleep(1000);
  }
  return 0;
}

/* What a sweep's callback got. */
typedef struct {
  atomic_int calls;
  registry_sweep_result_t res;
} sweep_seen_t;

static void on_sweep(void *arg, const registry_sweep_result_t *res) {
  sweep_seen_t *s = arg;
  s->res = *res;
  atomic_fetch_add(&s->calls, 1);
}

/* registry_reload_all_async() and its wait: the sweep's tally (models == 0 on a timeout). */
static registry_sweep_result_t reload_all(registry_t *r) {
  sweep_seen_t seen = {0};
  registry_sweep_result_t none = {0, 0, 0};
  if (registry_reload_all_async(r, on_sweep, &seen) != 1) return none;
  for (int tries = 0; tries < 20000 && atomic_load(&seen.calls) == 0; tries++) usleep(1000);
  return atomic_load(&seen.calls) == 1 ? seen.res : none;
}

/* What the reload log got. */
static atomic_int log_ok, log_failed;
static char log_last_error[512];

static void on_reload_log(const char *name, const registry_reload_result_t *res) {
  (void)name;
  if (res->status == REGISTRY_OK) {
    atomic_fetch_add(&log_ok, 1);
  } else {
    snprintf(log_last_error, sizeof log_last_error, "%s", res->error);
    atomic_fetch_add(&log_failed, 1);
  }
}

static void test_reload_all(void) {
  char err[512] = "";
  make_dir(at("all"));
  make_dir(at("all/a"));
  copy_file(BIN_JSON, at("all/a/model.json"));
  copy_income("all/b");
  make_dir(at("all/c"));
  copy_file(MULTI_JSON, at("all/c/model.json"));
  registry_t *r = registry_new();
  registry_set_reload_log(r, on_reload_log);
  atomic_store(&log_ok, 0);
  atomic_store(&log_failed, 0);
  CHECK_EQ_INT(registry_add_dir(r, at("all"), err, sizeof err), 3, "reload_all: three models");
  registry_sweep_result_t res = reload_all(r);
  CHECK(res.models == 3 && res.failed == 0 && res.requests == 1,
        "reload_all: the sweep reports 3 models, no failure, 1 request");
  CHECK_EQ_INT(atomic_load(&log_ok), 3, "reload_all: the log hears of each reload");
  uint64_t failures;
  CHECK(reloads_of(r, "a", &failures) == 1 && reloads_of(r, "b", &failures) == 1 &&
            reloads_of(r, "c", &failures) == 1,
        "reload_all: each reloaded once");

  registry_model_t *b_before = get(r, "b");
  write_file(at("all/b/model.json"), garbage, sizeof garbage - 1);
  res = reload_all(r);
  CHECK(res.models == 3 && res.failed == 1, "reload_all: the sweep counts the failure");
  CHECK_EQ_INT(atomic_load(&log_failed), 1, "reload_all: the failure logged once");
  CHECK_CONTAINS(log_last_error, at("all/b/model.json"),
                 "reload_all: the log gets the error naming the file");
  registry_model_t *b_after = get(r, "b");
  CHECK(b_after == b_before && predicts_like(b_after->forest, &income_ref),
        "reload_all: b's old version serves");
  CHECK(reloads_of(r, "b", &failures) == 1 && failures == 1, "reload_all: b counts one failure");
  CHECK(reloads_of(r, "a", &failures) == 2 && failures == 0, "reload_all: a reloaded again");
  registry_model_t *c = get(r, "c");
  CHECK(c && predicts_like(c->forest, &multi_ref), "reload_all: c reloaded and served");
  registry_model_unref(c);
  registry_model_unref(b_before);
  registry_model_unref(b_after);
  write_file(at("all/a/model.json"), garbage, sizeof garbage - 1);
  CHECK_EQ_INT(reload_all(r).failed, 2, "reload_all: two failures");
  registry_free(r);

  registry_t *empty = registry_new();
  res = reload_all(empty);
  CHECK(res.requests == 1 && res.models == 0, "reload_all of an empty registry: answered at once");
  registry_free(empty);
}

/* A FIFO in place of the model file is refused at once (an open() would wait for a writer). */
static void test_fifo(void) {
  char err[512] = "", p[1024];
  copy_income("fifo");
  registry_t *r = registry_new();
  CHECK_EQ_INT(registry_add(r, "income", at("fifo"), err, sizeof err), REGISTRY_OK, "fifo: add");
  snprintf(p, sizeof p, "%s/model.json", at("fifo"));
  unlink(p);
  if (mkfifo(p, 0600) != 0) {
    printf("Bail out! mkfifo %s\n", p);
    exit(1);
  }
  err[0] = '\0';
  CHECK_EQ_INT(registry_reload(r, "income", 6, err, sizeof err), REGISTRY_EFAILED,
               "fifo: the reload fails (rather than waiting for a writer)");
  CHECK_CONTAINS(err, "FIFO", "fifo: the message says it is a FIFO");
  CHECK_CONTAINS(err, p, "fifo: and names the file");
  registry_model_t *m = get(r, "income");
  CHECK(m && predicts_like(m->forest, &income_ref), "fifo: the old version keeps serving");
  registry_model_unref(m);
  err[0] = '\0';
  CHECK_EQ_INT(registry_add(r, "again", at("fifo"), err, sizeof err), REGISTRY_EFAILED,
               "fifo: registry_add fails too");
  CHECK_CONTAINS(err, "not a regular file", "fifo: add says why");
  registry_free(r);
}

/* Many asks while one load runs: at most one more load, every waiter answered once. */
static void test_coalescing(void) {
  enum { N = 40 };
  char err[512] = "";
  copy_income("coalesce");
  registry_t *r = registry_new();
  CHECK_EQ_INT(registry_add(r, "income", at("coalesce"), err, sizeof err), REGISTRY_OK,
               "coalesce: add");
  static test_waiter_t tw[N];
  int asked = 0;
  for (int i = 0; i < N; i++) {
    tw_init(&tw[i], r);
    asked += registry_reload_async(r, "income", 6, &tw[i].w, err, sizeof err) == REGISTRY_OK;
  }
  CHECK_EQ_INT(asked, N, "coalesce: 40 asks accepted");
  CHECK(tw_wait(tw, N), "coalesce: every waiter answered");
  int once = 1, ok = 1, coalesced = 0;
  uint64_t max_reload = 0;
  for (int i = 0; i < N; i++) {
    once &= atomic_load(&tw[i].done) == 1 && atomic_load(&tw[i].cancelled) == 0;
    ok &= tw[i].res.status == REGISTRY_OK;
    coalesced += tw[i].res.coalesced;
    if (tw[i].res.reload > max_reload) max_reload = tw[i].res.reload;
  }
  uint64_t failures, loads = reloads_of(r, "income", &failures);
  printf("# 40 asks: %llu loads, %d answers marked coalesced\n", (unsigned long long)loads,
         coalesced);
  CHECK(once && ok, "coalesce: each waiter got exactly one done(), REGISTRY_OK");
  CHECK(loads >= 1 && loads <= 2 && failures == 0, "coalesce: 40 asks cost at most 2 loads");
  CHECK_EQ_INT(max_reload, loads, "coalesce: the answers name the loads that answered them");
  CHECK(coalesced >= N - 2, "coalesce: all but the asks that started a load say coalesced");
  CHECK(tw[0].res.reload == 1 && !tw[0].res.coalesced, "coalesce: the first ask started load 1");
  CHECK(tw[N - 1].res.reload == loads, "coalesce: the last ask is answered by the last load");

  /* Many reload_alls while loads run: joined into few sweeps. */
  sweep_seen_t seen[N];
  int started = 0, joined = 0;
  memset(seen, 0, sizeof seen);
  for (int i = 0; i < N; i++) {
    int rc = registry_reload_all_async(r, on_sweep, &seen[i]);
    started += rc == 1;
    joined += rc == 0;
  }
  usleep(50000);
  for (int tries = 0; tries < 20000; tries++) {
    int calls = 0;
    for (int i = 0; i < N; i++) calls += atomic_load(&seen[i].calls);
    if (calls == started) break;
    usleep(1000);
  }
  uint64_t requests = 0;
  int calls = 0;
  for (int i = 0; i < N; i++) {
    calls += atomic_load(&seen[i].calls);
    if (atomic_load(&seen[i].calls)) requests += seen[i].res.requests;
  }
  uint64_t after = reloads_of(r, "income", &failures);
  printf("# 40 reload_alls: %d started, %d joined, %llu more loads\n", started, joined,
         (unsigned long long)(after - loads));
  CHECK(started >= 1 && started <= 2 && started + joined == N,
        "reload_all storm: 1 or 2 sweeps started, the rest joined");
  CHECK(calls == started && requests == N,
        "reload_all storm: each started sweep reported once, "
        "their requests add up to 40");
  CHECK(after - loads <= 2, "reload_all storm: at most 2 more loads");
  registry_free(r);
}

/* registry_cancel_waiters, registry_stop_reloads and registry_free while loads run. */
static void test_cancel_stop(void) {
  char err[512] = "";
  copy_income("cancel");
  registry_t *r = registry_new();
  CHECK_EQ_INT(registry_add(r, "income", at("cancel"), err, sizeof err), REGISTRY_OK,
               "cancel: add");
  int owner_a, owner_b;
  test_waiter_t a, b;
  tw_init(&a, &owner_a);
  tw_init(&b, &owner_b);
  registry_reload_async(r, "income", 6, &a.w, err, sizeof err);
  registry_reload_async(r, "income", 6, &b.w, err, sizeof err);
  registry_cancel_waiters(r, &owner_b);
  CHECK(atomic_load(&b.cancelled) == 1 && atomic_load(&b.done) == 0,
        "cancel: cancelled() called at once for the owner's waiter");
  CHECK(tw_wait(&a, 1) && atomic_load(&a.done) == 1 && a.res.status == REGISTRY_OK,
        "cancel: the other owner's waiter is still answered");
  usleep(300000); /* the pending load, if any, is over */
  CHECK(atomic_load(&b.done) == 0, "cancel: a cancelled waiter never gets done()");

  CHECK_EQ_INT(registry_stop_reloads(r, 5), 0, "stop: nothing running, 0");
  CHECK_EQ_INT(registry_reload_async(r, "income", 6, NULL, err, sizeof err), REGISTRY_ESTOPPED,
               "stop: later asks get REGISTRY_ESTOPPED");
  CHECK_CONTAINS(err, "shutting down", "stop: saying why");
  CHECK_EQ_INT(registry_reload_all_async(r, on_sweep, NULL), -1, "stop: reload_all refused");
  registry_model_t *m = get(r, "income");
  CHECK(m != NULL, "stop: models still served");
  registry_model_unref(m);
  registry_free(r);

  /* registry_free with a load under way and one pending: waiters cancelled, the worker
   * frees the registry when it is done (LeakSanitizer sees whether it does). */
  r = registry_new();
  registry_add(r, "income", at("cancel"), err, sizeof err);
  tw_init(&a, &owner_a);
  tw_init(&b, &owner_b);
  registry_reload_async(r, "income", 6, &a.w, err, sizeof err);
  registry_reload_async(r, "income", 6, &b.w, err, sizeof err);
  registry_free(r);
  CHECK(atomic_load(&a.cancelled) + atomic_load(&a.done) == 1 &&
            atomic_load(&b.cancelled) + atomic_load(&b.done) == 1,
        "free: every waiter cancelled (or answered just before), once");
  usleep(500000);
  CHECK(atomic_load(&a.done) + atomic_load(&a.cancelled) == 1 && atomic_load(&b.done) == 0,
        "free: nothing answered after registry_free");
}

/* ---- reloads racing with readers ---- */

typedef struct {
  registry_t *r;
  atomic_int *stop;
  long gets, nulls, wrong, lists;
} reader_t;

static void *reader(void *arg) {
  reader_t *rd = arg;
  do {
    registry_model_t *m = get(rd->r, "income");
    if (m == NULL) {
      rd->nulls++;
      continue;
    }
    rd->gets++;
    if (!predicts_like(m->forest, &income_ref)) rd->wrong++;
    if (rd->gets % 4 == 0) {
      size_t n;
      registry_model_t **all = registry_list(rd->r, &n);
      rd->lists += n == 2;
      registry_list_free(all, n);
    }
    registry_model_unref(m);
    /* A breath after each: reload threads run niced, and readers spinning on every core
     * would slow the loads this test waits for some twenty times. */
    usleep(500);
  } while (!atomic_load(rd->stop));
  return NULL;
}

static void test_race(void) {
  enum { READERS = 4, RELOADS = 12, RELOAD_ALLS = 3 };
  char err[512] = "";
  copy_income("race");
  registry_t *r = registry_new();
  CHECK_EQ_INT(registry_add(r, "income", at("race"), err, sizeof err), REGISTRY_OK,
               "race: add income");
  CHECK_EQ_INT(registry_add(r, "bin", BIN_JSON, err, sizeof err), REGISTRY_OK, "race: add bin");
  atomic_int stop;
  atomic_init(&stop, 0);
  reader_t rd[READERS];
  pthread_t tids[READERS];
  for (int i = 0; i < READERS; i++) {
    rd[i] = (reader_t){.r = r, .stop = &stop};
    pthread_create(&tids[i], NULL, reader, &rd[i]);
  }
  int failed = 0, all_failed = 0;
  for (int i = 0; i < RELOADS; i++)
    failed += registry_reload(r, "income", 6, err, sizeof err) != REGISTRY_OK;
  for (int i = 0; i < RELOAD_ALLS; i++) {
    registry_sweep_result_t res = reload_all(r);
    all_failed += res.models != 2 || res.failed != 0;
  }
  atomic_store(&stop, 1);
  long gets = 0, nulls = 0, wrong = 0, lists = 0;
  for (int i = 0; i < READERS; i++) {
    pthread_join(tids[i], NULL);
    gets += rd[i].gets;
    nulls += rd[i].nulls;
    wrong += rd[i].wrong;
    lists += rd[i].lists;
  }
  printf("# %ld gets, %ld lists during %d reloads\n", gets, lists, RELOADS + RELOAD_ALLS);
  CHECK_EQ_INT(failed, 0, "race: every reload succeeded");
  CHECK_EQ_INT(all_failed, 0, "race: every reload_all succeeded");
  CHECK_EQ_INT(nulls, 0, "race: get never missed the model during a swap");
  CHECK_EQ_INT(wrong, 0, "race: every version readers held predicted correctly");
  CHECK(gets >= READERS, "race: every reader got the model");
  uint64_t failures;
  CHECK(reloads_of(r, "income", &failures) == RELOADS + RELOAD_ALLS && failures == 0,
        "race: every reload counted");
  registry_free(r);
}

/* ---- limits ---- */

/*
 * A name longer than registry_reload's 256-byte copy of it. registry.h sets no limit on
 * names; refusing one at registry_add (with a message) would do, but once added, a reload
 * must either swap in and count a new version (REGISTRY_OK) or count a failure.
 */
static void test_long_name(void) {
  char err[512] = "", name[301];
  memset(name, 'x', 300);
  name[300] = '\0';
  registry_t *r = registry_new();
  if (registry_add(r, name, BIN_JSON, err, sizeof err) != REGISTRY_OK) {
    CHECK(err[0] != '\0', "a 300-byte name refused by registry_add, with a message");
    registry_free(r);
    return;
  }
  registry_model_t *v1 = registry_get(r, name, 300);
  CHECK(v1 != NULL, "a 300-byte name: added and got");
  registry_status_t rc = registry_reload(r, name, 300, err, sizeof err);
  registry_model_t *v2 = registry_get(r, name, 300);
  uint64_t failures, reloads = reloads_of(r, name, &failures);
  printf("# reload of a 300-byte name: rc %d, swapped %d, reloads %llu, failures %llu\n", rc,
         v2 != v1, (unsigned long long)reloads, (unsigned long long)failures);
  CHECK(rc != REGISTRY_OK || (v2 != v1 && reloads == 1),
        "long name: REGISTRY_OK only when a new version was swapped in");
  CHECK(reloads + failures == 1, "long name: the reload counted as a reload or a failure");
  registry_model_unref(v1);
  registry_model_unref(v2);
  registry_free(r);
}

/* registry_reload_all "reloads every model", however many there are. */
static void test_many_models(void) {
  enum { N = 300 };
  char err[512] = "", name[32];
  registry_t *r = registry_new();
  int added = 0;
  for (int i = 0; i < N; i++) {
    snprintf(name, sizeof name, "m%03d", i);
    added += registry_add(r, name, BIN_JSON, err, sizeof err) == REGISTRY_OK;
  }
  CHECK_EQ_INT(added, N, "300 models added");
  size_t n;
  registry_model_t **all = registry_list(r, &n);
  CHECK_EQ_INT(n, N, "registry_list gives all 300");
  CHECK(n == N && strcmp(all[0]->name, "m000") == 0 && strcmp(all[N - 1]->name, "m299") == 0,
        "in load order");
  registry_list_free(all, n);
  registry_sweep_result_t res = reload_all(r);
  CHECK(res.models == N && res.failed == 0, "reload_all of 300: no failures");
  int reloaded = 0;
  uint64_t failures;
  for (int i = 0; i < N; i++) {
    snprintf(name, sizeof name, "m%03d", i);
    reloaded += reloads_of(r, name, &failures) == 1;
  }
  CHECK_EQ_INT(reloaded, N, "reload_all reloaded every one of 300 models");
  registry_free(r);
}

int main(void) {
  if (mkdtemp(root) == NULL) {
    printf("Bail out! mkdtemp failed\n");
    return 1;
  }
  income_ref = reference(INCOME_DIR "/model.json");
  bin_ref = reference(BIN_JSON);
  multi_ref = reference(MULTI_JSON);
  test_add_get_list();
  test_add_dir();
  test_reload();
  test_reload_all();
  test_fifo();
  test_coalescing();
  test_cancel_stop();
  test_race();
  test_long_name();
  test_many_models();
  ref_free(&income_ref);
  ref_free(&bin_ref);
  ref_free(&multi_ref);
  remove_tree(root);
  struct stat st;
  CHECK(stat(root, &st) != 0, "temporary directory removed");
  int rc = test_done();
  fflush(stdout); /* the plan line, before LeakSanitizer may abort at exit */
  return rc;
}
