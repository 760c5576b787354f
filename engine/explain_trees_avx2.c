/*
 * The TreeSHAP walk with trees in the lanes, on AVX2: explain_trees_avx512.c's walk (see its
 * comment) with each block's 16 lanes in two 8-float vectors, its lane masks as 16-bit words
 * widened to vector masks where a blend needs them, and the phi shares added lane by lane as
 * there (the lanes' slots are distinct). Every operation on a lane is the avx512 walk's, in
 * the same order, so the two (and explain_lanes.h's float walk) give a row the same bits.
 */
#include <immintrin.h>
#include <stdlib.h>
#include <string.h>

#include "explain.h"

#define LANES      GROVE_SHAP_TREE_LANES
#define MAX_POINTS 4
#define FLUSH      8 /* blocks between sums into doubles: explain_lanes.h's 128 trees */

typedef uint16_t mask16;
typedef struct {
  __m256 h[2]; /* lanes 0-7, 8-15 */
} v16;

static inline v16 v_load(const float *p) {
  return (v16){{_mm256_load_ps(p), _mm256_load_ps(p + 8)}};
}
static inline v16 v_set1(float x) { return (v16){{_mm256_set1_ps(x), _mm256_set1_ps(x)}}; }
static inline v16 v_zero(void) { return (v16){{_mm256_setzero_ps(), _mm256_setzero_ps()}}; }
#define V_BINARY(name, op) \
  static inline v16 name(v16 a, v16 b) { return (v16){{op(a.h[0], b.h[0]), op(a.h[1], b.h[1])}}; }
V_BINARY(v_sub, _mm256_sub_ps)
V_BINARY(v_mul, _mm256_mul_ps)
V_BINARY(v_div, _mm256_div_ps)
#undef V_BINARY
static inline v16 v_fmadd(v16 a, v16 b, v16 c) {
  return (v16){{_mm256_fmadd_ps(a.h[0], b.h[0], c.h[0]), _mm256_fmadd_ps(a.h[1], b.h[1], c.h[1])}};
}
static inline v16 v_fmsub(v16 a, v16 b, v16 c) {
  return (v16){{_mm256_fmsub_ps(a.h[0], b.h[0], c.h[0]), _mm256_fmsub_ps(a.h[1], b.h[1], c.h[1])}};
}

/* Mask bits 8h .. 8h+7 as a vector mask of half H. */
static inline __m256 m_half(mask16 m, int h) {
  const __m256i bit = _mm256_setr_epi32(1, 2, 4, 8, 16, 32, 64, 128);
  const __m256i v = _mm256_and_si256(_mm256_set1_epi32(m >> (8 * h)), bit);
  return _mm256_castsi256_ps(_mm256_cmpeq_epi32(v, bit));
}
/* Lanes of M from V, the others 0 (maskz_mov) or from SRC (mask_mov). */
static inline v16 v_maskz(mask16 m, v16 v) {
  return (v16){{_mm256_and_ps(m_half(m, 0), v.h[0]), _mm256_and_ps(m_half(m, 1), v.h[1])}};
}
static inline v16 v_blend(v16 src, mask16 m, v16 v) {
  return (v16){{_mm256_blendv_ps(src.h[0], v.h[0], m_half(m, 0)),
                _mm256_blendv_ps(src.h[1], v.h[1], m_half(m, 1))}};
}
#define V_CMP(a, b, pred)                                                   \
  ((mask16)(_mm256_movemask_ps(_mm256_cmp_ps((a).h[0], (b).h[0], (pred))) | \
            (_mm256_movemask_ps(_mm256_cmp_ps((a).h[1], (b).h[1], (pred))) << 8)))
static inline mask16 i_mask(__m256i lo, __m256i hi) {
  return (mask16)(_mm256_movemask_ps(_mm256_castsi256_ps(lo)) |
                  (_mm256_movemask_ps(_mm256_castsi256_ps(hi)) << 8));
}

typedef struct {
  const grove_forest_t *f;
  const grove_shap_block_t *b;
  const float *x;    /* the row's num_features values, then 0 (the pads' feature) */
  __m256 x_lo, x_hi; /* x[0 .. 16) in registers when num_features < 16 */
  int x_in_registers;
  float *phi; /* [(group x (features + 1) + feature) x lanes + lane] */
  /* As explain_trees_avx512.c's: per position x points, the products above, a repeat's
   * inverse, the sums below; the last level's shares; each side's lanes; excluded sums. */
  v16 *above, *inv, *below;
  v16 *shares;
  uint16_t *one;
  v16 *excluded;
  uint32_t depth;
  v16 t[MAX_POINTS], omt[MAX_POINTS], w[MAX_POINTS];
} trees_t;

