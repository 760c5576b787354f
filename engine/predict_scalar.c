/*
 * The scalar reference kernel: plain C, the oracle every other kernel is compared with bit
 * for bit (tests/test_kernels.c). Splits are decided by grove__node_next(): see the split
 * truth table in kernels.h.
 */
#include "kernels.h"

/* Rows per block: the block's rows stay in L1 while every tree walks over them. */
#define BLOCK_ROWS 64
/*
 * Rows walked together through one tree, one level per step: the walks are independent,
 * so their load-compare-load chains overlap instead of running one after another.
 */
#define LANES      8

void grove__predict_scalar(const grove_forest_t *f, const float *rows, size_t nrows, float *margins,
                           void *scratch) {
  (void)scratch; /* needs none */
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
          while (n->feature >= 0) n = &nodes[grove__node_next(f, n, x[n->feature])];
          margins[r * ng + g] += n->value;
          continue;
        }
        uint32_t idx[LANES];
        for (size_t k = 0; k < lanes; k++) idx[k] = root;
        for (int active = 1; active;) {
          active = 0;
          for (size_t k = 0; k < lanes; k++) {
            const grove_node_t *n = &nodes[idx[k]];
            if (n->feature < 0) continue; /* this lane has reached its leaf */
            idx[k] = grove__node_next(f, n, x[k * nf + (uint32_t)n->feature]);
            active = 1;
          }
        }
        for (size_t k = 0; k < lanes; k++) margins[(r + k) * ng + g] += nodes[idx[k]].value;
      }
    }
  }
}
