/*
 * AVX-512 kernels (built with -mavx512f -mavx512bw -mavx512vl -mavx512dq; the only file
 * of kernels with AVX-512 intrinsics). All walk 16 lanes level by level, deciding each
 * split exactly as grove__node_next() does (see the split truth table in kernels.h), and
 * add each row's leaf values to its margin one tree at a time in model order, so the
 * margins are bit-identical to the scalar kernel's (the ranks kernel, for numeric
 * forests, is described at its entry point at the end of the file):
 *  - trees: one row, 4 x 16 trees at a time (one lane per tree), gathering nodes, or for
 *    categorical forests the 6-level tables' entries (top6_trees_walk16): small batches;
 *  - rows: 16-row vectors of a feature-major block of 64 rows, through one tree (or 2 or
 *    4 trees for blocks of 32 or 16 rows): larger batches. A tree's top levels come from
 *    its tables in registers (top_walk16; top6_walk16 for 6-level tables, whose exits
 *    can hold the leaf values), the levels below from node gathers.
 * Four walks are interleaved level by level: each is a latency-bound chain of gathers,
 * and four of them keep the gather unit busy.
 * Categorical splits read sets within categories 0-31 from the node's value field and
 * gather the others' words (category_right16), or in the top levels read them from the
 * tables (top_category_right16).
 * Nodes, sets and tables are read as 32-bit words and 64-bit pairs at the offsets forest.h
 * names and static-asserts (GROVE_NODE_WORD_*, GROVE_NODE_PAIR_*, GROVE_TOP6_WORD_*, ...).
 * The rows kernel's feature-major block lives in the caller's scratch
 * (grove__kernel_scratch_bytes()): no kernel allocates.
 */
#include <string.h>

#include "avx512_intrin.h"
#include "kernels.h"

#define BLOCK_SHIFT GROVE_AVX512_BLOCK_SHIFT
#define BLOCK_ROWS  (1 << BLOCK_SHIFT)
#define VECS        (BLOCK_ROWS / 16)
/* The walks' helpers are stamped out per kind of forest and call (leaf64, plain: constants
 * at each call) and must be inlined whole: out of line, their arrays of vectors would go
 * through memory. */
#define WALK_INLINE static inline __attribute__((always_inline))
/* Vectors of 16 trees the trees kernel walks at once. */
#define TREE_VECS   4

/* The lanes of K whose FLAGS have BIT. */
static inline __mmask16 flag16(__mmask16 k, __m512i flags, uint32_t bit) {
  return _mm512_mask_test_epi32_mask(k, flags, _mm512_set1_epi32((int)bit));
}

/* The heap step of the top tables per lane: grove__top_child(pos, right). */
static inline __m512i heap_child16(__m512i pos, __mmask16 right) {
  const __m512i one = _mm512_set1_epi32(1);
  const __m512i p1 = _mm512_add_epi32(_mm512_add_epi32(pos, pos), one);
  return _mm512_mask_add_epi32(p1, right, p1, one);
}

/*
 * grove__category_goes_right() for the lanes in CAT (not missing there): rows 3-5 of the
 * split truth table in kernels.h. Codes outside [0, 2^24) ((-1, 2^24) with
 * GROVE_NODE_CAT_TRUNC) go left, the rest truncate and look up their bit.
 */
WALK_INLINE __mmask16 category_right16(const grove_forest_t *f, __mmask16 cat, __m512 xv,
                                       __m512i flags, __m512i thr_bits) {
  const __m512i zero = _mm512_setzero_si512(), one = _mm512_set1_epi32(1);
  __mmask16 in = _mm512_mask_cmp_ps_mask(cat, xv, _mm512_setzero_ps(), _CMP_GE_OQ);
  const __mmask16 trunc = flag16(cat, flags, GROVE_NODE_CAT_TRUNC);
  in |= _mm512_mask_cmp_ps_mask(trunc, xv, _mm512_set1_ps(-1.0f), _CMP_GT_OQ);
  in = _mm512_mask_cmp_ps_mask(in, xv, _mm512_set1_ps(GROVE_MAX_CATEGORY), _CMP_LT_OQ);
  if (!in) return 0;
  const __m512i c = _mm512_cvttps_epi32(xv);
  /* Sets within categories 0-31 are the node's own value bits (a shift by 32 or more is 0). */
  const __mmask16 word0 = flag16(in, flags, GROVE_NODE_CAT_WORD0);
  const __mmask16 small = _mm512_mask_test_epi32_mask(word0, _mm512_srlv_epi32(thr_bits, c), one);
  in &= (__mmask16)~word0;
  if (!in) return small;
  /* Sets of 2-7 words: where they start is the value, how many the flags say; larger
   * ones are looked up in cat_sets. */
  const __m512i nwmask = _mm512_set1_epi32(GROVE_NODE_CAT_NWORDS_MASK);
  __m512i off = thr_bits,
          nw = _mm512_srli_epi32(_mm512_and_si512(flags, nwmask), GROVE_NODE_CAT_NWORDS_SHIFT);
  const __mmask16 far = (__mmask16)(in & ~_mm512_mask_test_epi32_mask(in, flags, nwmask));
  if (far) {
    const __m512i s2 = _mm512_slli_epi32(_mm512_srli_epi32(flags, GROVE_NODE_CAT_SHIFT),
                                         GROVE_CAT_SET_WORDS_SHIFT);
    const int32_t *sets = (const int32_t *)f->cat_sets;
    off = _mm512_mask_i32gather_epi32(off, far, s2, sets + GROVE_CAT_SET_WORD_OFFSET, 4);
    nw = _mm512_mask_i32gather_epi32(nw, far, s2, sets + GROVE_CAT_SET_WORD_NWORDS, 4);
  }
  const __m512i word = _mm512_srli_epi32(c, 5);
  in = _mm512_mask_cmplt_epu32_mask(in, word, nw);
  const __m512i w =
      _mm512_mask_i32gather_epi32(zero, in, _mm512_add_epi32(off, word), f->cat_words, 4);
  const __m512i bit = _mm512_srlv_epi32(w, _mm512_and_si512(c, _mm512_set1_epi32(31)));
  return (__mmask16)(small | _mm512_mask_test_epi32_mask(in, bit, one));
}

/* TABLE[pos] of a 32-entry array of a top table (two aligned vectors: vpermt2d), per
 * lane: forest.h asserts every such array's size and alignment. */
static inline __m512i top_lookup(const void *table, __m512i pos) {
  return _mm512_permutex2var_epi32(_mm512_load_si512(table), pos,
                                   _mm512_load_si512((const int32_t *)table + 16));
}

/*
 * category_right16() for a tree's top levels whose sets all end before category 64: the
 * set's two words come from the tables, indexed by the lanes' positions POS. Rows 3-5 of
 * the split truth table in kernels.h, with 64 (past every set here) for 2^24.
 */
WALK_INLINE __mmask16 top_category_right16(const grove_top_t *top, __m512i pos, __mmask16 cat,
                                           __m512 xv, __m512i flags) {
  __mmask16 in = _mm512_mask_cmp_ps_mask(cat, xv, _mm512_setzero_ps(), _CMP_GE_OQ);
  const __mmask16 trunc = flag16(cat, flags, GROVE_NODE_CAT_TRUNC);
  in |= _mm512_mask_cmp_ps_mask(trunc, xv, _mm512_set1_ps(-1.0f), _CMP_GT_OQ);
  in = _mm512_mask_cmp_ps_mask(in, xv, _mm512_set1_ps(64.0f), _CMP_LT_OQ);
  const __m512i c = _mm512_cvttps_epi32(xv);
  const __mmask16 high = _mm512_test_epi32_mask(c, _mm512_set1_epi32(32));
  const __m512i w = _mm512_mask_blend_epi32(high, top_lookup(top->cat_words[0], pos),
                                            top_lookup(top->cat_words[1], pos));
  const __m512i bit = _mm512_srlv_epi32(w, _mm512_and_si512(c, _mm512_set1_epi32(31)));
  return _mm512_mask_test_epi32_mask(in, bit, _mm512_set1_epi32(1));
}

/*
 * The lanes of ACTIVE that go right at their split (FLAGS), given RIGHT = !(x < t) from
 * the threshold compare (row 6): see the split truth table in kernels.h. Missing values
 * (rows 1-2: NaN, and LightGBM's zero band) take the default direction and categorical
 * splits look up their set (rows 3-5; from the top tables TOP at positions POS, or when
 * TOP is NULL from the forest), as grove__node_next() does.
 */
WALK_INLINE __mmask16 decide16(const grove_forest_t *f, __mmask16 active, __m512 xv, __m512 thr,
                               __mmask16 right, __m512i flags, const grove_top_t *top,
                               __m512i pos) {
  __mmask16 missing = _mm512_mask_cmp_ps_mask(active, xv, xv, _CMP_UNORD_Q);
  if (f->num_zero_missing != 0) {
    const __mmask16 zm = flag16(active, flags, GROVE_NODE_ZERO_MISSING);
    missing |=
        _mm512_mask_cmp_ps_mask(zm, _mm512_abs_ps(xv), _mm512_set1_ps(GROVE_ZERO_BAND), _CMP_LE_OQ);
  }
  const __mmask16 dl = flag16(0xffff, flags, GROVE_NODE_DEFAULT_LEFT);
  right = (__mmask16)((right & ~missing) | (missing & ~dl));
  const __mmask16 cat = flag16((__mmask16)(active & ~missing), flags, GROVE_NODE_CATEGORICAL);
  if (cat)
    right = (__mmask16)((right & ~cat) |
                        (top ? top_category_right16(top, pos, cat, xv, flags)
                             : category_right16(f, cat, xv, flags, _mm512_castps_si512(thr))));
  return right;
}

