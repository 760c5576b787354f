/*
 * Internal: the format-neutral builder that every loader feeds. Loaders hand over
 * trees as parallel arrays in their own node numbering; the builder validates them
 * (indices in range, every node reached once from the root, known features) and
 * lays them out in the flat block of forest.h.
 */
#ifndef GROVE_BUILDER_H
#define GROVE_BUILDER_H

#include "kernels/forest.h"

typedef struct grove_builder grove_builder_t;

/* One tree in the loader's numbering; node 0 is the root. */
typedef struct {
  uint32_t num_nodes;
  const int32_t *left;         /* left child, or -1 for a leaf */
  const int32_t *right;        /* right child, or -1 for a leaf */
  const int32_t *feature;      /* split feature (ignored for leaves) */
  const float *value;          /* split threshold, or leaf value */
  const uint8_t *default_left; /* nonzero: missing goes left */
  const uint8_t *categorical;  /* NULL when the tree has no categorical split */
  const uint32_t *cat_begin;   /* categorical node i: its categories are */
  const uint32_t *cat_count;   /*   cat_values[cat_begin[i] .. + cat_count[i]] */
  const int32_t *cat_values;   /* categories that go right */
  size_t num_cat_values;
  const uint8_t *zero_missing; /* NULL, or nonzero at splits where |x| <= 1e-35 is missing
                                  too (LightGBM's missing type Zero) */
  int cat_truncate;            /* categorical values in (-1, 0) are category 0 (LightGBM) */
  const double *cover;         /* NULL, or each node's cover (sum_hessian, data count): kept
                                  for explanations only */
  uint32_t group;              /* output group (class) the tree adds to */
  float weight;                /* DART tree weight; leaves become value * weight */
  /* Leaf64 builders (LightGBM) only: */
  const double *value64;        /* each leaf's double value (`value` is then unused at leaves) */
  const double *threshold64;    /* each numeric split's double threshold (`value` its float cut) */
  const uint8_t *linear;        /* NULL, or nonzero at leaves that are linear models: */
  const double *linear_const;   /*   their constant, */
  const uint32_t *linear_begin; /*   their terms linear_features / linear_coeffs */
  const uint32_t *linear_count; /*   [begin .. begin + count) */
  const int32_t *linear_features;
  const double *linear_coeffs;
  size_t num_linear_terms;
} grove_tree_src_t;

/*
 * A loader's per-tree arrays for grove_tree_src_t, in its own numbering: grown as trees
 * need and reused from tree to tree.
 */
typedef struct {
  size_t cap; /* nodes the arrays hold */
  int32_t *left, *right, *feature;
  float *value;
  uint8_t *default_left, *categorical, *zero_missing;
  uint32_t *cat_begin, *cat_count;
  int32_t *cat_values;
  size_t num_cat_values, cap_cat_values;
  /* Leaf64 loaders' (reset zeroes them too; the linear terms are emptied). */
  double *value64, *threshold64, *linear_const;
  uint8_t *linear;
  uint32_t *linear_begin, *linear_count;
  int32_t *linear_features;
  double *linear_coeffs;
  size_t num_linear_terms, cap_linear_terms;
  double *cover; /* each node's cover, for grove_tree_src_t's */
} grove_tree_arrays_t;

/* Makes room for a tree of NODES nodes: their feature, value, flags and category spans
 * zeroed, no category values. Returns -1 when out of memory. */
int grove__tree_arrays_reset(grove_tree_arrays_t *a, size_t nodes);

/* Appends category C to the tree's category values; -1 when out of memory. */
int grove__tree_arrays_push_category(grove_tree_arrays_t *a, int32_t c);

/* Appends one linear term (feature, coefficient) to the tree's; -1 when out of memory. */
int grove__tree_arrays_push_term(grove_tree_arrays_t *a, int32_t feature, double coeff);

void grove__tree_arrays_free(grove_tree_arrays_t *a);

/*
 * The tree A's first NODES nodes hold, as grove__builder_add_tree() takes it: every array
 * and count of A, group 0, weight 1, no cat_truncate. The loader then sets what its format
 * says (group, weight, cat_truncate) and clears what its tree lacks (a NULL categorical,
 * linear or cover: A's arrays are always allocated).
 */
grove_tree_src_t grove__tree_src_of(const grove_tree_arrays_t *a, size_t nodes);

/* What the loader knows of the model as a whole. */
typedef struct {
  const char *format;
  const char *source_model; /* NULL when the model was not converted */
  const char *objective;
  const char *booster;
  grove_task_t task;
  grove_transform_t transform;
  uint32_t num_features;
  uint32_t num_groups;
  uint32_t num_outputs;
  uint32_t num_parallel_tree;
  const float *base_margins;        /* num_groups values */
  const char *const *feature_names; /* num_features names, or NULL */
  const uint8_t *feature_types;     /* num_features grove_feature_type_t, or NULL */
  uint32_t average_over;            /* forest.h's average_over (LightGBM's rf), or 0 */
} grove_model_meta_t;

/*
 * Returns NULL when out of memory. LEAF64 1 makes a leaf64 forest (forest.h: LightGBM's
 * double leaves and sums, double thresholds for the exact walk, linear leaves): every tree
 * then gives value64 and threshold64.
 */
grove_builder_t *grove__builder_new(uint32_t num_features, uint32_t num_groups, int leaf64);

/* Validates TREE and appends it; on failure the message names the tree and node. */
grove_err_t grove__builder_add_tree(grove_builder_t *b, const grove_tree_src_t *tree,
                                    grove_error_t *err);

/* Lays out every added tree and META in one block; *out gets the only reference. */
grove_err_t grove__builder_finish(grove_builder_t *b, const grove_model_meta_t *meta,
                                  grove_forest_t **out, grove_error_t *err);

/* COVER (the loader's numbering, as the tree's arrays) are the covers of the tree added last,
 * for loaders that read them after the tree (it was added without). */
void grove__builder_set_covers(grove_builder_t *b, const double *cover);

void grove__builder_free(grove_builder_t *b);

/*
 * Fills TOP with the top tables (forest.h) of F's tree at ROOT; F's nodes and category
 * sets must be in place. grove__builder_finish() adds them to forests within the memory
 * budget; tests use it to give any forest tables.
 */
void grove__top_build(const grove_forest_t *f, uint32_t root, grove_top_t *top);

/* The same for the 6-level tables; returns 0 (TOP undefined) when the tree does not fit
 * them (a top split feature >= 256, or a top set reaching category 48). */
int grove__top6_build(const grove_forest_t *f, uint32_t root, grove_top6_t *top);

/* Fills OUT (one entry per node) with F's nodes in 8 bytes; returns 0 (OUT undefined) when
 * they do not fit that shape (forest.h). */
int grove__nodes8_build(const grove_forest_t *f, grove_node8_t *out);

/* Derives F's copy of its 6-level tables for trees in lanes (forest.h, tops6_lanes) when
 * the trees kernel walks them, after the tables are in place (built or mapped): 0, or -1
 * when out of memory. grove_forest_free() frees it. */
int grove__forest_attach_lanes(grove_forest_t *f);

/* Everything derived from a forest's arrays once they are in place, built or mapped from an
 * image: the lanes' copy of the tables and the explanation walks' tables (and what they take,
 * info.explain_memory_bytes). 0, or -1 when out of memory (nothing of it kept). */
int grove__forest_attach_derived(grove_forest_t *f);

#endif /* GROVE_BUILDER_H */
