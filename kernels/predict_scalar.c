/*
 * The scalar reference kernel: plain C, the oracle every other kernel is compared with bit
 * for bit (tests/test_kernels.c). Splits are decided by grove__node_next(): see the split
 * truth table in kernels.h. Float forests sum in float, leaf64 forests in double; forests
 * with linear trees are scored by the exact walk on each row's values widened to double.
 */
#include "kernels.h"

/* Rows per block: the block's rows stay in L1 while every tree walks over them. */
#define BLOCK_ROWS 64
/*
 * Rows walked together through one tree, one level per step: the walks are independent,
 * so their load-compare-load chains overlap instead of running one after another.
 */
#define LANES      8

/* The blocked walk, for float sums (LEAF64 0: M32) or double ones (LEAF64 1: M64); the two
 * instantiations below fix LEAF64, so each has only its own leaf test and sums. */
static inline void scalar_walk(const grove_forest_t *f, const float *rows, size_t nrows, float *m32,
                               double *m64, const int leaf64) {
  const uint32_t nf = f->info.num_features, ng = f->info.num_groups, nt = f->info.num_trees;
  const grove_node_t *nodes = f->nodes;
  for (size_t r0 = 0; r0 < nrows; r0 += BLOCK_ROWS) {
    size_t r1 = r0 + BLOCK_ROWS < nrows ? r0 + BLOCK_ROWS : nrows;
    for (uint32_t t = 0; t < nt; t++) {
      const uint32_t root = f->roots[t], g = f->tree_groups[t];
      for (size_t r = r0; r < r1; r += LANES) {
        const size_t lanes = r1 - r < LANES ? r1 - r : LANES;
        const float *x = rows + r * nf;
        if (lanes == 1) { /* a lone row: the plain walk has less bookkeeping */
          const grove_node_t *n = &nodes[root];
          while (grove__node_is_split(leaf64, n)) n = &nodes[grove__node_next(f, n, x[n->feature])];
          if (leaf64)
            m64[r * ng + g] += grove__node_leaf64(n);
          else
            m32[r * ng + g] += n->value;
          continue;
        }
        uint32_t idx[LANES];
        for (size_t k = 0; k < lanes; k++) idx[k] = root;
        for (int active = 1; active;) {
          active = 0;
          for (size_t k = 0; k < lanes; k++) {
            const grove_node_t *n = &nodes[idx[k]];
            if (!grove__node_is_split(leaf64, n)) continue; /* this lane has reached its leaf */
            idx[k] = grove__node_next(f, n, x[k * nf + (uint32_t)n->feature]);
            active = 1;
          }
        }
        for (size_t k = 0; k < lanes; k++) {
          if (leaf64)
            m64[(r + k) * ng + g] += grove__node_leaf64(&nodes[idx[k]]);
          else
            m32[(r + k) * ng + g] += nodes[idx[k]].value;
        }
      }
    }
  }
}

void grove__predict_scalar(const grove_forest_t *f, const float *rows, size_t nrows,
                           grove_margins_t margins, void *scratch) {
  (void)scratch; /* needs none */
  if (f->num_linear_leaves)
    grove__predict_exact_f32(f, rows, nrows, margins.f64);
  else if (f->leaf64)
    scalar_walk(f, rows, nrows, NULL, margins.f64, 1);
  else
    scalar_walk(f, rows, nrows, margins.f32, NULL, 0);
}
