/*
 * XGBoost JSON and UBJSON models (Booster.save_model("model.json" / "model.ubj"),
 * XGBoost 1.x to 3.x) -> builder; that format only (load.c sniffs formats and finds
 * files). Models converted to XGBoost JSON (models/convert_sklearn.py) load here too: their
 * top-level "grove" block only changes what the summary reports.
 *
 * json-c is used because it keeps each number's original text: thresholds are parsed
 * from that text with strtof, as XGBoost itself reads them, so no value is rounded
 * twice (decimal -> double -> float).
 */
#include <errno.h>
#include <json-c/json.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "builder.h"
#include "error.h"
#include "load.h"
#include "objective.h"
#include "ubjson.h"

/* A per-feature table costs memory even when no tree uses the feature: bound it. */
#define GROVE_MAX_FEATURES (1 << 24)

/* XGBoost models nest about six levels deep; anything deeper is not a model. */
#define JSON_MAX_DEPTH 64

typedef struct {
  grove_error_t *err;
  int version_major, version_minor;
  grove_tree_arrays_t arrays; /* XGBoost's numbering, reused from tree to tree */
} loader_t;

/* ---- small JSON accessors that report what is missing or mistyped ---- */

static grove_err_t fail(loader_t *ld, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static grove_err_t fail(loader_t *ld, const char *fmt, ...) {
  if (ld->err != NULL) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(ld->err->msg, sizeof ld->err->msg, fmt, ap);
    va_end(ap);
  }
  return GROVE_EPARSE;
}

static const char *type_name(json_object *o) { return json_type_to_name(json_object_get_type(o)); }

/* Returns member KEY of object O when it has type TYPE, else NULL (and fills the error). */
static json_object *member(loader_t *ld, json_object *o, const char *where, const char *key,
                           json_type type) {
  json_object *v = NULL;
  if (!json_object_is_type(o, json_type_object) || !json_object_object_get_ex(o, key, &v)) {
    fail(ld, "%s: missing \"%s\"", where, key);
    return NULL;
  }
  if (!json_object_is_type(v, type)) {
    fail(ld, "%s.%s: expected %s, found %s", where, key, json_type_to_name(type), type_name(v));
    return NULL;
  }
  return v;
}

/* Like member() but absence is not an error (returns NULL without message). */
static json_object *optional(json_object *o, const char *key) {
  json_object *v = NULL;
  if (!json_object_is_type(o, json_type_object) || !json_object_object_get_ex(o, key, &v))
    return NULL;
  return json_object_is_type(v, json_type_null) ? NULL : v;
}

/* Parses all of TEXT as a float the way XGBoost reads its own numbers. */
static int parse_float_text(const char *text, float *out) {
  char *end;
  float v = strtof(text, &end);
  if (end == text || *end != '\0') return -1;
  *out = v;
  return 0;
}

/* A number (or a string holding one, as XGBoost writes its parameters) as float. */
static int json_to_float(json_object *o, float *out) {
  switch (json_object_get_type(o)) {
    case json_type_int:
      *out = (float)json_object_get_int64(o);
      return 0;
    case json_type_double:
    case json_type_string:
      return parse_float_text(json_object_get_string(o), out);
    case json_type_boolean:
      *out = json_object_get_boolean(o) ? 1.0f : 0.0f;
      return 0;
    default:
      return -1;
  }
}

/* An integer (number or string) within [lo, hi]. */
static int json_to_int(json_object *o, int64_t lo, int64_t hi, int64_t *out) {
  int64_t v;
  switch (json_object_get_type(o)) {
    case json_type_int:
      errno = 0;
      v = json_object_get_int64(o);
      if (errno != 0) return -1;
      break;
    case json_type_boolean:
      v = json_object_get_boolean(o);
      break;
    case json_type_string: {
      const char *s = json_object_get_string(o);
      char *end;
      errno = 0;
      long long ll = strtoll(s, &end, 10);
      if (end == s || *end != '\0' || errno != 0) return -1;
      v = ll;
      break;
    }
    case json_type_double: {
      double d = json_object_get_double(o);
      if (!(d >= (double)lo && d <= (double)hi) || d != floor(d)) return -1;
      v = (int64_t)d;
      break;
    }
    default:
      return -1;
  }
  if (v < lo || v > hi) return -1;
  *out = v;
  return 0;
}

