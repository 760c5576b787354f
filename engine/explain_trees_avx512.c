/*
 * The TreeSHAP walk with trees in the lanes of avx512 vectors, for small batches: one row
 * at a time walks GROVE_SHAP_TREE_LANES trees at once, each laid out as a complete tree
 * (forest.h, grove_shap_block_t), so every lane takes the same steps and the branches depend
 * on the block's shape only. The values are those of explain_lanes.h's walk (see its
 * comment): products down, sums up, a feature's shares at the split that puts it on the
 * path; here each lane's split has its own feature, so the state of a feature further up
 * is found by the level of its split there (lane masks per level in the tables), and the
 * shares go to each lane's own slot of its feature (never two lanes on one slot) a lane at a
 * time: sixteen scalar adds took less than a gather and a scatter (bench/RESULTS.md). Float
 * forests only (XGBoost's, scikit-learn's: their libraries compute in float); the shares of
 * every 8 blocks are summed into the row's doubles. Every operation on a lane is
 * explain_lanes.h's float walk's, in the same order, so both give a row the same bits.
 *
 * Not a recursion but two loops over a block's positions, their state in arrays per
 * position: down in heap order (parents first: decisions, products, divisions, and all of
 * the last level's work but what must come in post-order), then up in post-order (the sums
 * and shares of the other splits, and in the recursive walks' order the phi sums and the
 * excluded sums, which are sums in float: their order is part of the bits). Each loop's
 * positions are independent but for the arrays, where a call per split waited on the one
 * below it and kept its vectors on the stack.
 */
#include <stdlib.h>
#include <string.h>

#include "explain.h"
#include "kernels/avx512_intrin.h"

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
  /* Per position of the block, each [position x points + point]: the products of the path's
   * factors above it (after a repeat's division), its repeat's 1 / old factor, and the sums
   * it returns (explain_lanes.h's A, 1 / f_old and D). */
  __m512 *above, *inv, *below;
  __m512 *shares;   /* [position]: the last level's shares, from the walk down */
  uint16_t *one;    /* [position x 2 + side]: the lanes whose row takes that side */
  /* [(level x 2 + side) x points + point]: the excluded sums (see explain_lanes.h) collected
   * for the split at that level on the current path, from below its child on that side. */
  __m512 *excluded;
  uint32_t depth;
  __m512 t[MAX_POINTS], omt[MAX_POINTS], w[MAX_POINTS];
  __m512i group_base;
} trees_t;

/* The lanes of position P's mask K (forest.h, GROVE_SHAP_MASK_*). */
static inline __mmask16 lane_mask(const grove_shap_block_t *b, uint32_t p, int k) {
  return b->masks[(size_t)p * GROVE_SHAP_MASKS + k];
}

/* The lanes whose row goes right at position P: the split truth table of kernels.h, lane by
 * lane. */
