/* Internal: the flat layout of a loaded forest, shared by the builder and the kernels. */
#ifndef GROVE_FOREST_H
#define GROVE_FOREST_H

#include <stddef.h>
#include <string.h>

#include "engine/grove_engine.h"

/* Node flags. */
#define GROVE_NODE_DEFAULT_LEFT 0x1u /* a missing value (NaN) goes to the left child */
#define GROVE_NODE_CATEGORICAL  0x2u /* the split tests set membership, not x < value */
#define GROVE_NODE_ZERO_MISSING \
  0x4u /* |x| <= GROVE_ZERO_BAND is missing too (LightGBM's missing type Zero) */
#define GROVE_NODE_CAT_TRUNC \
  0x8u /* categorical: x in (-1, 0) is category 0 (LightGBM's int cast) */
#define GROVE_NODE_CAT_WORD0                                          \
  0x10u /* categorical, set within categories 0-31: `value` holds its \
           bits too, so SIMD kernels need no gather for it */
#define GROVE_NODE_CAT_NWORDS_SHIFT                            \
  5 /* categorical, set of 2-7 words: their number in bits 5-7 \
     */
#define GROVE_NODE_CAT_NWORDS_MASK \
  0xE0u                        /*   and `value` holds the first word's index in cat_words */
#define GROVE_NODE_CAT_SHIFT 8 /* flags >> 8: index into forest->cat_sets */
/* A numeric split of a forest with thresholds64 (LightGBM's): flags >> GROVE_NODE_T64_SHIFT is
 * the index of its double threshold in forest->thresholds64 (the exact walk reads it). */
#define GROVE_NODE_T64_SHIFT GROVE_NODE_CAT_SHIFT
#define GROVE_NODE_T64_MAX   (UINT32_MAX >> GROVE_NODE_T64_SHIFT)
/* A leaf's flags: 0, or GROVE_LEAF_LINEAR when its value is a linear model,
 * forest->linear[left] (LightGBM's linear trees: only the exact walk reads it). */
#define GROVE_LEAF_LINEAR    0x1u
/* The flags a split's decision reads besides where its set is: the compact copies
 * (grove_node8_t, grove_top6_t) keep only these 4 bits. */
#define GROVE_NODE_LOW_FLAGS 0xfu
_Static_assert((GROVE_NODE_DEFAULT_LEFT | GROVE_NODE_CATEGORICAL | GROVE_NODE_ZERO_MISSING |
                GROVE_NODE_CAT_TRUNC) == GROVE_NODE_LOW_FLAGS,
               "the decision's flags are the low 4 bits");

/* XGBoost treats category values outside [0, 2^24) as "not in the set" (left). */
#define GROVE_MAX_CATEGORY 16777216.0f

/* LightGBM's kZeroThreshold: with missing type Zero, values this close to 0 are missing. */
#define GROVE_ZERO_BAND 1e-35f

/*
 * Leaves of a forest whose sums are doubles (forest->leaf64: LightGBM adds its double leaf
 * values in double). Such a leaf keeps its double in its first 8 bytes, the words `value`
 * (low) and `feature` (high), XOR GROVE_LEAF64_TAG: the tag flips the exponent's top 9
 * bits, so the high word of every encodable value is, read as uint32, at least
 * GROVE_LEAF64_FEATURES, while every split's feature is below it. One gather of a node's
 * (value, feature) pair then says whether it is a leaf and, if so, gives its double: a walk
 * needs no extra load for the leaf value, as with float leaves. Encodable are all finite
 * doubles but the positive ones from 2^1021 up (the builder refuses those), and forests of
 * leaf64 leaves have fewer than GROVE_LEAF64_FEATURES features.
 */
#define GROVE_LEAF64_FEATURES (1u << 22)
#define GROVE_LEAF64_TAG      0x7fc0000000000000ull