/* Reads integer parameter KEY of object O (XGBoost stores them as strings). */
static grove_err_t int_param(loader_t *ld, json_object *o, const char *where, const char *key,
                             int64_t lo, int64_t hi, int64_t dflt, int64_t *out) {
  json_object *v = optional(o, key);
  if (v == NULL) {
    if (dflt == INT64_MIN) return fail(ld, "%s: missing \"%s\"", where, key);
    *out = dflt;
    return GROVE_OK;
  }
  if (json_to_int(v, lo, hi, out) != 0)
    return fail(ld, "%s.%s: expected an integer in [%lld, %lld], found %s", where, key,
                (long long)lo, (long long)hi, json_object_get_string(v));
  return GROVE_OK;
}

/* Array KEY of TREE (tree T), which must hold N values; NULL with the error filled (WHERE
 * gets "trees[T]" for the caller's messages). */
static json_object *tree_array(loader_t *ld, json_object *tree, size_t t, const char *key, size_t n,
                               char *where, size_t where_size) {
  snprintf(where, where_size, "trees[%zu]", t);
  json_object *arr = member(ld, tree, where, key, json_type_array);
  if (arr != NULL && json_object_array_length(arr) != n) {
    fail(ld, "%s.%s: %zu values for %zu nodes", where, key, json_object_array_length(arr), n);
    return NULL;
  }
  return arr;
}

/* Reads array KEY of TREE into int32 DST, checking its length and range. */
static grove_err_t int_array(loader_t *ld, json_object *tree, size_t t, const char *key,
                             int32_t *dst, size_t n, int64_t lo, int64_t hi) {
  char where[64];
  json_object *arr = tree_array(ld, tree, t, key, n, where, sizeof where);
  if (arr == NULL) return GROVE_EPARSE;
  for (size_t i = 0; i < n; i++) {
    int64_t v;
    if (json_to_int(json_object_array_get_idx(arr, i), lo, hi, &v) != 0)
      return fail(ld, "%s.%s[%zu]: expected an integer in [%lld, %lld]", where, key, i,
                  (long long)lo, (long long)hi);
    dst[i] = (int32_t)v;
  }
  return GROVE_OK;
}

/* Reads array KEY of TREE into DST, checking its length. */
static grove_err_t float_array(loader_t *ld, json_object *tree, size_t t, const char *key,
                               float *dst, size_t n) {
  char where[64];
  json_object *arr = tree_array(ld, tree, t, key, n, where, sizeof where);
  if (arr == NULL) return GROVE_EPARSE;
  for (size_t i = 0; i < n; i++)
    if (json_to_float(json_object_array_get_idx(arr, i), &dst[i]) != 0)
      return fail(ld, "%s.%s[%zu]: expected a number", where, key, i);
  return GROVE_OK;
}

/* ---- trees ---- */

/* sum_hessian, each node's cover, into the loader's cover array when the tree has it (the
 * explanations need it; predictions do not, so *HAS is 0 without it). */
static grove_err_t load_covers(loader_t *ld, json_object *tree, size_t t, size_t n, int *has) {
  *has = optional(tree, "sum_hessian") != NULL;
  if (!*has) return GROVE_OK;
  char where[64];
  json_object *arr = tree_array(ld, tree, t, "sum_hessian", n, where, sizeof where);
  if (arr == NULL) return GROVE_EPARSE;
  for (size_t i = 0; i < n; i++) {
    float v;
    if (json_to_float(json_object_array_get_idx(arr, i), &v) != 0)
      return fail(ld, "%s.sum_hessian[%zu]: expected a number", where, i);
    ld->arrays.cover[i] = v;
  }
  return GROVE_OK;
}