static inline __mmask16 trees_right(const trees_t *s, uint32_t p, __m512 x) {
  const grove_shap_block_t *b = s->b;
  const size_t o = (size_t)p * LANES;
  const __m512 threshold = _mm512_load_ps(b->threshold + o);
  __mmask16 right = _mm512_cmp_ps_mask(x, threshold, _CMP_NLT_UQ); /* row 6: !(x < t) */
  const __mmask16 categorical = lane_mask(b, p, GROVE_SHAP_MASK_CATEGORICAL);
  if (categorical) { /* rows 3-5 */
    const __m512 zero = _mm512_setzero_ps();
    __mmask16 ok = _mm512_mask_cmp_ps_mask(categorical, x, zero, _CMP_GE_OQ);
    ok = _mm512_mask_cmp_ps_mask(ok, x, _mm512_set1_ps(GROVE_MAX_CATEGORY), _CMP_LT_OQ);
    const __mmask16 trunc = lane_mask(b, p, GROVE_SHAP_MASK_CAT_TRUNC) & categorical;
    if (trunc) /* lanes with the flag, x in (-1, 0) */
      ok |= _mm512_mask_cmp_ps_mask(_mm512_mask_cmp_ps_mask(trunc, x, _mm512_set1_ps(-1.0f),
                                                            _CMP_GT_OQ),
                                    x, zero, _CMP_LT_OQ);
    const __m512i c = _mm512_maskz_cvttps_epi32(ok, x); /* truncates: (-1, 0) is 0 */
    const __m512i word = _mm512_srli_epi32(c, 5);
    const __m512i nwords =
        _mm512_cvtepu8_epi32(_mm_load_si128((const __m128i *)(b->nwords + o)));
    const __mmask16 in_words = _mm512_mask_cmplt_epu32_mask(ok, word, nwords);
    /* Sets of one word carry it; the others are gathered. */
    const __mmask16 gathered = in_words & lane_mask(b, p, GROVE_SHAP_MASK_MULTIWORD);
    __m512i bits = _mm512_castps_si512(threshold);
    if (gathered)
      bits = _mm512_mask_i32gather_epi32(bits, gathered, _mm512_add_epi32(bits, word),
                                         (const int *)s->f->cat_words, 4);
    const __mmask16 in_set = _mm512_mask_test_epi32_mask(
        in_words, _mm512_srlv_epi32(bits, _mm512_and_si512(c, _mm512_set1_epi32(31))),
        _mm512_set1_epi32(1));
    right = (right & ~categorical) | in_set;
  }
  __mmask16 missing = _mm512_cmp_ps_mask(x, x, _CMP_UNORD_Q); /* rows 1-2 */
  const __mmask16 zero_missing = lane_mask(b, p, GROVE_SHAP_MASK_ZERO_MISSING);
  if (zero_missing)
    missing |= _mm512_mask_cmp_ps_mask(zero_missing, _mm512_abs_ps(x),
                                       _mm512_set1_ps(GROVE_ZERO_BAND), _CMP_LE_OQ);
  right = (right & ~missing) | (missing & ~lane_mask(b, p, GROVE_SHAP_MASK_DEFAULT_LEFT));
  return right & ~lane_mask(b, p, GROVE_SHAP_MASK_PAD);
}

/* The heap's arithmetic: the level of position P, and its ancestor at level UP < its own and
 * the side of that ancestor P is below. */
static inline uint32_t pos_level(uint32_t p) { return 31u - (uint32_t)__builtin_clz(p + 1); }
static inline uint32_t pos_ancestor(uint32_t p, uint32_t level, uint32_t up) {
  return ((p + 1) >> (level - up)) - 1;
}
static inline uint32_t pos_side(uint32_t p, uint32_t level, uint32_t up) {
  return ((p + 1) >> (level - up - 1)) & 1;
}

/* What a split decides for the row: the lanes taking each side, and the lanes whose feature
 * is on the path already (repeat). */
typedef struct {
  __mmask16 one[2], repeat;
} split_t;

/* The split at POS (LEVEL): its decisions, and ABOVE (reached with the products A) divided by
 * a repeat's old factor, whose inverse goes to INV. The operations of explain_lanes.h's walk
 * on each lane; the tables hold the cover ratios already multiplied by a repeat's old zero
 * (grove__shap_blocks_build), the product explain_lanes.h takes here. */
