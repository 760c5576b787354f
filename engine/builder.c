/* The format-neutral builder: validation and the flat layout (see builder.h). */
#include "builder.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "input.h"

#define UNSET           UINT32_MAX
/* Node indices are uint32 and a split's right child is left + 1. */
#define MAX_TOTAL_NODES (UINT32_MAX / 2)

struct grove_builder {
  uint32_t num_features;
  uint32_t num_groups;
  int leaf64;

  grove_node_t *nodes;
  size_t num_nodes, cap_nodes;
  uint32_t *roots, *groups;
  size_t num_trees, cap_trees;
  grove_cat_set_t *sets;
  size_t num_sets, cap_sets;
  uint32_t *words;
  size_t num_words, cap_words;

  uint32_t max_depth;
  uint64_t num_leaves;
  uint64_t num_cat_splits;
  uint64_t num_zero_missing;

  /* Leaf64 builders: each node's double threshold (NaN but at numeric splits), linear
   * leaves and their terms, and which features linear leaves read. */
  double *t64;
  size_t cap_t64;
  grove_linear_t *linear;
  size_t num_linear, cap_linear;
  grove_linear_term_t *terms;
  size_t num_terms, cap_terms;
  uint8_t *linear_inputs;

  /* Explanations: each node's id in the loader's numbering and its cover (NaN when its tree
   * gave none), in the block's order. */
  uint32_t *ids;
  size_t cap_ids;
  double *covers;
  size_t cap_covers;
  size_t num_covered; /* trees that gave covers: all of them, or the forest has none */

  /* Per-tree scratch, grown to the largest tree. */
  uint32_t *queue, *new_index, *depth;
  size_t cap_scratch;
};

/* Grows *ptr (of *cap elements of SIZE bytes) to hold at least NEED elements. */
static int grow(void **ptr, size_t *cap, size_t need, size_t size) {
  if (need <= *cap) return 0;
  size_t n = *cap ? *cap : 64;
  while (n < need) n *= 2;
  void *p = realloc(*ptr, n * size);
  if (p == NULL) return -1;
  *ptr = p;
  *cap = n;
  return 0;
}

#define GROW(b, field, cap, need) grow((void **)&(b)->field, &(b)->cap, (need), sizeof *(b)->field)

grove_builder_t *grove__builder_new(uint32_t num_features, uint32_t num_groups, int leaf64) {
  grove_builder_t *b = calloc(1, sizeof *b);
  if (b == NULL) return NULL;
  b->num_features = num_features;
  b->num_groups = num_groups;
  b->leaf64 = leaf64;
  if (leaf64 && (b->linear_inputs = calloc(num_features ? num_features : 1, 1)) == NULL) {
    free(b);
    return NULL;
  }
  return b;
}

void grove__builder_free(grove_builder_t *b) {
  if (b == NULL) return;
  free(b->nodes);
  free(b->roots);
  free(b->groups);
  free(b->sets);
  free(b->words);
  free(b->queue);
  free(b->new_index);
  free(b->depth);
  free(b->t64);
  free(b->linear);
  free(b->terms);
  free(b->linear_inputs);
  free(b->ids);
  free(b->covers);
  free(b);
}

static int is_leaf(const grove_tree_src_t *t, uint32_t i) { return t->left[i] < 0; }

/* Checks that child C of node I is a node not reached before. */
static grove_err_t check_child(const grove_builder_t *b, const grove_tree_src_t *t, uint32_t i,
                               int32_t c, const char *side, grove_error_t *err) {
  if (c < 0 || (uint32_t)c >= t->num_nodes)
    return grove__error_set(err, GROVE_EPARSE, "tree %zu node %u: %s child %d out of range [0, %u)",
                            b->num_trees, i, side, c, t->num_nodes);
  if (b->new_index[c] != UNSET)
    return grove__error_set(err, GROVE_EPARSE,
                            "tree %zu node %u: %s child %d is reached twice (a cycle or a shared "
                            "subtree)",
                            b->num_trees, i, side, c);
  return GROVE_OK;
}

/* Appends the set of categorical node I as a bitset; returns its set index in *set. */
static grove_err_t add_category_set(grove_builder_t *b, const grove_tree_src_t *t, uint32_t i,
                                    uint32_t *set, grove_error_t *err) {
  uint32_t begin = t->cat_begin[i], count = t->cat_count[i];
  if ((size_t)begin > t->num_cat_values || (size_t)count > t->num_cat_values - begin)
    return grove__error_set(err, GROVE_EPARSE,
                            "tree %zu node %u: categories [%u, +%u) out of range (%zu values)",
                            b->num_trees, i, begin, count, t->num_cat_values);
  int32_t max_cat = -1;
  for (uint32_t k = 0; k < count; k++) {
    int32_t c = t->cat_values[begin + k];
    if (c < 0 || (float)c >= GROVE_MAX_CATEGORY)
      return grove__error_set(err, GROVE_EPARSE, "tree %zu node %u: category %d out of range",
                              b->num_trees, i, c);
    if (c > max_cat) max_cat = c;
  }
  uint32_t nwords = max_cat < 0 ? 0 : (uint32_t)max_cat / 32 + 1;
  if (b->num_sets >= UINT32_MAX >> GROVE_NODE_CAT_SHIFT || b->num_words + nwords > UINT32_MAX)
    return grove__error_set(err, GROVE_EUNSUPPORTED, "too many categorical splits");
  if (GROW(b, sets, cap_sets, b->num_sets + 1) || GROW(b, words, cap_words, b->num_words + nwords))
    return grove__error_set(err, GROVE_ENOMEM, "out of memory");
  if (nwords > 0) { /* an empty set (every category goes left) needs no words */
    uint32_t *w = b->words + b->num_words;
    memset(w, 0, nwords * sizeof *w);
    for (uint32_t k = 0; k < count; k++) {
      uint32_t c = (uint32_t)t->cat_values[begin + k];
      w[c / 32] |= 1u << (c % 32);
    }
  }
  b->sets[b->num_sets] = (grove_cat_set_t){.offset = (uint32_t)b->num_words, .nwords = nwords};
  *set = (uint32_t)b->num_sets++;
  b->num_words += nwords;
  return GROVE_OK;
}

