/*
 * The TreeSHAP walk with trees in the lanes of avx512 vectors, for small batches: one row
 * at a time walks GROVE_SHAP_TREE_LANES trees at once, each laid out as a complete tree
 * (forest.h, grove_shap_block_t), so every lane takes the same steps and the branches depend
 * on the block's shape only. The values are those of explain_lanes.h's walk (see its
 * comment): products down, sums up, a feature's shares at the split that puts it on the
 * path; here each lane's split has its own feature, so the state of a feature further up
 * is found by the level of its split there (a table per block), and the shares go to each
 * lane's own slot of its feature with a gather and a scatter (never two lanes on one slot).
 * Float forests only (XGBoost's, scikit-learn's: their libraries compute in float); the
 * shares of every 8 blocks are summed into the row's doubles. Every operation on a lane is
 * explain_lanes.h's float walk's, in the same order, so both give a row the same bits.
 */
#include <immintrin.h>
#include <stdlib.h>
#include <string.h>

#include "explain.h"

#define LANES      GROVE_SHAP_TREE_LANES
#define MAX_POINTS 4
#define FLUSH      8 /* blocks between sums into doubles: explain_lanes.h's 128 trees */

typedef struct {
  const grove_forest_t *f;
  const grove_shap_block_t *b;
  const float *x;   /* the row's num_features values, then 0 (the pads' feature) */
  __m512 x_lo, x_hi; /* x[0 .. 32) in registers when num_features < 32 */
  int x_in_registers;
  float *phi;       /* [(group x (features + 1) + feature) x lanes + lane] */
  /* Per level above the current split, for each lane: the element of the edge its path takes
   * there, and the excluded sums collected for it (see explain_lanes.h). A split reads the
   * level of its feature's nearest split above (repeats), so no state is per feature. */
  __m512 *edge_zero, *edge_one; /* [level] */
  __m512 *excluded;             /* [level x points + point] */
  uint32_t splits;              /* the block's 2^depth - 1 */
  __m512 t[MAX_POINTS], omt[MAX_POINTS], w[MAX_POINTS];
  __m512i lane;     /* 0 .. 15 */
  __m512i group_base;
} trees_t;

static inline __mmask16 flag_mask(__m512i flags, uint32_t bit) {
  return _mm512_test_epi32_mask(flags, _mm512_set1_epi32((int)bit));
}

/* The lanes whose row goes right: the split truth table of kernels.h, lane by lane. */
static inline __mmask16 trees_right(const trees_t *s, size_t o, __m512i flags, __m512 x) {
  const grove_shap_block_t *b = s->b;
  const __m512 threshold = _mm512_load_ps(b->threshold + o);
  __mmask16 right = _mm512_cmp_ps_mask(x, threshold, _CMP_NLT_UQ); /* row 6: !(x < t) */
  const __mmask16 categorical = flag_mask(flags, GROVE_NODE_CATEGORICAL);
  if (categorical) { /* rows 3-5 */
    const __m512 zero = _mm512_setzero_ps();
    __mmask16 ok = _mm512_cmp_ps_mask(x, zero, _CMP_GE_OQ) &
                   _mm512_cmp_ps_mask(x, _mm512_set1_ps(GROVE_MAX_CATEGORY), _CMP_LT_OQ);
    ok |= flag_mask(flags, GROVE_NODE_CAT_TRUNC) &
          _mm512_cmp_ps_mask(x, _mm512_set1_ps(-1.0f), _CMP_GT_OQ) &
          _mm512_cmp_ps_mask(x, zero, _CMP_LT_OQ);
    ok &= categorical;
    const __m512i c = _mm512_maskz_cvttps_epi32(ok, x); /* truncates: (-1, 0) is 0 */
    const __m512i word = _mm512_srli_epi32(c, 5);
    const __m512i nwords =
        _mm512_cvtepu8_epi32(_mm_load_si128((const __m128i *)(b->nwords + o)));
    const __mmask16 in_words = ok & _mm512_cmplt_epu32_mask(word, nwords);
    /* Sets of one word carry it; the others are gathered. */
    const __mmask16 gathered = in_words & _mm512_cmpgt_epu32_mask(nwords, _mm512_set1_epi32(1));
    __m512i bits = _mm512_castps_si512(threshold);
    if (gathered)
      bits = _mm512_mask_i32gather_epi32(bits, gathered, _mm512_add_epi32(bits, word),
                                         (const int *)s->f->cat_words, 4);
    const __mmask16 in_set = _mm512_test_epi32_mask(
        _mm512_srlv_epi32(bits, _mm512_and_si512(c, _mm512_set1_epi32(31))),
        _mm512_set1_epi32(1));
    right = (right & ~categorical) | (in_set & in_words);
  }
  __mmask16 missing = _mm512_cmp_ps_mask(x, x, _CMP_UNORD_Q); /* rows 1-2 */
  const __mmask16 zero_missing = flag_mask(flags, GROVE_NODE_ZERO_MISSING);
  if (zero_missing)
    missing |= zero_missing & _mm512_cmp_ps_mask(_mm512_abs_ps(x), _mm512_set1_ps(GROVE_ZERO_BAND),
                                                 _CMP_LE_OQ);
  right = (right & ~missing) | (missing & ~flag_mask(flags, GROVE_NODE_DEFAULT_LEFT));
  return right & ~flag_mask(flags, GROVE_SHAP_PAD);
}