/*
 * The category codes top6_decide16() reads (CODES) for the values XV of categorical features:
 * a value's truncation as an integer, 64 (no bit of any set) for negatives, NaN kept as it
 * is (missing). Every split on such a feature is categorical and none truncates
 * (grove__cat_codes_attach), so a code decides a split as its value would: 2^31 and past
 * convert to INT_MIN, which finds no bit either.
 */
static inline __m512 cat_codes16(__m512 xv) {
  const __mmask16 negative = _mm512_cmp_ps_mask(xv, _mm512_setzero_ps(), _CMP_LT_OQ);
  const __m512i c = _mm512_mask_mov_epi32(_mm512_cvttps_epi32(xv), negative, _mm512_set1_epi32(64));
  return _mm512_mask_mov_ps(_mm512_castsi512_ps(c), _mm512_cmp_ps_mask(xv, xv, _CMP_UNORD_Q), xv);
}

/* Whether the rows kernel (TREES 0) or the trees kernel (1) reads F's categorical features as
 * codes: the trees kernel converts a row held in registers (row_values16). */
static inline int codes_apply(const grove_forest_t *f, int trees) {
  return f->cat_codes != NULL && (!trees || f->info.num_features <= 32);
}

/*
 * decide16() for the 6-level tables' entries (see the split truth table in kernels.h),
 * without data-dependent branches: whether a tree's level has categorical lanes or
 * missing values changes from tree to tree, and the mispredicted branches cost the rows
 * kernel more than deciding every lane every time (the trees kernel neither gains nor
 * loses; figures in bench/RESULTS.md). Forests without categorical splits skip the
 * category part.
 * FLAGS = meta >> GROVE_TOP6_META_FLAGS_SHIFT (the low node flags, then the set's
 * categories 32-47), THR the threshold or the set's categories 0-31, RIGHT = !(x < t) from
 * the threshold compare (row 6; true for NaN). Lanes are not masked: dead ones decide
 * garbage nobody reads. CODES: the categorical lanes' XV holds category codes
 * (cat_codes16) in place of the values.
 */
WALK_INLINE __mmask16 top6_decide16(const grove_forest_t *f, __m512 xv, __m512 thr, __mmask16 right,
                                    __m512i flags, const int codes) {
  __mmask16 missing = _mm512_cmp_ps_mask(xv, xv, _CMP_UNORD_Q);
  if (f->num_zero_missing != 0) {
    const __mmask16 zm = flag16(0xffff, flags, GROVE_NODE_ZERO_MISSING);
    missing |=
        _mm512_mask_cmp_ps_mask(zm, _mm512_abs_ps(xv), _mm512_set1_ps(GROVE_ZERO_BAND), _CMP_LE_OQ);
  }
  /* Rows 1-2: missing values go their default way, right unless the split sends them left. */
  right = (__mmask16)((right | missing) & ~flag16(missing, flags, GROVE_NODE_DEFAULT_LEFT));
  if (f->info.num_categorical_splits == 0) return right; /* the same answer for every tree */
  const __mmask16 cat = flag16((__mmask16)~missing, flags, GROVE_NODE_CATEGORICAL);
  /* Rows 3-5. The code as an integer: bit c of the set, where a shift by 32 or more gives
   * 0, so each half answers only for its own codes and codes past 47 (and NaN and values
   * past 2^31, which convert to INT_MIN, and negatives below -1) find no bit. (-1, 0)
   * truncates to 0: category 0 only with GROVE_NODE_CAT_TRUNC (-0.0 is category 0 always). */
  __m512i c;
  __mmask16 in;
  if (codes) {
    c = _mm512_castps_si512(xv);
    in = cat;
  } else {
    c = _mm512_cvttps_epi32(xv);
    const __mmask16 neg = _mm512_mask_cmp_ps_mask(cat, xv, _mm512_setzero_ps(), _CMP_LT_OQ);
    in = (__mmask16)(cat & ~(neg & ~flag16(neg, flags, GROVE_NODE_CAT_TRUNC)));
  }
  const __m512i high =
      _mm512_srli_epi32(flags, GROVE_TOP6_META_CATS_SHIFT - GROVE_TOP6_META_FLAGS_SHIFT);
  const __m512i bit =
      _mm512_or_si512(_mm512_srlv_epi32(_mm512_castps_si512(thr), c),
                      _mm512_srlv_epi32(high, _mm512_sub_epi32(c, _mm512_set1_epi32(32))));
  return (__mmask16)((right & ~cat) | _mm512_mask_test_epi32_mask(in, bit, _mm512_set1_epi32(1)));
}

/*
 * The row's value of feature FEAT per lane: from registers X0 (features 0-15) and X1
 * (16-31) for rows of up to 32 features, else gathered from X.
 */
WALK_INLINE __m512 row_values16(uint32_t nf, __m512 x0, __m512 x1, const float *x, __mmask16 live,
                                __m512i feat) {
  if (nf <= 16) return _mm512_permutexvar_ps(feat, x0);
  if (nf <= 32) return _mm512_permutex2var_ps(x0, feat, x1);
  return _mm512_mask_i32gather_ps(_mm512_setzero_ps(), live, feat, x, 4);
}

/*
 * One level of one vector's walk: lanes in *ACTIVE at a split move to a child; lanes at a
 * leaf leave *ACTIVE with the leaf's value in *LEAF (read by the same gather, which saves
 * one per tree). A split's feature value is read at X + XOFF + (feature << FSHIFT): the
 * trees kernel reads one row (XOFF 0, FSHIFT 0), the rows kernel a feature-major block
 * (XOFF the lane's row, FSHIFT BLOCK_SHIFT).
 * LEAF64, a constant at each call, stamps out three walks: 0 for float forests (the 8-byte
 * copy when there is one), and for leaf64 forests LEAF64_NODES16 (the 16-byte nodes) or
 * LEAF64_NODES8 (the 8-byte copy, which they have). A leaf64 leaf's (value, feature) pair
 * is its tagged double (forest.h): its feature word is never below GROVE_LEAF64_FEATURES
 * as unsigned, where a split's always is. Walking the 16-byte nodes, the leaves' low words
 * (THR) go to LEAF64V[0] and their high words (FEAT) to LEAF64V[1], still tagged: two
 * register blends, where a blend of each 64-bit half would need its mask shifted each
 * step; walk16xV() pairs them up once per walk. Walking the 8-byte copy, whose leaves have
 * no room for a double, nothing is kept: walk16xV() gathers the doubles at the end. Each
 * leaf64 walk is its own code with no test of the other's: a walk that could take either
 * measured 6-8% slower on big_sum_1500 (bench/RESULTS.md).
 */
enum { LEAF64_NODES16 = 1, LEAF64_NODES8 = 2 };