/*
 * Categorical splits: categories_nodes lists the split nodes, and node k's set is
 * categories[categories_segments[k] .. + categories_sizes[k]].
 */
static grove_err_t load_categories(loader_t *ld, json_object *tree, size_t t, size_t n,
                                   int *has_categorical) {
  grove_tree_arrays_t *a = &ld->arrays;
  char where[64];
  snprintf(where, sizeof where, "trees[%zu]", t);
  *has_categorical = 0;
  json_object *split_type = optional(tree, "split_type");
  if (split_type == NULL) return GROVE_OK; /* written before categorical support */
  if (!json_object_is_type(split_type, json_type_array) ||
      json_object_array_length(split_type) != n)
    return fail(ld, "%s.split_type: expected an array of %zu values", where, n);
  for (size_t i = 0; i < n; i++) {
    int64_t v;
    if (json_to_int(json_object_array_get_idx(split_type, i), 0, 1, &v) != 0)
      return fail(ld, "%s.split_type[%zu]: expected 0 (numeric) or 1 (categorical)", where, i);
    a->categorical[i] = (uint8_t)v;
    if (v && a->left[i] >= 0) *has_categorical = 1;
  }
  if (!*has_categorical) return GROVE_OK;

  json_object *nodes = member(ld, tree, where, "categories_nodes", json_type_array);
  json_object *segments =
      nodes ? member(ld, tree, where, "categories_segments", json_type_array) : NULL;
  json_object *sizes =
      segments ? member(ld, tree, where, "categories_sizes", json_type_array) : NULL;
  json_object *cats = sizes ? member(ld, tree, where, "categories", json_type_array) : NULL;
  if (cats == NULL) return GROVE_EPARSE;
  size_t k = json_object_array_length(nodes), ncat = json_object_array_length(cats);
  if (json_object_array_length(segments) != k || json_object_array_length(sizes) != k)
    return fail(ld,
                "%s: categories_nodes, categories_segments and categories_sizes differ in length",
                where);
  for (size_t i = 0; i < ncat; i++) {
    int64_t v;
    if (json_to_int(json_object_array_get_idx(cats, i), 0, (int64_t)GROVE_MAX_CATEGORY - 1, &v) !=
        0)
      return fail(ld, "%s.categories[%zu]: expected a category in [0, 2^24)", where, i);
    if (grove__tree_arrays_push_category(a, (int32_t)v) != 0)
      return grove__error_set(ld->err, GROVE_ENOMEM, "out of memory");
  }
  /* UINT32_MAX marks a categorical node whose set was not given. */
  for (size_t i = 0; i < n; i++) a->cat_begin[i] = UINT32_MAX, a->cat_count[i] = 0;
  for (size_t j = 0; j < k; j++) {
    int64_t node, seg, size;
    if (json_to_int(json_object_array_get_idx(nodes, j), 0, (int64_t)n - 1, &node) != 0 ||
        json_to_int(json_object_array_get_idx(segments, j), 0, (int64_t)ncat, &seg) != 0 ||
        json_to_int(json_object_array_get_idx(sizes, j), 0, (int64_t)ncat - seg, &size) != 0)
      return fail(ld, "%s: categorical split %zu: node, segment or size out of range", where, j);
    if (!a->categorical[node] || a->cat_begin[node] != UINT32_MAX)
      return fail(ld,
                  "%s: categories_nodes[%zu] = %lld is not a categorical split or is listed twice",
                  where, j, (long long)node);
    a->cat_begin[node] = (uint32_t)seg;
    a->cat_count[node] = (uint32_t)size;
  }
  for (size_t i = 0; i < n; i++)
    if (a->categorical[i] && a->left[i] >= 0 && a->cat_begin[i] == UINT32_MAX)
      return fail(ld, "%s: categorical split node %zu has no categories", where, i);
  return GROVE_OK;
}