/*
 * Leaf I of a leaf64 tree as NODE (at index AT): its double, tagged (forest.h), and for a
 * linear leaf its model appended to the builder's, named by the node's `left`.
 */
static grove_err_t add_leaf64(grove_builder_t *b, const grove_tree_src_t *t, uint32_t i,
                              grove_node_t *node, uint32_t at, grove_error_t *err) {
  const double v = t->value64[i];
  if (!grove__leaf64_encodable(v))
    return grove__error_set(err, GROVE_EUNSUPPORTED,
                            "tree %zu node %u: leaf value %g (grove's double leaves are finite "
                            "and below 2^1021)",
                            b->num_trees, i, v);
  const uint64_t u = grove__leaf64_encode(v);
  memcpy(node, &u, sizeof u);
  node->left = at;
  node->flags = 0;
  if (t->linear == NULL || !t->linear[i]) return GROVE_OK;
  const uint32_t begin = t->linear_begin[i], count = t->linear_count[i];
  if ((size_t)begin > t->num_linear_terms || (size_t)count > t->num_linear_terms - begin)
    return grove__error_set(err, GROVE_EPARSE, "tree %zu node %u: linear terms out of range",
                            b->num_trees, i);
  if (b->num_linear >= UINT32_MAX || b->num_terms + count > UINT32_MAX)
    return grove__error_set(err, GROVE_EUNSUPPORTED, "too many linear leaves");
  if (GROW(b, linear, cap_linear, b->num_linear + 1) ||
      GROW(b, terms, cap_terms, b->num_terms + count))
    return grove__error_set(err, GROVE_ENOMEM, "out of memory");
  for (uint32_t k = 0; k < count; k++) {
    const int32_t feat = t->linear_features[begin + k];
    if (feat < 0 || (uint32_t)feat >= b->num_features)
      return grove__error_set(err, GROVE_EPARSE,
                              "tree %zu node %u: linear feature %d out of range [0, %u)",
                              b->num_trees, i, feat, b->num_features);
    b->terms[b->num_terms + k] =
        (grove_linear_term_t){.coeff = t->linear_coeffs[begin + k], .feature = (uint32_t)feat};
    b->linear_inputs[feat] = 1;
  }
  b->linear[b->num_linear] = (grove_linear_t){
      .constant = t->linear_const[i], .first = (uint32_t)b->num_terms, .count = count};
  node->left = (uint32_t)b->num_linear++;
  node->flags = GROVE_LEAF_LINEAR;
  b->num_terms += count;
  return GROVE_OK;
}

/*
 * Keeps the ids and covers of the QLEN nodes just queued (the tree's, from BASE on) for
 * explanations. Leaf64 trees are LightGBM's, numbered splits first (0..L-2) then leaves
 * (L-1..2L-2), and LightGBM numbers its leaves from 0: a leaf's id is its leaf index.
 */
static int keep_explain_data(grove_builder_t *b, const grove_tree_src_t *t, uint32_t base,
                             uint32_t qlen) {
  if (GROW(b, ids, cap_ids, (size_t)base + qlen) ||
      GROW(b, covers, cap_covers, (size_t)base + qlen))
    return -1;
  if (t->cover != NULL) b->num_covered++;
  const uint32_t first_leaf = b->leaf64 ? (t->num_nodes - 1) / 2 : 0;
  for (uint32_t h = 0; h < qlen; h++) {
    const uint32_t i = b->queue[h];
    b->ids[base + h] = is_leaf(t, i) ? i - first_leaf : i;
    b->covers[base + h] = t->cover != NULL ? t->cover[i] : NAN;
  }
  return 0;
}

void grove__builder_set_covers(grove_builder_t *b, const double *cover) {
  if (b->num_trees == 0) return;
  const uint32_t base = b->roots[b->num_trees - 1];
  for (uint32_t h = 0; h < (uint32_t)b->num_nodes - base; h++)
    b->covers[base + h] = cover[b->queue[h]];
  b->num_covered++;
}