static inline mask16 lane_mask(const grove_shap_block_t *b, uint32_t p, int k) {
  return b->masks[(size_t)p * GROVE_SHAP_MASKS + k];
}

/* The features of position P's lanes, as two vectors of 8 indices. */
static inline void trees_features(const grove_shap_block_t *b, uint32_t p, __m256i feature[2]) {
  const __m128i *f = (const __m128i *)(b->feature + (size_t)p * LANES);
  feature[0] = _mm256_cvtepi16_epi32(_mm_load_si128(f));
  feature[1] = _mm256_cvtepi16_epi32(_mm_load_si128(f + 1));
}

/* The lanes whose row goes right at position P: the split truth table of kernels.h. */
static inline mask16 trees_right(const trees_t *s, uint32_t p, v16 x) {
  const grove_shap_block_t *b = s->b;
  const size_t o = (size_t)p * LANES;
  const v16 threshold = v_load(b->threshold + o);
  mask16 right = V_CMP(x, threshold, _CMP_NLT_UQ); /* row 6: !(x < t) */
  const mask16 categorical = lane_mask(b, p, GROVE_SHAP_MASK_CATEGORICAL);
  if (categorical) { /* rows 3-5 */
    const v16 zero = v_zero();
    mask16 ok =
        categorical & V_CMP(x, zero, _CMP_GE_OQ) & V_CMP(x, v_set1(GROVE_MAX_CATEGORY), _CMP_LT_OQ);
    const mask16 trunc = lane_mask(b, p, GROVE_SHAP_MASK_CAT_TRUNC) & categorical;
    if (trunc) /* lanes with the flag, x in (-1, 0) */
      ok |= trunc & V_CMP(x, v_set1(-1.0f), _CMP_GT_OQ) & V_CMP(x, zero, _CMP_LT_OQ);
    const mask16 multiword = lane_mask(b, p, GROVE_SHAP_MASK_MULTIWORD);
    const __m256i low5 = _mm256_set1_epi32(31);
    __m256i in_set[2];
    for (int h = 0; h < 2; h++) {
      in_set[h] = _mm256_setzero_si256();
      if (((categorical >> (8 * h)) & 0xff) == 0) continue;
      const __m256i okv = _mm256_castps_si256(m_half(ok, h));
      /* truncates: (-1, 0) is 0; lanes not ok read category 0 and are masked off below */
      const __m256i c = _mm256_and_si256(
          okv, _mm256_cvttps_epi32(_mm256_and_ps(_mm256_castsi256_ps(okv), x.h[h])));
      const __m256i word = _mm256_srli_epi32(c, 5);
      const __m256i nwords =
          _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)(b->nwords + o + 8 * h)));
      /* word < nwords, both small: signed compare */
      const __m256i in_words = _mm256_and_si256(okv, _mm256_cmpgt_epi32(nwords, word));
      /* Sets of one word carry it; the others are gathered. */
      __m256i bits = _mm256_castps_si256(threshold.h[h]);
      if ((multiword >> (8 * h)) & 0xff) {
        const __m256i gathered =
            _mm256_and_si256(in_words, _mm256_castps_si256(m_half(multiword, h)));
        bits = _mm256_mask_i32gather_epi32(bits, (const int *)s->f->cat_words,
                                           _mm256_add_epi32(bits, word), gathered, 4);
      }
      const __m256i bit = _mm256_and_si256(_mm256_srlv_epi32(bits, _mm256_and_si256(c, low5)),
                                           _mm256_set1_epi32(1));
      in_set[h] = _mm256_and_si256(in_words, _mm256_cmpeq_epi32(bit, _mm256_set1_epi32(1)));
    }
    right = (mask16)((right & ~categorical) | i_mask(in_set[0], in_set[1]));
  }
  mask16 missing = V_CMP(x, x, _CMP_UNORD_Q); /* rows 1-2 */
  const mask16 zero_missing = lane_mask(b, p, GROVE_SHAP_MASK_ZERO_MISSING);
  if (zero_missing) {
    const __m256 abs = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff));
    const v16 ax = {{_mm256_and_ps(x.h[0], abs), _mm256_and_ps(x.h[1], abs)}};
    missing |= zero_missing & V_CMP(ax, v_set1(GROVE_ZERO_BAND), _CMP_LE_OQ);
  }
  right = (mask16)((right & ~missing) | (missing & ~lane_mask(b, p, GROVE_SHAP_MASK_DEFAULT_LEFT)));
  return (mask16)(right & ~lane_mask(b, p, GROVE_SHAP_MASK_PAD));
}