static inline uint64_t grove__leaf64_encode(double d) {
  uint64_t u;
  memcpy(&u, &d, sizeof u);
  return u ^ GROVE_LEAF64_TAG;
}

/* Whether D can be a leaf64 leaf: its encoded high word is not a feature. */
static inline int grove__leaf64_encodable(double d) {
  return d == d && (uint32_t)(grove__leaf64_encode(d) >> 32) >= GROVE_LEAF64_FEATURES;
}

static inline double grove__leaf64_decode(uint64_t u) {
  u ^= GROVE_LEAF64_TAG;
  double d;
  memcpy(&d, &u, sizeof d);
  return d;
}

/*
 * The layouts below are read by the SIMD kernels as arrays of 32-bit words (a gather
 * scales its indexes by 4) or of 64-bit pairs of words, not through field names: each
 * struct is followed by the word (or pair) of every field a kernel reads, derived from
 * offsetof, and by _Static_asserts on the sizes and offsets those reads assume. In a pair
 * the lower-addressed field is the low word (x86 is little-endian): the even lanes after
 * a kernel splits a gathered pair.
 */

/*
 * One node: 16 bytes, so four fit in a cache line. Each tree's nodes are stored in
 * breadth-first order with the two children of a split adjacent, so the next node is
 * `left + go_right`: the shape the vectorized kernels walk with one gather per level.
 */
typedef struct {
  float value;     /* split threshold (go right when !(x < value)), or the leaf value;
                      the set's bits for GROVE_NODE_CAT_WORD0 splits, its first word's
                      index for GROVE_NODE_CAT_NWORDS_MASK ones */
  int32_t feature; /* split feature, or -1 for a leaf */
  uint32_t left;   /* index of the left child in forest->nodes; right is left + 1 */
  uint32_t flags;  /* GROVE_NODE_* bits; categorical set index above GROVE_NODE_CAT_SHIFT */
} grove_node_t;

enum {
  GROVE_NODE_WORDS_SHIFT = 2, /* node i's 32-bit words are [i << 2, (i << 2) + 4) */
  GROVE_NODE_WORD_VALUE = offsetof(grove_node_t, value) / 4,
  GROVE_NODE_WORD_FEATURE = offsetof(grove_node_t, feature) / 4,
  GROVE_NODE_WORD_LEFT = offsetof(grove_node_t, left) / 4,
  GROVE_NODE_WORD_FLAGS = offsetof(grove_node_t, flags) / 4,
  GROVE_NODE_PAIRS_SHIFT = 1, /* node i's 64-bit pairs are [i << 1, (i << 1) + 2) */
  GROVE_NODE_PAIR_VALUE_FEATURE = offsetof(grove_node_t, value) / 8, /* value low, feature high */
  GROVE_NODE_PAIR_LEFT_FLAGS = offsetof(grove_node_t, left) / 8,     /* left low, flags high */
};
_Static_assert(sizeof(grove_node_t) == 16 && sizeof(grove_node_t) == 4u << GROVE_NODE_WORDS_SHIFT &&
                   sizeof(grove_node_t) == 8u << GROVE_NODE_PAIRS_SHIFT && sizeof(float) == 4,
               "a node is 4 words, 2 pairs");
_Static_assert(
    offsetof(grove_node_t, value) == 0 && offsetof(grove_node_t, feature) == 4 &&
        offsetof(grove_node_t, left) == 8 && offsetof(grove_node_t, flags) == 12,
    "node words 0-3 are value, feature, left, flags: pairs (value, feature), (left, flags)");

/* The double of leaf N of a leaf64 forest: its pair (value, feature), decoded. */
static inline double grove__node_leaf64(const grove_node_t *n) {
  uint64_t u;
  memcpy(&u, n, sizeof u);
  return grove__leaf64_decode(u);
}

/* Whether node N splits: its feature is a feature index (a leaf's is -1 in float forests,
 * a tagged double's high word in leaf64 ones). */
