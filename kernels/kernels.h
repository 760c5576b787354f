/* Internal: the traversal kernels, the split decision they all make, and the one in use. */
#ifndef GROVE_KERNELS_H
#define GROVE_KERNELS_H

#include <math.h>

#include "forest.h"

/*
 * The split truth table: where a row's value X (float32) goes at a split with threshold
 * t (the node's value) and the node's flags. The first row that matches decides. Every
 * kernel decides exactly this, scalar and SIMD alike, and every kernel's decision code
 * says "see the split truth table in kernels.h".
 *
 *   X                                          split                goes
 *   ----------------------------------------   ------------------   ---------------------------
 *   1 NaN                                      any                  right unless DEFAULT_LEFT
 *   2 |X| <= GROVE_ZERO_BAND (1e-35f, +-0 in)  ZERO_MISSING         right unless DEFAULT_LEFT
 *   3 X < 0 (-inf in; -0 is not), except       CATEGORICAL          left: in no set
 *     -1 < X < 0 at a CAT_TRUNC split
 *   4 X >= GROVE_MAX_CATEGORY (2^24, +inf in)  CATEGORICAL          left: in no set
 *   5 any other X: category c = (uint32_t)X,   CATEGORICAL          right iff bit c of the set
 *     truncated toward 0, so -0 is 0 and                            (c >= 32 * nwords: left)
 *     (-1, 0) at a CAT_TRUNC split is 0
 *   6 any other X                              numeric              right iff !(X < t)
 *
 *  - Rows 1-2 are "missing" and come first at every split, categorical ones included
 *    (LightGBM's split of NaN from the rest is a categorical split with an empty set,
 *    and it may carry ZERO_MISSING).
 *  - Row 6's !(X < t) is also true for NaN, so a kernel may compare first and let rows
 *    1-2 override the lanes they match. t is never NaN at a real split (the builder
 *    refuses NaN thresholds).
 *  - Rows 3-5 are XGBoost's rule (negative codes and codes past 2^24 are in no set, the
 *    others truncate). LightGBM casts to int before the lookup: GROVE_NODE_CAT_TRUNC, so
 *    (-1, 0) is category 0 there.
 *  - Numeric X = -0 against t = 0: -0 < 0 is false, so right, as +0 goes.
 *  - The top tables (forest.h) hold "threshold NaN, flags 0" below a leaf: rows 1 and 6
 *    then send every X right, so every lane takes the same number of steps.
 */

/* Whether X counts as missing at a split with FLAGS (rows 1-2 of the split truth table). */
static inline int grove__is_missing(uint32_t flags, float x) {
  return isnan(x) || ((flags & GROVE_NODE_ZERO_MISSING) && fabsf(x) <= GROVE_ZERO_BAND);
}

/* Whether a missing value goes right at a split with FLAGS (rows 1-2). */
static inline uint32_t grove__missing_goes_right(uint32_t flags) {
  return !(flags & GROVE_NODE_DEFAULT_LEFT);
}

/* Whether category value X (not missing) goes right at a categorical split with FLAGS:
 * rows 3-5 of the split truth table. */
static inline int grove__category_goes_right(const grove_forest_t *f, uint32_t flags, float x) {
  if (!(x >= 0.0f || ((flags & GROVE_NODE_CAT_TRUNC) && x > -1.0f)) || x >= GROVE_MAX_CATEGORY)
    return 0;
  uint32_t c = (uint32_t)x;
  const grove_cat_set_t *s = &f->cat_sets[flags >> GROVE_NODE_CAT_SHIFT];
  if (c / 32 >= s->nwords) return 0;
  return (f->cat_words[s->offset + c / 32] >> (c % 32)) & 1u;
}

/* The child of split N that value X leads to: see the split truth table above. */
static inline uint32_t grove__node_next(const grove_forest_t *f, const grove_node_t *n, float x) {
  if (grove__is_missing(n->flags, x)) return n->left + grove__missing_goes_right(n->flags);
  if (n->flags & GROVE_NODE_CATEGORICAL)
    return n->left + (uint32_t)grove__category_goes_right(f, n->flags, x);
  return n->left + !(x < n->value);
}