static grove_err_t load_tree(loader_t *ld, grove_builder_t *b, json_object *tree, size_t t,
                             uint32_t group, float weight) {
  char where[64];
  snprintf(where, sizeof where, "trees[%zu]", t);
  if (!json_object_is_type(tree, json_type_object))
    return fail(ld, "%s: expected an object, found %s", where, type_name(tree));
  json_object *param = member(ld, tree, where, "tree_param", json_type_object);
  if (param == NULL) return GROVE_EPARSE;
  int64_t num_nodes, leaf_vector;
  grove_err_t rc =
      int_param(ld, param, "tree_param", "num_nodes", 1, INT32_MAX, INT64_MIN, &num_nodes);
  if (rc == GROVE_OK)
    rc = int_param(ld, param, "tree_param", "size_leaf_vector", 0, INT32_MAX, 0, &leaf_vector);
  if (rc != GROVE_OK) return rc;
  if (leaf_vector > 1)
    return grove__error_set(
        ld->err, GROVE_EUNSUPPORTED,
        "%s: vector leaves (multi_strategy=\"multi_output_tree\", size_leaf_vector=%lld) "
        "are not supported",
        where, (long long)leaf_vector);
  size_t n = (size_t)num_nodes;
  /* Arrays are sized from num_nodes only once it matches an array that really exists. */
  json_object *lc = member(ld, tree, where, "left_children", json_type_array);
  if (lc == NULL) return GROVE_EPARSE;
  if (json_object_array_length(lc) != n)
    return fail(ld, "%s.left_children: %zu values for num_nodes %zu", where,
                json_object_array_length(lc), n);
  if (grove__tree_arrays_reset(&ld->arrays, n) != 0)
    return grove__error_set(ld->err, GROVE_ENOMEM, "out of memory");
  grove_tree_arrays_t *a = &ld->arrays;
  rc = int_array(ld, tree, t, "left_children", a->left, n, -1, (int64_t)n - 1);
  if (rc == GROVE_OK)
    rc = int_array(ld, tree, t, "right_children", a->right, n, -1, (int64_t)n - 1);
  if (rc == GROVE_OK) rc = int_array(ld, tree, t, "split_indices", a->feature, n, 0, INT32_MAX);
  if (rc == GROVE_OK) rc = float_array(ld, tree, t, "split_conditions", a->value, n);
  if (rc != GROVE_OK) return rc;
  json_object *dl = member(ld, tree, where, "default_left", json_type_array);
  if (dl == NULL) return GROVE_EPARSE;
  if (json_object_array_length(dl) != n)
    return fail(ld, "%s.default_left: %zu values for %zu nodes", where,
                json_object_array_length(dl), n);
  for (size_t i = 0; i < n; i++) {
    int64_t v;
    if (json_to_int(json_object_array_get_idx(dl, i), 0, 1, &v) != 0)
      return fail(ld, "%s.default_left[%zu]: expected 0 or 1", where, i);
    a->default_left[i] = (uint8_t)v;
  }
  int has_categorical, has_cover;
  rc = load_categories(ld, tree, t, n, &has_categorical);
  if (rc == GROVE_OK) rc = load_covers(ld, tree, t, n, &has_cover);
  if (rc != GROVE_OK) return rc;

  grove_tree_src_t src = grove__tree_src_of(a, n);
  if (!has_categorical) src.categorical = NULL, src.num_cat_values = 0;
  if (!has_cover) src.cover = NULL;
  src.group = group;
  src.weight = weight;

  return grove__builder_add_tree(b, &src, ld->err);
}

/* ---- the model as a whole ---- */