WALK_INLINE void step16(const grove_forest_t *f, __m512i *idxp, __mmask16 *activep, __m512 *leaf,
                        __m512i *leaf64v, __m512i xoff, const int fshift, const float *x, __m512 x0,
                        __m512 x1, const int leaf64, const int plain) {
  const __m512i one = _mm512_set1_epi32(1), zero = _mm512_setzero_si512();
  /* Two gathers of 8 pairs give 16 low words (even dwords) and 16 high words (odd ones). */
  const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
  const __m512i odd = _mm512_add_epi32(even, one);
  const __m512i idx = *idxp;
  __mmask16 active = *activep;
  const __mmask8 alo = (__mmask8)active, ahi = (__mmask8)(active >> 8);
  /* Node i's pairs: (value, feature) and (left, flags) at nq[(i << GROVE_NODE_PAIRS_SHIFT) +
   * GROVE_NODE_PAIR_*]; or (value, packed) at n8[i]. */
  const long long *nq = (const long long *)f->nodes,
                  *n8 = leaf64 == LEAF64_NODES16 ? NULL : (const long long *)f->nodes8;
  const __m512i i2 = _mm512_slli_epi32(idx, GROVE_NODE_PAIRS_SHIFT);
  __m512 thr;
  __m512i feat, packed = zero;
  __mmask16 split;
  if (n8 != NULL) {
    /* The 8-byte copy (grove_node8_t): one 8-lane gather per half a level. */
    const __m512i lo = _mm512_mask_i32gather_epi64(zero, alo, _mm512_castsi512_si256(idx), n8, 8);
    const __m512i hi =
        _mm512_mask_i32gather_epi64(zero, ahi, _mm512_extracti64x4_epi64(idx, 1), n8, 8);
    thr = _mm512_castsi512_ps(_mm512_permutex2var_epi32(lo, even, hi));
    packed = _mm512_permutex2var_epi32(lo, odd, hi);
    feat = _mm512_and_si512(_mm512_srli_epi32(packed, GROVE_NODE8_FEATURE_SHIFT),
                            _mm512_set1_epi32(GROVE_NODE8_LEAF));
    split = _mm512_mask_cmpneq_epi32_mask(active, feat, _mm512_set1_epi32(GROVE_NODE8_LEAF));
    if (!leaf64) *leaf = _mm512_mask_mov_ps(*leaf, (__mmask16)(active & ~split), thr);
  } else {
    /* Two 64-bit gathers per pair of fields load half the elements of four 32-bit ones. */
    const __m512i none =
        _mm512_set1_epi64((long long)0xffffffff00000000ull); /* feature -1 (high), value 0 */
    const long long *vf = nq + GROVE_NODE_PAIR_VALUE_FEATURE;
    const __m512i vf_lo = _mm512_mask_i32gather_epi64(none, alo, _mm512_castsi512_si256(i2), vf, 8);
    const __m512i vf_hi =
        _mm512_mask_i32gather_epi64(none, ahi, _mm512_extracti64x4_epi64(i2, 1), vf, 8);
    feat = _mm512_permutex2var_epi32(vf_lo, odd, vf_hi);
    thr = _mm512_castsi512_ps(_mm512_permutex2var_epi32(vf_lo, even, vf_hi));
    if (leaf64) {
      split = _mm512_mask_cmplt_epu32_mask(active, feat, _mm512_set1_epi32(GROVE_LEAF64_FEATURES));
      const __mmask16 done = (__mmask16)(active & ~split);
      leaf64v[0] = _mm512_mask_mov_epi32(leaf64v[0], done, _mm512_castps_si512(thr));
      leaf64v[1] = _mm512_mask_mov_epi32(leaf64v[1], done, feat);
    } else {
      split = _mm512_mask_cmpge_epi32_mask(active, feat, zero);
      *leaf = _mm512_mask_mov_ps(*leaf, (__mmask16)(active & ~split), thr);
    }
  }
  *activep = active = split;
  if (!active) return;
  __m512i left, flags = zero;
  if (n8 != NULL) {
    left =
        _mm512_add_epi32(idx, _mm512_and_si512(packed, _mm512_set1_epi32(GROVE_NODE8_LEFT_MASK)));
    if (!plain)
      flags = _mm512_srli_epi32(packed, GROVE_NODE8_FLAGS_SHIFT); /* the top bits: no mask needed */
    /* Categorical splits need their set's whereabouts: the node's full flags. */
    const __mmask16 cat = plain ? 0 : flag16(active, flags, GROVE_NODE_CATEGORICAL);
    if (cat)
      flags =
          _mm512_mask_i32gather_epi32(flags, cat, _mm512_slli_epi32(idx, GROVE_NODE_WORDS_SHIFT),
                                      (const int32_t *)f->nodes + GROVE_NODE_WORD_FLAGS, 4);
  } else {
    const long long *lf = nq + GROVE_NODE_PAIR_LEFT_FLAGS;
    const __m512i lf_lo = _mm512_mask_i32gather_epi64(zero, alo, _mm512_castsi512_si256(i2), lf, 8);
    const __m512i lf_hi =
        _mm512_mask_i32gather_epi64(zero, ahi, _mm512_extracti64x4_epi64(i2, 1), lf, 8);
    left = _mm512_mask_mov_epi32(idx, active, _mm512_permutex2var_epi32(lf_lo, even, lf_hi));
    flags = _mm512_permutex2var_epi32(lf_lo, odd, lf_hi);
  }
  /* One row (the trees kernel) comes from registers when it fits them. */
  const __m512 xv =
      fshift == 0 ? row_values16(f->info.num_features, x0, x1, x, active, feat)
                  : _mm512_mask_i32gather_ps(
                        _mm512_setzero_ps(), active,
                        _mm512_add_epi32(xoff, _mm512_slli_epi32(feat, (unsigned)fshift)), x, 4);
  /* Row 6 of the split truth table first: !(x < t) is also true for NaN, which decide16
   * then overrides; rows without NaN in a plain forest need row 6 alone. */
  const __mmask16 ge = _mm512_mask_cmp_ps_mask(active, xv, thr, _CMP_NLT_UQ);
  const __mmask16 right = plain ? ge : decide16(f, active, xv, thr, ge, flags, NULL, idx);
  *idxp = _mm512_mask_add_epi32(left, right, left, one);
}

/*
 * Walks NV vectors of lanes from IDX to their leaves, one level of each per step, and
 * returns the leaf values in LEAF (0 in lanes not LIVE), or for leaf64 forests their tagged
 * doubles in LEAF64V[2v] (lanes 0-7) and LEAF64V[2v + 1] (lanes 8-15), the tag (+0 once
 * decoded) in lanes not LIVE: the walks are independent, so their gather-compare-gather
 * chains overlap.
 */