static inline __attribute__((always_inline)) void trees_split(const trees_t *s, uint32_t pos,
                                                              uint32_t level, __m512 *above,
                                                              __m512 *inv, split_t *sp,
                                                              const uint32_t M) {
  const grove_shap_block_t *b = s->b;
  const size_t o = (size_t)pos * LANES;
  const __m512i feature =
      _mm512_cvtepi16_epi32(_mm256_load_si256((const __m256i *)(b->feature + o)));
  const __m512 x = s->x_in_registers ? _mm512_permutex2var_ps(s->x_lo, feature, s->x_hi)
                                     : _mm512_i32gather_ps(feature, s->x, 4);
  const __mmask16 right = trees_right(s, pos, x);
  sp->one[0] = (__mmask16)~right;
  sp->one[1] = right;
  const uint16_t *repeat_at = b->repeat_at + (size_t)pos * GROVE_SHAP_MASKS;
  sp->repeat = repeat_at[GROVE_SHAP_REPEAT_ANY];
  if (sp->repeat) { /* merge with the feature's element further up */
    const __m512 one = _mm512_set1_ps(1.0f);
    __m512 z = one;
    __mmask16 u = (__mmask16)~sp->repeat;
    /* Only the levels some lane refers to. */
    const uint32_t levels = b->repeat_levels[pos];
    for (uint32_t bits = levels & ~GROVE_SHAP_TINY_ZERO; bits; bits &= bits - 1) {
      const uint32_t up = (uint32_t)__builtin_ctz(bits);
      const __mmask16 at = repeat_at[up];
      const uint32_t anc = pos_ancestor(pos, level, up), side = pos_side(pos, level, up);
      const float *zero = side ? b->zero_right : b->zero_left;
      z = _mm512_mask_load_ps(z, at, zero + (size_t)anc * LANES);
      u |= at & s->one[anc * 2 + side];
    }
    sp->one[0] &= u;
    sp->one[1] &= u;
    /* Lanes without a repeat have z = u = 1: an old factor of exactly 1 (t + (1 - t)), an
     * inverse of exactly 1. */
    for (uint32_t q = 0; q < M; q++) {
      const __m512 old = _mm512_fmadd_ps(z, s->omt[q], _mm512_maskz_mov_ps(u, s->t[q]));
      if (levels & GROVE_SHAP_TINY_ZERO) {
        /* A lane whose old factor is 0 has A = 0 here: nothing below has a share. */
        const __mmask16 nonzero = _mm512_cmp_ps_mask(old, _mm512_setzero_ps(), _CMP_NEQ_OQ);
        inv[q] = _mm512_maskz_div_ps(nonzero, one, old);
      } else {
        inv[q] = _mm512_div_ps(one, old);
      }
      above[q] = _mm512_mul_ps(above[q], inv[q]);
    }
  }
}

/* The factors of side C at the M points: zero (1 - t) + one t. */
static inline __attribute__((always_inline)) void trees_factors(const trees_t *s, __m512 zero,
                                                                __mmask16 one, __m512 *factor,
                                                                const uint32_t M) {
  for (uint32_t q = 0; q < M; q++)
    factor[q] = _mm512_fmadd_ps(zero, s->omt[q], _mm512_maskz_mov_ps(one, s->t[q]));
}

/* The walk down, root to leaves in heap order: each split decided, its products passed down to
 * its children (s->above of a child holds what it is reached with until it is decided), and
 * the sums and shares of the last level's splits, whose children are leaves. */
static inline __attribute__((always_inline)) void trees_down(const trees_t *s, const uint32_t M) {
  const grove_shap_block_t *b = s->b;
  const uint32_t splits = (1u << s->depth) - 1, last = s->depth - 1;
  for (uint32_t p = 0; p < splits; p++) {
    const uint32_t level = pos_level(p);
    __m512 *above = s->above + (size_t)p * M;
    __m512 a[MAX_POINTS], inv[MAX_POINTS];
    for (uint32_t q = 0; q < M; q++) a[q] = above[q];
    split_t sp;
    trees_split(s, p, level, a, inv, &sp, M);
    if (sp.repeat)
      for (uint32_t q = 0; q < M; q++) above[q] = a[q];
    if (level < last) { /* what the walk up reads (the last level's work is done here) */
      s->one[2 * p] = sp.one[0];
      s->one[2 * p + 1] = sp.one[1];
      if (sp.repeat)
        for (uint32_t q = 0; q < M; q++) s->inv[(size_t)p * M + q] = inv[q];
    }
    const __m512 zero_c[2] = {_mm512_load_ps(b->zero_left + (size_t)p * LANES),
                              _mm512_load_ps(b->zero_right + (size_t)p * LANES)};
    __m512 factor[2][MAX_POINTS];
    for (uint32_t c = 0; c < 2; c++) trees_factors(s, zero_c[c], sp.one[c], factor[c], M);
    if (level < last) {
      for (uint32_t c = 0; c < 2; c++) {
        __m512 *ac = s->above + (size_t)(2 * p + 1 + c) * M;
        for (uint32_t q = 0; q < M; q++) ac[q] = _mm512_mul_ps(a[q], factor[c][q]);
      }
    } else {
      const float *leaf = b->leaf + (size_t)(2 * p + 1 - splits) * LANES;
      const __m512 v0 = _mm512_load_ps(leaf), v1 = _mm512_load_ps(leaf + LANES);
      /* Its shares too (no split below: nothing excluded), added to phi by the walk up. */
      const __m512 unit = _mm512_set1_ps(1.0f);
      const __m512 share0 = _mm512_sub_ps(_mm512_maskz_mov_ps(sp.one[0], unit), zero_c[0]);
      const __m512 share1 = _mm512_sub_ps(_mm512_maskz_mov_ps(sp.one[1], unit), zero_c[1]);
      const __m512 in = _mm512_fmadd_ps(share0, v0, _mm512_mul_ps(share1, v1));
      __m512 shares = _mm512_setzero_ps();
      for (uint32_t q = 0; q < M; q++) {
        shares = _mm512_fmadd_ps(s->w[q], _mm512_mul_ps(a[q], in), shares);
        __m512 d = _mm512_fmadd_ps(factor[0][q], v0, _mm512_mul_ps(factor[1][q], v1));
        if (sp.repeat) d = _mm512_mul_ps(d, inv[q]);
        s->below[(size_t)p * M + q] = d;
      }
      s->shares[p] = shares;
    }
  }
}