/* base_score: "5E-1" (1.x, 2.x) or "[5E-1]" / "[a,b,...]" (3.x, one per output group). */
static grove_err_t parse_base_score(loader_t *ld, json_object *v, uint32_t groups, float *out) {
  if (json_object_is_type(v, json_type_double) || json_object_is_type(v, json_type_int)) {
    if (json_to_float(v, &out[0]) != 0)
      return fail(ld, "learner_model_param.base_score: not a number");
    for (uint32_t g = 1; g < groups; g++) out[g] = out[0];
    return GROVE_OK;
  }
  if (!json_object_is_type(v, json_type_string))
    return fail(ld, "learner_model_param.base_score: expected a string, found %s", type_name(v));
  const char *s = json_object_get_string(v);
  int bracket = *s == '[';
  const char *p = s + bracket;
  uint32_t count = 0;
  for (;;) {
    char *end;
    while (*p == ' ') p++;
    float x = strtof(p, &end);
    if (end == p) break;
    if (count < groups) out[count] = x;
    count++;
    p = end;
    while (*p == ' ') p++;
    if (*p != ',') break;
    p++;
  }
  if (bracket ? (*p != ']' || p[1] != '\0') : *p != '\0')
    return fail(ld, "learner_model_param.base_score: cannot parse \"%s\"", s);
  if (count == 1)
    for (uint32_t g = 1; g < groups; g++) out[g] = out[0];
  else if (count != groups)
    return fail(ld, "learner_model_param.base_score: %u values for %u outputs", count, groups);
  return GROVE_OK;
}

static grove_err_t parse_feature_type(loader_t *ld, const char *s, size_t i, uint8_t *out) {
  if (strcmp(s, "q") == 0 || strcmp(s, "float") == 0)
    *out = GROVE_FEATURE_NUMERIC;
  else if (strcmp(s, "int") == 0)
    *out = GROVE_FEATURE_INTEGER;
  else if (strcmp(s, "i") == 0)
    *out = GROVE_FEATURE_INDICATOR;
  else if (strcmp(s, "c") == 0)
    *out = GROVE_FEATURE_CATEGORICAL;
  else
    return fail(ld, "feature_types[%zu]: unknown feature type \"%s\"", i, s);
  return GROVE_OK;
}

/* Fills NAMES/TYPES (allocated here) from the learner's optional feature lists. */
static grove_err_t load_features(loader_t *ld, json_object *learner, uint32_t num_features,
                                 const char ***names, uint8_t **types) {
  *names = NULL;
  *types = calloc(num_features ? num_features : 1, 1);
  if (*types == NULL) return grove__error_set(ld->err, GROVE_ENOMEM, "out of memory");
  json_object *jn = optional(learner, "feature_names");
  json_object *jt = optional(learner, "feature_types");
  if (jn != NULL && !json_object_is_type(jn, json_type_array))
    return fail(ld, "learner.feature_names: expected an array");
  if (jt != NULL && !json_object_is_type(jt, json_type_array))
    return fail(ld, "learner.feature_types: expected an array");
  if (jn != NULL && json_object_array_length(jn) > 0) {
    if (json_object_array_length(jn) != num_features)
      return fail(ld, "learner.feature_names: %zu names for %u features",
                  json_object_array_length(jn), num_features);
    *names = calloc(num_features, sizeof **names);
    if (*names == NULL) return grove__error_set(ld->err, GROVE_ENOMEM, "out of memory");
    for (uint32_t i = 0; i < num_features; i++) {
      json_object *s = json_object_array_get_idx(jn, i);
      if (!json_object_is_type(s, json_type_string))
        return fail(ld, "learner.feature_names[%u]: expected a string", i);
      (*names)[i] = json_object_get_string(s);
    }
  }
  if (jt != NULL && json_object_array_length(jt) > 0) {
    if (json_object_array_length(jt) != num_features)
      return fail(ld, "learner.feature_types: %zu types for %u features",
                  json_object_array_length(jt), num_features);
    for (uint32_t i = 0; i < num_features; i++) {
      json_object *s = json_object_array_get_idx(jt, i);
      if (!json_object_is_type(s, json_type_string))
        return fail(ld, "learner.feature_types[%u]: expected a string", i);
      grove_err_t rc = parse_feature_type(ld, json_object_get_string(s), i, &(*types)[i]);
      if (rc != GROVE_OK) return rc;
    }
  }
  return GROVE_OK;
}