WALK_INLINE void walk16xV(const grove_forest_t *f, const int nv, __m512i *idx,
                          const __mmask16 *live, __m512 *leaf, __m512i *leaf64v,
                          const __m512i *xoff, const int fshift, const float *x, __m512 x0,
                          __m512 x1, const int leaf64, const int plain) {
  __mmask16 active[TREE_VECS > VECS ? TREE_VECS : VECS];
  for (int v = 0; v < nv; v++) {
    active[v] = live[v];
    if (leaf64) {
      leaf64v[2 * v] = _mm512_setzero_si512();
      leaf64v[2 * v + 1] = _mm512_set1_epi32((int)(GROVE_LEAF64_TAG >> 32));
    } else
      leaf[v] = _mm512_setzero_ps();
  }
  for (;;) {
    unsigned any = 0;
    for (int v = 0; v < nv; v++) {
      if (active[v])
        step16(f, &idx[v], &active[v], &leaf[v], leaf64 ? &leaf64v[2 * v] : NULL, xoff[v], fshift,
               x, x0, x1, leaf64, plain);
      any |= active[v];
    }
    if (!any) break;
  }
  if (!leaf64) return;
  const __m512i tag = _mm512_set1_epi64((long long)GROVE_LEAF64_TAG);
  if (leaf64 == LEAF64_NODES8) {
    /* Each lane's IDX is its leaf: its double is the 16-byte node's (value, feature) pair. */
    const long long *vf = (const long long *)f->nodes + GROVE_NODE_PAIR_VALUE_FEATURE;
    for (int v = 0; v < nv; v++) {
      const __m512i i2 = _mm512_slli_epi32(idx[v], GROVE_NODE_PAIRS_SHIFT);
      leaf64v[2 * v] =
          _mm512_mask_i32gather_epi64(tag, (__mmask8)live[v], _mm512_castsi512_si256(i2), vf, 8);
      leaf64v[2 * v + 1] = _mm512_mask_i32gather_epi64(tag, (__mmask8)_kshiftri_mask16(live[v], 8),
                                                       _mm512_extracti64x4_epi64(i2, 1), vf, 8);
    }
    return;
  }
  /* The low and high words kept by step16, paired up: lanes 0-7, then 8-15. */
  const __m512i pairs_lo =
      _mm512_setr_epi32(0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
  const __m512i pairs_hi =
      _mm512_setr_epi32(8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31);
  for (int v = 0; v < nv; v++) {
    const __m512i lo = leaf64v[2 * v], hi = leaf64v[2 * v + 1];
    leaf64v[2 * v] = _mm512_permutex2var_epi32(lo, pairs_lo, hi);
    leaf64v[2 * v + 1] = _mm512_permutex2var_epi32(lo, pairs_hi, hi);
  }
}

/* The doubles of 8 tagged leaf64 leaves (walk16xV), untagged. */
static inline __m512d leaf64_decode(__m512i tagged) {
  return _mm512_castsi512_pd(
      _mm512_xor_si512(tagged, _mm512_set1_epi64((long long)GROVE_LEAF64_TAG)));
}

/*
 * The trees kernel's walk through the 6-level tables, read from their copy for trees in
 * lanes (forest.h, tops6_lanes): lane k of vector v takes row X through tree
 * T0 + 16v + k's tables, each level's threshold and meta as a pair (loaded and blended at
 * levels 0-2, one 64-bit gather per 8 lanes below) and the split's row value from
 * registers, and categorical splits find their sets in registers (no gathers of category
 * words). In that copy a group's 16 trees have each pair side by side, so a level's slots
 * are whole vectors and its gather touches at most 2^level x 2 cache lines. Returns in IDX
 * the node reached below level 5, or for the lanes in LEAVES (trees whose exits are leaves)
 * the leaf value's bits.
 */
WALK_INLINE void top6_trees_walk16(const grove_forest_t *f, uint32_t t0, const __mmask16 *live,
                                   const float *x, __m512 x0, __m512 x1, __m512i *idx,
                                   __mmask16 *leaves, const int plain, const int codes) {
  const uint32_t nf = f->info.num_features;
  /* Group g's word w of lane k at (g * GROVE_TOP6_WORDS + w) * 16 + k. */
  const int32_t *tables = f->tops6_lanes;
  const __m512i lane = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
  const __m512i fmask = _mm512_set1_epi32(GROVE_TOP6_META_FEATURE_MASK);
  /* A pair's two words from the 8 pairs of lanes 0-7 and of lanes 8-15. */
  const __m512i first =
      _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
  const __m512i second = _mm512_add_epi32(first, _mm512_set1_epi32(1));
  __m512i base[TREE_VECS], pairs[TREE_VECS], pos[TREE_VECS];
  for (int v = 0; v < TREE_VECS; v++) {
    const int group = (int)((t0 / 16 + (uint32_t)v) * GROVE_TOP6_WORDS * 16);
    base[v] = _mm512_add_epi32(lane, _mm512_set1_epi32(group));
    pairs[v] = _mm512_add_epi32(lane, _mm512_set1_epi32(group / 2)); /* in pairs */
    pos[v] = _mm512_setzero_si512();
  }
  for (int level = 0; level < GROVE_TOP6_LEVELS; level++) {
    for (int v = 0; v < TREE_VECS; v++) {
      if (!live[v]) continue;
      __m512i lo, hi; /* the lanes' (value, meta) pairs */
      const int32_t *g = tables + (size_t)(t0 / 16 + (uint32_t)v) * GROVE_TOP6_WORDS * 16;
      if (level == 0) {
        lo = _mm512_maskz_load_epi64((__mmask8)live[v], g);
        hi = _mm512_maskz_load_epi64((__mmask8)(live[v] >> 8), g + 16);
      } else if (level < 3) {
        /* Levels 1-2: the pairs of the level's 2 or 4 slots loaded whole and chosen by the
         * lanes' positions, which measured faster than the gathers (bench/RESULTS.md). Dead
         * lanes read their zeros, as the gathers give them. */
        const __m512i j = _mm512_sub_epi32(pos[v], _mm512_set1_epi32((1 << level) - 1));
        const __mmask16 odd = _mm512_test_epi32_mask(j, _mm512_set1_epi32(1));
        const int32_t *p = g + GROVE_TOP6_PAIR((1u << level) - 1, 0);
        lo =
            _mm512_mask_blend_epi64((__mmask8)odd, _mm512_load_si512(p), _mm512_load_si512(p + 32));
        hi = _mm512_mask_blend_epi64((__mmask8)(odd >> 8), _mm512_load_si512(p + 16),
                                     _mm512_load_si512(p + 48));
        if (level == 2) { /* the second pair of slots, and the choice between the pairs */
          const __mmask16 second_two = _mm512_test_epi32_mask(j, _mm512_set1_epi32(2));
          const __m512i lo2 = _mm512_mask_blend_epi64((__mmask8)odd, _mm512_load_si512(p + 64),
                                                      _mm512_load_si512(p + 96));
          const __m512i hi2 = _mm512_mask_blend_epi64(
              (__mmask8)(odd >> 8), _mm512_load_si512(p + 80), _mm512_load_si512(p + 112));
          lo = _mm512_mask_blend_epi64((__mmask8)second_two, lo, lo2);
          hi = _mm512_mask_blend_epi64((__mmask8)(second_two >> 8), hi, hi2);
        }
      } else {
        /* One 64-bit gather per 8 lanes reads both words, where two 32-bit gathers of 16
         * lanes did: half the elements (gathers cost by the element). The last level's
         * positions 31-62 are at [GROVE_TOP6_HALF + p % 32]: p | 32 there. */
        const __m512i slot = _mm512_add_epi32(
            pairs[v],
            _mm512_slli_epi32(level < GROVE_TOP6_LEVELS - 1
                                  ? pos[v]
                                  : _mm512_or_si512(pos[v], _mm512_set1_epi32(GROVE_TOP6_HALF)),
                              4));
        lo = _mm512_mask_i32gather_epi64(_mm512_setzero_si512(), (__mmask8)live[v],
                                         _mm512_castsi512_si256(slot), tables, 8);
        hi = _mm512_mask_i32gather_epi64(_mm512_setzero_si512(), (__mmask8)(live[v] >> 8),
                                         _mm512_extracti64x4_epi64(slot, 1), tables, 8);
      }
      const __m512 thr = _mm512_castsi512_ps(_mm512_permutex2var_epi32(lo, first, hi));
      const __m512i meta = _mm512_permutex2var_epi32(lo, second, hi);
      const __m512 xv = row_values16(nf, x0, x1, x, live[v], _mm512_and_si512(meta, fmask));
      const __mmask16 ge = _mm512_cmp_ps_mask(xv, thr, _CMP_NLT_UQ);
      const __mmask16 right =
          plain ? ge
                : top6_decide16(f, xv, thr, ge,
                                _mm512_srli_epi32(meta, GROVE_TOP6_META_FLAGS_SHIFT), codes);
      pos[v] = heap_child16(pos[v], right);
    }
  }
  for (int v = 0; v < TREE_VECS; v++) {
    idx[v] = _mm512_setzero_si512();
    leaves[v] = 0;
    if (!live[v]) continue;
    const __m512i e = _mm512_add_epi32(
        base[v],
        _mm512_slli_epi32(_mm512_and_si512(pos[v], _mm512_set1_epi32(GROVE_TOP6_SLOTS - 1)), 4));
    idx[v] = _mm512_mask_i32gather_epi32(_mm512_setzero_si512(), live[v], e,
                                         tables + GROVE_TOP6_WORD_EXIT * 16, 4);
    const int32_t *g = tables + (size_t)(t0 / 16 + (uint32_t)v) * GROVE_TOP6_WORDS * 16 +
                       GROVE_TOP6_PAIR(GROVE_TOP6_SUMMARY, 0);
    const __m512i summary = _mm512_maskz_mov_epi32(
        live[v],
        _mm512_permutex2var_epi32(_mm512_load_si512(g), second, _mm512_load_si512(g + 16)));
    leaves[v] = flag16(live[v], summary, GROVE_TOP6_LEAF_EXITS);
  }
}

/* The trees kernel's body: float sums into M32, or (LEAF64, see step16) double sums into M64.
 * PLAIN: rows without NaN through a forest of plain numeric splits (plain_call()); CODES: each
 * row's categorical features as codes (codes_apply()). */
WALK_INLINE void trees16(const grove_forest_t *f, const float *rows, size_t nrows, float *m32,
                         double *m64, const int leaf64, const int plain, const int codes) {
  const uint32_t nf = f->info.num_features, ng = f->info.num_groups, nt = f->info.num_trees;
  const int six = grove__avx512_trees_walk_tops6(f);
  const uint32_t coded = codes ? f->cat_codes->below32 : 0; /* the row's lanes taking codes */
  __m512i xoff[TREE_VECS];
  for (int v = 0; v < TREE_VECS; v++) xoff[v] = _mm512_setzero_si512();
  for (size_t r = 0; r < nrows; r++) {
    const float *x = rows + r * nf;
    /* The row in registers (row_values16). */
    __m512 x0 = _mm512_setzero_ps(), x1 = _mm512_setzero_ps();
    if (nf <= 32) {
      x0 = _mm512_maskz_loadu_ps((__mmask16)(nf >= 16 ? 0xffff : (1u << nf) - 1), x);
      if (nf > 16) x1 = _mm512_maskz_loadu_ps((__mmask16)((1u << (nf - 16)) - 1), x + 16);
    }
    if (codes) {
      x0 = _mm512_mask_mov_ps(x0, (__mmask16)coded, cat_codes16(x0));
      x1 = _mm512_mask_mov_ps(x1, (__mmask16)(coded >> 16), cat_codes16(x1));
    }
    for (uint32_t t0 = 0; t0 < nt; t0 += 16 * TREE_VECS) {
      __m512i idx[TREE_VECS];
      __mmask16 live[TREE_VECS];
      for (int v = 0; v < TREE_VECS; v++) {
        const uint32_t t = t0 + 16 * (uint32_t)v, n = t >= nt ? 0 : nt - t < 16 ? nt - t : 16;
        live[v] = (__mmask16)((1u << n) - 1);
        if (!six) idx[v] = _mm512_maskz_loadu_epi32(live[v], f->roots + (n ? t : 0));
      }
      __m512 leaf[TREE_VECS];
      __m512i leaf64v[2 * TREE_VECS];
      if (six) {
        /* Leaf64 tables never hold leaf values in their exits (builder.c): LEAVES is 0. */
        __mmask16 leaves[TREE_VECS], rest[TREE_VECS];
        top6_trees_walk16(f, t0, live, x, x0, x1, idx, leaves, plain, codes);
        unsigned any = 0;
        for (int v = 0; v < TREE_VECS; v++) any |= rest[v] = (__mmask16)(live[v] & ~leaves[v]);
        if (any)
          walk16xV(f, TREE_VECS, idx, rest, leaf, leaf64v, xoff, 0, x, x0, x1, leaf64, plain);
        for (int v = 0; v < TREE_VECS && !leaf64; v++)
          leaf[v] = any ? _mm512_mask_mov_ps(leaf[v], leaves[v], _mm512_castsi512_ps(idx[v]))
                        : _mm512_castsi512_ps(idx[v]);
      } else {
        walk16xV(f, TREE_VECS, idx, live, leaf, leaf64v, xoff, 0, x, x0, x1, leaf64, plain);
      }
      for (int v = 0; v < TREE_VECS && live[v]; v++) {
        const uint32_t t = t0 + 16 * (uint32_t)v, n = nt - t < 16 ? nt - t : 16;
        if (leaf64) {
          double l[16];
          _mm512_storeu_pd(l, leaf64_decode(leaf64v[2 * v]));
          _mm512_storeu_pd(l + 8, leaf64_decode(leaf64v[2 * v + 1]));
          grove__add_leaves64(f, m64 + r * ng, l, t, n);
        } else {
          float l[16];
          _mm512_storeu_ps(l, leaf[v]);
          grove__add_leaves(f, m32 + r * ng, l, t, n);
        }
      }
    }
  }
}

/*
 * Whether a call's NROWS ROWS may take the plain walks: a forest of numeric splits only (no
 * categorical sets, no zero band) and rows without NaN, so that row 6 of the split truth
 * table (go right when !(x < t)) decides every split. The check is one pass over the rows;
 * a call with a NaN anywhere takes the full walks, which decide the same way.
 */
static int plain_call(const grove_forest_t *f, const float *rows, size_t nrows) {
  if (f->info.num_categorical_splits != 0 || f->num_zero_missing != 0) return 0;
  const size_t n = nrows * f->info.num_features;
  __mmask16 nan = 0;
  size_t i = 0;
  for (; i + 16 <= n; i += 16) {
    const __m512 v = _mm512_loadu_ps(rows + i);
    nan |= _mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q);
  }
  const __m512 v = _mm512_maskz_loadu_ps((__mmask16)((1u << (n - i)) - 1), rows + i);
  nan |= _mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q);
  return nan == 0;
}