typedef void (*trees_walk_fn)(const trees_t *s, uint32_t pos, uint32_t level, const __m512 *a,
                              __m512 *d);

/* The walk below position POS at LEVEL, reached with the products A (M of them): D gets M
 * sums. M is a constant in the specializations below; SELF walks the splits below, LAST
 * (inlined) those of the last level, and without SELF the children are leaves. */
static inline __attribute__((always_inline)) void trees_walk_body(const trees_t *s, uint32_t pos,
                                                                  uint32_t level, const __m512 *a,
                                                                  __m512 *d, const uint32_t M,
                                                                  trees_walk_fn self,
                                                                  trees_walk_fn last) {
  const grove_shap_block_t *b = s->b;
  const size_t o = (size_t)pos * LANES;
  const __m512i feature =
      _mm512_cvtepi16_epi32(_mm256_load_si256((const __m256i *)(b->feature + o)));
  const __m512i flags = _mm512_cvtepu8_epi32(_mm_load_si128((const __m128i *)(b->flags + o)));
  const __m512 x = s->x_in_registers ? _mm512_permutex2var_ps(s->x_lo, feature, s->x_hi)
                                     : _mm512_i32gather_ps(feature, s->x, 4);
  const __mmask16 right = trees_right(s, o, flags, x);
  /* The lanes where a split below the child tests this split's feature again. */
  const __mmask16 deeper[2] = {
      flag_mask(flags, GROVE_SHAP_DEEPER_LEFT << GROVE_SHAP_LANE_DEEPER_SHIFT),
      flag_mask(flags, GROVE_SHAP_DEEPER_RIGHT << GROVE_SHAP_LANE_DEEPER_SHIFT)};
  const __m512 one = _mm512_set1_ps(1.0f);
  __m512 zero_c[2] = {_mm512_load_ps(b->zero_left + o), _mm512_load_ps(b->zero_right + o)};
  __m512 one_c[2] = {_mm512_maskz_mov_ps((__mmask16)~right, one), _mm512_maskz_mov_ps(right, one)};
  const __m512i repeats =
      _mm512_cvtepu8_epi32(_mm_load_si128((const __m128i *)(b->repeats + o)));
  const __mmask16 repeat =
      _mm512_cmpneq_epi32_mask(repeats, _mm512_set1_epi32(GROVE_SHAP_NO_REPEAT));
  __mmask16 at_level[8] = {0};
  __m512 above[MAX_POINTS], inv_old[MAX_POINTS];
  for (uint32_t q = 0; q < M; q++) above[q] = a[q];
  if (repeat) { /* merge with the feature's element further up */
    __m512 z = one, u = one;
    for (uint32_t up = 0; up < level; up++) {
      at_level[up] = repeat & _mm512_cmpeq_epi32_mask(repeats, _mm512_set1_epi32((int)up));
      z = _mm512_mask_mov_ps(z, at_level[up], s->edge_zero[up]);
      u = _mm512_mask_mov_ps(u, at_level[up], s->edge_one[up]);
    }
    for (int c = 0; c < 2; c++) {
      zero_c[c] = _mm512_mul_ps(zero_c[c], z);
      one_c[c] = _mm512_mul_ps(one_c[c], u);
    }
    for (uint32_t q = 0; q < M; q++) {
      const __m512 old = _mm512_fmadd_ps(z, s->omt[q], _mm512_mul_ps(u, s->t[q]));
      /* A lane whose old factor is 0 has A = 0 here: nothing below has a share. */
      const __mmask16 nonzero = _mm512_cmp_ps_mask(old, _mm512_setzero_ps(), _CMP_NEQ_OQ);
      const __m512 r = _mm512_maskz_div_ps(nonzero, one, old);
      inv_old[q] = _mm512_mask_mov_ps(one, repeat, r);
      above[q] = _mm512_mul_ps(above[q], inv_old[q]);
    }
  }
  __m512 below[2][MAX_POINTS], factor[2][MAX_POINTS], excluded[2][MAX_POINTS];
  for (uint32_t c = 0; c < 2; c++)
    for (uint32_t q = 0; q < M; q++) {
      factor[c][q] = _mm512_fmadd_ps(zero_c[c], s->omt[q], _mm512_mul_ps(one_c[c], s->t[q]));
      excluded[c][q] = _mm512_setzero_ps();
    }

  if (self == NULL || level + 1 == b->depth) { /* both children are leaves */
    const float *leaf = b->leaf + (size_t)(2 * pos + 1 - s->splits) * LANES;
    for (uint32_t c = 0; c < 2; c++) {
      const __m512 v = _mm512_load_ps(leaf + c * LANES);
      for (uint32_t q = 0; q < M; q++) below[c][q] = v;
    }
  } else {
    __m512 *collected = s->excluded + (size_t)level * M;
    for (uint32_t c = 0; c < 2; c++) {
      __m512 ac[MAX_POINTS];
      for (uint32_t q = 0; q < M; q++) {
        ac[q] = _mm512_mul_ps(above[q], factor[c][q]);
        if (deeper[c]) collected[q] = _mm512_setzero_ps();
      }
      s->edge_zero[level] = zero_c[c];
      s->edge_one[level] = one_c[c];
      if (level + 2 == b->depth) /* the last splits, inlined: half the positions */
        last(s, 2 * pos + 1 + c, level + 1, ac, below[c]);
      else
        self(s, 2 * pos + 1 + c, level + 1, ac, below[c]);
      if (deeper[c])
        for (uint32_t q = 0; q < M; q++) excluded[c][q] = collected[q];
    }
  }
  const __m512 share0 = _mm512_sub_ps(one_c[0], zero_c[0]);
  const __m512 share1 = _mm512_sub_ps(one_c[1], zero_c[1]);
  __m512 shares = _mm512_setzero_ps();
  for (uint32_t q = 0; q < M; q++) {
    /* The same operations in the same order as explain_lanes.h's walk: see there. */
    const __m512 in = _mm512_fmadd_ps(share0, below[0][q], _mm512_mul_ps(share1, below[1][q]));
    /* Without repeats below, the leaves taken out are none (the same bits but for a zero's
     * sign, which the sums do not keep). */
    const __m512 kept =
        deeper[0] | deeper[1]
            ? _mm512_fmsub_ps(above[q], in,
                              _mm512_fmadd_ps(share0, excluded[0][q],
                                              _mm512_mul_ps(share1, excluded[1][q])))
            : _mm512_mul_ps(above[q], in);
    shares = _mm512_fmadd_ps(s->w[q], kept, shares);
    d[q] = _mm512_fmadd_ps(factor[0][q], below[0][q], _mm512_mul_ps(factor[1][q], below[1][q]));
  }
  const __m512i phi_slot = _mm512_add_epi32(s->group_base, _mm512_slli_epi32(feature, 4));
  const __m512 phi = _mm512_i32gather_ps(phi_slot, s->phi, 4);
  _mm512_i32scatter_ps(s->phi, phi_slot, _mm512_add_ps(phi, shares), 4);
  if (repeat)
    for (uint32_t q = 0; q < M; q++) {
      d[q] = _mm512_mul_ps(d[q], inv_old[q]);
      /* for the split further up: S / its factor */
      for (uint32_t up = 0; up < level; up++)
        if (at_level[up]) {
          __m512 *sum = &s->excluded[up * M + q];
          *sum = _mm512_mask3_fmadd_ps(above[q], d[q], *sum, at_level[up]);
        }
    }
}

