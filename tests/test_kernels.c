/*
 * checkasm for the traversal kernels: every SIMD kernel the CPU can run is compared with
 * the scalar reference, margin bits against margin bits, on the bundled income model, the
 * test fixtures and random forests built here (deep unbalanced trees, big category sets,
 * both default directions), fed synthesized rows spiked with NaN, +-inf, -0, thresholds
 * one float step either side and category edge codes, at every batch size from 1 to
 * 2 * 64 + 1 so every tail of every block and vector is taken. The comparison itself is
 * checked first: it must notice one tree's leaves being off.
 */
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "builder.h"
#include "cpu.h"
#include "forest.h"
#include "grove_engine.h"
#include "kernels.h"
#include "test.h"

#define MAX_BATCH (2 * 64 + 1)

typedef struct {
  const char *name;
  grove_isa_t isa;
  grove_kernel_fn fn;
  int ranks; /* GROVE_KERNEL_RANKS_*: the forest->ranks it walks; on others it is another kernel */
} kernel_case_t;

static const kernel_case_t kernel_cases[] = {
#ifdef GROVE_HAVE_X86_KERNELS
    {"avx2-trees", GROVE_ISA_AVX2, grove__predict_avx2_trees, 0},
    {"avx2-rows", GROVE_ISA_AVX2, grove__predict_avx2_rows, 0},
    {"avx2-ranks", GROVE_ISA_AVX2, grove__predict_avx2_ranks,
     GROVE_KERNEL_RANKS_NUMERIC | GROVE_KERNEL_RANKS_CATEGORICAL},
    {"avx512-trees", GROVE_ISA_AVX512, grove__predict_avx512_trees, 0},
    {"avx512-rows", GROVE_ISA_AVX512, grove__predict_avx512_rows, 0},
    {"avx512-ranks", GROVE_ISA_AVX512, grove__predict_avx512_ranks, GROVE_KERNEL_RANKS_NUMERIC},
#endif
    {"scalar", GROVE_ISA_SCALAR, grove__predict_scalar, 0},
};

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;
static uint32_t rnd(void) { /* xorshift64* */
  rng_state ^= rng_state >> 12;
  rng_state ^= rng_state << 25;
  rng_state ^= rng_state >> 27;
  return (uint32_t)((rng_state * 0x2545f4914f6cdd1dull) >> 32);
}
static uint32_t rnd_below(uint32_t n) { return rnd() % n; }

/*
 * Runs FN over ROWS in calls of BATCH rows, margins starting at the base margins: floats,
 * or doubles for leaf64 forests (LightGBM's, summed in double), MARGINS having room for
 * doubles either way. The kernel's scratch (grove__kernel_scratch_bytes()) starts as
 * all-ones bytes, NaN as floats: a kernel must not read scratch it has not written.
 */
static void run_kernel(grove_kernel_fn fn, const grove_forest_t *f, const float *rows, size_t nrows,
                       size_t batch, void *margins) {
  const uint32_t nf = f->info.num_features, ng = f->info.num_groups;
  const size_t scratch_bytes = grove__kernel_scratch_bytes(fn, f);
  void *scratch = NULL;
  if (scratch_bytes > 0) {
    scratch = aligned_alloc(GROVE_KERNEL_SCRATCH_ALIGN, scratch_bytes);
    if (scratch == NULL) abort();
    memset(scratch, 0xff, scratch_bytes);
  }
  double *m64 = margins;
  float *m32 = margins;
  for (size_t r = 0; r < nrows; r++)
    for (uint32_t g = 0; g < ng; g++) {
      if (f->leaf64)
        m64[r * ng + g] = f->base_margins[g];
      else
        m32[r * ng + g] = f->base_margins[g];
    }
  for (size_t r = 0; r < nrows; r += batch) {
    size_t n = nrows - r < batch ? nrows - r : batch;
    grove_margins_t m;
    if (f->leaf64)
      m.f64 = m64 + r * ng;
    else
      m.f32 = m32 + r * ng;
    fn(f, rows + r * nf, n, m, scratch);
  }
  free(scratch);
}

/* 1 when F's N margins (float, or double for leaf64 forests) differ anywhere, bit for bit,
 * printing the first difference. */
static int margins_differ(const grove_forest_t *f, const void *a, const void *b, size_t n,
                          const char *what, size_t batch) {
  const size_t size = f->leaf64 ? sizeof(double) : sizeof(float);
  if (memcmp(a, b, n * size) == 0) return 0;
  for (size_t i = 0; i < n; i++) {
    if (memcmp((const char *)a + i * size, (const char *)b + i * size, size) != 0) {
      if (f->leaf64)
        printf("# %s, batch %zu: margin %zu is %a, the reference says %a\n", what, batch, i,
               ((const double *)a)[i], ((const double *)b)[i]);
      else
        printf("# %s, batch %zu: margin %zu is %a, the reference says %a\n", what, batch, i,
               ((const float *)a)[i], ((const float *)b)[i]);
      break;
    }
  }
  return 1;
}

static const float edge_values[] = {
    NAN,
    INFINITY,
    -INFINITY,
    -0.0f,
    0.0f,
    -1.0f,
    -0.5f,
    -0.99999994f,
    0.5f,
    0.999f,
    1.0f,
    2.5f,
    31.0f,
    32.0f,
    33.0f,
    63.0f,
    64.0f,
    16777215.0f,
    16777216.0f,
    2147483648.0f,
    1e30f,
    -1e30f,
    1e-45f,
    3.4028235e38f,
    1e-35f,
    -1e-35f,
    1.00000008e-35f,
    -1.00000008e-35f,
    1e-36f,
};

/* Synthesized rows with one value in four replaced by an edge value or a nudged one. */
static float *make_rows(const grove_forest_t *f, size_t nrows, uint64_t seed) {
  const uint32_t nf = f->info.num_features;
  float *rows = malloc(nrows * nf * sizeof *rows);
  if (rows == NULL) abort();
  grove_forest_synthesize_rows(f, nrows, seed, rows);
  for (size_t i = 0; i < nrows * nf; i++) {
    switch (rnd_below(8)) {
      case 0:
        rows[i] = edge_values[rnd_below(sizeof edge_values / sizeof *edge_values)];
        break;
      case 1:
        rows[i] = nextafterf(rows[i], INFINITY);
        break;
      default:
        break;
    }
  }
  /* Rows of nothing but missing values, and of a single edge value everywhere. */
  if (nrows > 2) {
    for (uint32_t j = 0; j < nf; j++) rows[j] = NAN;
    for (uint32_t j = 0; j < nf; j++) rows[nf + j] = -0.0f;
  }
  return rows;
}

/* A copy of NROWS ROWS of F with 0.25 for every NaN: calls the SIMD kernels take their plain
 * walks on (forests of plain numeric splits). */