void grove__predict_avx512_trees(const grove_forest_t *f, const float *rows, size_t nrows,
                                 grove_margins_t margins, void *scratch) {
  (void)scratch; /* needs none */
  const int plain = plain_call(f, rows, nrows);
  if (!f->leaf64 && plain)
    trees16(f, rows, nrows, margins.f32, NULL, 0, 1, 0);
  else if (codes_apply(f, 1)) /* (never plain: it has categorical splits) */
    trees16(f, rows, nrows, margins.f32, NULL, 0, 0, 1);
  else if (!f->leaf64)
    trees16(f, rows, nrows, margins.f32, NULL, 0, 0, 0);
  else if (f->nodes8 != NULL && plain)
    trees16(f, rows, nrows, NULL, margins.f64, LEAF64_NODES8, 1, 0);
  else if (f->nodes8 != NULL)
    trees16(f, rows, nrows, NULL, margins.f64, LEAF64_NODES8, 0, 0);
  else if (plain)
    trees16(f, rows, nrows, NULL, margins.f64, LEAF64_NODES16, 1, 0);
  else
    trees16(f, rows, nrows, NULL, margins.f64, LEAF64_NODES16, 0, 0);
}

/* Copies NB rows of NF features (row-major) to XT[f * 64 + row], zeros past NB. */
static void transpose_block(const float *x, size_t nb, uint32_t nf, float *xt) {
  const __m512i lane = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
  for (int v = 0; v < VECS; v++) {
    const size_t first = (size_t)v * 16, n = first >= nb ? 0 : nb - first < 16 ? nb - first : 16;
    const __mmask16 live = (__mmask16)((1u << n) - 1);
    const __m512i xi = _mm512_mullo_epi32(_mm512_add_epi32(lane, _mm512_set1_epi32((int)first)),
                                          _mm512_set1_epi32((int)nf));
    for (uint32_t j = 0; j < nf; j++)
      _mm512_store_ps(
          xt + (size_t)j * BLOCK_ROWS + first,
          _mm512_mask_i32gather_ps(_mm512_setzero_ps(), live,
                                   _mm512_add_epi32(xi, _mm512_set1_epi32((int)j)), x, 4));
  }
}

/* Replaces the values of the categorical features CC lists in the feature-major block XT with
 * their codes (cat_codes16). */
static void cat_codes_block(const grove_cat_codes_t *cc, float *xt) {
  for (uint32_t k = 0; k < cc->count; k++) {
    float *x = xt + (size_t)cc->feature[k] * BLOCK_ROWS;
    for (int v = 0; v < VECS; v++)
      _mm512_store_ps(x + v * 16, cat_codes16(_mm512_load_ps(x + v * 16)));
  }
}

/* Levels whose row values are loaded whole from the feature-major block and blended (2^L
 * candidate features at level L); deeper top levels gather them. */
#define TOP_BLEND_LEVELS  3
/* The same for the 6-level tables, whose candidates are chosen by the lanes' positions. With
 * the walks' loop kept unrolled, levels 0-3 this way measured faster on Zen 4 than gathering
 * from level 1 down (figures in bench/RESULTS.md); top6_walk16 stamps out levels 0-3. */
#define TOP6_BLEND_LEVELS 4
_Static_assert(TOP6_BLEND_LEVELS == 4, "top6_walk16 calls top6_candidates16 for levels 0-3");

/*
 * Walks VECS vectors of a feature-major block XT through the top GROVE_TOP_LEVELS levels
 * of a tree: walk w takes the 16 rows ROW[w] (their first at FIRST[w]) through the tree
 * of tables TOP[w] (forest.h), and IDX[w] gets the nodes reached below the last level.
 * Lane positions index the tables with vpermt2d, so no node is gathered; a split's
 * row values are a contiguous load at the root (every lane has the same feature), a
 * blend of loads for the next levels, and a gather below.
 */
WALK_INLINE void top_walk16(const grove_forest_t *f, const grove_top_t *const *top, const float *xt,
                            const int *first, const __m512i *row, __m512i *idx) {
  __m512i pos[VECS];
  __mmask16 r[VECS][GROVE_TOP_LEVELS];
  for (int w = 0; w < VECS; w++) pos[w] = _mm512_setzero_si512();
  for (int level = 0; level < GROVE_TOP_LEVELS; level++) {
    for (int w = 0; w < VECS; w++) {
      const grove_top_t *t = top[w];
      __m512 xv;
      if (level < TOP_BLEND_LEVELS) {
        /* Candidate j of 2^level is heap position 2^level - 1 + j; j's bits are the
         * lane's decisions, first one highest: merge pairs by the last decision first. */
        __m512 c[1 << TOP_BLEND_LEVELS];
        const int n = 1 << level;
        for (int j = 0; j < n; j++)
          c[j] = _mm512_load_ps(xt + (size_t)t->feature[n - 1 + j] * BLOCK_ROWS + first[w]);
        for (int k = level - 1; k >= 0; k--)
          for (int j = 0; j < 1 << k; j++)
            c[j] = _mm512_mask_blend_ps(r[w][k], c[2 * j], c[2 * j + 1]);
        xv = c[0];
      } else {
        const __m512i feat = top_lookup(t->feature, pos[w]);
        xv = _mm512_i32gather_ps(_mm512_add_epi32(row[w], _mm512_slli_epi32(feat, BLOCK_SHIFT)), xt,
                                 4);
      }
      const __m512 thr = _mm512_castsi512_ps(top_lookup(t->value, pos[w]));
      /* Row 6 of the split truth table first: !(x < t) is also true for NaN, which
       * decide16 then overrides (rows 1-5), when the tree's top levels need it. */
      __mmask16 right = _mm512_cmp_ps_mask(xv, thr, _CMP_NLT_UQ);
      const uint32_t summary = t->flags[GROVE_TOP_SLOTS - 1];
      if ((summary & (GROVE_NODE_CATEGORICAL | GROVE_NODE_ZERO_MISSING)) ||
          _mm512_cmp_ps_mask(xv, xv, _CMP_UNORD_Q))
        right = decide16(f, 0xffff, xv, thr, right, top_lookup(t->flags, pos[w]),
                         summary & GROVE_TOP_WIDE_SETS ? NULL : t, pos[w]);
      r[w][level] = right;
      pos[w] = heap_child16(pos[w], right);
    }
  }
  for (int w = 0; w < VECS; w++) idx[w] = top_lookup(top[w]->exit, pos[w]);
}

/*
 * The row values at level LEVEL (< TOP6_BLEND_LEVELS) of the 6-level tables' walk, for lanes
 * at heap positions POS: the level's 2^LEVEL candidate features' values loaded from X (the
 * block's feature-major values at the vector's first row) and chosen by the positions: bit k
 * of a lane's j = POS - (2^LEVEL - 1) picks within pairs at step k. Every slot of META names a
 * feature (pads 0), so every load is within the block.
 */
WALK_INLINE __m512 top6_candidates16(const float *x, const uint32_t *meta, __m512i pos,
                                     const int level) {
  const int n = 1 << level;
  const __m512i j = _mm512_sub_epi32(pos, _mm512_set1_epi32(n - 1));
  __m512 c[1 << (TOP6_BLEND_LEVELS - 1)];
  for (int k = 0; k < n; k++)
    c[k] =
        _mm512_load_ps(x + (size_t)(meta[n - 1 + k] & GROVE_TOP6_META_FEATURE_MASK) * BLOCK_ROWS);
  for (int bit = 0, m = n; m > 1; bit++, m /= 2) {
    const __mmask16 odd = _mm512_test_epi32_mask(j, _mm512_set1_epi32(1 << bit));
    for (int k = 0; k < m / 2; k++) c[k] = _mm512_mask_blend_ps(odd, c[2 * k], c[2 * k + 1]);
  }
  return c[0];
}

/*
 * top_walk16() for the 6-level tables (grove_top6_t). Returns in IDX the node reached
 * below level 5, or for trees whose exits are all leaves (bit w of the result) the leaf
 * value's bits.
 */