grove_err_t grove__builder_add_tree(grove_builder_t *b, const grove_tree_src_t *t,
                                    grove_error_t *err) {
  uint32_t n = t->num_nodes;
  if (n == 0) return grove__error_set(err, GROVE_EPARSE, "tree %zu has no nodes", b->num_trees);
  if (t->group >= b->num_groups)
    return grove__error_set(err, GROVE_EPARSE, "tree %zu: output group %u out of range [0, %u)",
                            b->num_trees, t->group, b->num_groups);
  if (n > MAX_TOTAL_NODES - b->num_nodes)
    return grove__error_set(err, GROVE_EUNSUPPORTED, "more than %u nodes in all", MAX_TOTAL_NODES);
  if (grow((void **)&b->queue, &b->cap_scratch, n, sizeof *b->queue)) goto nomem;
  /* new_index and depth follow queue's capacity. */
  {
    size_t cap = b->cap_scratch;
    uint32_t *ni = realloc(b->new_index, cap * sizeof *ni);
    if (ni == NULL) goto nomem;
    b->new_index = ni;
    uint32_t *d = realloc(b->depth, cap * sizeof *d);
    if (d == NULL) goto nomem;
    b->depth = d;
  }
  for (uint32_t i = 0; i < n; i++) b->new_index[i] = UNSET;

  /*
   * Breadth-first walk from the root: queue position = new index within the tree, and
   * the two children of a split are queued together, so they end up adjacent. A node
   * reached twice means a cycle or a DAG; nodes never reached (deleted ones) are dropped.
   */
  uint32_t base = (uint32_t)b->num_nodes;
  uint32_t qlen = 1;
  b->queue[0] = 0;
  b->new_index[0] = base;
  b->depth[0] = 0;
  for (uint32_t h = 0; h < qlen; h++) {
    uint32_t i = b->queue[h];
    if (is_leaf(t, i)) {
      if (t->right[i] >= 0)
        return grove__error_set(err, GROVE_EPARSE,
                                "tree %zu node %u: left child -1 but right child %d", b->num_trees,
                                i, t->right[i]);
      if (b->depth[h] > b->max_depth) b->max_depth = b->depth[h];
      continue;
    }
    grove_err_t rc = check_child(b, t, i, t->left[i], "left", err);
    if (rc == GROVE_OK) rc = check_child(b, t, i, t->right[i], "right", err);
    if (rc == GROVE_OK && t->left[i] == t->right[i])
      rc = grove__error_set(err, GROVE_EPARSE, "tree %zu node %u: both children are node %d",
                            b->num_trees, i, t->left[i]);
    if (rc != GROVE_OK) return rc;
    if (t->feature[i] < 0 || (uint32_t)t->feature[i] >= b->num_features)
      return grove__error_set(err, GROVE_EPARSE,
                              "tree %zu node %u: split feature %d out of range [0, %u)",
                              b->num_trees, i, t->feature[i], b->num_features);
    int categorical = t->categorical != NULL && t->categorical[i];
    if (!categorical && isnan(t->value[i]))
      return grove__error_set(err, GROVE_EPARSE, "tree %zu node %u: split threshold is NaN",
                              b->num_trees, i);
    b->new_index[t->left[i]] = base + qlen;
    b->queue[qlen] = (uint32_t)t->left[i];
    b->depth[qlen++] = b->depth[h] + 1;
    b->new_index[t->right[i]] = base + qlen;
    b->queue[qlen] = (uint32_t)t->right[i];
    b->depth[qlen++] = b->depth[h] + 1;
  }

  if (b->leaf64 && (t->value64 == NULL || t->threshold64 == NULL))
    return grove__error_set(err, GROVE_EINVAL,
                            "tree %zu: a leaf64 tree needs value64 and threshold64", b->num_trees);
  if (GROW(b, nodes, cap_nodes, b->num_nodes + qlen) || GROW(b, roots, cap_trees, b->num_trees + 1))
    goto nomem;
  if (b->leaf64 && GROW(b, t64, cap_t64, b->num_nodes + qlen)) goto nomem;
  /* groups shares roots' capacity. */
  {
    uint32_t *g = realloc(b->groups, b->cap_trees * sizeof *g);
    if (g == NULL) goto nomem;
    b->groups = g;
  }
  for (uint32_t h = 0; h < qlen; h++) {
    uint32_t i = b->queue[h];
    grove_node_t *node = &b->nodes[base + h];
    if (b->leaf64) b->t64[base + h] = NAN;
    if (is_leaf(t, i)) {
      b->num_leaves++;
      if (b->leaf64) {
        grove_err_t rc = add_leaf64(b, t, i, node, base + h, err);
        if (rc != GROVE_OK) return rc;
        continue;
      }
      /* DART: XGBoost multiplies each tree's float output by its float weight. */
      float leaf = t->weight == 1.0f ? t->value[i] : t->value[i] * t->weight;
      *node = (grove_node_t){.value = leaf, .feature = -1, .left = base + h, .flags = 0};
      continue;
    }
    uint32_t flags = t->default_left[i] ? GROVE_NODE_DEFAULT_LEFT : 0;
    float value = t->value[i];
    if (t->categorical != NULL && t->categorical[i]) {
      uint32_t set = 0;
      grove_err_t rc = add_category_set(b, t, i, &set, err);
      if (rc != GROVE_OK) return rc;
      flags |= GROVE_NODE_CATEGORICAL | set << GROVE_NODE_CAT_SHIFT;
      /* The threshold is unused: it carries the set, or where its words are. */
      const grove_cat_set_t *s = &b->sets[set];
      if (s->nwords <= 1) {
        const uint32_t word = s->nwords ? b->words[s->offset] : 0;
        memcpy(&value, &word, sizeof value);
        flags |= GROVE_NODE_CAT_WORD0;
      } else if (s->nwords <= GROVE_NODE_CAT_NWORDS_MASK >> GROVE_NODE_CAT_NWORDS_SHIFT) {
        memcpy(&value, &s->offset, sizeof value);
        flags |= s->nwords << GROVE_NODE_CAT_NWORDS_SHIFT;
      }
      if (t->cat_truncate) flags |= GROVE_NODE_CAT_TRUNC;
      b->num_cat_splits++;
    }
    if (t->zero_missing != NULL && t->zero_missing[i]) {
      flags |= GROVE_NODE_ZERO_MISSING;
      b->num_zero_missing++;
    }
    if (b->leaf64 && !(flags & GROVE_NODE_CATEGORICAL)) {
      if (isnan(t->threshold64[i]))
        return grove__error_set(err, GROVE_EPARSE, "tree %zu node %u: split threshold is NaN",
                                b->num_trees, i);
      b->t64[base + h] = t->threshold64[i];
    }
    *node = (grove_node_t){
        .value = value, .feature = t->feature[i], .left = b->new_index[t->left[i]], .flags = flags};
  }
  if (keep_explain_data(b, t, base, qlen) != 0) goto nomem;
  b->roots[b->num_trees] = base;
  b->groups[b->num_trees] = t->group;
  b->num_trees++;
  b->num_nodes += qlen;
  return GROVE_OK;

nomem:
  return grove__error_set(err, GROVE_ENOMEM, "out of memory while building tree %zu", b->num_trees);
}