static float *rows_without_nan(const grove_forest_t *f, const float *rows, size_t nrows) {
  float *clean = malloc(nrows * f->info.num_features * sizeof *clean);
  if (clean == NULL) abort();
  for (size_t i = 0; i < nrows * f->info.num_features; i++)
    clean[i] = rows[i] == rows[i] ? rows[i] : 0.25f;
  return clean;
}

/* Every kernel the CPU runs on F against REF (the scalar kernel's margins), all batches. */
static void check_kernels(const grove_forest_t *f, const char *name, const float *rows,
                          size_t nrows, const void *ref, void *got) {
  const uint32_t ng = f->info.num_groups;
  const grove_isa_t cpu = grove__cpu_detect();
  char what[200];
  for (size_t k = 0; k < sizeof kernel_cases / sizeof *kernel_cases; k++) {
    const kernel_case_t *kc = &kernel_cases[k];
    /* not a kernel of its own here: without ranks it walks nodes; ranks with sets (built by
     * the avx2 table) only the avx2 one walks */
    if (kc->ranks && (f->ranks == NULL || (f->ranks->categorical != 0 &&
                                           !(kc->ranks & GROVE_KERNEL_RANKS_CATEGORICAL))))
      continue;
    snprintf(what, sizeof what, "%s: %s matches scalar bit for bit, batches 1..%d", name, kc->name,
             MAX_BATCH);
    if (kc->isa > cpu) {
      char why[64];
      snprintf(why, sizeof why, "the CPU lacks %s", grove__isa_name(kc->isa));
      CHECK_CANNOT_RUN_ISA(what, grove__isa_name(kc->isa), why);
      continue;
    }
    int bad = 0;
    for (size_t batch = 1; batch <= MAX_BATCH && !bad; batch++) {
      run_kernel(kc->fn, f, rows, nrows, batch, got);
      bad = margins_differ(f, got, ref, nrows * ng, what, batch);
    }
    CHECK(!bad, what);
  }
}

/*
 * The rows kernels walk a forest's top levels from its tables (forest.h) when it has
 * them, which the builder decides by a memory budget: check every forest both ways, with
 * tables built here for every tree (stumps and shallow trees too) and with none.
 */
static void check_tops_both_ways(const grove_forest_t *f, const char *name, const float *rows,
                                 size_t nrows, const void *ref, void *got) {
  const uint32_t nt = f->info.num_trees;
  grove_top_t *tops = aligned_alloc(GROVE_FOREST_ALIGN, (nt ? nt : 1) * sizeof *tops);
  grove_top6_t *tops6 = aligned_alloc(GROVE_FOREST_ALIGN, (nt ? nt : 1) * sizeof *tops6);
  if (tops == NULL || tops6 == NULL) abort();
  int six = nt > 0;
  for (uint32_t t = 0; t < nt; t++) {
    grove__top_build(f, f->roots[t], &tops[t]);
    if (six) six = grove__top6_build(f, f->roots[t], &tops6[t]);
  }
  const int has = f->tops == NULL ? 0 : f->top_levels;
  grove_forest_t with;
  memcpy(&with, f, sizeof with); /* a shallow copy: only the tables pointer changes */
  char what[160];
  /* Off, 5 levels, and 6 levels when every tree fits them. */
  for (int levels = 0; levels <= GROVE_TOP6_LEVELS; levels += levels ? 1 : GROVE_TOP_LEVELS) {
    if (has == levels) continue; /* that way was checked on F itself */
    if (levels == GROVE_TOP6_LEVELS && !six) continue;
    if (levels == GROVE_TOP6_LEVELS)
      with.tops6 = tops6;
    else
      with.tops = levels ? tops : NULL;
    with.top_levels = levels;
    /* What the loaders derive from the tables: the trees kernel's copy, the category codes. */
    CHECK(grove__forest_attach_lanes(&with) == 0 && grove__cat_codes_attach(&with) == 0,
          "tables for trees in lanes, category codes");
    snprintf(what, sizeof what, "%s, top tables forced %s", name,
             levels == 0                  ? "off"
             : levels == GROVE_TOP_LEVELS ? "on (5 levels)"
                                          : "on (6 levels)");
    check_kernels(&with, what, rows, nrows, ref, got);
    free(with.tops6_lanes);
    free(with.cat_codes);
  }
  free(tops);
  free(tops6);
}

/*
 * The avx512 node walks read the 8-byte node copy (forest.h) when the builder made one:
 * check each forest the other way too, building the copy here when it fits its shape.
 */
static void check_nodes8_other_way(const grove_forest_t *f, const char *name, const float *rows,
                                   size_t nrows, const void *ref, void *got) {
  grove_forest_t with;
  memcpy(&with, f, sizeof with); /* a shallow copy: only the copy's pointer changes */
  grove_node8_t *nodes8 = NULL;
  if (f->nodes8 != NULL) {
    with.nodes8 = NULL;
  } else {
    nodes8 = malloc((f->info.num_nodes ? f->info.num_nodes : 1) * sizeof *nodes8);
    if (nodes8 == NULL) abort();
    if (!grove__nodes8_build(f, nodes8)) {
      printf("# %s: nodes do not fit 8 bytes\n", name);
      free(nodes8);
      return;
    }
    with.nodes8 = nodes8;
  }
  char what[160];
  snprintf(what, sizeof what, "%s, 8-byte nodes forced %s", name, with.nodes8 ? "on" : "off");
  check_kernels(&with, what, rows, nrows, ref, got);
  free(nodes8);
}

/* Compares every kernel the CPU runs with the scalar reference on NROWS rows of F. */
static void check_forest(const grove_forest_t *f, const char *name, size_t nrows) {
  const uint32_t ng = f->info.num_groups;
  float *rows = make_rows(f, nrows, 42);
  double *ref = malloc(nrows * ng * sizeof *ref), *got = malloc(nrows * ng * sizeof *got);
  float *ref32 = malloc(nrows * ng * sizeof *ref32), *got32 = malloc(nrows * ng * sizeof *got32);
  if (ref == NULL || got == NULL || ref32 == NULL || got32 == NULL) abort();
  run_kernel(grove__predict_scalar, f, rows, nrows, nrows, ref);
  printf("# %s: top tables %s (%d levels), %s sums\n", name,
         f->tops ? "built" : "not built (memory budget)", f->tops ? f->top_levels : 0,
         f->leaf64 ? "double" : "float");
  check_kernels(f, name, rows, nrows, ref, got);
  /* The same rows without NaN: the SIMD kernels take their plain walks on calls without NaN
   * through forests of plain numeric splits, row 6 of the split truth table alone. */
  float *clean = rows_without_nan(f, rows, nrows);
  char clean_name[160];
  snprintf(clean_name, sizeof clean_name, "%s, rows without NaN", name);
  run_kernel(grove__predict_scalar, f, clean, nrows, nrows, ref);
  check_kernels(f, clean_name, clean, nrows, ref, got);
  free(clean);
  run_kernel(grove__predict_scalar, f, rows, nrows, nrows, ref);
  check_tops_both_ways(f, name, rows, nrows, ref, got);
  check_nodes8_other_way(f, name, rows, nrows, ref, got);
  char what[160];
  /* Through the public API too: the kernel grove_engine_kernel() names, and threads; the
   * margins it returns are the reference's rounded to float. */
  for (size_t i = 0; i < nrows * ng; i++)
    ref32[i] = f->leaf64 ? (float)ref[i] : ((const float *)ref)[i];
  grove_predict_opts_t opts = {.margin = 1, .threads = 2};
  grove_error_t err;
  int rc = grove_forest_predict(f, rows, nrows, got32, &opts, &err);
  snprintf(what, sizeof what, "%s: grove_forest_predict (%s) matches scalar", name,
           grove_forest_kernel(f));
  CHECK(rc == GROVE_OK && memcmp(got32, ref32, nrows * ng * sizeof *got32) == 0, what);
  free(rows);
  free(ref);
  free(got);
  free(ref32);
  free(got32);
}