static inline int grove__node_is_split(int leaf64, const grove_node_t *n) {
  return leaf64 ? (uint32_t)n->feature < GROVE_LEAF64_FEATURES : n->feature >= 0;
}

/*
 * A linear leaf (LightGBM's linear_tree): its value is constant + sum of coeff * x[feature]
 * over terms[first .. first + count), in that order and in double; when one of those
 * features is NaN the leaf's own value (its leaf64 double) is the answer instead.
 */
typedef struct {
  double constant;
  uint32_t first; /* index of its first term in forest->linear_terms */
  uint32_t count;
} grove_linear_t;

typedef struct {
  double coeff;
  uint32_t feature;
  uint32_t unused;
} grove_linear_term_t;

/* A categorical split's set: bit c of words[offset..offset+nwords) = category c goes right. */
typedef struct {
  uint32_t offset; /* first word in forest->cat_words */
  uint32_t nwords; /* categories >= 32 * nwords are not in the set */
} grove_cat_set_t;

enum {
  GROVE_CAT_SET_WORDS_SHIFT = 1, /* set i's words are [i << 1, (i << 1) + 2) */
  GROVE_CAT_SET_WORD_OFFSET = offsetof(grove_cat_set_t, offset) / 4,
  GROVE_CAT_SET_WORD_NWORDS = offsetof(grove_cat_set_t, nwords) / 4,
};
_Static_assert(sizeof(grove_cat_set_t) == 4u << GROVE_CAT_SET_WORDS_SHIFT &&
                   offsetof(grove_cat_set_t, offset) == 0 && offsetof(grove_cat_set_t, nwords) == 4,
               "a set is 2 words: offset, nwords");

/*
 * The top GROVE_TOP_LEVELS levels of one tree (up to 31 splits) as tables in heap order
 * (position p's children at 2p+1 and 2p+2), for the avx512 rows kernel that holds them in
 * registers and indexes them by each lane's position instead of gathering nodes. Under a
 * leaf the positions are "always right" (threshold NaN, flags 0) down to the last level,
 * so every lane takes the same steps. Built only when they fit the memory budget
 * (builder.c).
 */
#define GROVE_TOP_LEVELS 5
#define GROVE_TOP_SLOTS  (1 << GROVE_TOP_LEVELS)
#define GROVE_TOP_WIDE_SETS \
  0x10u /* in the summary: a set has categories >= 64, not in the tables */
/* The heap step of both table shapes: the position below P on side RIGHT (0 left, 1 right). */
static inline uint32_t grove__top_child(uint32_t p, uint32_t right) { return 2 * p + 1 + right; }
typedef struct {
  float value[GROVE_TOP_SLOTS];           /* threshold at position p < GROVE_TOP_SLOTS - 1 */
  int32_t feature[GROVE_TOP_SLOTS];       /* split feature (0 under a leaf) */
  uint32_t flags[GROVE_TOP_SLOTS];        /* node flags; the last one is a summary: the OR of
                                             all positions' GROVE_NODE_* bits, GROVE_TOP_WIDE_SETS */
  uint32_t cat_words[2][GROVE_TOP_SLOTS]; /* categorical: categories 0-31 and 32-63 of the set */
  uint32_t exit[GROVE_TOP_SLOTS];         /* node index below the last level: heap position p
                                             (GROVE_TOP_SLOTS - 1 .. 2 * GROVE_TOP_SLOTS - 2) at
                                             exit[p % GROVE_TOP_SLOTS] */
} grove_top_t;

/* The avx512 kernels load a 32-entry array of a table as two aligned 64-byte vectors. */
_Static_assert(GROVE_TOP_SLOTS == 32 && sizeof(grove_top_t) == 768,
               "grove_top_t: 6 arrays of 32 words");