int grove__tree_arrays_reset(grove_tree_arrays_t *a, size_t nodes) {
  if (nodes > a->cap) {
    /* Every array grows from the same capacity to the same one. */
    size_t cap = a->cap;
#define GROW_NODES(field) (cap = a->cap, grow((void **)&a->field, &cap, nodes, sizeof *a->field))
    if (GROW_NODES(left) || GROW_NODES(right) || GROW_NODES(feature) || GROW_NODES(value) ||
        GROW_NODES(default_left) || GROW_NODES(categorical) || GROW_NODES(zero_missing) ||
        GROW_NODES(cat_begin) || GROW_NODES(cat_count) || GROW_NODES(value64) ||
        GROW_NODES(threshold64) || GROW_NODES(linear_const) || GROW_NODES(linear) ||
        GROW_NODES(linear_begin) || GROW_NODES(linear_count) || GROW_NODES(cover))
      return -1;
#undef GROW_NODES
    a->cap = cap;
  }
  memset(a->feature, 0, nodes * sizeof *a->feature);
  memset(a->value, 0, nodes * sizeof *a->value);
  memset(a->default_left, 0, nodes);
  memset(a->categorical, 0, nodes);
  memset(a->zero_missing, 0, nodes);
  memset(a->cat_begin, 0, nodes * sizeof *a->cat_begin);
  memset(a->cat_count, 0, nodes * sizeof *a->cat_count);
  memset(a->value64, 0, nodes * sizeof *a->value64);
  memset(a->threshold64, 0, nodes * sizeof *a->threshold64);
  memset(a->linear_const, 0, nodes * sizeof *a->linear_const);
  memset(a->linear, 0, nodes);
  memset(a->linear_begin, 0, nodes * sizeof *a->linear_begin);
  memset(a->linear_count, 0, nodes * sizeof *a->linear_count);
  memset(a->cover, 0, nodes * sizeof *a->cover);
  a->num_cat_values = 0;
  a->num_linear_terms = 0;
  return 0;
}

grove_tree_src_t grove__tree_src_of(const grove_tree_arrays_t *a, size_t nodes) {
  return (grove_tree_src_t){
      .num_nodes = (uint32_t)nodes,
      .left = a->left,
      .right = a->right,
      .feature = a->feature,
      .value = a->value,
      .default_left = a->default_left,
      .categorical = a->categorical,
      .cat_begin = a->cat_begin,
      .cat_count = a->cat_count,
      .cat_values = a->cat_values,
      .num_cat_values = a->num_cat_values,
      .zero_missing = a->zero_missing,
      .cover = a->cover,
      .weight = 1.0f,
      .value64 = a->value64,
      .threshold64 = a->threshold64,
      .linear = a->linear,
      .linear_const = a->linear_const,
      .linear_begin = a->linear_begin,
      .linear_count = a->linear_count,
      .linear_features = a->linear_features,
      .linear_coeffs = a->linear_coeffs,
      .num_linear_terms = a->num_linear_terms,
  };
}

int grove__tree_arrays_push_term(grove_tree_arrays_t *a, int32_t feature, double coeff) {
  if (a->num_linear_terms >= a->cap_linear_terms) {
    size_t cap = a->cap_linear_terms;
    if (grow((void **)&a->linear_features, &cap, a->num_linear_terms + 1,
             sizeof *a->linear_features))
      return -1;
    cap = a->cap_linear_terms;
    if (grow((void **)&a->linear_coeffs, &cap, a->num_linear_terms + 1, sizeof *a->linear_coeffs))
      return -1;
    a->cap_linear_terms = cap;
  }
  a->linear_features[a->num_linear_terms] = feature;
  a->linear_coeffs[a->num_linear_terms++] = coeff;
  return 0;
}

int grove__tree_arrays_push_category(grove_tree_arrays_t *a, int32_t c) {
  if (GROW(a, cat_values, cap_cat_values, a->num_cat_values + 1)) return -1;
  a->cat_values[a->num_cat_values++] = c;
  return 0;
}

void grove__tree_arrays_free(grove_tree_arrays_t *a) {
  free(a->cover);
  free(a->left);
  free(a->right);
  free(a->feature);
  free(a->value);
  free(a->default_left);
  free(a->categorical);
  free(a->zero_missing);
  free(a->cat_begin);
  free(a->cat_count);
  free(a->cat_values);
  free(a->value64);
  free(a->threshold64);
  free(a->linear_const);
  free(a->linear);
  free(a->linear_begin);
  free(a->linear_count);
  free(a->linear_features);
  free(a->linear_coeffs);
  memset(a, 0, sizeof *a);
}

/*
 * What a table layout (grove_top_t, grove_top6_t) stores at split position P of TABLES: the
 * split node N there, or NULL where a leaf stands (the layout then says "always right":
 * NaN threshold, flags 0). ORs the node's bits into *ANY, the summary; returns 0 when the
 * layout cannot hold N.
 */
typedef int top_put_fn(void *tables, const grove_forest_t *f, uint32_t p, const grove_node_t *n,
                       uint32_t *any);

/*
 * What both layouts share: TABLES (SIZE bytes) zeroed, AT the node at each heap position of
 * a tree's top LEVELS levels and of the level below them (2^(LEVELS+1) - 1 positions,
 * position p's children at 2p+1 and 2p+2; under a leaf, every position is that leaf), PUT
 * given each split position's node, *ANY their summary. Returns 0 as soon as PUT does.
 */
static int top_walk(const grove_forest_t *f, uint32_t root, uint32_t levels, top_put_fn *put,
                    void *tables, size_t size, uint32_t *at, uint32_t *any) {
  const uint32_t splits = (1u << levels) - 1;
  memset(tables, 0, size);
  *any = 0;
  at[0] = root;
  for (uint32_t p = 0; p < splits; p++) {
    const grove_node_t *n = &f->nodes[at[p]];
    const int split = grove__node_is_split(f->leaf64, n);
    at[grove__top_child(p, 0)] = split ? n->left : at[p];
    at[grove__top_child(p, 1)] = split ? n->left + 1 : at[p];
    if (!put(tables, f, p, split ? n : NULL, any)) return 0;
  }
  return 1;
}

/* Takes every node: a set with categories past 63 only adds GROVE_TOP_WIDE_SETS to the
 * summary (forest.h). */