/* The model at REL under the source tree, or NULL (the reason printed). */
static grove_forest_t *load_rel(const char *rel) {
  char path[1024];
  snprintf(path, sizeof path, "%s/%s", GROVE_SOURCE_ROOT, rel);
  grove_forest_t *f = NULL;
  grove_error_t err;
  if (grove_forest_load_file(path, &f, &err) != GROVE_OK) printf("# %s: %s\n", rel, err.msg);
  return f;
}

static void check_file(const char *rel, size_t nrows) {
  grove_forest_t *f = load_rel(rel);
  CHECK(f != NULL, rel);
  if (f == NULL) return;
  check_forest(f, rel, nrows);
  grove_forest_free(f);
}

/* ------------------------------------------------------------------------- */
/* Random forests as XGBoost JSON                                              */

typedef struct {
  char *p;
  size_t len, cap;
} buf_t;

static void put(buf_t *b, const char *fmt, ...) {
  va_list ap;
  for (;;) {
    va_start(ap, fmt);
    int n = vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
    va_end(ap);
    if ((size_t)n < b->cap - b->len) {
      b->len += (size_t)n;
      return;
    }
    b->cap = b->cap * 2 + (size_t)n + 1024;
    b->p = realloc(b->p, b->cap);
    if (b->p == NULL) abort();
  }
}

#define MAX_NODES 4096
typedef struct {
  int left[MAX_NODES], right[MAX_NODES], feature[MAX_NODES], dleft[MAX_NODES], cat[MAX_NODES];
  float value[MAX_NODES];
  int n;
} tree_t;

/* Thresholds that the edge values and their neighbours sit on. */
static const float thresholds[] = {-1.0f, -0.5f, 0.0f,  0.5f,     1.0f,       -0.0f,
                                   2.5f,  32.0f, 1e30f, 3.0e-39f, 16777216.0f};

/* With this set the random trees are nearly complete: a leaf above the last level is rare. */
static int dense_trees;

/* Adds a subtree of at most DEPTH levels; some branches stop early, some run deep. */
static int grow(tree_t *t, int depth, uint32_t nf, const int *is_cat) {
  int id = t->n++;
  int leaf = depth == 0 || t->n + 2 >= MAX_NODES || rnd_below(dense_trees ? 40 : 6) == 0;
  t->left[id] = t->right[id] = -1;
  t->feature[id] = 0;
  t->dleft[id] = (int)rnd_below(2);
  t->cat[id] = 0;
  if (leaf) {
    t->value[id] =
        (float)((int)rnd_below(2001) - 1000) / 1024.0f + 1.0f / (float)(1 + rnd_below(7));
    return id;
  }
  t->feature[id] = (int)rnd_below(nf);
  t->cat[id] = is_cat[t->feature[id]];
  if (rnd_below(4) == 0)
    t->value[id] = thresholds[rnd_below(sizeof thresholds / sizeof *thresholds)];
  else
    t->value[id] = (float)((int)rnd_below(200) - 100) / 16.0f;
  /* An unbalanced tree: one side often much deeper than the other. */
  int ldepth = depth - 1, rdepth = !dense_trees && rnd_below(3) == 0 ? (depth - 1) / 3 : depth - 1;
  if (rnd_below(2)) {
    int tmp = ldepth;
    ldepth = rdepth;
    rdepth = tmp;
  }
  int l = grow(t, ldepth, nf, is_cat);
  int r = grow(t, rdepth, nf, is_cat);
  t->left[id] = l;
  t->right[id] = r;
  return id;
}

static void put_ints(buf_t *b, const char *key, const int *v, int n) {
  put(b, "\"%s\":[", key);
  for (int i = 0; i < n; i++) put(b, "%s%d", i ? "," : "", v[i]);
  put(b, "],");
}

/*
 * A random model as XGBoost JSON: NTREES trees of depth up to DEPTH over NF features (one
 * in three categorical), NCLASS groups (0: regression). PERTURB adds 0.25 to every leaf of
 * the first tree. Same SEED, same forest.
 */
/* With this set the random models' category sets end before category 48 (XGBoost: codes
 * below 40; LightGBM: a second word of 16 bits), so that 6-level top tables fit them. */
static int narrow_sets;
/* Random models without categorical splits (and, LightGBM's, without the zero band): the
 * plain walks' forests. */
static int numeric_only;