_Static_assert(offsetof(grove_top_t, value) % 64 == 0 && offsetof(grove_top_t, feature) % 64 == 0 &&
                   offsetof(grove_top_t, flags) % 64 == 0 &&
                   offsetof(grove_top_t, cat_words) % 64 == 0 && GROVE_TOP_SLOTS * 4 % 64 == 0 &&
                   offsetof(grove_top_t, exit) % 64 == 0,
               "each array of a grove_top_t (each cat_words row too) starts on a 64-byte boundary");

/*
 * The top 6 levels of one tree (63 splits), in the same 768 bytes, for forests whose
 * split features are < 256 and whose top sets end before category 48 (builder.c chooses
 * these over grove_top_t at load time). Positions 0-30 are at [p], the level-5 positions
 * 31-62 at [32 + p % 32], so each level reads one 32-entry half with one vpermt2d.
 */
#define GROVE_TOP6_LEVELS  6
#define GROVE_TOP6_SLOTS   64
#define GROVE_TOP6_HALF    32 /* level 5's positions 31-62 are at [GROVE_TOP6_HALF + p % 32] */
#define GROVE_TOP6_SUMMARY 31 /* meta[31], a slot no position uses, is the summary */
#define GROVE_TOP6_LEAF_EXITS \
  0x100u /* in the summary: every exit is a leaf, exit[] holds its value */
/* meta: bits 0-7 the split feature, 8-11 its GROVE_NODE_LOW_FLAGS, 16-31 the set's
 * categories 32-47 (bit 16 + c - 32 for category c). */
#define GROVE_TOP6_META_FEATURE_MASK 0xffu
#define GROVE_TOP6_META_FLAGS_SHIFT  8
#define GROVE_TOP6_META_CATS_SHIFT   16
typedef struct {
  float value[GROVE_TOP6_SLOTS];   /* threshold; categorical: the set's categories 0-31 */
  uint32_t meta[GROVE_TOP6_SLOTS]; /* feature | low flags << 8 | the set's categories 32-47 << 16;
                                      meta[31] is the summary: the OR of the flags,
                                      GROVE_TOP6_LEAF_EXITS */
  uint32_t
      exit[GROVE_TOP6_SLOTS]; /* below level 5, heap position p (63..126) at exit[p % 64]: the node
                                 index, or the leaf value's bits with GROVE_TOP6_LEAF_EXITS */
} grove_top6_t;

enum {
  GROVE_TOP6_WORDS =
      sizeof(grove_top6_t) / 4, /* tree t's table starts at word t * GROVE_TOP6_WORDS */
  GROVE_TOP6_WORD_VALUE = offsetof(grove_top6_t, value) / 4,
  GROVE_TOP6_WORD_META = offsetof(grove_top6_t, meta) / 4,
  GROVE_TOP6_WORD_EXIT = offsetof(grove_top6_t, exit) / 4,
};
_Static_assert(sizeof(grove_top6_t) == sizeof(grove_top_t), "both table shapes share one budget");
/* Word of the (value, meta) pair of slot S, lane K in a group of tops6_lanes (below). */
#define GROVE_TOP6_PAIR(s, k) (((s) * 16u + (k)) * 2u)
_Static_assert(GROVE_TOP6_WORD_VALUE == 0 && GROVE_TOP6_WORD_META == GROVE_TOP6_SLOTS,
               "tops6_lanes pairs a slot's value and meta in the first 2 x 16 x 64 words");
_Static_assert(GROVE_TOP6_SLOTS == 2 * GROVE_TOP6_HALF && GROVE_TOP6_HALF == 32 &&
                   (1 << GROVE_TOP6_LEVELS) == GROVE_TOP6_SLOTS &&
                   GROVE_TOP6_SUMMARY == GROVE_TOP6_HALF - 1,
               "levels 0-4 fill slots 0-30 of the first half, level 5 the second half");
_Static_assert(offsetof(grove_top6_t, value) % 64 == 0 && offsetof(grove_top6_t, meta) % 64 == 0 &&
                   offsetof(grove_top6_t, exit) % 64 == 0 && GROVE_TOP6_HALF * 4 % 64 == 0,
               "each half of a grove_top6_t array starts on a 64-byte boundary");