static void read_version(loader_t *ld, json_object *root) {
  json_object *v = optional(root, "version");
  ld->version_major = ld->version_minor = INT_MAX; /* unknown: assume current */
  if (v == NULL || !json_object_is_type(v, json_type_array) || json_object_array_length(v) < 2)
    return;
  int64_t major, minor;
  if (json_to_int(json_object_array_get_idx(v, 0), 0, 1000, &major) == 0 &&
      json_to_int(json_object_array_get_idx(v, 1), 0, 1000, &minor) == 0) {
    ld->version_major = (int)major;
    ld->version_minor = (int)minor;
  }
}

/*
 * The optional top-level "grove" block a converter writes (models/convert_sklearn.py):
 * {"source_format": "scikit-learn", "source_model": "RandomForestClassifier", ...}.
 * XGBoost ignores it; grove reports where the model came from.
 */
static grove_err_t read_grove_block(loader_t *ld, json_object *root, const char **format,
                                    const char **source_model) {
  json_object *g = optional(root, "grove");
  if (g == NULL) return GROVE_OK;
  if (!json_object_is_type(g, json_type_object))
    return fail(ld, "grove: expected an object, found %s", type_name(g));
  json_object *fmt = member(ld, g, "grove", "source_format", json_type_string);
  json_object *src = fmt ? member(ld, g, "grove", "source_model", json_type_string) : NULL;
  if (src == NULL) return GROVE_EPARSE;
  if (strcmp(json_object_get_string(fmt), "scikit-learn") != 0)
    return grove__error_set(ld->err, GROVE_EUNSUPPORTED,
                            "grove.source_format \"%s\" is not supported (known: scikit-learn)",
                            json_object_get_string(fmt));
  *format = GROVE_FORMAT_SCIKIT_LEARN;
  *source_model = json_object_get_string(src);
  return GROVE_OK;
}