static char *random_model(uint64_t seed, int ntrees, int depth, uint32_t nf, int nclass,
                          int perturb, size_t *len) {
  rng_state = seed;
  int is_cat[64];
  for (uint32_t j = 0; j < nf; j++) is_cat[j] = rnd_below(3) == 0 && !numeric_only;
  static tree_t t;
  buf_t b = {0};
  put(&b, "{\"learner\":{\"attributes\":{},\"feature_names\":[");
  for (uint32_t j = 0; j < nf; j++) put(&b, "%s\"f%u\"", j ? "," : "", j);
  put(&b, "],\"feature_types\":[");
  for (uint32_t j = 0; j < nf; j++) put(&b, "%s\"%s\"", j ? "," : "", is_cat[j] ? "c" : "q");
  put(&b,
      "],\"gradient_booster\":{\"model\":{\"gbtree_model_param\":{\"num_parallel_tree\":\"1\","
      "\"num_trees\":\"%d\"},\"tree_info\":[",
      ntrees);
  int groups = nclass > 1 ? nclass : 1;
  for (int i = 0; i < ntrees; i++) put(&b, "%s%d", i ? "," : "", i % groups);
  put(&b, "],\"trees\":[");
  for (int i = 0; i < ntrees; i++) {
    t.n = 0;
    grow(&t, dense_trees ? depth - (int)rnd_below(2) : 1 + (int)rnd_below((uint32_t)depth), nf,
         is_cat);
    if (perturb && i == 0)
      for (int k = 0; k < t.n; k++)
        if (t.left[k] < 0) t.value[k] += 0.25f;
    put(&b, "%s{\"id\":%d,", i ? "," : "", i);
    put_ints(&b, "left_children", t.left, t.n);
    put_ints(&b, "right_children", t.right, t.n);
    put_ints(&b, "split_indices", t.feature, t.n);
    put(&b, "\"split_conditions\":[");
    for (int k = 0; k < t.n; k++) put(&b, "%s%.9g", k ? "," : "", (double)t.value[k]);
    put(&b, "],");
    put_ints(&b, "default_left", t.dleft, t.n);
    int st[MAX_NODES];
    for (int k = 0; k < t.n; k++) st[k] = t.left[k] >= 0 && t.cat[k];
    put_ints(&b, "split_type", st, t.n);
    /* Category sets: small codes, codes around word edges, now and then hundreds. */
    buf_t cats = {0}, nodes = {0}, segs = {0}, sizes = {0};
    put(&cats, "[");
    put(&nodes, "[");
    put(&segs, "[");
    put(&sizes, "[");
    int total = 0, nsets = 0;
    for (int k = 0; k < t.n; k++) {
      if (!st[k]) continue;
      const int wide = rnd_below(4) == 0;
      int range = wide && !narrow_sets ? 300 : 40, count = 0;
      for (int c = 0; c < range; c++) {
        if (rnd_below(3) != 0 && !(c == 31 || c == 32 || c == 33 || c == 0)) continue;
        if (rnd_below(2) == 0) continue;
        put(&cats, "%s%d", total + count ? "," : "", c);
        count++;
      }
      if (count == 0) {
        put(&cats, "%s%d", total ? "," : "", 32);
        count = 1;
      }
      put(&nodes, "%s%d", nsets ? "," : "", k);
      put(&segs, "%s%d", nsets ? "," : "", total);
      put(&sizes, "%s%d", nsets ? "," : "", count);
      total += count;
      nsets++;
    }
    put(&b,
        "\"categories\":%s],\"categories_nodes\":%s],\"categories_segments\":%s],"
        "\"categories_sizes\":%s],",
        cats.p, nodes.p, segs.p, sizes.p);
    free(cats.p);
    free(nodes.p);
    free(segs.p);
    free(sizes.p);
    put(&b,
        "\"tree_param\":{\"num_deleted\":\"0\",\"num_feature\":\"%u\",\"num_nodes\":\"%d\","
        "\"size_leaf_vector\":\"0\"}}",
        nf, t.n);
  }
  put(&b,
      "]},\"name\":\"gbtree\"},\"learner_model_param\":{\"base_score\":\"5E-1\",\"num_class\":\"%"
      "d\","
      "\"num_feature\":\"%u\",\"num_target\":\"1\"},",
      nclass, nf);
  if (nclass > 1)
    put(&b,
        "\"objective\":{\"name\":\"multi:softprob\",\"softmax_multiclass_param\":{\"num_class\":\"%"
        "d\"}}},",
        nclass);
  else
    put(&b,
        "\"objective\":{\"name\":\"reg:squarederror\",\"reg_loss_param\":{\"scale_pos_weight\":"
        "\"1\"}}},");
  put(&b, "\"version\":[1,7,4]}");
  *len = b.len;
  return b.p;
}

static grove_forest_t *load_random(uint64_t seed, int ntrees, int depth, uint32_t nf, int nclass,
                                   int perturb) {
  size_t len;
  char *json = random_model(seed, ntrees, depth, nf, nclass, perturb, &len);
  grove_forest_t *f = NULL;
  grove_error_t err;
  int rc = grove_forest_load_buffer(json, len, "random", &f, &err);
  if (rc != GROVE_OK) printf("# random model %llu: %s\n", (unsigned long long)seed, err.msg);
  free(json);
  return rc == GROVE_OK ? f : NULL;
}

/* Double thresholds of the LightGBM models: on, between and around float values, 0, +inf. */
static const double lgb_thresholds[] = {
    -1.0, -0.5, 0.0,   1e-35,  -1e-35,  0.5, 1.0000000000000002, 2.5, 0.30000000000000004,
    32.0, 1e30, 1e300, -1e300, INFINITY};

/* Writes LightGBM subtree of DEPTH levels; returns its child reference (split, or ~leaf). */
static int lgb_grow(tree_t *t, int *leaves, int depth, uint32_t nf, const int *is_cat) {
  if (depth == 0 || t->n + 2 >= MAX_NODES / 2 || rnd_below(6) == 0) {
    t->value[MAX_NODES / 2 + *leaves] = (float)((int)rnd_below(2001) - 1000) / 512.0f;
    return ~(*leaves)++;
  }
  int id = t->n++;
  t->feature[id] = (int)rnd_below(nf);
  t->cat[id] = is_cat[t->feature[id]];
  const int left = (int)rnd_below(2);
  int missing_type = (int)rnd_below(3); /* None, Zero, NaN */
  if (numeric_only && missing_type == 1) missing_type = 2;
  t->dleft[id] = left << 1 | missing_type << 2 | t->cat[id]; /* decision_type */
  int l = lgb_grow(t, leaves, depth - 1, nf, is_cat);
  int r = lgb_grow(t, leaves, rnd_below(3) == 0 ? (depth - 1) / 3 : depth - 1, nf, is_cat);
  t->left[id] = l;
  t->right[id] = r;
  return id;
}

/*
 * A random LightGBM text model: every decision type (missing None / Zero / NaN, both
 * default directions, categorical bitsets that often hold category 0), thresholds from
 * lgb_thresholds or random, leaf values no float holds, NCLASS trees per iteration. Same
 * SEED, same model.
 */