/* Per M: the last level's splits (leaves below, no call), and the others. */
#define TREES_WALK_POINTS(M)                                                                  \
  static inline __attribute__((always_inline)) void trees_last_##M(                           \
      const trees_t *s, uint32_t pos, uint32_t level, const __m512 *a, __m512 *d) {           \
    trees_walk_body(s, pos, level, a, d, M, NULL, NULL);                                      \
  }                                                                                           \
  static void trees_walk_##M(const trees_t *s, uint32_t pos, uint32_t level, const __m512 *a, \
                             __m512 *d) {                                                     \
    trees_walk_body(s, pos, level, a, d, M, trees_walk_##M, trees_last_##M);                  \
  }
TREES_WALK_POINTS(2)
TREES_WALK_POINTS(3)
TREES_WALK_POINTS(4)
#undef TREES_WALK_POINTS

grove_err_t grove__shap_trees_avx512(const grove_forest_t *f, const void *rows, int f64,
                                     size_t nrows, double *out, uint32_t m, const double *t,
                                     const double *w, grove_error_t *err) {
  const uint32_t M = m <= 2 ? 2 : m <= 3 ? 3 : 4; /* callers ensure m <= 4 */
  const trees_walk_fn walk = M == 2 ? trees_walk_2 : M == 3 ? trees_walk_3 : trees_walk_4;
  const uint32_t nf = f->info.num_features, ng = f->info.num_groups, nt = f->info.num_trees;
  const size_t slots = ((size_t)nf + 1) * LANES, nphi = ng * slots;
  const size_t xs = (nf + 1 + LANES - 1) / LANES * LANES; /* the row, padded: phi aligned */
  const size_t floats = xs + nphi;
  float *mem = aligned_alloc(64, (floats * sizeof(float) + 63) / 64 * 64);
  if (mem == NULL) return grove__error_set(err, GROVE_ENOMEM, "out of memory");
  trees_t s = {.f = f, .x = mem, .phi = mem + xs};
  __m512 edge_zero[8], edge_one[8], excluded[8 * MAX_POINTS];
  s.edge_zero = edge_zero;
  s.edge_one = edge_one;
  s.excluded = excluded;
  for (uint32_t q = 0; q < M; q++) {
    /* 1 - t and t adding up to exactly 1, as explain_lanes.h takes them: a pad's factors are
     * then exactly 1 and 0 and it passes its left side on unchanged. */
    const float omt = 1 - (float)(q < m ? t[q] : 0.5); /* 0.5: a point with no weight */
    s.t[q] = _mm512_set1_ps(1 - omt);
    s.omt[q] = _mm512_set1_ps(omt);
    s.w[q] = _mm512_set1_ps((float)(q < m ? w[q] : 0));
  }
  s.x_in_registers = nf < 32;
  s.lane = _mm512_set_epi32(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0);
  __m512 ones[MAX_POINTS], d[MAX_POINTS];
  for (uint32_t q = 0; q < M; q++) ones[q] = _mm512_set1_ps(1.0f);
  const size_t width = (size_t)ng * (nf + 1);
  for (size_t r = 0; r < nrows; r++) {
    float *x = mem;
    for (uint32_t j = 0; j < nf; j++)
      x[j] = (float)(f64 ? ((const double *)rows)[r * nf + j] : ((const float *)rows)[r * nf + j]);
    x[nf] = 0;
    if (s.x_in_registers) {
      float padded[32] = {0};
      memcpy(padded, x, (nf + 1) * sizeof *x);
      s.x_lo = _mm512_loadu_ps(padded);
      s.x_hi = _mm512_loadu_ps(padded + 16);
    }
    double *o = out + r * width;
    for (uint32_t g = 0; g < ng; g++) {
      for (uint32_t j = 0; j < nf; j++) o[g * (nf + 1) + j] = 0;
      o[g * (nf + 1) + nf] = f->base_margins[g];
    }
    for (uint32_t tr = 0; tr < nt; tr++) o[f->tree_groups[tr] * (nf + 1) + nf] += f->tree_expected[tr];
    for (uint32_t k = 0; k < f->num_shap_blocks; k++) {
      if (k % FLUSH == 0) memset(s.phi, 0, nphi * sizeof *s.phi);
      s.b = &f->shap_blocks[k];
      s.splits = (1u << s.b->depth) - 1;
      s.group_base = _mm512_loadu_si512(s.b->group_base);
      walk(&s, 0, 0, ones, d);
      if (k % FLUSH == FLUSH - 1 || k + 1 == f->num_shap_blocks)
        for (uint32_t g = 0; g < ng; g++)
          for (uint32_t j = 0; j < nf; j++) {
            const float *p = s.phi + ((size_t)g * (nf + 1) + j) * LANES;
            double v = 0;
            for (int l = 0; l < LANES; l++) v += p[l];
            o[g * (nf + 1) + j] += v;
          }
    }
  }
  free(mem);
  return GROVE_OK;
}