/* The exact walk's decisions (predict_exact.c): LightGBM's kZeroThreshold, the float 1e-35f,
 * compared in double; a value this close to 0 is 0. */
static inline double grove__exact_zeroed(double x) {
  return fabs(x) <= (double)GROVE_ZERO_BAND ? 0.0 : x;
}

/* The category value grove__category_goes_right() decides for X as LightGBM's int cast does. */
static inline float grove__exact_category(double x) {
  if (!(x > -2147483648.0 && x < 2147483648.0)) return -1.0f; /* INT_MIN: in no set */
  return (float)trunc(x); /* (-1, 0) truncates to -0: category 0, as the cast gives 0 */
}

/* The child of split N (of a forest with thresholds64) that the zeroed double X leads to. */
static inline uint32_t grove__exact_next(const grove_forest_t *f, const grove_node_t *n, double x) {
  if (isnan(x) || ((n->flags & GROVE_NODE_ZERO_MISSING) && x == 0.0))
    return n->left + grove__missing_goes_right(n->flags);
  if (n->flags & GROVE_NODE_CATEGORICAL)
    return n->left + (uint32_t)grove__category_goes_right(f, n->flags, grove__exact_category(x));
  return n->left + !(x <= f->thresholds64[n->flags >> GROVE_NODE_T64_SHIFT]);
}

/*
 * A kernel's margins, NROWS x num_groups, row-major: float, or double for leaf64 forests
 * (forest.h), whose leaves LightGBM sums in double.
 */
typedef union {
  float *f32;
  double *f64;
} grove_margins_t;

/*
 * A kernel adds every tree's leaf value to MARGINS, which the caller has filled with the
 * base margins. Trees are added in model order, in float for float forests (so sums match
 * XGBoost's bit for bit) and in double for leaf64 ones (LightGBM's sums). ROWS is NROWS x
 * num_features. SCRATCH is the caller's: at least grove__kernel_scratch_bytes(kernel,
 * forest) bytes, aligned to GROVE_KERNEL_SCRATCH_ALIGN, or NULL when that is 0. Kernels
 * never allocate.
 */
typedef void (*grove_kernel_fn)(const grove_forest_t *forest, const float *rows, size_t nrows,
                                grove_margins_t margins, void *scratch);

#define GROVE_KERNEL_SCRATCH_ALIGN 64

/* The scratch KERNEL needs for one call on FOREST (a multiple of GROVE_KERNEL_SCRATCH_ALIGN;
 * 0 for every kernel but the avx512 rows and ranks kernels). */
size_t grove__kernel_scratch_bytes(grove_kernel_fn kernel, const grove_forest_t *forest);

typedef struct {
  const char *name; /* e.g. "scalar-blocked" */
  const char *isa;  /* e.g. "scalar" */
  /* The kernel for a batch of NROWS rows of FOREST: every choice gives the same bits. */
  grove_kernel_fn (*choose)(const grove_forest_t *forest, size_t nrows);
  int ranks; /* GROVE_KERNEL_RANKS_*: the forests a kernel here walks as grove_ranks_t */
  const char *ranks_name; /* the kernels' name for forests with ranks */
} grove_kernel_t;
#define GROVE_KERNEL_RANKS_NUMERIC     1 /* forests of numeric splits get ranks */
#define GROVE_KERNEL_RANKS_CATEGORICAL 2 /* ... and forests with categorical splits too */

/* The kernels in use, chosen once (thread-safe). */
const grove_kernel_t *grove__kernel_get(void);

/* Why the ISA differs from what GROVE_ISA asked for (a static sentence), or NULL. */
const char *grove__kernel_note(void);

/* The name of the kernel FOREST is scored with: the table's, for forests that only the
 * exact walk scores (linear trees) GROVE_KERNEL_EXACT_NAME, for forests with ranks the
 * table's ranks_name. */