_Static_assert(GROVE_TOP6_META_FEATURE_MASK < 1u << GROVE_TOP6_META_FLAGS_SHIFT &&
                   GROVE_NODE_LOW_FLAGS << GROVE_TOP6_META_FLAGS_SHIFT <
                       1u << GROVE_TOP6_META_CATS_SHIFT &&
                   GROVE_TOP6_META_CATS_SHIFT + 16 == 32,
               "meta's feature, flags and categories 32-47 do not overlap");

/*
 * The TreeSHAP walk with trees in the lanes (engine/explain_trees_avx512.c): a block of
 * GROVE_SHAP_TREE_LANES consecutive trees, each laid out as the complete tree of the block's
 * depth D in heap order (position p's children at 2p+1 and 2p+2), lane by lane. A leaf
 * above the last level becomes a pad split (GROVE_SHAP_PAD) whose left child carries it on
 * with factor 1 and whose right subtree has factor 0, so every lane takes the same steps.
 * Positions 0 .. 2^D - 2 are splits; leaf[i] is position 2^D - 1 + i.
 */
#define GROVE_SHAP_TREE_LANES 16
#define GROVE_SHAP_PAD        0x80u /* while building: no split, every row goes left */
#define GROVE_SHAP_NO_REPEAT  0xffu /* while building: no split above on the feature */
/* A block's per-position lane masks (bit l: lane l), 8 of them at masks[position x 8 + k]. */
enum {
  GROVE_SHAP_MASK_DEFAULT_LEFT, /* GROVE_NODE_DEFAULT_LEFT */
  GROVE_SHAP_MASK_CATEGORICAL,  /* GROVE_NODE_CATEGORICAL */
  GROVE_SHAP_MASK_ZERO_MISSING, /* GROVE_NODE_ZERO_MISSING */
  GROVE_SHAP_MASK_CAT_TRUNC,    /* GROVE_NODE_CAT_TRUNC */
  GROVE_SHAP_MASK_DEEPER_LEFT,  /* GROVE_SHAP_DEEPER_LEFT */
  GROVE_SHAP_MASK_DEEPER_RIGHT, /* GROVE_SHAP_DEEPER_RIGHT */
  GROVE_SHAP_MASK_PAD,          /* a pad: no split, every row goes left */
  GROVE_SHAP_MASK_MULTIWORD,    /* categorical with a set of more than one word */
  GROVE_SHAP_MASKS
};
/* In repeat_levels: a repeat's old zero is below 2 FLT_MIN (or NaN) in some lane, so its old
 * factor may be 0 or NaN. Elsewhere the old factor, at least the zero x (1 - t) with
 * 1 - t > 2^-20, is a number other than 0: the walk divides by it without a test. */
#define GROVE_SHAP_TINY_ZERO  0x80u
#define GROVE_SHAP_REPEAT_ANY 7 /* repeat_at[position x 8 + 7]: the lanes of any level */
typedef struct {
  uint32_t depth;
  int32_t group_base[GROVE_SHAP_TREE_LANES]; /* (tree's group x (features + 1)) x lanes + lane */
  const int16_t *feature;  /* [position][lane]: split feature; pads: num_features */
  const float *threshold;  /* numeric: the threshold; categorical: its words' index (its one
                              word when nwords is 1), as bits */
  const uint16_t *masks;   /* [position][GROVE_SHAP_MASKS]: the lanes with each fact */
  const uint8_t *nwords;   /* categorical: words of the set */
  /* [position][level]: the lanes whose nearest split above on the same feature is at that
   * level (levels 0-6), and at GROVE_SHAP_REPEAT_ANY all of them: masks per position, read
   * where the walk would compare each lane's level or flags. */
  const uint16_t *repeat_at;
  const uint8_t *repeat_levels; /* [position]: bit L set when repeat_at[L] is not empty;
                                   GROVE_SHAP_TINY_ZERO */
  const float *zero_left;  /* cover ratios of the children, times the zero of a repeat's
                              element above (pads: 1 and 0) */
  const float *zero_right;
  const float *leaf;       /* [leaf][lane] */
} grove_shap_block_t;