static int top_put(void *tables, const grove_forest_t *f, uint32_t p, const grove_node_t *n,
                   uint32_t *any) {
  grove_top_t *top = tables;
  if (n == NULL) {
    top->value[p] = NAN;
    return 1;
  }
  top->value[p] = n->value;
  top->feature[p] = n->feature;
  top->flags[p] = n->flags;
  *any |= n->flags & ((1u << GROVE_NODE_CAT_SHIFT) - 1);
  if (n->flags & GROVE_NODE_CATEGORICAL) {
    const grove_cat_set_t *set = &f->cat_sets[n->flags >> GROVE_NODE_CAT_SHIFT];
    for (uint32_t w = 0; w < 2 && w < set->nwords; w++)
      top->cat_words[w][p] = f->cat_words[set->offset + w];
    if (set->nwords > 2) *any |= GROVE_TOP_WIDE_SETS;
  }
  return 1;
}

void grove__top_build(const grove_forest_t *f, uint32_t root, grove_top_t *top) {
  enum { SPLITS = GROVE_TOP_SLOTS - 1 };
  uint32_t at[2 * GROVE_TOP_SLOTS - 1], any;
  top_walk(f, root, GROVE_TOP_LEVELS, top_put, top, sizeof *top, at, &any); /* takes every node */
  top->flags[SPLITS] = any;
  for (uint32_t p = SPLITS; p < 2 * GROVE_TOP_SLOTS - 1; p++)
    top->exit[p % GROVE_TOP_SLOTS] = at[p];
}

/* Refuses features past 255 and sets with categories past 47 (grove_top6_t's meta). */
static int top6_put(void *tables, const grove_forest_t *f, uint32_t p, const grove_node_t *n,
                    uint32_t *any) {
  enum { LAST_LEVEL = GROVE_TOP6_HALF - 1 };
  grove_top6_t *top = tables;
  const uint32_t slot = p < LAST_LEVEL ? p : GROVE_TOP6_HALF + p % GROVE_TOP6_HALF;
  if (n == NULL) {
    top->value[slot] = NAN;
    return 1;
  }
  if ((uint32_t)n->feature > GROVE_TOP6_META_FEATURE_MASK) return 0;
  float value = n->value;
  uint32_t high = 0;
  if (n->flags & GROVE_NODE_CATEGORICAL) {
    const grove_cat_set_t *set = &f->cat_sets[n->flags >> GROVE_NODE_CAT_SHIFT];
    if (set->nwords > 2) return 0;
    const uint32_t w0 = set->nwords > 0 ? f->cat_words[set->offset] : 0;
    high = set->nwords > 1 ? f->cat_words[set->offset + 1] : 0;
    if (high >> (32 - GROVE_TOP6_META_CATS_SHIFT)) return 0; /* a category past 47 */
    memcpy(&value, &w0, sizeof value);
  }
  top->value[slot] = value;
  top->meta[slot] = (uint32_t)n->feature |
                    (n->flags & GROVE_NODE_LOW_FLAGS) << GROVE_TOP6_META_FLAGS_SHIFT |
                    high << GROVE_TOP6_META_CATS_SHIFT;
  *any |= n->flags & GROVE_NODE_LOW_FLAGS;
  return 1;
}

int grove__top6_build(const grove_forest_t *f, uint32_t root, grove_top6_t *top) {
  enum { SPLITS = GROVE_TOP6_SLOTS - 1 };
  uint32_t at[2 * GROVE_TOP6_SLOTS - 1], any;
  if (!top_walk(f, root, GROVE_TOP6_LEVELS, top6_put, top, sizeof *top, at, &any)) return 0;
  /* Exits hold float leaf values when every one is a leaf; a leaf64 leaf's double does not
   * fit an exit, so theirs always hold node indexes. */
  uint32_t leaves = f->leaf64 ? 0 : GROVE_TOP6_LEAF_EXITS;
  for (uint32_t p = SPLITS; p < 2 * GROVE_TOP6_SLOTS - 1; p++)
    if (grove__node_is_split(f->leaf64, &f->nodes[at[p]])) leaves = 0;
  for (uint32_t p = SPLITS; p < 2 * GROVE_TOP6_SLOTS - 1; p++) {
    const grove_node_t *n = &f->nodes[at[p]];
    if (leaves)
      memcpy(&top->exit[p % GROVE_TOP6_SLOTS], &n->value, sizeof n->value);
    else
      top->exit[p % GROVE_TOP6_SLOTS] = at[p];
  }
  top->meta[GROVE_TOP6_SUMMARY] = any | leaves;
  return 1;
}

int grove__nodes8_build(const grove_forest_t *f, grove_node8_t *out) {
  const uint64_t num_nodes = f->info.num_nodes;
  for (uint64_t i = 0; i < num_nodes; i++) {
    const grove_node_t *n = &f->nodes[i];
    if (!grove__node_is_split(f->leaf64, n)) {
      /* A leaf64 leaf's double does not fit beside the mark: walks read it from the node. */
      out[i] = (grove_node8_t){.value = f->leaf64 ? 0.0f : n->value,
                               .packed = GROVE_NODE8_LEAF << GROVE_NODE8_FEATURE_SHIFT};
      continue;
    }
    if ((uint32_t)n->feature >= GROVE_NODE8_LEAF || n->left <= i ||
        n->left - i > GROVE_NODE8_LEFT_MASK)
      return 0;
    out[i] = (grove_node8_t){
        .value = n->value,
        .packed = (uint32_t)(n->left - i) | (uint32_t)n->feature << GROVE_NODE8_FEATURE_SHIFT |
                  (n->flags & GROVE_NODE_LOW_FLAGS) << GROVE_NODE8_FLAGS_SHIFT};
  }
  return 1;
}

/* Each tree's expected value: its leaves' mean weighted by their COVER, children before
 * parents (XGBoost's node mean values; LightGBM's ExpectedValue); MEAN is scratch, one per
 * node. */