const char *grove__kernel_name(const grove_forest_t *forest);
#define GROVE_KERNEL_EXACT_NAME "scalar-exact"

/* The scalar reference kernel: every other kernel is tested against it. On forests with
 * linear trees it runs the exact walk on each row (every ISA's choice then). */
void grove__predict_scalar(const grove_forest_t *forest, const float *rows, size_t nrows,
                           grove_margins_t margins, void *scratch);

/*
 * The exact walk (predict_exact.c): LightGBM's own decisions and sums on rows of doubles,
 * for forests with thresholds64 (LightGBM's). Each value is first zeroed as LightGBM
 * zeroes |x| <= kZeroThreshold, numeric splits compare it with their double threshold
 * (x <= t goes left), categorical ones cast it to an int, leaves are added in double,
 * linear leaves evaluated on the row's doubles. Adds to MARGINS (NROWS x num_groups, double).
 */
void grove__predict_exact(const grove_forest_t *forest, const double *rows, size_t nrows,
                          double *margins);

/* The same on float rows, each value widened to double: the scalar kernel's linear path. */
void grove__predict_exact_f32(const grove_forest_t *forest, const float *rows, size_t nrows,
                              double *margins);

/*
 * The SIMD kernels (predict_avx2.c, predict_avx512.c; x86-64 builds only, and only to be
 * called when grove__cpu_isa() allows their ISA). "trees" walks one row through 4 vectors
 * of 8/16 trees at once, "rows" walks vectors of 8/16 rows through one tree (or a few);
 * both are exact. They index nodes and row values with 32-bit offsets: see
 * grove__simd_fits(). Which one takes a batch is predict.c's choice.
 */
void grove__predict_avx2_trees(const grove_forest_t *forest, const float *rows, size_t nrows,
                               grove_margins_t margins, void *scratch);
void grove__predict_avx2_rows(const grove_forest_t *forest, const float *rows, size_t nrows,
                              grove_margins_t margins, void *scratch);
void grove__predict_avx2_ranks(const grove_forest_t *forest, const float *rows, size_t nrows,
                               grove_margins_t margins, void *scratch);
void grove__predict_avx512_trees(const grove_forest_t *forest, const float *rows, size_t nrows,
                                 grove_margins_t margins, void *scratch);
void grove__predict_avx512_rows(const grove_forest_t *forest, const float *rows, size_t nrows,
                                grove_margins_t margins, void *scratch);
void grove__predict_avx512_ranks(const grove_forest_t *forest, const float *rows, size_t nrows,
                                 grove_margins_t margins, void *scratch);

/* The avx512 rows kernel copies each block of 1 << GROVE_AVX512_BLOCK_SHIFT rows into its
 * scratch feature-major: one float per feature (at least one) per row of the block. */
#define GROVE_AVX512_BLOCK_SHIFT 6
static inline size_t grove__avx512_rows_scratch_bytes(const grove_forest_t *f) {
  const size_t nf = f->info.num_features ? f->info.num_features : 1;
  return (nf << GROVE_AVX512_BLOCK_SHIFT) * sizeof(float);
}
_Static_assert(((size_t)sizeof(float) << GROVE_AVX512_BLOCK_SHIFT) % GROVE_KERNEL_SCRATCH_ALIGN ==
                   0,
               "a feature's rows keep the next feature's aligned");

/*
 * The avx512 ranks kernel (forest.h, grove_ranks_t): a block of GROVE_RANKS_BLOCK rows gets
 * its bins (a 32-bit word per feature, 32 a row, then room for the row's 16 leaf values: 48
 * words a row in the scratch), then GROVE_RANKS_WALKS rows at a time walk each group of 16
 * trees, whose leaf values go to that [row][lane] array before they are added to the
 * margins tree by tree (with several output groups, to a [group][row] copy of the block's
 * margins after the leaves in the scratch). A call with a NaN in its rows takes walks that also
 * decide missing values (bin GROVE_RANKS_MISSING); the rows kernel, which shares the scratch, takes
 * calls on forests without ranks. Faster than the rows kernel at every depth from 3 to 8 measured
 * (bench/RESULTS.md); depth 3 is the least its walk takes (levels 0-2 are blended).
 */