static char *random_lightgbm_model(uint64_t seed, int ntrees, int depth, uint32_t nf, int nclass,
                                   size_t *len) {
  rng_state = seed;
  int is_cat[64];
  for (uint32_t j = 0; j < nf; j++) is_cat[j] = rnd_below(3) == 0 && !numeric_only;
  static tree_t t;
  buf_t b = {0};
  const int k = nclass > 1 ? nclass : 1;
  put(&b,
      "tree\nversion=v4\nnum_class=%d\nnum_tree_per_iteration=%d\nlabel_index=0\nmax_feature_idx=%"
      "u\n",
      k, k, nf - 1);
  put(&b, nclass > 1 ? "objective=multiclass num_class:%d\n" : "objective=regression\n", nclass);
  put(&b, "feature_names=");
  for (uint32_t j = 0; j < nf; j++) put(&b, "%sf%u", j ? " " : "", j);
  put(&b, "\nfeature_infos=");
  for (uint32_t j = 0; j < nf; j++) put(&b, "%s%s", j ? " " : "", is_cat[j] ? "0:1:2:3" : "[-1:1]");
  put(&b, "\n\n");
  for (int i = 0; i < ntrees; i++) {
    int leaves = 0;
    t.n = 0;
    lgb_grow(&t, &leaves, 1 + (int)rnd_below((uint32_t)depth), nf, is_cat);
    put(&b, "Tree=%d\nnum_leaves=%d\n", i, leaves);
    int ncat = 0;
    for (int s = 0; s < t.n; s++) ncat += t.cat[s];
    put(&b, "num_cat=%d\n", ncat);
    if (t.n > 0) {
      put(&b, "split_feature=");
      for (int s = 0; s < t.n; s++) put(&b, "%s%d", s ? " " : "", t.feature[s]);
      put(&b, "\nthreshold=");
      for (int s = 0, c = 0; s < t.n; s++) {
        if (t.cat[s])
          put(&b, "%s%d", s ? " " : "", c++);
        else if (rnd_below(3) == 0) {
          double thr = lgb_thresholds[rnd_below(sizeof lgb_thresholds / sizeof *lgb_thresholds)];
          /* +inf becomes a categorical split (load_lightgbm.c) */
          if (numeric_only && isinf(thr)) thr = 0.5;
          put(&b, "%s%.17g", s ? " " : "", thr);
        } else
          put(&b, "%s%.17g", s ? " " : "",
              ((int)rnd_below(200) - 100) / 16.0 + 1e-9 * ((int)rnd_below(3) - 1));
      }
      put(&b, "\ndecision_type=");
      for (int s = 0; s < t.n; s++) put(&b, "%s%d", s ? " " : "", t.dleft[s]);
      put(&b, "\nleft_child=");
      for (int s = 0; s < t.n; s++) put(&b, "%s%d", s ? " " : "", t.left[s]);
      put(&b, "\nright_child=");
      for (int s = 0; s < t.n; s++) put(&b, "%s%d", s ? " " : "", t.right[s]);
      put(&b, "\n");
    }
    /* Leaf values with all 53 bits in use (a float would round them), so double sums and
     * float sums of them differ, and a kernel adding in the wrong precision shows. */
    put(&b, "leaf_value=");
    for (int l = 0; l < leaves; l++)
      put(&b, "%s%.17g", l ? " " : "",
          (double)t.value[MAX_NODES / 2 + l] * (1.0 + 0x1p-40 * (double)(rnd() % 4096)) +
              0x1p-50 * (double)rnd());
    put(&b, "\n");
    if (ncat > 0) {
      /* One or two words per set: category 0 often in, codes 31/32 across the word edge. */
      put(&b, "cat_boundaries=0");
      int total = 0;
      uint32_t words[2 * MAX_NODES];
      for (int c = 0; c < ncat; c++) {
        int nw = 1 + (int)rnd_below(2);
        for (int w = 0; w < nw; w++) words[total + w] = rnd() | (w == 0 && rnd_below(2) ? 1u : 0u);
        if (narrow_sets && nw == 2) words[total + 1] &= 0xffffu;
        total += nw;
        put(&b, " %d", total);
      }
      put(&b, "\ncat_threshold=");
      for (int w = 0; w < total; w++) put(&b, "%s%u", w ? " " : "", words[w]);
      put(&b, "\n");
    }
    put(&b, "shrinkage=1\n\n\n");
  }
  put(&b, "end of trees\n");
  *len = b.len;
  return b.p;
}

/* The shape of a random model for test_random_forests() and test_random_lightgbm(). */
typedef struct {
  uint64_t seed;
  int ntrees, depth;
  uint32_t nf;
  int nclass;
  int narrow; /* sets that fit 6-level top tables */
} random_case_t;

/* LightGBM's split kinds (zero band, int-cast categories, +inf thresholds) in every kernel. */
static void test_random_lightgbm(void) {
  static const random_case_t cases[] = {
      {11, 37, 6, 9, 0, 0}, {12, 60, 12, 20, 0, 0}, {13, 42, 7, 6, 3, 0}, {14, 40, 10, 9, 0, 1}};
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    size_t len;
    narrow_sets = cases[i].narrow;
    char *text = random_lightgbm_model(cases[i].seed, cases[i].ntrees, cases[i].depth, cases[i].nf,
                                       cases[i].nclass, &len);
    grove_forest_t *f = NULL;
    grove_error_t err;
    int rc = grove_forest_load_buffer(text, len, "random.txt", &f, &err);
    if (rc != GROVE_OK) printf("# %s\n", err.msg);
    free(text);
    char name[64];
    snprintf(name, sizeof name, "random LightGBM model %llu", (unsigned long long)cases[i].seed);
    CHECK(f != NULL && f->num_zero_missing > 0 && f->info.num_categorical_splits > 0 && f->leaf64,
          name);
    if (f == NULL) continue;
    printf("# %s: %u trees, depth %u, %llu categorical, %llu zero-missing splits\n", name,
           f->info.num_trees, f->info.max_depth, (unsigned long long)f->info.num_categorical_splits,
           (unsigned long long)f->num_zero_missing);
    check_forest(f, name, 300);
    grove_forest_free(f);
  }
  narrow_sets = 0;
}

/* Forests the plain walks take (no categorical splits, no zero band), XGBoost's and
 * LightGBM's: full-depth trees with tables, deep trees below them, multi-class, wide rows. */
static void test_random_numeric(void) {
  static const random_case_t cases[] = {
      {21, 70, 8, 28, 0, 1}, {22, 42, 12, 9, 3, 1}, {23, 33, 5, 45, 0, 0}, {24, 64, 8, 14, 0, 0}};
  numeric_only = 1;
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    for (int lightgbm = 0; lightgbm <= 1; lightgbm++) {
      narrow_sets = cases[i].narrow;
      grove_forest_t *f = NULL;
      if (lightgbm) {
        size_t len;
        char *text = random_lightgbm_model(cases[i].seed, cases[i].ntrees, cases[i].depth,
                                           cases[i].nf, cases[i].nclass, &len);
        grove_error_t err;
        if (grove_forest_load_buffer(text, len, "random.txt", &f, &err) != GROVE_OK)
          printf("# %s\n", err.msg);
        free(text);
      } else {
        f = load_random(cases[i].seed, cases[i].ntrees, cases[i].depth, cases[i].nf,
                        cases[i].nclass, 0);
      }
      char name[80];
      snprintf(name, sizeof name, "numeric random %s model %llu", lightgbm ? "LightGBM" : "XGBoost",
               (unsigned long long)cases[i].seed);
      CHECK(f != NULL && f->info.num_categorical_splits == 0 && f->num_zero_missing == 0, name);
      if (f == NULL) continue;
      printf("# %s: %u trees, depth %u\n", name, f->info.num_trees, f->info.max_depth);
      check_forest(f, name, 300);
      grove_forest_free(f);
    }
  }
  numeric_only = 0;
  narrow_sets = 0;
}

