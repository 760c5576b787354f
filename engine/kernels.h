/* Internal: the traversal kernels and the one chosen at start-up. */
#ifndef GROVE_KERNELS_H
#define GROVE_KERNELS_H

#include <math.h>

#include "forest.h"

/*
 * A kernel adds every tree's leaf value to MARGINS (NROWS x num_groups, row-major),
 * which the caller has filled with the base margins. Trees are added in model order,
 * so float sums match XGBoost's bit for bit. ROWS is NROWS x num_features.
 */
typedef void (*grove_kernel_fn)(const grove_forest_t *forest, const float *rows, size_t nrows,
                                float *margins);

typedef struct {
  const char *name; /* e.g. "scalar-blocked" */
  const char *isa;  /* e.g. "scalar" */
  grove_kernel_fn predict;
} grove_kernel_t;

/* The kernel in use, chosen once (thread-safe). */
const grove_kernel_t *grove_kernel_get(void);

/* The scalar reference kernel: every other kernel is tested against it. */
void grove_predict_scalar(const grove_forest_t *forest, const float *rows, size_t nrows,
                          float *margins);

/*
 * The SIMD kernels (predict_avx2.c, predict_avx512.c; x86-64 builds only, and only to be
 * called when grove_cpu_isa() allows their ISA). "trees" walks one row through 8/16 trees
 * at once, "rows" walks 8/16 rows through one tree at once; both are exact. They index
 * nodes and row values with 32-bit offsets: see grove_simd_fits().
 */
void grove_predict_avx2_trees(const grove_forest_t *forest, const float *rows, size_t nrows,
                              float *margins);
void grove_predict_avx2_rows(const grove_forest_t *forest, const float *rows, size_t nrows,
                             float *margins);
void grove_predict_avx512_trees(const grove_forest_t *forest, const float *rows, size_t nrows,
                                float *margins);
void grove_predict_avx512_rows(const grove_forest_t *forest, const float *rows, size_t nrows,
                               float *margins);

/*
 * Whether the avx512 trees kernel walks the 6-level tables rather than the nodes: for
 * forests with categorical splits, where the tables' in-register sets save the nodes'
 * category gathers (income single row 3.0-3.4 -> 2.1-2.2 us; 1,500 categorical trees
 * 16-23 -> 11-12 us); numeric forests walk their nodes faster (bench/RESULTS.md).
 */
static inline int grove_avx512_trees_walk_tops6(const grove_forest_t *f) {
  return f->tops != NULL && f->top_levels == GROVE_TOP6_LEVELS && f->info.num_categorical_splits > 0;
}

/*
 * Whether the SIMD kernels' 32-bit gather offsets fit: int32 indexes times 4 bytes into
 * the forest block (nodes, category sets and words) and into a block of 64 rows.
 */
static inline int grove_simd_fits(const grove_forest_t *f) {
  return f->block_size < (1u << 31) && f->info.num_features < (1u << 22);
}

/* Whether category value X (not NaN) goes right at a categorical split with FLAGS. */
static inline int grove_category_goes_right(const grove_forest_t *f, uint32_t flags, float x) {
  /*
   * Negative and too large values (incl. +inf) are in no set; others truncate, as XGBoost
   * does. LightGBM casts to int first, so there (-1, 0) truncates to category 0.
   */
  if (!(x >= 0.0f || ((flags & GROVE_NODE_CAT_TRUNC) && x > -1.0f)) || x >= GROVE_MAX_CATEGORY) return 0;
  uint32_t c = (uint32_t)x;
  const grove_cat_set_t *s = &f->cat_sets[flags >> GROVE_NODE_CAT_SHIFT];
  if (c / 32 >= s->nwords) return 0;
  return (f->cat_words[s->offset + c / 32] >> (c % 32)) & 1u;
}

/* The child of split N that value X leads to. */
static inline uint32_t grove_node_next(const grove_forest_t *f, const grove_node_t *n, float x) {
  if (isnan(x) || ((n->flags & GROVE_NODE_ZERO_MISSING) && fabsf(x) <= GROVE_ZERO_BAND))
    return n->left + !(n->flags & GROVE_NODE_DEFAULT_LEFT);
  if (n->flags & GROVE_NODE_CATEGORICAL)
    return n->left + (uint32_t)grove_category_goes_right(f, n->flags, x);
  return n->left + !(x < n->value);
}

/*
 * Adds the leaf values LEAF[0..N) of trees T..T+N-1 to one row's margins M, in tree
 * order (what keeps every kernel's sums bit-identical to the scalar kernel's).
 */
static inline void grove_add_leaves(const grove_forest_t *f, float *m, const float *leaf, uint32_t t,
                                    uint32_t n) {
  if (f->info.num_groups == 1) {
    float acc = m[0];
    for (uint32_t k = 0; k < n; k++) acc += leaf[k];
    m[0] = acc;
  } else {
    for (uint32_t k = 0; k < n; k++) m[f->tree_groups[t + k]] += leaf[k];
  }
}

#endif /* GROVE_KERNELS_H */