/*
 * Every node again in 8 bytes, for the avx512 kernels' node walks: one 64-bit gather per 8
 * lanes reads a node, where grove_node_t takes two. `packed` holds left - index in bits
 * 0-15, the feature in bits 16-27 (GROVE_NODE8_LEAF at a leaf, whose value is the leaf
 * value; in leaf64 forests 0, the walk reading the leaf's double from its grove_node_t) and
 * the flags' low 4 bits in 28-31; categorical splits read the rest of their flags from the
 * node. Built when every split feature is below GROVE_NODE8_LEAF, every left child within
 * 65535 nodes of its parent and the copy fits the memory budget.
 */
#define GROVE_NODE8_LEAF          0xfffu
#define GROVE_NODE8_LEFT_MASK     0xffffu /* packed bits 0-15: left - index */
#define GROVE_NODE8_FEATURE_SHIFT 16      /* bits 16-27: the feature, or GROVE_NODE8_LEAF */
#define GROVE_NODE8_FLAGS_SHIFT   28      /* bits 28-31: the GROVE_NODE_LOW_FLAGS */
typedef struct {
  float value;
  uint32_t packed;
} grove_node8_t;

_Static_assert(sizeof(grove_node8_t) == 8 && offsetof(grove_node8_t, value) == 0 &&
                   offsetof(grove_node8_t, packed) == 4,
               "an 8-byte node is one 64-bit pair: value low, packed high");
_Static_assert(GROVE_NODE8_LEFT_MASK == (1u << GROVE_NODE8_FEATURE_SHIFT) - 1 &&
                   GROVE_NODE8_LEAF ==
                       (1u << (GROVE_NODE8_FLAGS_SHIFT - GROVE_NODE8_FEATURE_SHIFT)) - 1 &&
                   GROVE_NODE_LOW_FLAGS == (1u << (32 - GROVE_NODE8_FLAGS_SHIFT)) - 1,
               "packed's fields fill its 32 bits without overlapping");

/*
 * Complete trees with threshold ranks, for the ranks kernels (predict_avx512.c, predict_avx2.c)
 * on forests of depth 3-12 (the avx512 kernel: numeric ones only): each group of 16 trees laid
 * out as complete trees of the forest's depth D in heap order (position p's children at 2p+1
 * and 2p+2), lane by lane. A numeric split's word is its threshold's rank among its feature's
 * unique thresholds (ascending) in bits 0-15, the feature in bits 16-29 and
 * GROVE_RANKS_DEFAULT_LEFT; a categorical one's is described at GROVE_RANKS_CATEGORICAL. A row's
 * bin for feature j is how many of j's thresholds are <= its value, so the row goes right at rank k
 * exactly when !(x < t), that is bin > k (row 6 of the split truth table in kernels.h); a NaN's bin
 * is GROVE_RANKS_MISSING, which goes right unless the word has GROVE_RANKS_DEFAULT_LEFT (row
 * 1; these forests have no zero band, row 2). A leaf above depth D becomes GROVE_RANKS_PAD
 * splits (always left: no bin exceeds 65535 and NaN goes left) down to the leftmost leaf
 * below it, which holds its value. A categorical feature's bin is the value's category code
 * (rows 3-5 of the split truth table: GROVE_RANKS_NO_CATEGORY for values in no set), so such
 * forests have no feature split both ways, no truncated categories and no set past
 * category 47. Derived at load and at image map
 * (kernels/ranks.c) into an allocation the forest owns, when grove__ranks_wanted() and the
 * copy is no larger than the flat block.
 */