/* A model image of F (random case C) derives the same ranks at map: same bytes, same margins. */
static void check_ranks_image(const grove_forest_t *f, const random_case_t *c) {
  size_t len;
  char *json = random_model(c->seed, c->ntrees, c->depth, c->nf, c->nclass, 0, &len);
  const grove_source_id_t id = grove_source_id_of(json, len);
  char path[] = "/tmp/grove-test-ranks-XXXXXX";
  const int fd = mkstemp(path);
  grove_forest_t *img = NULL;
  grove_error_t err;
  const int ok = fd >= 0 && grove_forest_image_write(f, &id, path, &err) == GROVE_OK &&
                 grove_forest_image_load(path, &id, &img, &err) == GROVE_OK;
  if (!ok) printf("# %s\n", fd >= 0 ? err.msg : "mkstemp failed");
  const grove_ranks_t *a = f->ranks, *b = ok ? img->ranks : NULL;
  const size_t splits = a ? ((size_t)1 << a->depth) - 1 : 0;
  CHECK(ok && (a == NULL) == (b == NULL) &&
            (a == NULL ||
             (a->bytes == b->bytes && a->num_groups == b->num_groups &&
              memcmp(a->words, b->words, a->num_groups * splits * GROVE_RANKS_LANES * 4) == 0 &&
              memcmp(a->leaves, b->leaves, a->num_groups * (splits + 1) * GROVE_RANKS_LANES * 4) ==
                  0)),
        "ranks: a mapped image derives the same ranks as the source");
  if (ok) {
    const size_t nrows = 200;
    float *rows = make_rows(f, nrows, 5);
    for (size_t i = 0; i < nrows * f->info.num_features; i++)
      if (rows[i] != rows[i]) rows[i] = 1.0f;
    float pa[200], pb[200];
    const grove_predict_opts_t o = {.margin = 1};
    CHECK(grove_forest_predict(f, rows, nrows, pa, &o, &err) == GROVE_OK &&
              grove_forest_predict(img, rows, nrows, pb, &o, &err) == GROVE_OK &&
              memcmp(pa, pb, sizeof pa) == 0,
          "ranks: the mapped image's margins are the source's, bit for bit");
    free(rows);
  }
  grove_forest_free(img);
  if (fd >= 0) {
    close(fd);
    unlink(path);
  }
  free(json);
}

/* The ranks kernel on calls of more than one of its blocks (the batches of check_kernels stay
 * within one): every block and a short last one, with and without NaN, against the scalar
 * kernel bit for bit. */
static void check_ranks_blocks(const grove_forest_t *f, const char *name) {
  const size_t nrows = 2 * GROVE_RANKS_BLOCK + 37, ng = f->info.num_groups;
  const size_t batches[] = {GROVE_RANKS_BLOCK + 1, nrows};
  char what[200];
  for (int clean = 0; clean < 2; clean++) {
    float *made = make_rows(f, nrows, 7), *rows = clean ? rows_without_nan(f, made, nrows) : made;
    if (clean) free(made);
    void *ref = malloc(nrows * ng * sizeof(double)), *got = malloc(nrows * ng * sizeof(double));
    if (ref == NULL || got == NULL) abort();
    run_kernel(grove__predict_scalar, f, rows, nrows, nrows, ref);
    for (size_t b = 0; b < sizeof batches / sizeof *batches; b++) {
      /* the ISA's ranks kernel: what the kernel table chooses for these calls */
      const grove_kernel_t *k = grove__kernel_get();
      snprintf(what, sizeof what, "%s: %s matches scalar on calls of %zu rows%s", name,
               k->ranks_name ? k->ranks_name : "a ranks kernel", batches[b],
               clean ? " without NaN" : "");
      if (k->ranks) {
        run_kernel(k->choose(f, batches[b]), f, rows, nrows, batches[b], got);
        CHECK(!margins_differ(f, got, ref, nrows * ng, what, batches[b]), what);
        continue;
      }
      CHECK_CANNOT_RUN(what, "the kernels in use walk no ranks");
    }
    free(rows);
    free(ref);
    free(got);
  }
}

/*
 * The ranks kernel's forests (forest.h, grove_ranks_t: numeric splits, 1-64 groups, 1-32
 * features, depth 3-12), through every kernel at every batch size, on rows on and beside
 * the thresholds (-0 and +0 both among them), +-0 and +-inf; and forests it does not take.
 */
static void test_ranks(void) {
  /* Each with at least two groups of 16 trees, and small: the suite runs under ASan too. */
  static const random_case_t cases[] = {
      {31, 40, 8, 28, 0, 0}, {32, 24, 9, 1, 0, 0}, {33, 33, 8, 16, 0, 0}, {34, 20, 10, 17, 0, 0},
      {35, 24, 8, 32, 0, 0}, {36, 17, 8, 5, 0, 0}, {40, 60, 3, 12, 0, 0}, {41, 50, 5, 20, 0, 0},
      {42, 37, 6, 28, 0, 0}, {38, 36, 8, 9, 3, 0}, /* multi-class: trees interleave groups */
      {43, 50, 6, 20, 5, 0},
  };
  numeric_only = 1;
  dense_trees = 1;
  const int kernels_walk_ranks = grove__kernel_get()->ranks;
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    grove_forest_t *f = load_random(cases[i].seed, cases[i].ntrees, cases[i].depth, cases[i].nf,
                                    cases[i].nclass, 0);
    char name[120];
    snprintf(name, sizeof name, "ranks: random model %llu (%d trees, %u features)",
             (unsigned long long)cases[i].seed, cases[i].ntrees, cases[i].nf);
    CHECK(f != NULL && f->info.max_depth >= GROVE_RANKS_MIN_DEPTH, name);
    if (f == NULL) continue;
    printf("# %s: %llu nodes, depth %u, block %zu bytes, ranks %zu bytes\n", name,
           (unsigned long long)f->info.num_nodes, f->info.max_depth, f->block_size,
           f->ranks ? f->ranks->bytes : 0);
    char what[200];
    snprintf(what, sizeof what, "%s: ranks built for depth %u", name, f->info.max_depth);
    if (!kernels_walk_ranks)
      CHECK_CANNOT_RUN(what, "the kernels in use walk no ranks");
    else
      CHECK(f->ranks != NULL && f->ranks->depth == f->info.max_depth &&
                f->info.kernel_memory_bytes == f->ranks->bytes &&
                strcmp(grove_forest_kernel(f), grove__kernel_get()->ranks_name) == 0,
            what);
    check_forest(f, name, 160);
    if (f->ranks != NULL) check_ranks_blocks(f, name);
    if (i == 0) check_ranks_image(f, &cases[i]);
    grove_forest_free(f);
  }
  /* Forests it leaves to the rows kernel: 33 features, 65 groups, depth 2, categorical. */
  static const random_case_t others[] = {
      {37, 40, 8, 33, 0, 0}, {44, 70, 4, 9, 65, 0}, {39, 40, 2, 9, 0, 0}};
  for (size_t i = 0; i <= sizeof others / sizeof *others; i++) {
    numeric_only = i < sizeof others / sizeof *others;
    const random_case_t *c = numeric_only ? &others[i] : &cases[0];
    grove_forest_t *f = load_random(c->seed, c->ntrees, c->depth, c->nf, c->nclass, 0);
    char what[160];
    snprintf(what, sizeof what, "ranks: none for a forest of %u features, %d groups, depth %u%s",
             c->nf, c->nclass ? c->nclass : 1, f ? f->info.max_depth : 0,
             numeric_only ? "" : ", sets past category 47");
    CHECK(f != NULL && f->ranks == NULL && (numeric_only || f->info.num_categorical_splits > 0),
          what);
    grove_forest_free(f);
  }
  numeric_only = 0;
  dense_trees = 0;
}