static inline uint32_t pos_level(uint32_t p) { return 31u - (uint32_t)__builtin_clz(p + 1); }
static inline uint32_t pos_ancestor(uint32_t p, uint32_t level, uint32_t up) {
  return ((p + 1) >> (level - up)) - 1;
}
static inline uint32_t pos_side(uint32_t p, uint32_t level, uint32_t up) {
  return ((p + 1) >> (level - up - 1)) & 1;
}

typedef struct {
  mask16 one[2], repeat;
} split_t;

/* As explain_trees_avx512.c's trees_split. */
static inline __attribute__((always_inline)) void trees_split(const trees_t *s, uint32_t pos,
                                                              uint32_t level, v16 *above, v16 *inv,
                                                              split_t *sp, const uint32_t M) {
  const grove_shap_block_t *b = s->b;
  __m256i feature[2];
  trees_features(b, pos, feature);
  v16 x;
  for (int h = 0; h < 2; h++) {
    if (s->x_in_registers) { /* x[feature]: the low or the high 8, by the index's bit 3 */
      const __m256 high = _mm256_castsi256_ps(_mm256_cmpgt_epi32(feature[h], _mm256_set1_epi32(7)));
      x.h[h] = _mm256_blendv_ps(_mm256_permutevar8x32_ps(s->x_lo, feature[h]),
                                _mm256_permutevar8x32_ps(s->x_hi, feature[h]), high);
    } else {
      x.h[h] = _mm256_i32gather_ps(s->x, feature[h], 4);
    }
  }
  const mask16 right = trees_right(s, pos, x);
  sp->one[0] = (mask16)~right;
  sp->one[1] = right;
  const uint16_t *repeat_at = b->repeat_at + (size_t)pos * GROVE_SHAP_MASKS;
  sp->repeat = repeat_at[GROVE_SHAP_REPEAT_ANY];
  if (sp->repeat) {
    const v16 one = v_set1(1.0f);
    v16 z = one;
    mask16 u = (mask16)~sp->repeat;
    const uint32_t levels = b->repeat_levels[pos];
    for (uint32_t bits = levels & ~GROVE_SHAP_TINY_ZERO; bits; bits &= bits - 1) {
      const uint32_t up = (uint32_t)__builtin_ctz(bits);
      const mask16 at = repeat_at[up];
      const uint32_t anc = pos_ancestor(pos, level, up), side = pos_side(pos, level, up);
      const float *zero = side ? b->zero_right : b->zero_left;
      z = v_blend(z, at, v_load(zero + (size_t)anc * LANES));
      u |= at & s->one[anc * 2 + side];
    }
    sp->one[0] &= u;
    sp->one[1] &= u;
    for (uint32_t q = 0; q < M; q++) {
      const v16 old = v_fmadd(z, s->omt[q], v_maskz(u, s->t[q]));
      if (levels & GROVE_SHAP_TINY_ZERO) {
        const mask16 nonzero = V_CMP(old, v_zero(), _CMP_NEQ_OQ);
        inv[q] = v_maskz(nonzero, v_div(one, old));
      } else {
        inv[q] = v_div(one, old);
      }
      above[q] = v_mul(above[q], inv[q]);
    }
  }
}

static inline __attribute__((always_inline)) void trees_factors(const trees_t *s, v16 zero,
                                                                mask16 one, v16 *factor,
                                                                const uint32_t M) {
  for (uint32_t q = 0; q < M; q++) factor[q] = v_fmadd(zero, s->omt[q], v_maskz(one, s->t[q]));
}