#define GROVE_RANKS_LANES         16
#define GROVE_RANKS_FEATURE_SHIFT 16
#define GROVE_RANKS_RANK_MASK     0xffffu
#define GROVE_RANKS_DEFAULT_LEFT  0x80000000u /* vpermt2d reads only the feature's low bits */
/* A categorical split (forests with sets, walked by the avx2 kernel only): its rank bits are
 * the set's categories 32-47 (bit c - 32 for category c), sets[] at its position holds 0-31. */
#define GROVE_RANKS_CATEGORICAL   0x40000000u
#define GROVE_RANKS_CATEGORIES    48 /* categories a set may hold: 0-47 */
#define GROVE_RANKS_NO_CATEGORY   63 /* the code of a value in no set (< 0, >= 48) */
#define GROVE_RANKS_PAD           (GROVE_RANKS_DEFAULT_LEFT | GROVE_RANKS_RANK_MASK) /* left */
#define GROVE_RANKS_MISSING       0xffffffffu /* a NaN's bin */
/* Thresholds a feature may have: ranks 0-65533, below the pad's, and bins 0-65534, below the
 * avx2 kernel's 16-bit bin of a NaN (0xffff). */
#define GROVE_RANKS_MAX_UNIQUE    65534u
typedef struct {
  uint32_t depth;          /* D */
  uint32_t num_groups;     /* groups of GROVE_RANKS_LANES trees (zeros past the last tree) */
  const uint32_t *words;   /* [group][position < 2^D - 1][lane] */
  const float *leaves;     /* [group][leaf < 2^D][lane] */
  const float *thresholds; /* each feature's unique split thresholds, ascending: */
  const uint32_t *offsets; /*   feature j's are [offsets[j], offsets[j + 1]) */
  const uint32_t *sets;    /* [group][position][lane]: a categorical split's categories 0-31;
                              NULL in forests without categorical splits */
  uint32_t categorical;    /* bit j: feature j is split on categories (its bin is the code) */
  size_t bytes;            /* of the allocation holding all of them */
} grove_ranks_t;

/* Features whose every split is categorical (grove__cat_codes_attach), ascending. */
typedef struct {
  uint32_t count;
  uint32_t below32; /* bit j: feature j < 32 is one of them (a row's lanes in registers) */
  uint32_t feature[];
} grove_cat_codes_t;

struct grove_forest {
  grove_forest_info_t info; /* strings point into this block */
  size_t block_size;        /* bytes of this allocation */

  const grove_node_t *nodes;   /* all trees' nodes, tree by tree */
  const uint32_t *roots;       /* node index of each tree's root */
  const uint32_t *tree_groups; /* output group of each tree */
  const grove_cat_set_t *cat_sets;
  const uint32_t *cat_words;
  const float *base_margins;   /* per output group: base_score in margin space */
  union {                      /* per tree, or NULL when they did not fit the budget: */
    const grove_top_t *tops;   /*   top_levels 5 */
    const grove_top6_t *tops6; /*   top_levels 6 */
  };
  int top_levels;              /* GROVE_TOP_LEVELS or GROVE_TOP6_LEVELS when tops != NULL */
  const grove_node8_t *nodes8; /* or NULL: see grove_node8_t */
  /* The 6-level tables again, for the avx512 trees kernel (walking 16 trees in lanes): group
   * g of 16 trees has GROVE_TOP6_WORDS x 16 words from g * GROVE_TOP6_WORDS * 16, where tree
   * 16g + k's value and meta of slot s are a pair, at GROVE_TOP6_PAIR(s, k) and the word after
   * (so one 64-bit gather reads both), and its other words w at w * 16 + k; zeros past the
   * last tree. Derived at load (grove__top6_lanes_fill) into an allocation the
   * forest owns, outside the block; NULL unless the trees kernel walks tables (categorical
   * forests with 6-level tables: grove__avx512_trees_walk_tops6). */
  int32_t *tops6_lanes;
  /* For the avx512 kernels, which turn these features' values into category codes once per
   * block of rows (rows kernel) or per row (trees kernel), sparing their walks the conversion
   * at each split; NULL unless every tree ends within the 6-level tables and no feature is
   * split both ways (grove__cat_codes_attach). Derived at load into an allocation the forest
   * owns. */
  grove_cat_codes_t *cat_codes;
  grove_ranks_t *ranks; /* or NULL: see grove_ranks_t */
  uint64_t num_zero_missing;   /* splits with GROVE_NODE_ZERO_MISSING: kernels then read flags */
  const char *const *feature_names; /* NULL when the model has none */
  const uint8_t *feature_types;     /* grove_feature_type_t per feature */

