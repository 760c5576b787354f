/*
 * What the trees-in-lanes walks (explain_trees_avx512.c, explain_trees_avx2.c) share and is
 * no ISA's: their scratch, a row's set-up and the sums of its shares into doubles, and the
 * post-order of complete trees' splits they go up in. A file of its own so that the walks,
 * which explain.c calls, call nothing of explain.c's.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "explain.h"

#define LANES GROVE_SHAP_TREE_LANES

static uint8_t post_order[9][255];
static pthread_once_t post_order_once = PTHREAD_ONCE_INIT;

static uint32_t post_order_fill(uint8_t *order, uint32_t n, uint32_t p, uint32_t level,
                                uint32_t depth) {
  if (level == depth) return n;
  n = post_order_fill(order, n, 2 * p + 1, level + 1, depth);
  n = post_order_fill(order, n, 2 * p + 2, level + 1, depth);
  order[n] = (uint8_t)p;
  return n + 1;
}

static void post_order_init(void) {
  for (uint32_t d = 1; d <= 8; d++) post_order_fill(post_order[d], 0, 0, 0, d);
}

const uint8_t *grove__shap_post_order(uint32_t depth) {
  pthread_once(&post_order_once, post_order_init);
  return post_order[depth];
}

grove_err_t grove__shap_trees_scratch_init(grove_shap_trees_scratch_t *s, const grove_forest_t *f,
                                           uint32_t m, const double *t, const double *w,
                                           grove_error_t *err) {
  memset(s, 0, sizeof *s);
  const uint32_t M = s->points = m <= 2 ? 2 : m <= 3 ? 3 : 4; /* callers ensure m <= 4 */
  const uint32_t nf = f->info.num_features;
  const size_t xs = (nf + 1 + LANES - 1) / LANES * LANES; /* the row, padded: phi aligned */
  s->nphi = (size_t)f->info.num_groups * (nf + 1) * LANES;
  s->x = aligned_alloc(64, ((xs + s->nphi) * sizeof(float) + 63) / 64 * 64);
  /* For the deepest block's positions only: small enough for the heap's free lists (not a
   * mapping per call) and the cache. */
  uint32_t max_depth = 1;
  for (uint32_t k = 0; k < f->num_shap_blocks; k++)
    if (f->shap_blocks[k].depth > max_depth) max_depth = f->shap_blocks[k].depth;
  const size_t splits = ((size_t)1 << max_depth) - 1, positions = splits * M;
  const size_t vectors = 3 * positions + splits + 16 * (size_t)M;
  s->above = aligned_alloc(64, vectors * GROVE_SHAP_VECTOR_BYTES);
  s->one = malloc(splits * 2 * sizeof *s->one);
  s->bias = malloc(f->info.num_groups * sizeof *s->bias);
  if (s->x == NULL || s->above == NULL || s->one == NULL || s->bias == NULL) {
    grove__shap_trees_scratch_free(s);
    return grove__error_set(err, GROVE_ENOMEM, "out of memory");
  }
  s->phi = s->x + xs;
  char *v = s->above;
  s->inv = v + positions * GROVE_SHAP_VECTOR_BYTES;
  s->below = v + 2 * positions * GROVE_SHAP_VECTOR_BYTES;
  s->shares = v + 3 * positions * GROVE_SHAP_VECTOR_BYTES;
  s->excluded = v + (3 * positions + splits) * GROVE_SHAP_VECTOR_BYTES;
  /* Every excluded sum is read (and zeroed) by the split it was collected for. */
  memset(s->excluded, 0, 16 * (size_t)M * GROVE_SHAP_VECTOR_BYTES);
  for (uint32_t g = 0; g < f->info.num_groups; g++) s->bias[g] = f->base_margins[g];
  for (uint32_t tr = 0; tr < f->info.num_trees; tr++) /* in the rows walk's order */
    s->bias[f->tree_groups[tr]] += f->tree_expected[tr];
  for (uint32_t q = 0; q < M; q++) {
    /* 1 - t and t adding up to exactly 1, as explain_lanes.h takes them: a pad's factors are
     * then exactly 1 and 0 and it passes its left side on unchanged. */
    s->omt[q] = 1 - (float)(q < m ? t[q] : 0.5); /* 0.5: a point with no weight */
    s->t[q] = 1 - s->omt[q];
    s->w[q] = (float)(q < m ? w[q] : 0);
  }
  return GROVE_OK;
}

void grove__shap_trees_scratch_free(grove_shap_trees_scratch_t *s) {
  free(s->x);
  free(s->above);
  free(s->one);
  free(s->bias);
  memset(s, 0, sizeof *s);
}

void grove__shap_trees_row_begin(const grove_shap_trees_scratch_t *s, const grove_forest_t *f,
                                 const void *rows, int f64, size_t r, double *o) {
  const uint32_t nf = f->info.num_features, ng = f->info.num_groups;
  for (uint32_t j = 0; j < nf; j++)
    s->x[j] = (float)(f64 ? ((const double *)rows)[r * nf + j] : ((const float *)rows)[r * nf + j]);
  s->x[nf] = 0;
  for (uint32_t g = 0; g < ng; g++) {
    for (uint32_t j = 0; j < nf; j++) o[g * (nf + 1) + j] = 0;
    o[g * (nf + 1) + nf] = s->bias[g];
  }
}

void grove__shap_trees_flush(const grove_shap_trees_scratch_t *s, const grove_forest_t *f,
                             double *o) {
  const uint32_t nf = f->info.num_features, ng = f->info.num_groups;
  for (uint32_t g = 0; g < ng; g++)
    for (uint32_t j = 0; j < nf; j++) {
      const float *p = s->phi + ((size_t)g * (nf + 1) + j) * LANES;
      double v = 0;
      for (int l = 0; l < LANES; l++) v += p[l];
      o[g * (nf + 1) + j] += v;
    }
}