/* 256 rows a block: a forest's ranks (1 MB for 500x8) pass through the core's caches once per
 * block, and on Zen 4, whose L2 is 1 MB, 256 rows measured 5% faster than 64 (bench/RESULTS.md). */
#define GROVE_RANKS_BLOCK        256
#define GROVE_RANKS_WALKS        8
#define GROVE_RANKS_MAX_FEATURES 32 /* a row's bins are two vectors */
#define GROVE_RANKS_MIN_DEPTH    3
#define GROVE_RANKS_MAX_DEPTH    12
#define GROVE_RANKS_MAX_GROUPS   64 /* output groups: their margins in the scratch */
_Static_assert((GROVE_RANKS_MAX_FEATURES - 1u) << GROVE_RANKS_FEATURE_SHIFT <
                       GROVE_RANKS_CATEGORICAL &&
                   GROVE_RANKS_CATEGORICAL < GROVE_RANKS_DEFAULT_LEFT,
               "a split word's feature stays below its categorical and default-left bits");
/* A row's words in the ranks kernels' scratch: its bins, then room for 16 leaf values. */
#define GROVE_RANKS_ROW_WORDS (GROVE_RANKS_MAX_FEATURES + GROVE_RANKS_LANES)
/* The avx2 ranks kernel's walks in flight, and its scratch: the bins and leaves of a block's
 * rows and of GROVE_AVX2_RANKS_JOBS more (walks past the block's last row write there), the
 * block's margins [group][row] with several output groups, and a row's leaf values tree by
 * tree (two half groups more than the forest has). */
#define GROVE_AVX2_RANKS_JOBS 8
static inline size_t grove__avx2_ranks_scratch_bytes(const grove_forest_t *f) {
  const size_t groups = f->ranks ? f->ranks->num_groups : 0;
  const size_t bytes =
      (GROVE_RANKS_BLOCK + GROVE_AVX2_RANKS_JOBS) * GROVE_RANKS_ROW_WORDS * sizeof(uint32_t) +
      (f->info.num_groups > 1 ? (size_t)f->info.num_groups : 0) * GROVE_RANKS_BLOCK *
          sizeof(float) +
      (groups * GROVE_RANKS_LANES + 16) * sizeof(float);
  return (bytes + GROVE_KERNEL_SCRATCH_ALIGN - 1) / GROVE_KERNEL_SCRATCH_ALIGN *
         GROVE_KERNEL_SCRATCH_ALIGN;
}
static inline size_t grove__avx512_ranks_scratch_bytes(const grove_forest_t *f) {
  const size_t own = (GROVE_RANKS_BLOCK + GROVE_RANKS_WALKS) * GROVE_RANKS_ROW_WORDS *
                         sizeof(uint32_t) +
                     (f->info.num_groups > 1 ? (size_t)f->info.num_groups : 0) * GROVE_RANKS_BLOCK *
                         sizeof(float),
               rows = grove__avx512_rows_scratch_bytes(f);
  return own > rows ? own : rows;
}
_Static_assert(GROVE_RANKS_ROW_WORDS * sizeof(uint32_t) % GROVE_KERNEL_SCRATCH_ALIGN == 0,
               "each row's bins and leaves keep the next row's aligned");

/* The ranks kernels' bins are branch-free binary searches in SIMD lanes: pos + step where
 * thresholds[pos + step - 1] <= x, for steps from this one (the largest power of two <= MOST / 2,
 * MOST the most thresholds a search has) down to 1, so each lane ends at its count. */
static inline uint32_t grove__ranks_first_step(uint32_t most) {
  uint32_t step = 1;
  while (step <= most / 2) step *= 2;
  return step;
}

/* Whether F qualifies for grove_ranks_t (the kernel in use walks them): numeric splits, or
 * categorical ones too where the table has GROVE_KERNEL_RANKS_CATEGORICAL, float leaves, no
 * zero band, 1-64 output groups, 1-32 features, depth 3-12, SIMD offsets that fit. */