WALK_INLINE unsigned top6_walk16(const grove_forest_t *f, const grove_top6_t *const *top,
                                 const float *xt, const int *first, const __m512i *row,
                                 __m512i *idx, const int plain, const int codes) {
  const __m512i fmask = _mm512_set1_epi32(GROVE_TOP6_META_FEATURE_MASK);
  __m512i pos[VECS];
  for (int w = 0; w < VECS; w++) pos[w] = _mm512_setzero_si512();
  for (int level = 0; level < GROVE_TOP6_LEVELS; level++) {
    /* The last level's positions are in each array's second half (forest.h). */
    const int half = level < GROVE_TOP6_LEVELS - 1 ? 0 : GROVE_TOP6_HALF;
    /* Rolled up, this loop kept its positions in memory and waited on each gather: slower by
     * more than the blends below save (bench/RESULTS.md). */
#pragma GCC unroll 4
    for (int w = 0; w < VECS; w++) {
      const grove_top6_t *t = top[w];
      __m512 xv;
      const __m512i meta = top_lookup(t->meta + half, pos[w]);
      if (level < TOP6_BLEND_LEVELS) {
        /* One call per level, each with its constant: the candidates' loops unroll. */
        const float *x = xt + first[w];
        xv = level == 0   ? top6_candidates16(x, t->meta, pos[w], 0)
             : level == 1 ? top6_candidates16(x, t->meta, pos[w], 1)
             : level == 2 ? top6_candidates16(x, t->meta, pos[w], 2)
                          : top6_candidates16(x, t->meta, pos[w], 3);
      } else {
        const __m512i feat = _mm512_and_si512(meta, fmask);
        xv = _mm512_i32gather_ps(_mm512_add_epi32(row[w], _mm512_slli_epi32(feat, BLOCK_SHIFT)), xt,
                                 4);
      }
      const __m512 thr = _mm512_castsi512_ps(top_lookup(t->value + half, pos[w]));
      /* Row 6 of the split truth table first; top6_decide16 does rows 1-5. */
      __mmask16 right = _mm512_cmp_ps_mask(xv, thr, _CMP_NLT_UQ);
      if (!plain)
        right = top6_decide16(f, xv, thr, right,
                              _mm512_srli_epi32(meta, GROVE_TOP6_META_FLAGS_SHIFT), codes);
      pos[w] = heap_child16(pos[w], right);
    }
  }
  unsigned leaves = 0;
  for (int w = 0; w < VECS; w++) {
    /* Exit positions 63..126 are at exit[p % 64]: bit 5 of p picks the half. */
    const uint32_t *e = top[w]->exit;
    idx[w] = _mm512_mask_blend_epi32(flag16(0xffff, pos[w], GROVE_TOP6_HALF), top_lookup(e, pos[w]),
                                     top_lookup(e + GROVE_TOP6_HALF, pos[w]));
    if (top[w]->meta[GROVE_TOP6_SUMMARY] & GROVE_TOP6_LEAF_EXITS) leaves |= 1u << w;
  }
  return leaves;
}

/*
 * The rows kernel's body. Each block of 64 rows is first copied feature-major into SCRATCH
 * (XT: the caller's grove__avx512_rows_scratch_bytes(), 64-byte aligned), so that the top
 * levels can load a feature's 16 row values whole (top_walk16); the levels below, and every
 * level of a forest without top tables, gather from it. VECS walks are interleaved: the block's
 * four vectors through one tree, or for a block of 16 or 32 rows, its vectors through four or two
 * trees at once. Float sums go into M32, or (LEAF64, see step16) double sums into M64 (ACC64[v]:
 * vector v's rows 0-7 and 8-15); PLAIN: see plain_call(); CODES: the block's categorical
 * features as codes (cat_codes_block; forests with cat_codes, whose walks end in the tables).
 */
WALK_INLINE void rows16(const grove_forest_t *f, const float *rows, size_t nrows, float *m32,
                        double *m64, void *scratch, const int leaf64, const int plain,
                        const int codes) {
  const uint32_t nf = f->info.num_features, ng = f->info.num_groups, nt = f->info.num_trees;
  const __m512i lane = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
  const int six = f->tops != NULL && f->top_levels == GROVE_TOP6_LEVELS;
  /* At least one feature's rows: the tables of a tree that is one leaf name feature 0. */
  float *xt = scratch;
  if (nf == 0) memset(xt, 0, BLOCK_ROWS * sizeof *xt);
  for (size_t r0 = 0; r0 < nrows; r0 += BLOCK_ROWS) {
    const size_t nb = nrows - r0 < BLOCK_ROWS ? nrows - r0 : BLOCK_ROWS;
    transpose_block(rows + r0 * nf, nb, nf, xt);
    if (codes) cat_codes_block(f->cat_codes, xt);
    __mmask16 live[VECS];
    __m512 acc[VECS];
    __m512d acc64[VECS][2];
    for (int v = 0; v < VECS; v++) {
      const size_t first = (size_t)v * 16, n = first >= nb ? 0 : nb - first < 16 ? nb - first : 16;
      live[v] = (__mmask16)((1u << n) - 1);
      const __mmask16 load = ng == 1 ? live[v] : 0;
      if (leaf64) {
        acc64[v][0] = _mm512_maskz_loadu_pd((__mmask8)load, m64 + r0 + first);
        acc64[v][1] = _mm512_maskz_loadu_pd((__mmask8)(load >> 8), m64 + r0 + first + 8);
      } else {
        acc[v] = _mm512_maskz_loadu_ps(load, m32 + r0 + first);
      }
    }
    /* Walk w: vector w % nv through tree t + w / nv. */
    const int nv = nb > 32 ? 4 : nb > 16 ? 2 : 1, per = VECS / nv;
    int first[VECS];
    __m512i row[VECS];
    for (int w = 0; w < VECS; w++) {
      first[w] = w % nv * 16;
      row[w] = _mm512_add_epi32(lane, _mm512_set1_epi32(first[w]));
    }
    for (uint32_t t = 0; t < nt; t += (uint32_t)per) {
      const grove_top_t *top[VECS] = {NULL};
      const grove_top6_t *top6[VECS] = {NULL};
      __mmask16 wlive[VECS];
      __m512i idx[VECS];
      for (int w = 0; w < VECS; w++) {
        const uint32_t tw = t + (uint32_t)(w / nv);
        wlive[w] = tw < nt ? live[w % nv] : 0;
        /* The root, which the top tables' walks replace with the node below them. */
        idx[w] = _mm512_set1_epi32((int)f->roots[tw < nt ? tw : t]);
        if (six)
          top6[w] = &f->tops6[tw < nt ? tw : t];
        else if (f->tops != NULL)
          top[w] = &f->tops[tw < nt ? tw : t];
      }
      /* Leaf64 tables never hold leaf values in their exits (builder.c): LEAVES stays 0. */
      unsigned leaves = 0;
      if (six) {
        leaves = top6_walk16(f, top6, xt, first, row, idx, plain, codes);
        for (int w = 0; w < VECS; w++)
          if (leaves & (1u << w)) wlive[w] = 0;
      } else if (f->tops != NULL) {
        top_walk16(f, top, xt, first, row, idx);
      }
      __m512 leaf[VECS];
      __m512i leaf64v[2 * VECS];
      if (!leaf64 && leaves == (1u << VECS) - 1) {
        for (int w = 0; w < VECS; w++) leaf[w] = _mm512_castsi512_ps(idx[w]);
      } else {
        walk16xV(f, VECS, idx, wlive, leaf, leaf64v, row, BLOCK_SHIFT, xt, _mm512_setzero_ps(),
                 _mm512_setzero_ps(), leaf64, plain);
        for (int w = 0; w < VECS && !leaf64; w++)
          if (leaves & (1u << w)) leaf[w] = _mm512_castsi512_ps(idx[w]);
      }
      /* Each vector's trees in model order. */
      for (int w = 0; w < VECS && t + (uint32_t)(w / nv) < nt; w++) {
        const int v = w % nv;
        const uint32_t g = f->tree_groups[t + (uint32_t)(w / nv)];
        if (leaf64) {
          const __m512d lo = leaf64_decode(leaf64v[2 * w]), hi = leaf64_decode(leaf64v[2 * w + 1]);
          if (ng == 1) {
            acc64[v][0] = _mm512_add_pd(acc64[v][0], lo);
            acc64[v][1] = _mm512_add_pd(acc64[v][1], hi);
          } else {
            double l[16];
            _mm512_storeu_pd(l, lo);
            _mm512_storeu_pd(l + 8, hi);
            for (size_t k = 0; k < 16 && (size_t)first[w] + k < nb; k++)
              m64[(r0 + (size_t)first[w] + k) * ng + g] += l[k];
          }
        } else if (ng == 1) {
          acc[v] = _mm512_add_ps(acc[v], leaf[w]);
        } else {
          float l[16];
          _mm512_storeu_ps(l, leaf[w]);
          for (size_t k = 0; k < 16 && (size_t)first[w] + k < nb; k++)
            m32[(r0 + (size_t)first[w] + k) * ng + g] += l[k];
        }
      }
    }
    if (ng != 1) continue;
    for (int v = 0; v < VECS; v++) {
      if (leaf64) {
        _mm512_mask_storeu_pd(m64 + r0 + v * 16, (__mmask8)live[v], acc64[v][0]);
        _mm512_mask_storeu_pd(m64 + r0 + v * 16 + 8, (__mmask8)(live[v] >> 8), acc64[v][1]);
      } else {
        _mm512_mask_storeu_ps(m32 + r0 + v * 16, live[v], acc[v]);
      }
    }
  }
}