static grove_err_t load_model(loader_t *ld, json_object *root, grove_forest_t **out) {
  grove_builder_t *b = NULL;
  const char **names = NULL;
  uint8_t *types = NULL;
  float *base = NULL;
  grove_err_t rc;
  read_version(ld, root);
  const char *format = GROVE_FORMAT_XGBOOST_JSON, *source_model = NULL;
  if ((rc = read_grove_block(ld, root, &format, &source_model)) != GROVE_OK) return rc;

  json_object *learner = member(ld, root, "model", "learner", json_type_object);
  json_object *objective =
      learner ? member(ld, learner, "learner", "objective", json_type_object) : NULL;
  json_object *obj_name =
      objective ? member(ld, objective, "learner.objective", "name", json_type_string) : NULL;
  json_object *lmp =
      obj_name ? member(ld, learner, "learner", "learner_model_param", json_type_object) : NULL;
  json_object *gb =
      lmp ? member(ld, learner, "learner", "gradient_booster", json_type_object) : NULL;
  json_object *gb_name =
      gb ? member(ld, gb, "learner.gradient_booster", "name", json_type_string) : NULL;
  if (gb_name == NULL) return GROVE_EPARSE;

  const char *booster = json_object_get_string(gb_name);
  json_object *model, *weights = NULL;
  if (strcmp(booster, "gbtree") == 0) {
    model = member(ld, gb, "gradient_booster", "model", json_type_object);
  } else if (strcmp(booster, "dart") == 0) {
    json_object *inner = member(ld, gb, "gradient_booster", "gbtree", json_type_object);
    model = inner ? member(ld, inner, "gradient_booster.gbtree", "model", json_type_object) : NULL;
    weights = model ? member(ld, gb, "gradient_booster", "weight_drop", json_type_array) : NULL;
    if (weights == NULL) model = NULL;
  } else if (strcmp(booster, "gblinear") == 0) {
    return grove__error_set(ld->err, GROVE_EUNSUPPORTED,
                            "the gblinear booster is a linear model, not trees: not supported");
  } else {
    return grove__error_set(ld->err, GROVE_EUNSUPPORTED, "unknown booster \"%s\"", booster);
  }
  if (model == NULL) return GROVE_EPARSE;

  const char *obj_str = json_object_get_string(obj_name);
  const grove_objective_t *obj =
      grove__objective_find(obj_str, ld->version_major, ld->version_minor);
  if (obj == NULL)
    return grove__error_set(ld->err, GROVE_EUNSUPPORTED, "objective \"%s\" is not supported",
                            obj_str);

  int64_t num_feature, num_class, num_target;
  rc = int_param(ld, lmp, "learner_model_param", "num_feature", 1, GROVE_MAX_FEATURES, INT64_MIN,
                 &num_feature);
  if (rc == GROVE_OK)
    rc = int_param(ld, lmp, "learner_model_param", "num_class", 0, 1 << 20, 0, &num_class);
  if (rc == GROVE_OK)
    rc = int_param(ld, lmp, "learner_model_param", "num_target", 1, 1 << 20, 1, &num_target);
  if (rc != GROVE_OK) return rc;
  grove_task_t task = obj->task;
  if (strcmp(obj->name, "grove:probability") == 0 && num_class > 1) task = GROVE_TASK_MULTICLASS;
  if (obj->task == GROVE_TASK_MULTICLASS && num_class < 2)
    return fail(ld, "objective %s needs num_class >= 2, found %lld", obj_str, (long long)num_class);
  if (num_class > 1 && num_target > 1)
    return grove__error_set(ld->err, GROVE_EUNSUPPORTED, "multi-class models with several targets");
  uint32_t groups = (uint32_t)(num_class > 1 ? num_class : num_target);
  uint32_t outputs = obj->transform == GROVE_TRANSFORM_ARGMAX ? 1 : groups;

  base = malloc(groups * sizeof *base);
  if (base == NULL) return grove__error_set(ld->err, GROVE_ENOMEM, "out of memory");
  json_object *bs = optional(lmp, "base_score");
  if (bs == NULL) {
    for (uint32_t g = 0; g < groups; g++) base[g] = 0.5f;
  } else if ((rc = parse_base_score(ld, bs, groups, base)) != GROVE_OK) {
    goto done;
  }
  const uint32_t bad = grove__objective_base_margins(obj, base, groups);
  if (bad != 0) {
    rc = fail(ld, "base_score %g is outside the domain of objective %s", base[bad - 1], obj_str);
    goto done;
  }

  rc = load_features(ld, learner, (uint32_t)num_feature, &names, &types);
  if (rc != GROVE_OK) goto done;

  json_object *trees = member(ld, model, "gradient_booster.model", "trees", json_type_array);
  json_object *tree_info =
      trees ? member(ld, model, "gradient_booster.model", "tree_info", json_type_array) : NULL;
  json_object *gtp = tree_info ? member(ld, model, "gradient_booster.model", "gbtree_model_param",
                                        json_type_object)
                               : NULL;
  if (gtp == NULL) {
    rc = GROVE_EPARSE;
    goto done;
  }
  size_t num_trees = json_object_array_length(trees);
  int64_t declared_trees, parallel;
  rc = int_param(ld, gtp, "gbtree_model_param", "num_trees", 0, INT32_MAX, INT64_MIN,
                 &declared_trees);
  if (rc == GROVE_OK)
    rc = int_param(ld, gtp, "gbtree_model_param", "num_parallel_tree", 1, INT32_MAX, 1, &parallel);
  if (rc != GROVE_OK) goto done;
  if ((size_t)declared_trees != num_trees || json_object_array_length(tree_info) != num_trees) {
    rc = fail(
        ld,
        "gbtree_model_param.num_trees is %lld but there are %zu trees and %zu tree_info entries",
        (long long)declared_trees, num_trees, json_object_array_length(tree_info));
    goto done;
  }
  if (weights != NULL && json_object_array_length(weights) != num_trees) {
    rc = fail(ld, "dart weight_drop has %zu weights for %zu trees",
              json_object_array_length(weights), num_trees);
    goto done;
  }

  b = grove__builder_new((uint32_t)num_feature, groups, 0);
  if (b == NULL) {
    rc = grove__error_set(ld->err, GROVE_ENOMEM, "out of memory");
    goto done;
  }
  for (size_t t = 0; t < num_trees; t++) {
    int64_t group;
    if (json_to_int(json_object_array_get_idx(tree_info, t), 0, groups - 1, &group) != 0) {
      rc = fail(ld, "tree_info[%zu]: expected an output group in [0, %u)", t, groups);
      goto done;
    }
    float weight = 1.0f;
    if (weights != NULL && json_to_float(json_object_array_get_idx(weights, t), &weight) != 0) {
      rc = fail(ld, "weight_drop[%zu]: expected a number", t);
      goto done;
    }
    rc = load_tree(ld, b, json_object_array_get_idx(trees, t), t, (uint32_t)group, weight);
    if (rc != GROVE_OK) goto done;
  }

  grove_model_meta_t meta = {
      .format = format,
      .source_model = source_model,
      .objective = obj_str,
      .booster = booster,
      .task = task,
      .transform = obj->transform,
      .num_features = (uint32_t)num_feature,
      .num_groups = groups,
      .num_outputs = outputs,
      .num_parallel_tree = (uint32_t)parallel,
      .base_margins = base,
      .feature_names = names,
      .feature_types = types,
  };
  rc = grove__builder_finish(b, &meta, out, ld->err);

done:
  grove__builder_free(b);
  free(names);
  free(types);
  free(base);
  return rc;
}