/* The walk up, children before parents in post-order (the order in which the recursive walks
 * add the shares): the sums each split above the last level returns and its features'
 * shares, each split's shares into phi, and a repeat's share of the excluded sums of the
 * split further up. */
static inline __attribute__((always_inline)) void trees_up(const trees_t *s, const uint8_t *order,
                                                           const uint32_t M) {
  const grove_shap_block_t *b = s->b;
  const uint32_t splits = (1u << s->depth) - 1, last = s->depth - 1;
  const __m512 one = _mm512_set1_ps(1.0f);
  for (uint32_t i = 0; i < splits; i++) {
    const uint32_t p = order[i], level = pos_level(p);
    const size_t o = (size_t)p * LANES;
    const __m512 *above = s->above + (size_t)p * M;
    __m512 *d = s->below + (size_t)p * M;
    const uint32_t levels = b->repeat_levels[p];
    __m512 shares;
    if (level == last) {
      shares = s->shares[p];
    } else {
      const __mmask16 one_c[2] = {s->one[2 * p], s->one[2 * p + 1]};
      const __m512 zero_c[2] = {_mm512_load_ps(b->zero_left + o),
                                _mm512_load_ps(b->zero_right + o)};
      const __m512 *below0 = s->below + (size_t)(2 * p + 1) * M, *below1 = below0 + M;
      /* The sums it returns, D, divided by a repeat's old factor. */
      __m512 factor[2][MAX_POINTS];
      for (uint32_t c = 0; c < 2; c++) trees_factors(s, zero_c[c], one_c[c], factor[c], M);
      for (uint32_t q = 0; q < M; q++) {
        __m512 dq =
            _mm512_fmadd_ps(factor[0][q], below0[q], _mm512_mul_ps(factor[1][q], below1[q]));
        if (levels) dq = _mm512_mul_ps(dq, s->inv[(size_t)p * M + q]);
        d[q] = dq;
      }
      const __mmask16 deeper[2] = {lane_mask(b, p, GROVE_SHAP_MASK_DEEPER_LEFT),
                                   lane_mask(b, p, GROVE_SHAP_MASK_DEEPER_RIGHT)};
      __m512 excluded[2][MAX_POINTS];
      for (uint32_t c = 0; c < 2; c++) {
        __m512 *collected = s->excluded + (size_t)(level * 2 + c) * M;
        for (uint32_t q = 0; q < M; q++) {
          excluded[c][q] = _mm512_setzero_ps();
          if (deeper[c]) { /* what the repeats below on that side collected; again 0 after */
            excluded[c][q] = collected[q];
            collected[q] = _mm512_setzero_ps();
          }
        }
      }
      const __m512 share0 = _mm512_sub_ps(_mm512_maskz_mov_ps(one_c[0], one), zero_c[0]);
      const __m512 share1 = _mm512_sub_ps(_mm512_maskz_mov_ps(one_c[1], one), zero_c[1]);
      shares = _mm512_setzero_ps();
      for (uint32_t q = 0; q < M; q++) {
        /* The same operations in the same order as explain_lanes.h's walk: see there. */
        const __m512 in = _mm512_fmadd_ps(share0, below0[q], _mm512_mul_ps(share1, below1[q]));
        /* Without repeats below, the leaves taken out are none (the same bits but for a
         * zero's sign, which the sums do not keep). */
        const __m512 kept =
            deeper[0] | deeper[1]
                ? _mm512_fmsub_ps(above[q], in,
                                  _mm512_fmadd_ps(share0, excluded[0][q],
                                                  _mm512_mul_ps(share1, excluded[1][q])))
                : _mm512_mul_ps(above[q], in);
        shares = _mm512_fmadd_ps(s->w[q], kept, shares);
      }
    }
    const __m512i feature =
        _mm512_cvtepi16_epi32(_mm256_load_si256((const __m256i *)(b->feature + o)));
    const __m512i phi_slot = _mm512_add_epi32(s->group_base, _mm512_slli_epi32(feature, 4));
    int32_t slot[LANES];
    float add[LANES];
    _mm512_storeu_si512(slot, phi_slot);
    _mm512_storeu_ps(add, shares);
    for (int l = 0; l < LANES; l++) s->phi[slot[l]] += add[l]; /* the scatter, lane by lane */
    if (levels) { /* for the split further up: S / its factor */
      for (uint32_t bits = levels & ~GROVE_SHAP_TINY_ZERO; bits; bits &= bits - 1) {
        const uint32_t up = (uint32_t)__builtin_ctz(bits);
        const __mmask16 at = b->repeat_at[(size_t)p * GROVE_SHAP_MASKS + up];
        __m512 *sum = &s->excluded[(size_t)(up * 2 + pos_side(p, level, up)) * M];
        for (uint32_t q = 0; q < M; q++) sum[q] = _mm512_mask3_fmadd_ps(above[q], d[q], sum[q], at);
      }
    }
  }
}

