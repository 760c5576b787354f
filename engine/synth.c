/* Synthetic rows drawn from a model's own thresholds (benchmarks and kernel tests). */
#include <math.h>
#include <stdlib.h>

#include "kernels/forest.h"

/* splitmix64: small, fast, and good enough to spread rows over the thresholds. */
static uint64_t next_random(uint64_t *state) {
  uint64_t z = (*state += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

/* Each value copies the threshold of a random split on its feature, so that values
 * land where the trees actually decide (uniform noise would miss most splits). */
void grove_forest_synthesize_rows(const grove_forest_t *f, size_t nrows, uint64_t seed,
                                  float *rows) {
  const uint32_t nf = f->info.num_features;
  const uint64_t nn = f->info.num_nodes;
  uint64_t state = seed;
  /* Per feature: the list of split node indices, built once. */
  uint32_t *count = calloc(nf, sizeof *count);
  uint32_t *start = calloc((size_t)nf + 1, sizeof *start);
  uint32_t *index = malloc((nn ? nn : 1) * sizeof *index);
  if (count == NULL || start == NULL || index == NULL) {
    for (size_t i = 0; i < nrows * nf; i++) rows[i] = NAN;
    goto done;
  }
  for (uint64_t i = 0; i < nn; i++)
    if (grove__node_is_split(f->leaf64, &f->nodes[i])) count[f->nodes[i].feature]++;
  for (uint32_t j = 0; j < nf; j++) start[j + 1] = start[j] + count[j];
  for (uint32_t j = 0; j < nf; j++) count[j] = 0;
  for (uint64_t i = 0; i < nn; i++) {
    int32_t j = f->nodes[i].feature;
    if (grove__node_is_split(f->leaf64, &f->nodes[i])) index[start[j] + count[j]++] = (uint32_t)i;
  }
  for (size_t r = 0; r < nrows; r++) {
    for (uint32_t j = 0; j < nf; j++) {
      uint64_t u = next_random(&state);
      float v;
      if ((u & 63) == 0 || count[j] == 0) {
        v = (u & 63) == 0 ? NAN : 0.0f;
      } else {
        const grove_node_t *n = &f->nodes[index[start[j] + (u >> 8) % count[j]]];
        if (n->flags & GROVE_NODE_CATEGORICAL) {
          const grove_cat_set_t *s = &f->cat_sets[n->flags >> GROVE_NODE_CAT_SHIFT];
          v = (float)((u >> 40) % (32u * s->nwords + 2));
        } else {
          int nudge = (int)((u >> 6) % 3); /* below, at, above the threshold */
          v = nudge == 0   ? nextafterf(n->value, -INFINITY)
              : nudge == 1 ? n->value
                           : nextafterf(n->value, INFINITY);
        }
      }
      rows[r * nf + j] = v;
    }
  }
done:
  free(count);
  free(start);
  free(index);
}