/*
 * Categorical forests with ranks (the avx2 kernel's: sets within categories 0-47, every
 * categorical feature split by sets only), through every kernel at every batch size and on
 * calls of several blocks: rows with NaN, negative codes, codes past the sets and past 2^24.
 */
static void test_ranks_categorical(void) {
  static const random_case_t cases[] = {
      {51, 40, 6, 14, 0, 0}, {52, 33, 8, 28, 0, 0}, {53, 24, 3, 9, 0, 0}, {54, 36, 7, 20, 3, 0}};
  const int walks = grove__kernel_get()->ranks & GROVE_KERNEL_RANKS_CATEGORICAL;
  narrow_sets = 1;
  dense_trees = 1;
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    grove_forest_t *f = load_random(cases[i].seed, cases[i].ntrees, cases[i].depth, cases[i].nf,
                                    cases[i].nclass, 0);
    char name[120], what[200];
    snprintf(name, sizeof name, "ranks: categorical random model %llu (%d trees, %u features)",
             (unsigned long long)cases[i].seed, cases[i].ntrees, cases[i].nf);
    CHECK(f != NULL && f->info.num_categorical_splits > 0, name);
    if (f == NULL) continue;
    snprintf(what, sizeof what, "%s: ranks with sets built for depth %u", name, f->info.max_depth);
    if (walks) {
      CHECK(f->ranks != NULL && f->ranks->sets != NULL && f->ranks->categorical != 0 &&
                f->ranks->depth == f->info.max_depth,
            what);
    } else if (grove__cpu_detect() >= GROVE_ISA_AVX2) {
      /* The table in use (avx512's) builds numeric ranks only; kernels_avx2 (GROVE_ISA=avx2)
       * runs these checks with the table that builds sets. */
      snprintf(what, sizeof what, "%s: the %s table builds no ranks with sets", name,
               grove__kernel_get()->isa);
      CHECK(f->ranks == NULL || (f->ranks->sets == NULL && f->ranks->categorical == 0), what);
    } else {
      CHECK_CANNOT_RUN_ISA(what, "avx2", "the CPU lacks avx2: no kernels walk categorical ranks");
    }
    check_forest(f, name, 160);
    if (f->ranks != NULL) check_ranks_blocks(f, name);
    grove_forest_free(f);
  }
  narrow_sets = 0;
  dense_trees = 0;
}

/* The checker must see a wrong kernel: scalar on a model with tree 0's leaves moved. */
static void test_detects_mismatch(void) {
  grove_forest_t *good = load_random(7, 40, 6, 10, 0, 0), *bad = load_random(7, 40, 6, 10, 0, 1);
  CHECK(good != NULL && bad != NULL, "perturbed random model loads");
  if (good && bad) {
    const size_t n = 70;
    float *rows = make_rows(good, n, 3);
    double ref[70], got[70];
    run_kernel(grove__predict_scalar, good, rows, n, n, ref);
    run_kernel(grove__predict_scalar, bad, rows, n, 17, got);
    printf("# expecting a reported difference:\n");
    CHECK(margins_differ(good, got, ref, n, "perturbed", 17),
          "the comparison catches one tree's leaves off by 0.25");
    free(rows);
  }
  grove_forest_free(good);
  grove_forest_free(bad);
}

static void test_random_forests(void) {
  static const random_case_t cases[] = {
      {1, 37, 6, 12, 0, 0},  /* a tail of trees in both vector widths */
      {2, 64, 14, 30, 0, 0}, /* deep unbalanced trees */
      {3, 45, 9, 7, 3, 0},   /* multi-class: trees interleave groups */
      {4, 3, 20, 5, 0, 0},   /* few, very deep trees */
      {5, 200, 4, 40, 0, 0}, /* many shallow trees, many features */
      {6, 17, 1, 3, 2, 0},   /* stumps */
      {7, 41, 6, 12, 0, 1}, /* 6-level tables whose exits are leaves (or not, in shallower trees) */
      {8, 50, 11, 9, 3, 1}, /* 6-level tables and deep trees: the walk goes on below */
      {9, 70, 8, 28, 0, 1}, /* 6-level tables, rows of 17-32 features (two registers) */
      {10, 40, 7, 45, 2, 1}, /* 6-level tables, rows past 32 features (gathered) */
  };
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    narrow_sets = cases[i].narrow;
    grove_forest_t *f = load_random(cases[i].seed, cases[i].ntrees, cases[i].depth, cases[i].nf,
                                    cases[i].nclass, 0);
    char name[64];
    snprintf(name, sizeof name, "random forest %llu", (unsigned long long)cases[i].seed);
    CHECK(f != NULL, name);
    if (f == NULL) continue;
    printf("# %s: %u trees, depth %u, %llu categorical splits\n", name, f->info.num_trees,
           f->info.max_depth, (unsigned long long)f->info.num_categorical_splits);
    check_forest(f, name, 300);
    grove_forest_free(f);
  }
  narrow_sets = 0;
}

/*
 * One complete tree of DEPTH levels of splits straight from the builder: in breadth-first
 * order node i's left child is 2i + 1, so depth 16 puts left children up to 65535 nodes
 * away (the most an 8-byte node holds) and depth 17 past it (no 8-byte copy).
 */
static grove_forest_t *complete_tree(int depth, uint32_t nf) {
  const uint32_t n = (2u << depth) - 1, splits = (1u << depth) - 1;
  int32_t *left = malloc(n * sizeof *left), *right = malloc(n * sizeof *right),
          *feature = malloc(n * sizeof *feature);
  float *value = malloc(n * sizeof *value);
  uint8_t *dleft = malloc(n);
  if (left == NULL || right == NULL || feature == NULL || value == NULL || dleft == NULL) abort();
  rng_state = (uint64_t)depth;
  for (uint32_t i = 0; i < n; i++) {
    const int split = i < splits;
    left[i] = split ? (int32_t)(2 * i + 1) : -1;
    right[i] = split ? (int32_t)(2 * i + 2) : -1;
    feature[i] = split ? (int32_t)rnd_below(nf) : 0;
    value[i] = split ? (float)((int)rnd_below(2001) - 1000) / 256.0f
                     : (float)((int)rnd_below(2001) - 1000) / 512.0f;
    dleft[i] = (uint8_t)rnd_below(2);
  }
  grove_tree_src_t src = {.num_nodes = n,
                          .left = left,
                          .right = right,
                          .feature = feature,
                          .value = value,
                          .default_left = dleft,
                          .weight = 1.0f};
  const float base = 0.0f;
  grove_model_meta_t meta = {.format = "test",
                             .objective = "reg:squarederror",
                             .booster = "gbtree",
                             .task = GROVE_TASK_REGRESSION,
                             .transform = GROVE_TRANSFORM_IDENTITY,
                             .num_features = nf,
                             .num_groups = 1,
                             .num_outputs = 1,
                             .num_parallel_tree = 1,
                             .base_margins = &base};
  grove_error_t err;
  grove_forest_t *f = NULL;
  grove_builder_t *b = grove__builder_new(nf, 1, 0);
  if (b == NULL || grove__builder_add_tree(b, &src, &err) != GROVE_OK ||
      grove__builder_finish(b, &meta, &f, &err) != GROVE_OK)
    printf("# complete tree of depth %d: %s\n", depth, err.msg);
  grove__builder_free(b);
  free(left);
  free(right);
  free(feature);
  free(value);
  free(dleft);
  return f;
}