void grove__predict_avx512_rows(const grove_forest_t *f, const float *rows, size_t nrows,
                                grove_margins_t margins, void *scratch) {
  const int plain = plain_call(f, rows, nrows);
  if (!f->leaf64 && plain)
    rows16(f, rows, nrows, margins.f32, NULL, scratch, 0, 1, 0);
  else if (codes_apply(f, 0)) /* (never plain: it has categorical splits) */
    rows16(f, rows, nrows, margins.f32, NULL, scratch, 0, 0, 1);
  else if (!f->leaf64)
    rows16(f, rows, nrows, margins.f32, NULL, scratch, 0, 0, 0);
  else if (f->nodes8 != NULL && plain)
    rows16(f, rows, nrows, NULL, margins.f64, scratch, LEAF64_NODES8, 1, 0);
  else if (f->nodes8 != NULL)
    rows16(f, rows, nrows, NULL, margins.f64, scratch, LEAF64_NODES8, 0, 0);
  else if (plain)
    rows16(f, rows, nrows, NULL, margins.f64, scratch, LEAF64_NODES16, 1, 0);
  else
    rows16(f, rows, nrows, NULL, margins.f64, scratch, LEAF64_NODES16, 0, 0);
}

/*
 * The ranks kernel's bins (forest.h, grove_ranks_t): for each of NB rows of ROWS (NF
 * features), how many of each feature's thresholds are <= its value, at
 * BINS[row * RANKS_ROW_WORDS + j].
 * A branch-free binary search per feature, 16 rows in the lanes and 8 features at once
 * (each search is a chain of dependent gathers; eight chains keep the gather unit busy).
 */
#define RANKS_ROW_WORDS GROVE_RANKS_ROW_WORDS /* bins, then leaves */
#define RANKS_SEARCHES  8
static void ranks_bins(const grove_ranks_t *rk, const float *rows, size_t nb, uint32_t nf,
                       uint32_t *bins) {
  const __m512i lane = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
  const __m512i one = _mm512_set1_epi32(1);
  const __m512i row_at = _mm512_mullo_epi32(lane, _mm512_set1_epi32((int)nf));
  const __m512i bin_at = _mm512_mullo_epi32(lane, _mm512_set1_epi32(RANKS_ROW_WORDS));
  for (size_t r0 = 0; r0 < nb; r0 += 16) {
    const __mmask16 live = (__mmask16)((1u << (nb - r0 < 16 ? nb - r0 : 16)) - 1);
    const float *x = rows + r0 * nf;
    uint32_t *out = bins + r0 * RANKS_ROW_WORDS;
    for (uint32_t j0 = 0; j0 < nf; j0 += RANKS_SEARCHES) {
      __m512i pos[RANKS_SEARCHES], count[RANKS_SEARCHES];
      __m512 xv[RANKS_SEARCHES];
      uint32_t most = 0;
      for (int s = 0; s < RANKS_SEARCHES; s++) {
        const uint32_t j = j0 + (uint32_t)s;
        const uint32_t n = j < nf ? rk->offsets[j + 1] - rk->offsets[j] : 0;
        pos[s] = _mm512_setzero_si512();
        count[s] = _mm512_set1_epi32((int)n);
        if (n > most) most = n;
        xv[s] = j < nf ? _mm512_mask_i32gather_ps(
                             _mm512_setzero_ps(), live,
                             _mm512_add_epi32(row_at, _mm512_set1_epi32((int)j)), x, 4)
                       : _mm512_setzero_ps();
      }
      for (uint32_t step = grove__ranks_first_step(most); most != 0 && step != 0; step >>= 1) {
        for (int s = 0; s < RANKS_SEARCHES; s++) {
          const uint32_t j = j0 + (uint32_t)s;
          if (j >= nf) break;
          const __m512i cand = _mm512_add_epi32(pos[s], _mm512_set1_epi32((int)step));
          const __mmask16 in = _mm512_mask_cmple_epu32_mask(live, cand, count[s]);
          const __m512 t =
              _mm512_mask_i32gather_ps(_mm512_setzero_ps(), in, _mm512_sub_epi32(cand, one),
                                       rk->thresholds + rk->offsets[j], 4);
          pos[s] = _mm512_mask_mov_epi32(pos[s], _mm512_mask_cmp_ps_mask(in, t, xv[s], _CMP_LE_OQ),
                                         cand);
        }
      }
      /* NaN compares false with every threshold (bin 0 so far): its own bin. */
      for (int s = 0; s < RANKS_SEARCHES && j0 + (uint32_t)s < nf; s++)
        _mm512_mask_i32scatter_epi32(
            out, live, _mm512_add_epi32(bin_at, _mm512_set1_epi32((int)j0 + s)),
            _mm512_mask_mov_epi32(pos[s], _mm512_cmp_ps_mask(xv[s], xv[s], _CMP_UNORD_Q),
                                  _mm512_set1_epi32((int)GROVE_RANKS_MISSING)),
            4);
    }
  }
}

/* Transposes the 16 x 16 floats of R: lane j of R[i] goes to lane i of R[j]. */
static inline void transpose16(__m512 r[16]) {
  __m512 t[16], u[16], v[16];
  for (int i = 0; i < 8; i++) { /* pairs of rows, element by element */
    t[2 * i] = _mm512_unpacklo_ps(r[2 * i], r[2 * i + 1]);
    t[2 * i + 1] = _mm512_unpackhi_ps(r[2 * i], r[2 * i + 1]);
  }
  for (int i = 0; i < 4; i++) { /* then pairs of those */
    const __m512d a = _mm512_castps_pd(t[4 * i]), b = _mm512_castps_pd(t[4 * i + 1]),
                  c = _mm512_castps_pd(t[4 * i + 2]), d = _mm512_castps_pd(t[4 * i + 3]);
    u[4 * i] = _mm512_castpd_ps(_mm512_unpacklo_pd(a, c));
    u[4 * i + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(a, c));
    u[4 * i + 2] = _mm512_castpd_ps(_mm512_unpacklo_pd(b, d));
    u[4 * i + 3] = _mm512_castpd_ps(_mm512_unpackhi_pd(b, d));
  }
  for (int h = 0; h < 2; h++) /* then 128-bit quarters */
    for (int i = 0; i < 4; i++) {
      v[8 * h + i] = _mm512_shuffle_f32x4(u[8 * h + i], u[8 * h + 4 + i], 0x88);
      v[8 * h + 4 + i] = _mm512_shuffle_f32x4(u[8 * h + i], u[8 * h + 4 + i], 0xdd);
    }
  for (int i = 0; i < 8; i++) {
    r[i] = _mm512_shuffle_f32x4(v[i], v[8 + i], 0x88);
    r[8 + i] = _mm512_shuffle_f32x4(v[i], v[8 + i], 0xdd);
  }
}

/* Lane k's word of position P in the words W of a group: W[P * 16 + k]. */
static inline __m512i ranks_at(__m512i p) {
  const __m512i lane = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
  return _mm512_add_epi32(_mm512_slli_epi32(p, 4), lane);
}

/* Whether each lane goes right at its split word W, for a row whose bins are B0 (features
 * 0-15) and B1 (16-31): bin > rank, and a missing value (GROVE_RANKS_MISSING, above every
 * rank) left where the word says so (forest.h, grove_ranks_t). PLAIN: the call has no NaN. */
WALK_INLINE __mmask16 ranks_right(__m512i w, __m512i b0, __m512i b1, const int plain) {
  const __m512i bin =
      _mm512_permutex2var_epi32(b0, _mm512_srli_epi32(w, GROVE_RANKS_FEATURE_SHIFT), b1);
  const __mmask16 right =
      _mm512_cmpgt_epu32_mask(bin, _mm512_and_si512(w, _mm512_set1_epi32(GROVE_RANKS_RANK_MASK)));
  if (plain) return right;
  const __mmask16 missing =
      _mm512_cmpeq_epi32_mask(bin, _mm512_set1_epi32((int)GROVE_RANKS_MISSING));
  return (__mmask16)(right & ~_mm512_mask_test_epi32_mask(
                                 missing, w, _mm512_set1_epi32((int)GROVE_RANKS_DEFAULT_LEFT)));
}

/*
 * GROVE_RANKS_WALKS rows of a block (bins at BINS, rows past NB repeat the first) through
 * one group of 16 trees (words W, leaves L), their leaf values to
 * LEAVES[row * RANKS_ROW_WORDS + lane].
 * Levels 0-2 read their words from 7 vectors the walks share, chosen by blends, and level 3
 * from 8 loaded vectors the same way (a gather costs more on Zen 4: bench/RESULTS.md); the
 * levels below gather them. Every walk takes depth steps: pads carry a shallower leaf down.
 */
