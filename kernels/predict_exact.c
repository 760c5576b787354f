/*
 * The exact walk: LightGBM's Tree::Predict (include/LightGBM/tree.h, 4.6) on rows of
 * doubles, for the forests whose splits keep their double thresholds (thresholds64, the
 * LightGBM loader's). It serves what the float kernels cannot: rows given as doubles whose
 * values fall between two thresholds that share a float32 (engine/input.c), and linear
 * leaves, whose value is computed from the row's values themselves.
 *
 * Each value is read as LightGBM's parser and C API leave it: |x| <= kZeroThreshold (1e-35f)
 * is 0. Then, at a split:
 *  - NaN, or 0 at a split whose missing type is Zero: the default child (the node's
 *    GROVE_NODE_DEFAULT_LEFT, which the loader set for missing type None from 0 <= t);
 *  - categorical: static_cast<int>(x), truncated toward 0 (|x| >= 2^31 is INT_MIN on x86:
 *    no category), looked up in the set as the float kernels do (rows 3-5 of the split
 *    truth table in kernels.h);
 *  - numeric: left when x <= t, t the split's double threshold.
 * Leaves are added in double in tree order. A linear leaf's value is constant + coeff * x
 * for each of its features in order (a multiply and an add each: this file is compiled
 * with -ffp-contract=off, so no FMA changes the rounding), or its plain value when one of
 * those features is NaN.
 */
#include "kernels.h"

/* Row value J of a float (F64 0) or double (F64 1) row, zeroed. */
static inline double value_at(const void *row, uint32_t j, const int f64) {
  return grove__exact_zeroed(f64 ? ((const double *)row)[j] : (double)((const float *)row)[j]);
}

static inline double linear_value(const grove_forest_t *f, const grove_node_t *leaf,
                                  const void *row, const int f64) {
  const grove_linear_t *m = &f->linear[leaf->left];
  const grove_linear_term_t *term = f->linear_terms + m->first;
  double out = m->constant;
  for (uint32_t k = 0; k < m->count; k++) {
    const double x = value_at(row, term[k].feature, f64);
    if (isnan(x)) return grove__node_leaf64(leaf);
    out += term[k].coeff * x;
  }
  return out;
}

static inline void exact_rows(const grove_forest_t *f, const void *rows, size_t nrows,
                              double *margins, const int f64) {
  const uint32_t nf = f->info.num_features, ng = f->info.num_groups, nt = f->info.num_trees;
  const size_t row_bytes = (size_t)nf * (f64 ? sizeof(double) : sizeof(float));
  for (size_t r = 0; r < nrows; r++) {
    const void *row = (const char *)rows + r * row_bytes;
    double *m = margins + r * ng;
    for (uint32_t t = 0; t < nt; t++) {
      const grove_node_t *n = &f->nodes[f->roots[t]];
      while (grove__node_is_split(1, n))
        n = &f->nodes[grove__exact_next(f, n, value_at(row, (uint32_t)n->feature, f64))];
      m[f->tree_groups[t]] +=
          (n->flags & GROVE_LEAF_LINEAR) ? linear_value(f, n, row, f64) : grove__node_leaf64(n);
    }
  }
}

void grove__predict_exact(const grove_forest_t *f, const double *rows, size_t nrows,
                          double *margins) {
  exact_rows(f, rows, nrows, margins, 1);
}

void grove__predict_exact_f32(const grove_forest_t *f, const float *rows, size_t nrows,
                              double *margins) {
  exact_rows(f, rows, nrows, margins, 0);
}