  /* LightGBM forests (format lightgbm-text); zero and NULL for the others. */
  int leaf64;                 /* leaves hold doubles (grove__node_leaf64), summed in double */
  uint32_t average_over;      /* boosting=rf: outputs divide the sum by this many iterations */
  const double *thresholds64; /* each feature's numeric thresholds, sorted, unique: */
  const uint32_t *threshold_offsets; /*   feature j's are [offsets[j], offsets[j + 1]) */
  const uint64_t *near_floats;       /* open-addressing set of (feature + 1) << 32 | float bits: the
                                        floats next to a threshold (engine/input.c); 0: empty slot */
  uint64_t near_mask;                /* its slots - 1 */
  const grove_linear_t *linear;      /* linear leaves (node.left of a GROVE_LEAF_LINEAR) */
  const grove_linear_term_t *linear_terms; /* their terms */
  uint64_t num_linear_leaves;              /* nonzero: the forest has linear trees */
  const uint8_t *linear_inputs;            /* per feature: 1 when a linear leaf reads its value */

  /* Explanations (engine/explain.c), in a separate allocation the forest owns (explain_alloc),
   * so the prediction block and its memory budget stay as they are: */
  const uint32_t *node_ids;    /* per node: its number in the model file (XGBoost's node id,
                                  LightGBM's split index, or leaf index at a leaf) */
  const double *cover_ratios;  /* per node: its cover (XGBoost's sum_hessian, LightGBM's counts)
                                  over its parent's, 1 at a root; NULL when some tree has none */
  const uint8_t *shap_flags;   /* per node: GROVE_SHAP_* (with cover_ratios) */
  const grove_shap_block_t *shap_blocks; /* trees in lanes, or NULL: see above */
  uint32_t num_shap_blocks;
  void *shap_alloc;
  const double *tree_expected; /* per tree: its leaves' mean weighted by cover (with covers) */
  void *explain_alloc;

  /* Array lengths the block does not otherwise record, for writing an image (image.c). */
  uint32_t num_cat_sets, num_cat_words;
  uint64_t num_thresholds64, num_linear_terms;
  /* A forest mapped from an image (engine/image.c): every array above points into this
   * read-only mapping, which grove_forest_free() unmaps; NULL for a built forest. */
  void *image_map;
  size_t image_map_bytes;
};

/* A split's static facts for the TreeSHAP walk (engine/explain.c). */
#define GROVE_SHAP_REPEAT       0x1u /* a split above it tests the same feature */
#define GROVE_SHAP_DEEPER_LEFT  0x2u /* a split below its left child tests the same feature */
#define GROVE_SHAP_DEEPER_RIGHT 0x4u /*   ... below its right child */

/*
 * The version of everything above that a model image (engine/image.c) stores as it is: the
 * node, table and set layouts, the flags' bits, how the builder derives the tables. Bump it
 * with any change to them: images of another layout are then refused as stale.
 */
#define GROVE_FOREST_LAYOUT_VERSION 2

/* Cache-line alignment of the block and of each array inside it. */
#define GROVE_FOREST_ALIGN 64

#endif /* GROVE_FOREST_H */