static void fill_tree_expected(const grove_forest_t *f, const double *cover, double *mean,
                               double *expected) {
  const uint32_t nt = f->info.num_trees;
  for (uint32_t t = 0; t < nt; t++) {
    const uint32_t end = t + 1 < nt ? f->roots[t + 1] : (uint32_t)f->info.num_nodes;
    for (uint32_t i = end; i-- > f->roots[t];) {
      const grove_node_t *n = &f->nodes[i];
      if (!grove__node_is_split(f->leaf64, n)) {
        mean[i] = f->leaf64 ? grove__node_leaf64(n) : (double)n->value;
        continue;
      }
      mean[i] =
          (mean[n->left] * cover[n->left] + mean[n->left + 1] * cover[n->left + 1]) / cover[i];
    }
    expected[t] = mean[f->roots[t]];
  }
}

/*
 * The walk's static facts about each split (GROVE_SHAP_*, forest.h): whether a split above it
 * tests the same feature, and whether one below it on each side does. PARENT is scratch, one
 * per node. Nodes are breadth-first, so a node's parent comes before it.
 */
static void fill_shap_flags(const grove_forest_t *f, uint32_t *parent, uint8_t *flags) {
  const size_t nn = f->info.num_nodes;
  for (size_t i = 0; i < nn; i++) {
    flags[i] = 0;
    parent[i] = UINT32_MAX;
  }
  for (size_t i = 0; i < nn; i++) {
    const grove_node_t *n = &f->nodes[i];
    if (!grove__node_is_split(f->leaf64, n)) continue;
    parent[n->left] = parent[n->left + 1] = (uint32_t)i;
    /* The nearest split above on the same feature; the ones above that one saw it already. */
    for (uint32_t c = (uint32_t)i, a = parent[i]; a != UINT32_MAX; c = a, a = parent[a])
      if (f->nodes[a].feature == n->feature) {
        flags[i] |= GROVE_SHAP_REPEAT;
        flags[a] |= c == f->nodes[a].left ? GROVE_SHAP_DEEPER_LEFT : GROVE_SHAP_DEEPER_RIGHT;
        break;
      }
  }
}

/* Gives F its explanation arrays (forest.h), in an allocation of their own; -1: no memory. */
static int attach_explain_arrays(const grove_builder_t *b, grove_forest_t *f) {
  const size_t nn = b->num_nodes, nt = b->num_trees;
  const int covers = b->num_covered == nt;
  /* [cover ratios: nn][tree expected: nt] with covers, then [ids: nn uint32][flags: nn] */
  double *d = malloc(((covers ? nn + nt : 0) + nn / 2 + 1 + nn / 8 + 1) * sizeof *d);
  double *mean = covers ? malloc((nn ? nn : 1) * sizeof *mean) : NULL;
  uint32_t *parent = covers ? malloc((nn ? nn : 1) * sizeof *parent) : NULL;
  if (d == NULL || (covers && (mean == NULL || parent == NULL))) {
    free(d);
    free(mean);
    free(parent);
    return -1;
  }
  uint32_t *ids = (uint32_t *)(d + (covers ? nn + nt : 0));
  if (nn) memcpy(ids, b->ids, nn * sizeof *ids);
  f->explain_alloc = d;
  f->node_ids = ids;
  if (covers) {
    double *ratio = d;
    if (nn) memcpy(ratio, b->covers, nn * sizeof *ratio);
    f->tree_expected = d + nn;
    fill_tree_expected(f, ratio, mean, d + nn); /* from the covers, before they become ratios */
    /* Each node's cover over its parent's, children before parents (breadth-first). */
    for (size_t i = nn; i-- > 0;) {
      const grove_node_t *n = &f->nodes[i];
      if (!grove__node_is_split(f->leaf64, n)) continue;
      ratio[n->left] = ratio[i] > 0 ? ratio[n->left] / ratio[i] : 0;
      ratio[n->left + 1] = ratio[i] > 0 ? ratio[n->left + 1] / ratio[i] : 0;
    }
    for (uint32_t t = 0; t < nt; t++) ratio[f->roots[t]] = 1;
    f->cover_ratios = ratio;
    uint8_t *flags = (uint8_t *)(ids + nn);
    fill_shap_flags(f, parent, flags);
    f->shap_flags = flags;
  }
  free(mean);
  free(parent);
  return 0;
}

static size_t align_up(size_t n) {
  return (n + GROVE_FOREST_ALIGN - 1) & ~(size_t)(GROVE_FOREST_ALIGN - 1);
}

/* Reserves SIZE bytes at *cursor (aligned) and returns their offset. */
static size_t reserve(size_t *cursor, size_t size) {
  size_t at = align_up(*cursor);
  *cursor = at + size;
  return at;
}

