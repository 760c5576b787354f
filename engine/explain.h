/* Internal: what engine/explain.c shares with its per-ISA walks (explain_lanes.h). */
#ifndef GROVE_EXPLAIN_H
#define GROVE_EXPLAIN_H

#include "error.h"
#include "kernels/kernels.h"

/* The child of split N that value X leads to, as predictions decide it. */
static inline uint32_t grove__shap_child(const grove_forest_t *f, const grove_node_t *n, double x) {
  return f->thresholds64 != NULL ? grove__exact_next(f, n, x) : grove__node_next(f, n, (float)x);
}

static inline double grove__shap_leaf(const grove_forest_t *f, const grove_node_t *n) {
  return f->leaf64 ? grove__node_leaf64(n) : (double)n->value;
}

/* Value V of a row as the decisions read it: XGBoost's and scikit-learn's models see float32
 * values; LightGBM's zeroes tiny ones. */
static inline double grove__shap_value(const grove_forest_t *f, double v) {
  return f->thresholds64 != NULL ? grove__exact_zeroed(v) : (double)(float)v;
}

/* Gives F its trees-in-lanes tables (forest.h, grove_shap_block_t) when the walk that reads
 * them applies and they fit the memory budget; -1: no memory (F is unchanged). */
int grove__shap_blocks_build(grove_forest_t *f);
/* The split positions of a complete tree of DEPTH (1-8) in post-order. */
const uint8_t *grove__shap_post_order(uint32_t depth);

/*
 * The trees-in-lanes walks' scratch (explain_trees.c): vectors of 16 float lanes
 * (GROVE_SHAP_VECTOR_BYTES each, an __m512 or two __m256) for the deepest block's positions,
 * the row and its phi slots, and the M points as floats. _init sizes it for F and M points.
 */
#define GROVE_SHAP_VECTOR_BYTES (GROVE_SHAP_TREE_LANES * sizeof(float))
typedef struct {
  float *x;    /* the row's num_features values, then 0 (the pads' feature) */
  float *phi;  /* [(group x (features + 1) + feature) x lanes + lane] */
  size_t nphi; /* floats of phi */
  /* Per position x point: the products above, a repeat's inverse, the sums below; per
   * position the last level's shares; per level, side and point the excluded sums: one
   * allocation, which starts at above. */
  void *above, *inv, *below, *shares, *excluded;
  uint16_t *one;   /* [position x 2 + side]: the lanes whose row takes that side */
  double *bias;    /* per group: the base margin and the trees' expected values, summed once */
  uint32_t points; /* M: 2, 3 or 4 */
  float t[4], omt[4], w[4];
} grove_shap_trees_scratch_t;
grove_err_t grove__shap_trees_scratch_init(grove_shap_trees_scratch_t *s, const grove_forest_t *f,
                                           uint32_t m, const double *t, const double *w,
                                           grove_error_t *err);
void grove__shap_trees_scratch_free(grove_shap_trees_scratch_t *s);
/* Row R of ROWS into s->x, and its output O (groups x (features + 1)) set to the bias
 * terms, ready for the shares. */
void grove__shap_trees_row_begin(const grove_shap_trees_scratch_t *s, const grove_forest_t *f,
                                 const void *rows, int f64, size_t r, double *o);
/* Adds phi's lanes of each feature into O, in double. */
void grove__shap_trees_flush(const grove_shap_trees_scratch_t *s, const grove_forest_t *f,
                             double *o);

/*
 * The contributions of rows [0, NROWS) of ROWS (float, or double with F64) to OUT, as
 * grove_forest_contribs() writes them, with M quadrature points at T and weights W (M <= 8,
 * so depth <= 16), several rows at a time in the lanes of the ISA's vectors. GROVE_OK, or
 * GROVE_ENOMEM with ERR set.
 */
typedef grove_err_t (*grove_shap_rows_fn)(const grove_forest_t *f, const void *rows, int f64,
                                          size_t nrows, double *out, uint32_t m, const double *t,
                                          const double *w, grove_error_t *err);
#ifdef GROVE_HAVE_X86_KERNELS
#define GROVE_SHAP_ROWS_FN(name)                                                               \
  grove_err_t name(const grove_forest_t *f, const void *rows, int f64, size_t nrows, double *out, \
                   uint32_t m, const double *t, const double *w, grove_error_t *err)
GROVE_SHAP_ROWS_FN(grove__shap_rows_avx2_f64);
GROVE_SHAP_ROWS_FN(grove__shap_rows_avx2_f32);
GROVE_SHAP_ROWS_FN(grove__shap_rows_avx512_f64);
GROVE_SHAP_ROWS_FN(grove__shap_rows_avx512_f32);
/* Trees in the lanes (explain_trees_avx512.c, explain_trees_avx2.c): forests with
 * shap_blocks, M <= 4. */
GROVE_SHAP_ROWS_FN(grove__shap_trees_avx512);
GROVE_SHAP_ROWS_FN(grove__shap_trees_avx2);
#undef GROVE_SHAP_ROWS_FN
#endif

#endif /* GROVE_EXPLAIN_H */