/* As explain_trees_avx512.c's trees_down. */
static inline __attribute__((always_inline)) void trees_down(const trees_t *s, const uint32_t M) {
  const grove_shap_block_t *b = s->b;
  const uint32_t splits = (1u << s->depth) - 1, last = s->depth - 1;
  for (uint32_t p = 0; p < splits; p++) {
    const uint32_t level = pos_level(p);
    v16 *above = s->above + (size_t)p * M;
    v16 a[MAX_POINTS], inv[MAX_POINTS];
    for (uint32_t q = 0; q < M; q++) a[q] = above[q];
    split_t sp;
    trees_split(s, p, level, a, inv, &sp, M);
    if (sp.repeat)
      for (uint32_t q = 0; q < M; q++) above[q] = a[q];
    if (level < last) {
      s->one[2 * p] = sp.one[0];
      s->one[2 * p + 1] = sp.one[1];
      if (sp.repeat)
        for (uint32_t q = 0; q < M; q++) s->inv[(size_t)p * M + q] = inv[q];
    }
    const v16 zero_c[2] = {v_load(b->zero_left + (size_t)p * LANES),
                           v_load(b->zero_right + (size_t)p * LANES)};
    v16 factor[2][MAX_POINTS];
    for (uint32_t c = 0; c < 2; c++) trees_factors(s, zero_c[c], sp.one[c], factor[c], M);
    if (level < last) {
      for (uint32_t c = 0; c < 2; c++) {
        v16 *ac = s->above + (size_t)(2 * p + 1 + c) * M;
        for (uint32_t q = 0; q < M; q++) ac[q] = v_mul(a[q], factor[c][q]);
      }
    } else {
      const float *leaf = b->leaf + (size_t)(2 * p + 1 - splits) * LANES;
      const v16 v0 = v_load(leaf), v1 = v_load(leaf + LANES);
      const v16 unit = v_set1(1.0f);
      const v16 share0 = v_sub(v_maskz(sp.one[0], unit), zero_c[0]);
      const v16 share1 = v_sub(v_maskz(sp.one[1], unit), zero_c[1]);
      const v16 in = v_fmadd(share0, v0, v_mul(share1, v1));
      v16 shares = v_zero();
      for (uint32_t q = 0; q < M; q++) {
        shares = v_fmadd(s->w[q], v_mul(a[q], in), shares);
        v16 d = v_fmadd(factor[0][q], v0, v_mul(factor[1][q], v1));
        if (sp.repeat) d = v_mul(d, inv[q]);
        s->below[(size_t)p * M + q] = d;
      }
      s->shares[p] = shares;
    }
  }
}

/* As explain_trees_avx512.c's trees_up. */
static inline __attribute__((always_inline)) void trees_up(const trees_t *s, const uint8_t *order,
                                                           const uint32_t M) {
  const grove_shap_block_t *b = s->b;
  const uint32_t splits = (1u << s->depth) - 1, last = s->depth - 1;
  const v16 one = v_set1(1.0f);
  for (uint32_t i = 0; i < splits; i++) {
    const uint32_t p = order[i], level = pos_level(p);
    const size_t o = (size_t)p * LANES;
    const v16 *above = s->above + (size_t)p * M;
    v16 *d = s->below + (size_t)p * M;
    const uint32_t levels = b->repeat_levels[p];
    v16 shares;
    if (level == last) {
      shares = s->shares[p];
    } else {
      const mask16 one_c[2] = {s->one[2 * p], s->one[2 * p + 1]};
      const v16 zero_c[2] = {v_load(b->zero_left + o), v_load(b->zero_right + o)};
      const v16 *below0 = s->below + (size_t)(2 * p + 1) * M, *below1 = below0 + M;
      v16 factor[2][MAX_POINTS];
      for (uint32_t c = 0; c < 2; c++) trees_factors(s, zero_c[c], one_c[c], factor[c], M);
      for (uint32_t q = 0; q < M; q++) {
        v16 dq = v_fmadd(factor[0][q], below0[q], v_mul(factor[1][q], below1[q]));
        if (levels) dq = v_mul(dq, s->inv[(size_t)p * M + q]);
        d[q] = dq;
      }
      const mask16 deeper[2] = {lane_mask(b, p, GROVE_SHAP_MASK_DEEPER_LEFT),
                                lane_mask(b, p, GROVE_SHAP_MASK_DEEPER_RIGHT)};
      v16 excluded[2][MAX_POINTS];
      for (uint32_t c = 0; c < 2; c++) {
        v16 *collected = s->excluded + (size_t)(level * 2 + c) * M;
        for (uint32_t q = 0; q < M; q++) {
          excluded[c][q] = v_zero();
          if (deeper[c]) {
            excluded[c][q] = collected[q];
            collected[q] = v_zero();
          }
        }
      }
      const v16 share0 = v_sub(v_maskz(one_c[0], one), zero_c[0]);
      const v16 share1 = v_sub(v_maskz(one_c[1], one), zero_c[1]);
      shares = v_zero();
      for (uint32_t q = 0; q < M; q++) {
        const v16 in = v_fmadd(share0, below0[q], v_mul(share1, below1[q]));
        const v16 kept =
            deeper[0] | deeper[1]
                ? v_fmsub(above[q], in,
                          v_fmadd(share0, excluded[0][q], v_mul(share1, excluded[1][q])))
                : v_mul(above[q], in);
        shares = v_fmadd(s->w[q], kept, shares);
      }
    }
    /* phi: each lane its own slot, so a lane at a time is the scatter */
    float add[LANES];
    _mm256_storeu_ps(add, shares.h[0]);
    _mm256_storeu_ps(add + 8, shares.h[1]);
    const int16_t *feature = b->feature + o;
    for (int l = 0; l < LANES; l++) s->phi[b->group_base[l] + feature[l] * LANES] += add[l];
    if (levels) {
      for (uint32_t bits = levels & ~GROVE_SHAP_TINY_ZERO; bits; bits &= bits - 1) {
        const uint32_t up = (uint32_t)__builtin_ctz(bits);
        const mask16 at = b->repeat_at[(size_t)p * GROVE_SHAP_MASKS + up];
        v16 *sum = &s->excluded[(size_t)(up * 2 + pos_side(p, level, up)) * M];
        for (uint32_t q = 0; q < M; q++)
          sum[q] = v_blend(sum[q], at, v_fmadd(above[q], d[q], sum[q]));
      }
    }
  }
}