int grove__ranks_wanted(const grove_forest_t *f);

/* Builds F->ranks when F qualifies, its features have at most GROVE_RANKS_MAX_UNIQUE
 * thresholds each, its sets (if any) end before GROVE_RANKS_CATEGORIES with no feature split
 * both ways and no truncated category, and the copy is no larger than the flat block; else
 * leaves it NULL.
 * 0, or -1 when out of memory. One allocation: free(f->ranks) frees them. */
int grove__ranks_attach(grove_forest_t *f);

/*
 * Whether the avx512 trees kernel walks the 6-level tables rather than the nodes: for
 * forests with categorical splits, where the tables' in-register sets save the nodes'
 * category gathers; numeric forests walk their nodes faster (figures in
 * bench/RESULTS.md, "Figures moved out of engine comments").
 */
static inline int grove__avx512_trees_walk_tops6(const grove_forest_t *f) {
  return f->tops6_lanes != NULL; /* derived only for such forests: grove__top6_lanes_wanted() */
}

/* Whether a forest's 6-level tables get their copy for trees in lanes (forest.h), and its
 * size in 32-bit words. */
static inline int grove__top6_lanes_wanted(const grove_forest_t *f) {
  return f->tops != NULL && f->top_levels == GROVE_TOP6_LEVELS &&
         f->info.num_categorical_splits > 0;
}
static inline size_t grove__top6_lanes_words(uint32_t num_trees) {
  return ((size_t)num_trees + 15) / 16 * 16 * GROVE_TOP6_WORDS;
}

/* Fills OUT (grove__top6_lanes_words() words) from the forest's 6-level tables. */
void grove__top6_lanes_fill(const grove_forest_t *f, int32_t *out);

/*
 * Gives F its cat_codes (forest.h) when the avx512 kernels can read category codes in place
 * of its categorical features' values: a float forest (XGBoost's, scikit-learn's)
 * with categorical splits whose every tree ends within its 6-level tables (the walk below
 * them reads the values as they are), no feature with both numeric and categorical splits,
 * no zero band and no truncated categories (LightGBM's). 0, or -1 when out of memory.
 */
int grove__cat_codes_attach(grove_forest_t *f);

/*
 * Whether the SIMD kernels' 32-bit gather offsets fit: int32 indexes times 4 bytes into
 * the forest block (nodes, category sets and words) and into a block of 64 rows. Their
 * features are then below GROVE_LEAF64_FEATURES, which the leaf64 walks' split test (a
 * node's feature word, unsigned, below it) needs.
 */
static inline int grove__simd_fits(const grove_forest_t *f) {
  return f->block_size < (1u << 31) && f->info.num_features < GROVE_LEAF64_FEATURES;
}

/*
 * Adds the leaf values LEAF[0..N) of trees T..T+N-1 to one row's margins M, in tree
 * order (what keeps every kernel's sums bit-identical to the scalar kernel's), in float
 * (grove__add_leaves) or, for leaf64 forests, in double (grove__add_leaves64, with
 * LEAF already decoded). One body, two element types.
 */
#define GROVE__DEFINE_ADD_LEAVES(name, T)                                                         \
  static inline void name(const grove_forest_t *f, T *m, const T *leaf, uint32_t t, uint32_t n) { \
    if (f->info.num_groups == 1) {                                                                \
      T acc = m[0];                                                                               \
      for (uint32_t k = 0; k < n; k++) acc += leaf[k];                                            \
      m[0] = acc;                                                                                 \
    } else {                                                                                      \
      for (uint32_t k = 0; k < n; k++) m[f->tree_groups[t + k]] += leaf[k];                       \
    }                                                                                             \
  }
GROVE__DEFINE_ADD_LEAVES(grove__add_leaves, float)
GROVE__DEFINE_ADD_LEAVES(grove__add_leaves64, double)
#undef GROVE__DEFINE_ADD_LEAVES

#endif /* GROVE_KERNELS_H */