_Static_assert(GROVE_RANKS_MIN_DEPTH >= 3, "ranks_walk blends levels 0-2");
WALK_INLINE void ranks_walk(const grove_ranks_t *rk, const int32_t *w, const float *l,
                            const uint32_t *bins, size_t nb, uint32_t nf, uint32_t *leaves,
                            const int plain) {
  const __m512i one = _mm512_set1_epi32(1);
  const uint32_t depth = rk->depth, splits = (1u << depth) - 1;
  /* Only the row's features' bins were written. */
  const __mmask16 k0 = (__mmask16)(nf >= 16 ? 0xffffu : (1u << nf) - 1),
                  k1 = (__mmask16)(nf > 16 ? (1u << (nf - 16)) - 1 : 0);
  __m512i b0[GROVE_RANKS_WALKS], b1[GROVE_RANKS_WALKS], p[GROVE_RANKS_WALKS];
  for (int i = 0; i < GROVE_RANKS_WALKS; i++) {
    const uint32_t *b = bins + ((size_t)i < nb ? (size_t)i : 0) * RANKS_ROW_WORDS;
    b0[i] = _mm512_maskz_load_epi32(k0, b);
    b1[i] = _mm512_maskz_load_epi32(k1, b + 16);
  }
  const __m512i w0 = _mm512_load_si512(w), w1 = _mm512_load_si512(w + 16),
                w2 = _mm512_load_si512(w + 32), w3 = _mm512_load_si512(w + 48),
                w4 = _mm512_load_si512(w + 64), w5 = _mm512_load_si512(w + 80),
                w6 = _mm512_load_si512(w + 96);
  for (int i = 0; i < GROVE_RANKS_WALKS; i++) {
    const __mmask16 r1 = ranks_right(w0, b0[i], b1[i], plain);
    const __mmask16 r2 = ranks_right(_mm512_mask_blend_epi32(r1, w1, w2), b0[i], b1[i], plain);
    const __m512i x2 = _mm512_mask_blend_epi32(r1, _mm512_mask_blend_epi32(r2, w3, w4),
                                               _mm512_mask_blend_epi32(r2, w5, w6));
    const __mmask16 r3 = ranks_right(x2, b0[i], b1[i], plain);
    /* Level 3's position: 7 + 4 r1 + 2 r2 + r3. */
    __m512i q = _mm512_set1_epi32(7);
    q = _mm512_mask_add_epi32(q, r1, q, _mm512_set1_epi32(4));
    q = _mm512_mask_add_epi32(q, r2, q, _mm512_set1_epi32(2));
    q = _mm512_mask_add_epi32(q, r3, q, one);
    if (depth > 3) { /* level 3 too: its 8 words loaded, chosen by the three decisions */
      const int32_t *at3 = w + 7 * 16;
      const __m512i left = _mm512_mask_blend_epi32(
          r2, _mm512_mask_blend_epi32(r3, _mm512_load_si512(at3), _mm512_load_si512(at3 + 16)),
          _mm512_mask_blend_epi32(r3, _mm512_load_si512(at3 + 32), _mm512_load_si512(at3 + 48)));
      const __m512i right = _mm512_mask_blend_epi32(
          r2, _mm512_mask_blend_epi32(r3, _mm512_load_si512(at3 + 64), _mm512_load_si512(at3 + 80)),
          _mm512_mask_blend_epi32(r3, _mm512_load_si512(at3 + 96), _mm512_load_si512(at3 + 112)));
      const __mmask16 r4 =
          ranks_right(_mm512_mask_blend_epi32(r1, left, right), b0[i], b1[i], plain);
      const __m512i c = _mm512_add_epi32(_mm512_add_epi32(q, q), one);
      q = _mm512_mask_add_epi32(c, r4, c, one);
    }
    p[i] = q;
  }
  for (uint32_t d = depth > 3 ? 4 : 3; d < depth; d++)
    for (int i = 0; i < GROVE_RANKS_WALKS; i++) {
      const __mmask16 r =
          ranks_right(_mm512_i32gather_epi32(ranks_at(p[i]), w, 4), b0[i], b1[i], plain);
      const __m512i c = _mm512_add_epi32(_mm512_add_epi32(p[i], p[i]), one);
      p[i] = _mm512_mask_add_epi32(c, r, c, one);
    }
  for (int i = 0; i < GROVE_RANKS_WALKS; i++)
    _mm512_store_si512(
        leaves + (size_t)i * RANKS_ROW_WORDS,
        _mm512_i32gather_epi32(ranks_at(_mm512_sub_epi32(p[i], _mm512_set1_epi32((int)splits))),
                               (const int32_t *)l, 4));
}

/*
 * The ranks kernel (forest.h, grove_ranks_t; its scratch: kernels.h): trees in the lanes,
 * as the trees kernel, but with a row's bins in two registers instead of its values and
 * every tree walked as a complete tree, so a level is one gather of a 4-byte word, and a
 * group's 32 KB of words and leaves (depth 8) stays in L1 while a block's rows walk it.
 * Rows' sums are float, tree by tree in model order: the scalar kernel's bits. PLAIN (a
 * constant at each call, see plain_call()) leaves out the missing values' decisions.
 */
WALK_INLINE void ranks16(const grove_forest_t *f, const float *rows, size_t nrows, float *m,
                         void *scratch, const int plain) {
  const grove_ranks_t *rk = f->ranks;
  const uint32_t nf = f->info.num_features, nt = f->info.num_trees, ng = f->info.num_groups,
                 splits = (1u << rk->depth) - 1;
  enum { CHUNKS = GROVE_RANKS_BLOCK / 16 };
  uint32_t *bins = scratch, *leaves = bins + GROVE_RANKS_MAX_FEATURES;
  /* With several output groups, the block's margins group by group, [group][row]. */
  float *gm = (float *)(bins + (GROVE_RANKS_BLOCK + GROVE_RANKS_WALKS) * RANKS_ROW_WORDS);
  for (size_t r0 = 0; r0 < nrows; r0 += GROVE_RANKS_BLOCK) {
    const size_t nb = nrows - r0 < GROVE_RANKS_BLOCK ? nrows - r0 : GROVE_RANKS_BLOCK;
    ranks_bins(rk, rows + r0 * nf, nb, nf, bins);
    __mmask16 live[CHUNKS];
    __m512 acc[CHUNKS];
    for (int c = 0; c < CHUNKS; c++) {
      const size_t first = (size_t)c * 16, n = first >= nb ? 0 : nb - first < 16 ? nb - first : 16;
      live[c] = (__mmask16)((1u << n) - 1);
      acc[c] = _mm512_maskz_loadu_ps(ng == 1 ? live[c] : 0, m + r0 + first);
    }
    for (size_t r = 0; r < nb && ng > 1; r++)
      for (uint32_t g = 0; g < ng; g++) gm[g * GROVE_RANKS_BLOCK + r] = m[(r0 + r) * ng + g];
    for (uint32_t k = 0; k < rk->num_groups; k++) {
      const int32_t *w = (const int32_t *)rk->words + (size_t)k * splits * GROVE_RANKS_LANES;
      const float *l = rk->leaves + (size_t)k * (splits + 1) * GROVE_RANKS_LANES;
      for (size_t r = 0; r < nb; r += GROVE_RANKS_WALKS)
        ranks_walk(rk, w, l, bins + r * RANKS_ROW_WORDS, nb - r, nf, leaves + r * RANKS_ROW_WORDS,
                   plain);
      const uint32_t t0 = k * GROVE_RANKS_LANES,
                     lanes = nt - t0 < GROVE_RANKS_LANES ? nt - t0 : GROVE_RANKS_LANES;
      for (int c = 0; c < CHUNKS && live[c]; c++) {
        /* The chunk's 16 rows x 16 trees turned tree by tree (a gather per tree cost more). */
        const float *at = (const float *)leaves + (size_t)c * 16 * RANKS_ROW_WORDS;
        __m512 tree[16];
        for (int row = 0; row < 16; row++)
          tree[row] = _mm512_maskz_load_ps((__mmask16)(live[c] >> row & 1 ? 0xffff : 0),
                                           at + (size_t)row * RANKS_ROW_WORDS);
        transpose16(tree);
        if (ng == 1) {
          for (uint32_t t = 0; t < lanes; t++) acc[c] = _mm512_add_ps(acc[c], tree[t]);
        } else { /* each tree into its own group's margins, still in model order */
          for (uint32_t t = 0; t < lanes; t++) {
            float *p = gm + (size_t)f->tree_groups[t0 + t] * GROVE_RANKS_BLOCK + (size_t)c * 16;
            _mm512_mask_store_ps(p, live[c],
                                 _mm512_add_ps(_mm512_maskz_load_ps(live[c], p), tree[t]));
          }
        }
      }
    }
    for (int c = 0; c < CHUNKS && ng == 1; c++)
      _mm512_mask_storeu_ps(m + r0 + (size_t)c * 16, live[c], acc[c]);
    for (size_t r = 0; r < nb && ng > 1; r++)
      for (uint32_t g = 0; g < ng; g++) m[(r0 + r) * ng + g] = gm[g * GROVE_RANKS_BLOCK + r];
  }
}

/* Forests without ranks (the kernel tests call every kernel on every forest) take the rows
 * kernel. */
void grove__predict_avx512_ranks(const grove_forest_t *f, const float *rows, size_t nrows,
                                 grove_margins_t margins, void *scratch) {
  if (f->ranks == NULL)
    grove__predict_avx512_rows(f, rows, nrows, margins, scratch);
  else if (plain_call(f, rows, nrows))
    ranks16(f, rows, nrows, margins.f32, scratch, 1);
  else
    ranks16(f, rows, nrows, margins.f32, scratch, 0);
}