static int compare_doubles(const void *a, const void *b) {
  const double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

/*
 * Leaf64 forests: each feature's numeric split thresholds, sorted and without repeats, in
 * *VALUES (feature j's at [(*offsets)[j], (*offsets)[j + 1])), and each numeric split's
 * index among them in its flags (GROVE_NODE_T64_SHIFT). The caller frees both arrays.
 */
static grove_err_t build_thresholds(grove_builder_t *b, double **values, uint32_t **offsets,
                                    size_t *count, grove_error_t *err) {
  const uint32_t nf = b->num_features;
  size_t n = 0;
  *values = NULL;
  *offsets = calloc((size_t)nf + 1, sizeof **offsets);
  if (*offsets == NULL) return grove__error_set(err, GROVE_ENOMEM, "out of memory");
  uint32_t *off = *offsets;
  for (size_t i = 0; i < b->num_nodes; i++)
    if (!isnan(b->t64[i])) off[b->nodes[i].feature + 1]++, n++;
  *values = malloc((n ? n : 1) * sizeof **values);
  uint32_t *fill = calloc(nf ? nf : 1, sizeof *fill);
  if (*values == NULL || fill == NULL) {
    free(fill);
    return grove__error_set(err, GROVE_ENOMEM, "out of memory");
  }
  for (uint32_t j = 0; j < nf; j++) off[j + 1] += off[j];
  for (size_t i = 0; i < b->num_nodes; i++)
    if (!isnan(b->t64[i])) {
      const uint32_t j = (uint32_t)b->nodes[i].feature;
      (*values)[off[j] + fill[j]++] = b->t64[i];
    }
  /* Sort each feature's thresholds and drop repeats, packing the features together. */
  size_t kept = 0;
  for (uint32_t j = 0; j < nf; j++) {
    double *v = *values + off[j];
    const size_t m = off[j + 1] - off[j];
    qsort(v, m, sizeof *v, compare_doubles);
    off[j] = (uint32_t)kept;
    for (size_t k = 0; k < m; k++)
      if (k == 0 || v[k] != v[k - 1]) (*values)[kept++] = v[k];
  }
  off[nf] = (uint32_t)kept;
  free(fill);
  if (kept > GROVE_NODE_T64_MAX)
    return grove__error_set(err, GROVE_EUNSUPPORTED, "%zu distinct thresholds (grove's limit: %u)",
                            kept, GROVE_NODE_T64_MAX);
  for (size_t i = 0; i < b->num_nodes; i++) {
    if (isnan(b->t64[i])) continue;
    const uint32_t j = (uint32_t)b->nodes[i].feature;
    const double *lo = *values + off[j], *hi = *values + off[j + 1];
    while (hi - lo > 1) { /* the one equal to t64[i] is in [lo, hi) */
      const double *mid = lo + (hi - lo) / 2;
      if (*mid <= b->t64[i])
        lo = mid;
      else
        hi = mid;
    }
    b->nodes[i].flags |= (uint32_t)(lo - *values) << GROVE_NODE_T64_SHIFT;
  }
  *count = kept;
  return GROVE_OK;
}

grove_err_t grove__builder_finish(grove_builder_t *b, const grove_model_meta_t *meta,
                                  grove_forest_t **out, grove_error_t *err) {
  *out = NULL;
  /* A model with no trees is valid: XGBoost predicts its base score. */
  if (meta->num_features != b->num_features || meta->num_groups != b->num_groups)
    return grove__error_set(err, GROVE_EINVAL, "builder and model disagree on shape");
  if (b->leaf64 && b->num_features >= GROVE_LEAF64_FEATURES)
    return grove__error_set(err, GROVE_EUNSUPPORTED, "%u features (grove's limit: %u)",
                            b->num_features, GROVE_LEAF64_FEATURES - 1);
  double *thresholds = NULL;
  uint32_t *threshold_offsets = NULL;
  size_t num_thresholds = 0;
  if (b->leaf64) {
    grove_err_t rc = build_thresholds(b, &thresholds, &threshold_offsets, &num_thresholds, err);
    if (rc != GROVE_OK) {
      free(thresholds);
      free(threshold_offsets);
      return rc;
    }
  }

  /* Strings are copied after the arrays; count them first. */
  const char *source_model = meta->source_model ? meta->source_model : "";
  size_t str_bytes = strlen(meta->format) + strlen(source_model) + strlen(meta->objective) +
                     strlen(meta->booster) + 4;
  if (meta->feature_names != NULL)
    for (uint32_t i = 0; i < meta->num_features; i++)
      str_bytes += strlen(meta->feature_names[i]) + 1;

  size_t cursor = sizeof(struct grove_forest);
  size_t off_nodes = reserve(&cursor, b->num_nodes * sizeof(grove_node_t));
  size_t off_roots = reserve(&cursor, b->num_trees * sizeof(uint32_t));
  size_t off_groups = reserve(&cursor, b->num_trees * sizeof(uint32_t));
  size_t off_sets = reserve(&cursor, b->num_sets * sizeof(grove_cat_set_t));
  size_t off_words = reserve(&cursor, b->num_words * sizeof(uint32_t));
  size_t off_base = reserve(&cursor, meta->num_groups * sizeof(float));
  size_t off_names =
      reserve(&cursor, meta->feature_names ? meta->num_features * sizeof(char *) : 0);
  size_t off_types = reserve(&cursor, meta->num_features);
  size_t off_strings = reserve(&cursor, str_bytes);
  /* The top tables only while the whole block stays within twice the nodes' bytes. */
  const size_t node_bytes = b->num_nodes * sizeof(grove_node_t);
  size_t with_tops = cursor;
  const size_t off_tops = reserve(&with_tops, b->num_trees * sizeof(grove_top_t));
  const int tops = b->num_trees > 0 && align_up(with_tops) <= 2 * node_bytes;
  if (tops) cursor = with_tops;
  /* Then the 8-byte nodes, while that still holds. */
  size_t with_nodes8 = cursor;
  const size_t off_nodes8 = reserve(&with_nodes8, b->num_nodes * sizeof(grove_node8_t));
  const int nodes8 = b->num_nodes > 0 && align_up(with_nodes8) <= 2 * node_bytes;
  if (nodes8) cursor = with_nodes8;
  /* Leaf64 forests' own arrays come last, so they leave the tables' budget as it was. */
  const uint64_t near_slots = b->leaf64 ? grove__near_slots(num_thresholds) : 0;
  const size_t off_t64 = reserve(&cursor, num_thresholds * sizeof(double));
  const size_t off_t64_offsets =
      reserve(&cursor, b->leaf64 ? ((size_t)b->num_features + 1) * sizeof(uint32_t) : 0);
  const size_t off_near = reserve(&cursor, near_slots * sizeof(uint64_t));
  const size_t off_linear = reserve(&cursor, b->num_linear * sizeof(grove_linear_t));
  const size_t off_terms = reserve(&cursor, b->num_terms * sizeof(grove_linear_term_t));
  const size_t off_linear_inputs = reserve(&cursor, b->num_linear ? b->num_features : 0);
  size_t size = align_up(cursor);

  char *block = aligned_alloc(GROVE_FOREST_ALIGN, size);
  if (block == NULL) {
    free(thresholds);
    free(threshold_offsets);
    return grove__error_set(err, GROVE_ENOMEM, "out of memory (%zu bytes)", size);
  }
  memset(block, 0, size);
  struct grove_forest *f = (struct grove_forest *)block;
  f->block_size = size;
  f->leaf64 = b->leaf64;
  f->average_over = meta->average_over;
  if (b->leaf64) {
    if (num_thresholds) memcpy(block + off_t64, thresholds, num_thresholds * sizeof(double));
    memcpy(block + off_t64_offsets, threshold_offsets,
           ((size_t)b->num_features + 1) * sizeof(uint32_t));
    f->thresholds64 = (const double *)(block + off_t64);
    f->threshold_offsets = (const uint32_t *)(block + off_t64_offsets);
    grove__near_fill((uint64_t *)(block + off_near), near_slots, f->thresholds64,
                     f->threshold_offsets, b->num_features);
    f->near_floats = (const uint64_t *)(block + off_near);
    f->near_mask = near_slots - 1;
  }
  free(thresholds);
  free(threshold_offsets);
  if (b->num_linear) {
    memcpy(block + off_linear, b->linear, b->num_linear * sizeof(grove_linear_t));
    if (b->num_terms)
      memcpy(block + off_terms, b->terms, b->num_terms * sizeof(grove_linear_term_t));
    memcpy(block + off_linear_inputs, b->linear_inputs, b->num_features);
    f->linear = (const grove_linear_t *)(block + off_linear);
    f->linear_terms = (const grove_linear_term_t *)(block + off_terms);
    f->linear_inputs = (const uint8_t *)(block + off_linear_inputs);
    f->num_linear_leaves = b->num_linear;
  }

  if (b->num_trees) { /* with no trees the arrays were never allocated */
    memcpy(block + off_nodes, b->nodes, b->num_nodes * sizeof(grove_node_t));
    memcpy(block + off_roots, b->roots, b->num_trees * sizeof(uint32_t));
    memcpy(block + off_groups, b->groups, b->num_trees * sizeof(uint32_t));
  }
  if (b->num_sets) memcpy(block + off_sets, b->sets, b->num_sets * sizeof(grove_cat_set_t));
  if (b->num_words) memcpy(block + off_words, b->words, b->num_words * sizeof(uint32_t));
  memcpy(block + off_base, meta->base_margins, meta->num_groups * sizeof(float));
  if (meta->feature_types) memcpy(block + off_types, meta->feature_types, meta->num_features);
  f->nodes = (const grove_node_t *)(block + off_nodes);
  f->roots = (const uint32_t *)(block + off_roots);
  f->tree_groups = (const uint32_t *)(block + off_groups);
  f->cat_sets = (const grove_cat_set_t *)(block + off_sets);
  f->cat_words = (const uint32_t *)(block + off_words);
  f->base_margins = (const float *)(block + off_base);
  f->feature_types = (const uint8_t *)(block + off_types);
  if (tops) {
    /* 6 levels when every tree fits them, else 5: the same bytes. */
    grove_top6_t *top6 = (grove_top6_t *)(block + off_tops);
    int six = 1;
    for (size_t t = 0; t < b->num_trees && six; t++)
      six = grove__top6_build(f, b->roots[t], &top6[t]);
    if (six) {
      f->tops6 = top6;
      f->top_levels = GROVE_TOP6_LEVELS;
    } else {
      grove_top_t *top = (grove_top_t *)(block + off_tops);
      for (size_t t = 0; t < b->num_trees; t++) grove__top_build(f, b->roots[t], &top[t]);
      f->tops = top;
      f->top_levels = GROVE_TOP_LEVELS;
    }
  }

  char *s = block + off_strings;
#define COPY_STRING(dst, src)      \
  do {                             \
    size_t len_ = strlen(src) + 1; \
    memcpy(s, (src), len_);        \
    (dst) = s;                     \
    s += len_;                     \
  } while (0)
  grove_forest_info_t *info = &f->info;
  COPY_STRING(info->format, meta->format);
  COPY_STRING(info->source_model, source_model);
  COPY_STRING(info->objective, meta->objective);
  COPY_STRING(info->booster, meta->booster);
  if (meta->feature_names != NULL) {
    const char **names = (const char **)(block + off_names);
    for (uint32_t i = 0; i < meta->num_features; i++) COPY_STRING(names[i], meta->feature_names[i]);
    f->feature_names = names;
  }
#undef COPY_STRING

  info->task = meta->task;
  info->transform = meta->transform;
  info->num_features = meta->num_features;
  info->num_groups = meta->num_groups;
  info->num_outputs = meta->num_outputs;
  info->num_trees = (uint32_t)b->num_trees;
  info->num_parallel_tree = meta->num_parallel_tree;
  info->max_depth = b->max_depth;
  info->num_nodes = b->num_nodes;
  info->num_leaves = b->num_leaves;
  info->num_categorical_splits = b->num_cat_splits;
  f->num_zero_missing = b->num_zero_missing;
  f->num_cat_sets = (uint32_t)b->num_sets;
  f->num_cat_words = (uint32_t)b->num_words;
  f->num_thresholds64 = num_thresholds;
  f->num_linear_terms = b->num_terms;
  if (nodes8 && grove__nodes8_build(f, (grove_node8_t *)(block + off_nodes8)))
    f->nodes8 = (const grove_node8_t *)(block + off_nodes8);
  info->memory_bytes = size; /* the explanation tables' budget */
  if (attach_explain_arrays(b, f) != 0 || grove__forest_attach_derived(f) != 0) {
    free(f->explain_alloc);
    free(block);
    return grove__error_set(err, GROVE_ENOMEM, "out of memory");
  }
  info->base_margin = meta->base_margins[0];
  info->has_feature_names = meta->feature_names != NULL;
  *out = f;
  return GROVE_OK;
}