/*
 * Rows wider than the stack scratch (300 features: the avx512 rows kernel's block is then
 * 75 KiB): grove_forest_predict() gives that kernel heap scratch, one block for all
 * threads, and every kernel still matches scalar.
 */
static void test_wide_rows(void) {
  grove_forest_t *f = complete_tree(9, 300);
  CHECK(f != NULL, "complete tree over 300 features");
  if (f == NULL) return;
  CHECK(grove__kernel_scratch_bytes(grove__predict_scalar, f) == 0,
        "the scalar kernel needs no scratch");
#ifdef GROVE_HAVE_X86_KERNELS
  CHECK(grove__kernel_scratch_bytes(grove__predict_avx512_rows, f) == 300 * 64 * sizeof(float),
        "the avx512 rows kernel needs a 64-row block of every feature");
#endif
  check_forest(f, "complete tree over 300 features", 300);
  /* Two threads of 550 rows each, both through the rows kernels. */
  float *rows = make_rows(f, 1100, 9);
  float *ref = malloc(1100 * sizeof *ref), *got = malloc(1100 * sizeof *got);
  if (ref == NULL || got == NULL) abort();
  run_kernel(grove__predict_scalar, f, rows, 1100, 1100, ref);
  grove_predict_opts_t opts = {.margin = 1, .threads = 2};
  grove_error_t err;
  CHECK(grove_forest_predict(f, rows, 1100, got, &opts, &err) == GROVE_OK &&
            !margins_differ(f, got, ref, 1100, "300 features, 2 threads", 1100),
        "300 features, 2 threads of heap scratch: matches scalar");
  free(rows);
  free(ref);
  free(got);
  grove_forest_free(f);
}

static void test_nodes8_bounds(void) {
  for (int depth = 16; depth <= 17; depth++) {
    grove_forest_t *f = complete_tree(depth, 20);
    char name[80];
    snprintf(name, sizeof name, "complete tree of depth %d", depth);
    CHECK(f != NULL, name);
    if (f == NULL) continue;
    snprintf(name, sizeof name, "complete tree of depth %d: 8-byte nodes %s", depth,
             depth == 16 ? "built" : "not built");
    CHECK((f->nodes8 != NULL) == (depth == 16), name);
    snprintf(name, sizeof name, "complete tree of depth %d", depth);
    check_forest(f, name, 300);
    grove_forest_free(f);
  }
}

static uint32_t categorical_features(const grove_forest_t *f) {
  uint32_t n = 0;
  for (uint32_t j = 0; j < f->info.num_features; j++)
    n += f->feature_types[j] == GROVE_FEATURE_CATEGORICAL;
  return n;
}

/*
 * Which forests the SIMD kernels read categorical features of as codes (forest.h, cat_codes):
 * the bundled income model and a random forest of depth 6 (every tree within the 6-level
 * tables, every categorical feature split by sets only), not a deeper forest, a numeric one
 * or LightGBM's (truncated categories). The kernels' checks cover the codes' decisions.
 */
static void test_cat_codes(void) {
  grove_forest_t *income = load_rel("models/income");
  CHECK(income != NULL && income->cat_codes != NULL && categorical_features(income) > 0 &&
            income->cat_codes->count == categorical_features(income),
        "cat codes: every categorical feature of models/income is read as codes");
  grove_forest_free(income);
  grove_forest_t *numeric = load_rel("tests/fixtures/binary_logistic.json");
  CHECK(numeric != NULL && numeric->cat_codes == NULL, "cat codes: none for a numeric forest");
  grove_forest_free(numeric);
  narrow_sets = 1;
  dense_trees = 1;
  grove_forest_t *shallow = load_random(7, 41, 6, 12, 0, 0);
  grove_forest_t *deep = load_random(8, 50, 8, 9, 3, 0);
  dense_trees = 0;
  narrow_sets = 0;
  CHECK(shallow != NULL && shallow->cat_codes != NULL &&
            shallow->cat_codes->count == categorical_features(shallow),
        "cat codes: a random forest of depth 6 reads its categorical features as codes");
  if (shallow != NULL) check_forest(shallow, "random forest 7, dense, depth 6 (cat codes)", 300);
  CHECK(deep != NULL && deep->info.num_categorical_splits > 0 && deep->cat_codes == NULL,
        "cat codes: none for a forest whose trees go below the 6-level tables");
  grove_forest_free(shallow);
  grove_forest_free(deep);
  size_t len;
  narrow_sets = 1;
  char *text = random_lightgbm_model(14, 40, 10, 9, 0, &len);
  narrow_sets = 0;
  grove_forest_t *lgb = NULL;
  grove_error_t err;
  if (grove_forest_load_buffer(text, len, "random.txt", &lgb, &err) != GROVE_OK)
    printf("# %s\n", err.msg);
  free(text);
  CHECK(lgb != NULL && lgb->info.num_categorical_splits > 0 && lgb->cat_codes == NULL,
        "cat codes: none for LightGBM's forests");
  grove_forest_free(lgb);
}

static void test_isa_names(void) {
  const grove_isa_t cpu = grove__cpu_detect();
  printf("# cpu: %s; engine: %s, %s\n", grove__isa_name(cpu), grove_engine_isa(),
         grove_engine_kernel());
  CHECK(strcmp(grove_engine_isa(), "scalar") == 0 || strcmp(grove_engine_isa(), "avx2") == 0 ||
            strcmp(grove_engine_isa(), "avx512") == 0,
        "grove_engine_isa() names a known ISA");
  CHECK(strstr(grove_engine_kernel(), grove_engine_isa()) != NULL,
        "the kernel's name says its ISA");
}

int main(void) {
  test_isa_names();
  test_detects_mismatch();
  check_file("models/income", 260);
  check_file("tests/fixtures/binary_logistic.json", 200);
  check_file("tests/fixtures/categorical.json", 200);
  check_file("tests/fixtures/multi_softprob.json", 200);
  check_file("tests/fixtures/dart.json", 200);
  test_random_forests();
  test_random_lightgbm();
  test_cat_codes();
  test_random_numeric();
  test_ranks();
  test_ranks_categorical();
  test_nodes8_bounds();
  test_wide_rows();
  return test_done();
}