/* Loads the model held by ROOT (from JSON or UBJSON) and frees ROOT. */
static grove_err_t load_tree_json(json_object *root, const char *name, grove_forest_t **out,
                                  grove_error_t *err) {
  loader_t ld = {.err = err};
  grove_err_t rc = load_model(&ld, root, out);
  grove__tree_arrays_free(&ld.arrays);
  json_object_put(root);
  if (rc != GROVE_OK) grove__error_prefix(err, name);
  return rc;
}

grove_err_t grove__xgboost_load_ubjson(const char *data, size_t len, const char *name,
                                       grove_forest_t **out, grove_error_t *err) {
  *out = NULL;
  char msg[256];
  json_object *root = grove__ubjson_parse(data, len, msg, sizeof msg);
  if (root == NULL) {
    grove__error_set(err, GROVE_EPARSE, "%s", msg);
    grove__error_prefix(err, name);
    return GROVE_EPARSE;
  }
  return load_tree_json(root, name, out, err);
}

grove_err_t grove__xgboost_load_json(const char *data, size_t len, const char *name,
                                     grove_forest_t **out, grove_error_t *err) {
  *out = NULL;
  if (len > INT_MAX) {
    grove__error_set(err, GROVE_EUNSUPPORTED, "models over 2 GiB of JSON are not supported");
    grove__error_prefix(err, name);
    return GROVE_EUNSUPPORTED;
  }
  json_tokener *tok = json_tokener_new_ex(JSON_MAX_DEPTH);
  if (tok == NULL) return grove__error_set(err, GROVE_ENOMEM, "%s: out of memory", name);
  json_object *root = json_tokener_parse_ex(tok, data, (int)len);
  enum json_tokener_error jerr = json_tokener_get_error(tok);
  size_t consumed = json_tokener_get_parse_end(tok);
  json_tokener_free(tok);
  grove_err_t rc;
  if (root == NULL || jerr != json_tokener_success) {
    if (jerr == json_tokener_continue)
      rc = grove__error_set(err, GROVE_EPARSE, "truncated JSON (ends after %zu bytes)", len);
    else
      rc = grove__error_set(err, GROVE_EPARSE, "not valid JSON at byte %zu: %s", consumed,
                            json_tokener_error_desc(jerr));
    json_object_put(root);
    grove__error_prefix(err, name);
    return rc;
  }
  for (size_t i = consumed; i < len; i++) {
    if (data[i] != ' ' && data[i] != '\n' && data[i] != '\r' && data[i] != '\t') {
      json_object_put(root);
      rc = grove__error_set(err, GROVE_EPARSE,
                            "unexpected data after the JSON document at byte %zu", i);
      grove__error_prefix(err, name);
      return rc;
    }
  }
  return load_tree_json(root, name, out, err);
}