typedef void (*trees_walk_fn)(const trees_t *s, const uint8_t *order);

/* The walk works on copies of the state and the block's table pointers: the vectors it
 * stores may alias anything (__m512 is a may_alias type), so the compiler would load every
 * pointer again after each store into the original ones. */
#define TREES_WALK_POINTS(M)                                                  \
  static void trees_walk_##M(const trees_t *s, const uint8_t *order) {        \
    const grove_shap_block_t block = *s->b;                                   \
    trees_t local = *s;                                                       \
    local.b = &block;                                                         \
    trees_down(&local, M);                                                    \
    trees_up(&local, order, M);                                               \
  }
TREES_WALK_POINTS(2)
TREES_WALK_POINTS(3)
TREES_WALK_POINTS(4)
#undef TREES_WALK_POINTS

grove_err_t grove__shap_trees_avx512(const grove_forest_t *f, const void *rows, int f64,
                                     size_t nrows, double *out, uint32_t m, const double *t,
                                     const double *w, grove_error_t *err) {
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
    s.t[q] = _mm512_set1_ps(sc.t[q]);
    s.omt[q] = _mm512_set1_ps(sc.omt[q]);
    s.w[q] = _mm512_set1_ps(sc.w[q]);
  }
  s.x_in_registers = nf < 32;
  for (size_t r = 0; r < nrows; r++) {
    double *o = out + r * (size_t)f->info.num_groups * (nf + 1);
    grove__shap_trees_row_begin(&sc, f, rows, f64, r, o);
    if (s.x_in_registers) {
      float padded[32] = {0};
      memcpy(padded, sc.x, (nf + 1) * sizeof *sc.x);
      s.x_lo = _mm512_loadu_ps(padded);
      s.x_hi = _mm512_loadu_ps(padded + 16);
    }
    for (uint32_t k = 0; k < f->num_shap_blocks; k++) {
      if (k % FLUSH == 0) memset(sc.phi, 0, sc.nphi * sizeof *sc.phi);
      s.b = &f->shap_blocks[k];
      s.depth = s.b->depth;
      s.group_base = _mm512_loadu_si512(s.b->group_base);
      for (uint32_t q = 0; q < M; q++) s.above[q] = _mm512_set1_ps(1.0f); /* the root's */
      walk(&s, grove__shap_post_order(s.depth));
      if (k % FLUSH == FLUSH - 1 || k + 1 == f->num_shap_blocks) grove__shap_trees_flush(&sc, f, o);
    }
  }
  grove__shap_trees_scratch_free(&sc);
  return GROVE_OK;
}