typedef void (*trees_walk_fn)(const trees_t *s, const uint8_t *order);

#define TREES_WALK_POINTS(M)                                           \
  static void trees_walk_##M(const trees_t *s, const uint8_t *order) { \
    const grove_shap_block_t block = *s->b;                            \
    trees_t local = *s;                                                \
    local.b = &block;                                                  \
    trees_down(&local, M);                                             \
    trees_up(&local, order, M);                                        \
  }
TREES_WALK_POINTS(2)
TREES_WALK_POINTS(3)
TREES_WALK_POINTS(4)
#undef TREES_WALK_POINTS

grove_err_t grove__shap_trees_avx2(const grove_forest_t *f, const void *rows, int f64, size_t nrows,
                                   double *out, uint32_t m, const double *t, const double *w,
                                   grove_error_t *err) {
  grove_shap_trees_scratch_t sc;
  const grove_err_t rc = grove__shap_trees_scratch_init(&sc, f, m, t, w, err);
  if (rc != GROVE_OK) return rc;
  const uint32_t M = sc.points, nf = f->info.num_features;
  const trees_walk_fn walk = M == 2 ? trees_walk_2 : M == 3 ? trees_walk_3 : trees_walk_4;
  trees_t s = {.f = f,
               .x = sc.x,
               .phi = sc.phi,
               .above = sc.above,
               .inv = sc.inv,
               .below = sc.below,
               .shares = sc.shares,
               .excluded = sc.excluded,
               .one = sc.one};
  for (uint32_t q = 0; q < M; q++) {
    s.t[q] = v_set1(sc.t[q]);
    s.omt[q] = v_set1(sc.omt[q]);
    s.w[q] = v_set1(sc.w[q]);
  }
  s.x_in_registers = nf < 16;
  for (size_t r = 0; r < nrows; r++) {
    double *o = out + r * (size_t)f->info.num_groups * (nf + 1);
    grove__shap_trees_row_begin(&sc, f, rows, f64, r, o);
    if (s.x_in_registers) {
      float padded[16] = {0};
      memcpy(padded, sc.x, (nf + 1) * sizeof *sc.x);
      s.x_lo = _mm256_loadu_ps(padded);
      s.x_hi = _mm256_loadu_ps(padded + 8);
    }
    for (uint32_t k = 0; k < f->num_shap_blocks; k++) {
      if (k % FLUSH == 0) memset(sc.phi, 0, sc.nphi * sizeof *sc.phi);
      s.b = &f->shap_blocks[k];
      s.depth = s.b->depth;
      for (uint32_t q = 0; q < M; q++) s.above[q] = v_set1(1.0f); /* the root's */
      walk(&s, grove__shap_post_order(s.depth));
      if (k % FLUSH == FLUSH - 1 || k + 1 == f->num_shap_blocks) grove__shap_trees_flush(&sc, f, o);
    }
  }
  grove__shap_trees_scratch_free(&sc);
  return GROVE_OK;
}
