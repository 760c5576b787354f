/*
 * LightGBM text models (Booster.save_model("model.txt") / model_to_string()) -> builder;
 * that format only (load.c sniffs formats and finds files). What LightGBM 4.6's reader
 * (GBDT::LoadModelFromString, Tree::Tree(const char*)) loads, this loads: the layouts of
 * 2.0.7-2.0.11 (no version=, no tree_sizes=: the trees are read one after another), of
 * 2.0.12-2.1.x (tree_sizes=, no "end of trees": the trees are followed by the feature
 * importances) and of 2.2-4.x; tree_sizes, when present, says where each tree starts and
 * how many there are, and a file shorter than it says is refused as LightGBM refuses it.
 *
 * The forest is leaf64 (kernels/forest.h): leaves keep LightGBM's doubles and are summed in
 * double, every numeric split keeps its double threshold for the exact walk and the input
 * mapping (engine/input.c), and each split gets a float cut so that grove's float kernels
 * decide exactly as LightGBM's Tree::Decision() (include/LightGBM/tree.h) does on the same
 * float32 inputs (the split truth table in kernels.h says how grove decides):
 *  - numeric: LightGBM goes left when (double)x <= threshold. For a float x that holds iff
 *    x < c, where c is the float after the largest float <= threshold: c is computed here,
 *    once, instead of comparing a rounded threshold (the off-by-one-ulp error).
 *  - LightGBM reads every |x| <= kZeroThreshold (1e-35f) as 0, at every split. Only cuts
 *    inside that band see it: a threshold t in [-1e-35f, 0) sends the whole band right
 *    (0 > t), so its cut is -1e-35f; one in [0, 1e-35f) sends it left, its cut is the float
 *    after 1e-35f. Other cuts already decide the band as 0.
 *  - missing type NaN: NaN takes the default direction. None: NaN is read as 0, so its
 *    direction is known at load time. Zero: NaN and |x| <= 1e-35f take the default
 *    direction (GROVE_NODE_ZERO_MISSING). A +inf threshold (NaN split from the rest)
 *    becomes a categorical split with an empty set: every number left, NaN its way.
 *  - categorical: a code in the node's bitset goes left, anything else right, while grove
 *    sends its set right: the children are swapped. LightGBM casts to int first, so
 *    (-1, 0) is category 0 (GROVE_NODE_CAT_TRUNC); NaN goes right, because on x86 the cast
 *    gives INT_MIN before LightGBM's own NaN test is reached.
 * Linear trees (is_linear=1) keep each leaf's leaf_const, leaf_features and leaf_coeff for
 * the exact walk (kernels/predict_exact.c). boosting=rf (average_output) keeps the trees'
 * sum as the raw score; the transform divides it by the iterations, as GBDT::Predict does.
 */
#include "load.h"

#include <json-c/json.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "builder.h"
#include "error.h"
#include "kernels/forest.h"

#define MAX_FEATURES   GROVE_LEAF64_FEATURES /* leaf64 forests' limit (forest.h) */
#define MAX_LEAVES     (1 << 24)
#define MAX_CLASSES    (1 << 20)
#define JSON_MAX_DEPTH 16

typedef struct {
  char *next;     /* start of the next unread line, NULL at the end */
  char *pending;  /* a line read but handed back */
  size_t line;    /* number of the last line read */
  char where[64]; /* what fail() names: "Tree=3 (line 40)" while in a tree, else the line */
  grove_error_t *err;
  uint32_t num_features, groups; /* the header's, once read */
} reader_t;

/* Returns the next line (NUL-terminated in place, without "\r\n"), or NULL at the end. */
static char *next_line(reader_t *r) {
  if (r->pending != NULL) {
    char *s = r->pending;
    r->pending = NULL;
    return s;
  }
  if (r->next == NULL) return NULL;
  char *s = r->next;
  char *nl = strchr(s, '\n');
  if (nl != NULL) {
    *nl = '\0';
    r->next = nl + 1;
  } else {
    r->next = NULL;
  }
  size_t n = strlen(s);
  if (n > 0 && s[n - 1] == '\r') s[n - 1] = '\0';
  r->line++;
  return s;
}

static grove_err_t fail(reader_t *r, grove_err_t code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static grove_err_t fail(reader_t *r, grove_err_t code, const char *fmt, ...) {
  char msg[400];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  if (r->where[0] != '\0') return grove__error_set(r->err, code, "%s: %s", r->where, msg);
  return grove__error_set(r->err, code, "line %zu: %s", r->line, msg);
}

static int starts_with(const char *s, const char *prefix) {
  return strncmp(s, prefix, strlen(prefix)) == 0;
}

/* Parses exactly N whitespace-separated numbers from TEXT (strtod, so "inf" and "nan" too). */
static grove_err_t parse_numbers(reader_t *r, const char *key, const char *text, size_t n,
                                 double *out) {
  const char *p = text;
  for (size_t i = 0; i < n; i++) {
    char *end;
    while (*p == ' ') p++;
    out[i] = strtod(p, &end);
    if (*p == '\0')
      return fail(r, GROVE_EPARSE, "%s: expected %zu numbers, value %zu is missing", key, n, i + 1);
    if (end == p || (*end != '\0' && *end != ' ')) {
      const char *stop = strchr(p, ' ');
      int shown = (int)(stop ? stop - p : (ptrdiff_t)strlen(p));
      return fail(r, GROVE_EPARSE, "%s: value %zu (\"%.*s\") is not a number", key, i + 1,
                  shown > 32 ? 32 : shown, p);
    }
    p = end;
  }
  while (*p == ' ') p++;
  if (*p != '\0') return fail(r, GROVE_EPARSE, "%s: more than the expected %zu values", key, n);
  return GROVE_OK;
}

/* Checks that V is an integer in [LO, HI]. */
static int is_int_in(double v, double lo, double hi) { return v >= lo && v <= hi && v == floor(v); }

static grove_err_t parse_int(reader_t *r, const char *key, const char *text, int64_t lo, int64_t hi,
                             int64_t *out) {
  double v;
  grove_err_t rc = parse_numbers(r, key, text, 1, &v);
  if (rc != GROVE_OK) return rc;
  if (!is_int_in(v, (double)lo, (double)hi))
    return fail(r, GROVE_EPARSE, "%s: expected an integer in [%lld, %lld], found %s", key,
                (long long)lo, (long long)hi, text);
  *out = (int64_t)v;
  return GROVE_OK;
}

/* Splits TEXT at spaces in place into exactly N tokens. */
static grove_err_t split_tokens(reader_t *r, const char *key, char *text, size_t n,
                                const char **out) {
  size_t count = 0;
  char *save = NULL;
  for (char *p = strtok_r(text, " ", &save); p != NULL; p = strtok_r(NULL, " ", &save)) {
    if (count == n) return fail(r, GROVE_EPARSE, "%s: more than the expected %zu entries", key, n);
    out[count++] = p;
  }
  if (count != n)
    return fail(r, GROVE_EPARSE, "%s: expected %zu entries, found %zu", key, n, count);
  return GROVE_OK;
}

/* The float c such that, for every float x, (double)x <= T exactly when x < c. */
static float threshold_to_float(double t) {
  float f = (float)t; /* nearest, so possibly above t */
  if ((double)f > t) f = nextafterf(f, -INFINITY);
  return nextafterf(f, INFINITY);
}

/* The float cut of numeric threshold T for float inputs that LightGBM zeroes first when
 * |x| <= kZeroThreshold (see the comment at the top). */
static float threshold_cut(double t) {
  const double band = (double)GROVE_ZERO_BAND;
  if (t >= -band && t < 0.0) return -GROVE_ZERO_BAND;
  if (t >= 0.0 && t < band) return nextafterf(GROVE_ZERO_BAND, INFINITY);
  return threshold_to_float(t);
}

/* ------------------------------------------------------------------------- */
/* Header and objective                                                       */

typedef struct {
  int64_t num_class, num_tree_per_iteration, max_feature_idx, label_index;
  char *objective, *feature_names, *feature_infos, *tree_sizes;
  int average_output;
} header_t;

typedef struct {
  const char *name;
  grove_task_t task;
  grove_transform_t transform;
} objective_t;

/* Objectives as LightGBM writes them (ObjectiveFunction::ToString()). */
static const objective_t objectives[] = {
    {"binary", GROVE_TASK_BINARY, GROVE_TRANSFORM_SIGMOID},
    {"cross_entropy", GROVE_TASK_BINARY, GROVE_TRANSFORM_SIGMOID},
    {"regression", GROVE_TASK_REGRESSION, GROVE_TRANSFORM_IDENTITY},
    {"regression_l1", GROVE_TASK_REGRESSION, GROVE_TRANSFORM_IDENTITY},
    {"huber", GROVE_TASK_REGRESSION, GROVE_TRANSFORM_IDENTITY},
    {"fair", GROVE_TASK_REGRESSION, GROVE_TRANSFORM_IDENTITY},
    {"quantile", GROVE_TASK_REGRESSION, GROVE_TRANSFORM_IDENTITY},
    {"mape", GROVE_TASK_REGRESSION, GROVE_TRANSFORM_IDENTITY},
    {"poisson", GROVE_TASK_REGRESSION, GROVE_TRANSFORM_EXP},
    {"gamma", GROVE_TASK_REGRESSION, GROVE_TRANSFORM_EXP},
    {"tweedie", GROVE_TASK_REGRESSION, GROVE_TRANSFORM_EXP},
    {"multiclass", GROVE_TASK_MULTICLASS, GROVE_TRANSFORM_SOFTMAX},
    {"multiclassova", GROVE_TASK_MULTICLASS, GROVE_TRANSFORM_SIGMOID},
    {"lambdarank", GROVE_TASK_RANKING, GROVE_TRANSFORM_IDENTITY},
    {"rank_xendcg", GROVE_TASK_RANKING, GROVE_TRANSFORM_IDENTITY},
    {"custom", GROVE_TASK_REGRESSION, GROVE_TRANSFORM_IDENTITY}, /* raw scores */
};

/* Reads "objective=NAME key:value ..." (H->objective, NULL when absent) into *obj. */
static grove_err_t parse_objective(reader_t *r, const header_t *h, const objective_t **obj,
                                   const char **name) {
  static const objective_t none = {"custom", GROVE_TASK_REGRESSION, GROVE_TRANSFORM_IDENTITY};
  if (h->objective == NULL) {
    *obj = &none;
    *name = "custom";
    return GROVE_OK;
  }
  char *save = NULL;
  char *tok = strtok_r(h->objective, " ", &save);
  if (tok == NULL) return fail(r, GROVE_EPARSE, "objective: empty");
  *name = tok;
  *obj = NULL;
  for (size_t i = 0; i < sizeof objectives / sizeof objectives[0]; i++)
    if (strcmp(objectives[i].name, tok) == 0) *obj = &objectives[i];
  if (*obj == NULL)
    return grove__error_set(r->err, GROVE_EUNSUPPORTED, "objective \"%s\" is not supported", tok);
  while ((tok = strtok_r(NULL, " ", &save)) != NULL) {
    if (strcmp(tok, "sqrt") == 0)
      return grove__error_set(
          r->err, GROVE_EUNSUPPORTED,
          "objective %s with reg_sqrt (predictions squared back) is not supported", *name);
    if (starts_with(tok, "sigmoid:")) {
      char *end;
      double s = strtod(tok + 8, &end);
      if (*end != '\0' || s != 1.0)
        return grove__error_set(r->err, GROVE_EUNSUPPORTED,
                                "objective %s with %s is not supported (only sigmoid:1)", *name,
                                tok);
    } else if (starts_with(tok, "num_class:")) {
      char *end;
      long k = strtol(tok + 10, &end, 10);
      if (*end != '\0' || k != h->num_class)
        return fail(r, GROVE_EPARSE, "objective: %s disagrees with num_class=%lld", tok,
                    (long long)h->num_class);
    }
  }
  if ((*obj)->task == GROVE_TASK_MULTICLASS && h->num_class < 2)
    return fail(r, GROVE_EPARSE, "objective %s needs num_class >= 2, found %lld", *name,
                (long long)h->num_class);
  if ((*obj)->task != GROVE_TASK_MULTICLASS && strcmp(*name, "custom") != 0 && h->num_class != 1)
    return fail(r, GROVE_EPARSE, "objective %s with %lld classes", *name, (long long)h->num_class);
  return GROVE_OK;
}

/* Whether LightGBM's header reader refuses LINE ("key=value"): Common::Split at '='
 * (empty pieces dropped) must give one or two pieces, except for the two keys whose
 * values may hold '='. */
static int too_many_equals(const char *line) {
  if (starts_with(line, "feature_names=") || starts_with(line, "monotone_constraints=")) return 0;
  int pieces = 0;
  for (const char *p = line; *p; p++)
    if (*p != '=' && (p == line || p[-1] == '=')) pieces++;
  return pieces > 2;
}

/*
 * Reads the header: every line up to the first "Tree=" line (or "end of trees" in a model
 * of no trees), as LightGBM's reader does. It requires num_class, label_index,
 * max_feature_idx, feature_names and feature_infos; num_tree_per_iteration defaults to
 * num_class; version=, when there is one, must be a format grove knows.
 */
static grove_err_t parse_header(reader_t *r, header_t *h) {
  char *line = next_line(r); /* "tree": load.c sniffs it, but this loader is called directly too */
  if (line == NULL || strcmp(line, "tree") != 0)
    return grove__error_set(r->err, GROVE_EPARSE,
                            "the first line is not \"tree\": not a LightGBM text model");
  h->num_class = h->num_tree_per_iteration = h->max_feature_idx = h->label_index = -1;
  grove_err_t rc = GROVE_OK;
  while (rc == GROVE_OK && (line = next_line(r)) != NULL) {
    if (starts_with(line, "Tree=") || strcmp(line, "end of trees") == 0) {
      r->pending = line;
      break;
    }
    if (strcmp(line, "average_output") == 0) {
      h->average_output = 1;
      continue;
    }
    char *eq = strchr(line, '=');
    if (eq == NULL) continue; /* blank lines */
    if (too_many_equals(line))
      return fail(r, GROVE_EPARSE, "\"%.40s\": more than one '=' (LightGBM refuses this line)",
                  line);
    *eq = '\0';
    const char *key = line;
    char *value = eq + 1;
    if (strcmp(key, "version") == 0) {
      if (strcmp(value, "v2") != 0 && strcmp(value, "v3") != 0 && strcmp(value, "v4") != 0)
        return grove__error_set(r->err, GROVE_EUNSUPPORTED,
                                "model format version %s is not supported (v2 to v4 are)", value);
    } else if (strcmp(key, "num_class") == 0) {
      rc = parse_int(r, key, value, 1, MAX_CLASSES, &h->num_class);
    } else if (strcmp(key, "num_tree_per_iteration") == 0) {
      rc = parse_int(r, key, value, 1, MAX_CLASSES, &h->num_tree_per_iteration);
    } else if (strcmp(key, "label_index") == 0) {
      rc = parse_int(r, key, value, -1, INT32_MAX, &h->label_index);
      if (h->label_index < 0) h->label_index = 0; /* seen, whatever its value */
    } else if (strcmp(key, "max_feature_idx") == 0) {
      rc = parse_int(r, key, value, 0, MAX_FEATURES - 1, &h->max_feature_idx);
    } else if (strcmp(key, "objective") == 0) {
      h->objective = value;
    } else if (strcmp(key, "feature_names") == 0) {
      h->feature_names = value;
    } else if (strcmp(key, "feature_infos") == 0) {
      h->feature_infos = value;
    } else if (strcmp(key, "tree_sizes") == 0) {
      h->tree_sizes = value;
    }
  }
  if (rc != GROVE_OK) return rc;
  const char *missing = h->num_class < 0         ? "num_class"
                        : h->label_index < 0     ? "label_index"
                        : h->max_feature_idx < 0 ? "max_feature_idx"
                        : !h->feature_names      ? "feature_names"
                        : !h->feature_infos      ? "feature_infos"
                                                 : NULL;
  if (missing != NULL)
    return grove__error_set(r->err, GROVE_EPARSE, "header has no %s line", missing);
  if (h->num_tree_per_iteration < 0) h->num_tree_per_iteration = h->num_class;
  if (h->num_tree_per_iteration != h->num_class)
    return grove__error_set(r->err, GROVE_EPARSE, "num_tree_per_iteration=%lld but num_class=%lld",
                            (long long)h->num_tree_per_iteration, (long long)h->num_class);
  return GROVE_OK;
}

/* ------------------------------------------------------------------------- */
/* Trees                                                                      */

/* The "key=value" lines of one tree; values point into the reader's buffer. */
typedef struct {
  const char *num_leaves, *num_cat, *split_feature, *threshold, *decision_type, *left_child,
      *right_child, *leaf_value, *cat_boundaries, *cat_threshold, *is_linear, *leaf_const,
      *num_features, *leaf_features, *leaf_coeff, *internal_count, *leaf_count;
} tree_text_t;

/* A tree's arrays for the builder (its numbering: splits 0..L-2, then leaves L-1..2L-2),
 * plus what only LightGBM's text needs. */
typedef struct {
  grove_tree_arrays_t t;
  uint8_t *missing_type; /* per node: 0 None, 1 Zero, 2 NaN */
  double *numbers;       /* scratch for one parsed line */
  size_t cap_missing, cap_numbers;
} tree_arrays_t;

static void tree_arrays_free(tree_arrays_t *a) {
  grove__tree_arrays_free(&a->t);
  free(a->missing_type);
  free(a->numbers);
  memset(a, 0, sizeof *a);
}

/* Room for a tree of NODES nodes (fields zeroed) and a line of NUMBERS numbers. */
static int tree_arrays_reset(tree_arrays_t *a, size_t nodes, size_t numbers) {
  if (grove__tree_arrays_reset(&a->t, nodes) != 0) return -1;
  if (nodes > a->cap_missing) {
    uint8_t *p = realloc(a->missing_type, nodes);
    if (p == NULL) return -1;
    a->missing_type = p;
    a->cap_missing = nodes;
  }
  if (numbers > a->cap_numbers) {
    double *p = realloc(a->numbers, numbers * sizeof *p);
    if (p == NULL) return -1;
    a->numbers = p;
    a->cap_numbers = numbers;
  }
  memset(a->missing_type, 0, nodes);
  return 0;
}

/* Reads one tree's "key=value" lines, up to a blank line or the next tree. */
static void read_tree_text(reader_t *r, tree_text_t *tt) {
  memset(tt, 0, sizeof *tt);
  char *line;
  while ((line = next_line(r)) != NULL) {
    if (line[0] == '\0') break;
    if (starts_with(line, "Tree=") || strcmp(line, "end of trees") == 0) {
      r->pending = line;
      break;
    }
    char *eq = strchr(line, '=');
    if (eq == NULL) continue;
    *eq = '\0';
    const char *v = eq + 1;
#define FIELD(name) else if (strcmp(line, #name) == 0) tt->name = v
    if (0) {}
    FIELD(num_leaves);
    FIELD(num_cat);
    FIELD(split_feature);
    FIELD(threshold);
    FIELD(decision_type);
    FIELD(left_child);
    FIELD(right_child);
    FIELD(leaf_value);
    FIELD(cat_boundaries);
    FIELD(cat_threshold);
    FIELD(is_linear);
    FIELD(leaf_const);
    FIELD(num_features);
    FIELD(leaf_features);
    FIELD(leaf_coeff);
    FIELD(internal_count);
    FIELD(leaf_count);
#undef FIELD
  }
}

/* Maps LightGBM child C (a split >= 0, or ~leaf) of a tree with L leaves to builder numbering. */
static int child_index(double c, int64_t leaves, int32_t *out) {
  if (!is_int_in(c, -(double)leaves, (double)leaves - 2)) return -1;
  int64_t v = (int64_t)c;
  *out = (int32_t)(v >= 0 ? v : leaves - 1 + ~v);
  return 0;
}

typedef struct {
  uint32_t num_features;
  uint32_t group;
} tree_ctx_t;

/*
 * A linear tree's leaf models (Tree::Tree's is_linear part): leaf_const per leaf (0 when
 * absent), num_features per leaf (none when absent), then that many leaf_features and
 * leaf_coeff, leaf after leaf.
 */
static grove_err_t load_linear(reader_t *r, const tree_text_t *tt, size_t splits, size_t leaves,
                               tree_arrays_t *a) {
  double *num = a->numbers;
  grove_err_t rc = GROVE_OK;
  if (tt->leaf_const != NULL &&
      (rc = parse_numbers(r, "leaf_const", tt->leaf_const, leaves, num)) != GROVE_OK)
    return rc;
  for (size_t j = 0; j < leaves; j++) {
    a->t.linear[splits + j] = 1;
    a->t.linear_const[splits + j] = tt->leaf_const ? num[j] : 0.0;
  }
  if (tt->num_features == NULL) return GROVE_OK;
  if ((rc = parse_numbers(r, "num_features", tt->num_features, leaves, num)) != GROVE_OK) return rc;
  size_t total = 0;
  for (size_t j = 0; j < leaves; j++) {
    if (!is_int_in(num[j], 0, (double)MAX_FEATURES))
      return fail(r, GROVE_EPARSE, "num_features %zu is not a feature count", j);
    a->t.linear_begin[splits + j] = (uint32_t)total;
    a->t.linear_count[splits + j] = (uint32_t)num[j];
    total += (size_t)num[j];
  }
  if (total == 0) return GROVE_OK;
  if (tt->leaf_features == NULL || tt->leaf_coeff == NULL)
    return fail(r, GROVE_EPARSE, "linear leaves with features but no leaf_features / leaf_coeff");
  double *feat = malloc(total * sizeof *feat), *coeff = malloc(total * sizeof *coeff);
  if (feat == NULL || coeff == NULL) rc = grove__error_set(r->err, GROVE_ENOMEM, "out of memory");
  if (rc == GROVE_OK) rc = parse_numbers(r, "leaf_features", tt->leaf_features, total, feat);
  if (rc == GROVE_OK) rc = parse_numbers(r, "leaf_coeff", tt->leaf_coeff, total, coeff);
  for (size_t k = 0; rc == GROVE_OK && k < total; k++) {
    if (!is_int_in(feat[k], 0, (double)r->num_features - 1))
      rc = fail(r, GROVE_EPARSE, "leaf_features %zu is not a feature index below %u", k,
                r->num_features);
    else if (grove__tree_arrays_push_term(&a->t, (int32_t)feat[k], coeff[k]) != 0)
      rc = grove__error_set(r->err, GROVE_ENOMEM, "out of memory");
  }
  free(feat);
  free(coeff);
  return rc;
}

/* Category bitsets: set i is WORDS[BOUNDS[i] .. BOUNDS[i + 1]) (both allocated here). */
static grove_err_t load_cat_sets(reader_t *r, const tree_text_t *tt, int64_t num_cat,
                                 double **bounds, double **words) {
  *bounds = malloc(((size_t)num_cat + 1) * sizeof **bounds);
  if (*bounds == NULL) return grove__error_set(r->err, GROVE_ENOMEM, "out of memory");
  grove_err_t rc =
      parse_numbers(r, "cat_boundaries", tt->cat_boundaries, (size_t)num_cat + 1, *bounds);
  for (int64_t i = 0; rc == GROVE_OK && i <= num_cat; i++)
    if (!is_int_in((*bounds)[i], i == 0 ? 0 : (*bounds)[i - 1], i == 0 ? 0 : (double)(1 << 30)))
      rc = fail(r, GROVE_EPARSE, "cat_boundaries must start at 0 and not decrease");
  if (rc != GROVE_OK) return rc;
  const size_t num_words = (size_t)(*bounds)[num_cat];
  *words = malloc((num_words ? num_words : 1) * sizeof **words);
  if (*words == NULL) return grove__error_set(r->err, GROVE_ENOMEM, "out of memory");
  rc = parse_numbers(r, "cat_threshold", tt->cat_threshold, num_words, *words);
  for (size_t w = 0; rc == GROVE_OK && w < num_words; w++)
    if (!is_int_in((*words)[w], 0, 4294967295.0))
      rc = fail(r, GROVE_EPARSE, "cat_threshold %zu is not a 32-bit word", w);
  return rc;
}

/* Split I's categorical set (index T into BOUNDS / WORDS), children swapped for grove. */
static grove_err_t load_cat_split(reader_t *r, size_t i, double t, int64_t num_cat,
                                  const double *bounds, const double *words, tree_arrays_t *a) {
  if (!is_int_in(t, 0, (double)num_cat - 1))
    return fail(r, GROVE_EPARSE,
                "categorical threshold %zu is %g, not a set index below num_cat=%lld", i, t,
                (long long)num_cat);
  const size_t set = (size_t)t, w0 = (size_t)bounds[set], w1 = (size_t)bounds[set + 1];
  a->t.cat_begin[i] = (uint32_t)a->t.num_cat_values;
  for (size_t w = w0; w < w1; w++) {
    const uint32_t word = (uint32_t)words[w];
    for (uint32_t bit = 0; bit < 32; bit++) {
      if (!(word >> bit & 1u)) continue;
      const size_t c = (w - w0) * 32 + bit;
      if ((double)c >= GROVE_MAX_CATEGORY)
        return grove__error_set(r->err, GROVE_EUNSUPPORTED,
                                "%s: category %zu (grove supports codes below 2^24)", r->where, c);
      if (grove__tree_arrays_push_category(&a->t, (int32_t)c) != 0)
        return grove__error_set(r->err, GROVE_ENOMEM, "out of memory");
    }
  }
  a->t.cat_count[i] = (uint32_t)a->t.num_cat_values - a->t.cat_begin[i];
  /* The bitset goes left in LightGBM and right in grove: swap, and NaN goes LightGBM's right. */
  const int32_t l = a->t.left[i];
  a->t.left[i] = a->t.right[i];
  a->t.right[i] = l;
  a->t.default_left[i] = 1;
  return GROVE_OK;
}

/* Numeric split I with threshold T: its float cut, its double, its missing value's way. */
static grove_err_t load_numeric_split(reader_t *r, size_t i, double t, tree_arrays_t *a) {
  if (isnan(t)) return fail(r, GROVE_EPARSE, "threshold %zu is NaN", i);
  if (a->missing_type[i] == 0) a->t.default_left[i] = 0.0 <= t; /* NaN is read as 0 */
  if (t == INFINITY) {
    /*
     * Every number goes left, only missing values may not (LightGBM's split of NaN from
     * the rest). No float c has x < c for x = +inf, but a categorical split with an empty
     * set sends every number left and NaN its default way.
     */
    a->t.categorical[i] = 1;
    a->t.cat_begin[i] = (uint32_t)a->t.num_cat_values;
    a->t.cat_count[i] = 0;
    return GROVE_OK;
  }
  a->t.value[i] = threshold_cut(t);
  a->t.threshold64[i] = t;
  return GROVE_OK;
}

/* Children, features, decision types and thresholds of a tree's SPLITS splits. */
static grove_err_t load_splits(reader_t *r, const tree_text_t *tt, const tree_ctx_t *ctx,
                               size_t splits, int64_t leaves, int64_t num_cat, tree_arrays_t *a) {
  double *num = a->numbers, *bounds = NULL, *words = NULL;
  grove_err_t rc = num_cat > 0 ? load_cat_sets(r, tt, num_cat, &bounds, &words) : GROVE_OK;
  if (rc == GROVE_OK) rc = parse_numbers(r, "left_child", tt->left_child, splits, num);
  for (size_t i = 0; rc == GROVE_OK && i < splits; i++)
    if (child_index(num[i], leaves, &a->t.left[i]) != 0)
      rc = fail(r, GROVE_EPARSE, "left_child %zu out of range", i);
  if (rc == GROVE_OK) rc = parse_numbers(r, "right_child", tt->right_child, splits, num);
  for (size_t i = 0; rc == GROVE_OK && i < splits; i++)
    if (child_index(num[i], leaves, &a->t.right[i]) != 0)
      rc = fail(r, GROVE_EPARSE, "right_child %zu out of range", i);
  if (rc == GROVE_OK) rc = parse_numbers(r, "split_feature", tt->split_feature, splits, num);
  for (size_t i = 0; rc == GROVE_OK && i < splits; i++) {
    if (!is_int_in(num[i], 0, (double)ctx->num_features - 1))
      rc = fail(r, GROVE_EPARSE, "split_feature %zu is not a feature index below %u", i,
                ctx->num_features);
    else
      a->t.feature[i] = (int32_t)num[i];
  }
  /* No decision_type line: every split numeric, missing type None (Tree::Tree's default). */
  if (rc == GROVE_OK && tt->decision_type != NULL)
    rc = parse_numbers(r, "decision_type", tt->decision_type, splits, num);
  else if (rc == GROVE_OK)
    memset(num, 0, splits * sizeof *num);
  for (size_t i = 0; rc == GROVE_OK && i < splits; i++) {
    if (!is_int_in(num[i], 0, 15) || ((int)num[i] >> 2) == 3) {
      rc = fail(r, GROVE_EPARSE,
                "decision_type %zu is %g (known bits: 1 categorical, 2 default left, "
                "4/8 missing type zero/NaN)",
                i, num[i]);
      break;
    }
    int dt = (int)num[i];
    a->t.categorical[i] = dt & 1;
    a->t.default_left[i] = (dt >> 1) & 1;
    a->missing_type[i] = (uint8_t)(dt >> 2); /* 0 None, 1 Zero, 2 NaN */
    a->t.zero_missing[i] = !(dt & 1) && a->missing_type[i] == 1;
  }
  if (rc == GROVE_OK) rc = parse_numbers(r, "threshold", tt->threshold, splits, num);
  for (size_t i = 0; rc == GROVE_OK && i < splits; i++)
    rc = a->t.categorical[i] ? load_cat_split(r, i, num[i], num_cat, bounds, words, a)
                             : load_numeric_split(r, i, num[i], a);
  free(bounds);
  free(words);
  return rc;
}

/* Translates tree TI (its text in TT) into A and hands it to the builder. */
static grove_err_t load_tree(reader_t *r, grove_builder_t *b, size_t ti, const tree_text_t *tt,
                             const tree_ctx_t *ctx, tree_arrays_t *a) {
  int64_t leaves, num_cat = 0, linear = 0;
  if (tt->num_leaves == NULL) return fail(r, GROVE_EPARSE, "no num_leaves line");
  if (tt->num_cat == NULL) return fail(r, GROVE_EPARSE, "no num_cat line");
  grove_err_t rc = parse_int(r, "num_leaves", tt->num_leaves, 1, MAX_LEAVES, &leaves);
  if (rc == GROVE_OK) rc = parse_int(r, "num_cat", tt->num_cat, 0, MAX_LEAVES, &num_cat);
  if (rc == GROVE_OK && tt->is_linear != NULL)
    rc = parse_int(r, "is_linear", tt->is_linear, 0, 1, &linear);
  if (rc != GROVE_OK) return rc;
  const size_t splits = (size_t)leaves - 1, nodes = 2 * (size_t)leaves - 1;
  if (tt->leaf_value == NULL) return fail(r, GROVE_EPARSE, "no leaf_value line");
  if (splits > 0 && (!tt->split_feature || !tt->threshold || !tt->left_child || !tt->right_child))
    return fail(r, GROVE_EPARSE,
                "Tree=%zu: a tree of %lld leaves needs split_feature, threshold, left_child and "
                "right_child lines",
                ti, (long long)leaves);
  if (num_cat > 0 && (!tt->cat_boundaries || !tt->cat_threshold))
    return fail(r, GROVE_EPARSE, "num_cat=%lld but no cat_boundaries / cat_threshold",
                (long long)num_cat);
  if (num_cat > (int64_t)splits)
    return fail(r, GROVE_EPARSE, "num_cat=%lld for %zu splits", (long long)num_cat, splits);
  if (tree_arrays_reset(a, nodes, (size_t)leaves + 1) != 0)
    return grove__error_set(r->err, GROVE_ENOMEM, "out of memory");

  if ((rc = parse_numbers(r, "leaf_value", tt->leaf_value, (size_t)leaves, a->numbers)) != GROVE_OK)
    return rc;
  for (size_t j = 0; j < (size_t)leaves; j++) {
    const double v = a->numbers[j];
    if (!isfinite(v)) return fail(r, GROVE_EPARSE, "leaf_value %zu is not finite", j);
    a->t.value64[splits + j] = v;
    a->t.value[splits + j] = (float)v;
    a->t.left[splits + j] = a->t.right[splits + j] = -1;
  }
  if (linear && (rc = load_linear(r, tt, splits, (size_t)leaves, a)) != GROVE_OK) return rc;
  if (splits > 0 && (rc = load_splits(r, tt, ctx, splits, leaves, num_cat, a)) != GROVE_OK)
    return rc;

  grove_tree_src_t src = grove__tree_src_of(&a->t, (size_t)nodes);
  src.cat_truncate = 1;
  src.group = ctx->group;
  src.cover = NULL; /* the counts come after the tree (load_counts) */
  if (!linear) src.linear = NULL;

  rc = grove__builder_add_tree(b, &src, r->err);
  if (rc != GROVE_OK) grove__error_prefix(r->err, "LightGBM numbering (splits first, then leaves)");
  return rc;
}

/*
 * The data counts of the tree just added (A still holds it), LightGBM's covers for
 * predict_contrib: internal_count per split, leaf_count per leaf. A tree without them adds
 * none, and the model then cannot be explained; a one-leaf tree needs none.
 */
static grove_err_t load_counts(reader_t *r, grove_builder_t *b, const tree_text_t *tt,
                               tree_arrays_t *a) {
  int64_t leaves;
  if (parse_int(r, "num_leaves", tt->num_leaves, 1, MAX_LEAVES, &leaves) != GROVE_OK)
    return GROVE_EPARSE;
  const size_t splits = (size_t)leaves - 1;
  double *cover = a->t.cover;
  if (splits == 0) {
    cover[0] = 1.0;
  } else {
    if (tt->internal_count == NULL || tt->leaf_count == NULL) return GROVE_OK;
    grove_err_t rc = parse_numbers(r, "internal_count", tt->internal_count, splits, cover);
    if (rc == GROVE_OK)
      rc = parse_numbers(r, "leaf_count", tt->leaf_count, (size_t)leaves, cover + splits);
    if (rc != GROVE_OK) return rc;
  }
  grove__builder_set_covers(b, cover);
  return GROVE_OK;
}

/* Reads the tree whose "Tree=" line LINE is, numbered TI. */
static grove_err_t read_tree(reader_t *r, grove_builder_t *b, size_t ti, char *line,
                             tree_ctx_t *ctx, tree_arrays_t *arrays) {
  char *end;
  if (!starts_with(line, "Tree=") || line[5] < '0' || line[5] > '9' ||
      strtoul(line + 5, &end, 10) != ti || *end != '\0')
    return fail(r, GROVE_EPARSE, "expected \"Tree=%zu\", found \"%.40s\"", ti, line);
  tree_text_t tt;
  snprintf(r->where, sizeof r->where, "Tree=%zu (line %zu)", ti, r->line);
  read_tree_text(r, &tt);
  ctx->group = (uint32_t)(ti % (size_t)r->groups);
  grove_err_t rc = load_tree(r, b, ti, &tt, ctx, arrays);
  if (rc == GROVE_OK) rc = load_counts(r, b, &tt, arrays);
  if (rc == GROVE_OK) r->where[0] = '\0';
  return rc;
}

/*
 * Trees without tree_sizes (LightGBM 2.0.7-2.0.11): one after another up to the first line
 * that is not a tree, as LightGBM reads them. A file that ends right after a tree has been
 * cut (every LightGBM writes something after its trees): refused, never loaded half.
 */
static grove_err_t read_trees_in_turn(reader_t *r, grove_builder_t *b, tree_ctx_t *ctx,
                                      tree_arrays_t *arrays, size_t *count) {
  char *line;
  size_t ti = 0;
  while ((line = next_line(r)) != NULL) {
    if (line[0] == '\0') continue;
    if (!starts_with(line, "Tree=")) break; /* "end of trees", or 2.0/2.1's importances */
    grove_err_t rc = read_tree(r, b, ti, line, ctx, arrays);
    if (rc != GROVE_OK) return rc;
    ti++;
  }
  *count = ti;
  if (line == NULL)
    return grove__error_set(r->err, GROVE_EPARSE,
                            "truncated: nothing follows tree %zu (no \"end of trees\" or feature "
                            "importances)",
                            ti ? ti - 1 : 0);
  return GROVE_OK;
}

/*
 * Trees with tree_sizes: as many as it lists, tree K starting at the byte the sizes before
 * it add up to, counted from the first "Tree=" line (FIRST); a file shorter than their sum
 * is refused (LightGBM would read past its end). Trees may not overlap, which LightGBM never
 * writes (the reader splits lines in place as it goes).
 */
static grove_err_t read_trees_sized(reader_t *r, grove_builder_t *b, const char *sizes, char *first,
                                    const char *text_end, tree_ctx_t *ctx, tree_arrays_t *arrays,
                                    size_t *count) {
  size_t ti = 0, offset = 0;
  const size_t avail = (size_t)(text_end - first);
  for (const char *p = sizes;; ti++) {
    while (*p == ' ') p++;
    if (*p == '\0') break;
    char *end;
    const unsigned long long size = strtoull(p, &end, 10);
    if (end == p || (*end != ' ' && *end != '\0') || *p == '-')
      return fail(r, GROVE_EPARSE, "tree_sizes: entry %zu is not a byte count", ti + 1);
    p = end;
    if (offset >= avail)
      return grove__error_set(r->err, GROVE_EPARSE,
                              "truncated: tree_sizes lists tree %zu at byte %zu of the trees, "
                              "the file has %zu",
                              ti, offset, avail);
    char *start = first + offset;
    if (r->pending == start) {
      /* the "Tree=" line handed back: read next */
    } else if (start < (r->next != NULL ? r->next : text_end)) {
      return fail(r, GROVE_EPARSE, "tree_sizes: tree %zu starts inside tree %zu", ti,
                  ti ? ti - 1 : 0);
    } else {
      for (const char *q = r->next; q != NULL && q < start; q++) r->line += *q == '\n';
      r->pending = NULL;
      r->next = start;
    }
    grove_err_t rc = read_tree(r, b, ti, next_line(r), ctx, arrays);
    if (rc != GROVE_OK) return rc;
    if (size > avail - offset)
      return grove__error_set(r->err, GROVE_EPARSE,
                              "truncated: tree_sizes says tree %zu ends at byte %llu of the "
                              "trees, the file has %zu",
                              ti, (unsigned long long)offset + size, avail);
    offset += (size_t)size;
  }
  *count = ti;
  return GROVE_OK;
}

static grove_err_t load_model(reader_t *r, const char *text_end, grove_forest_t **out) {
  header_t h = {0};
  grove_err_t rc = parse_header(r, &h);
  if (rc != GROVE_OK) return rc;
  const objective_t *obj = NULL;
  const char *obj_name = NULL;
  if ((rc = parse_objective(r, &h, &obj, &obj_name)) != GROVE_OK) return rc;

  const uint32_t nf = (uint32_t)h.max_feature_idx + 1, groups = (uint32_t)h.num_tree_per_iteration;
  r->num_features = nf;
  r->groups = groups;
  const char **names = calloc(nf, sizeof *names);
  const char **infos = calloc(nf, sizeof *infos);
  uint8_t *types = calloc(nf, 1);
  float *base = calloc(groups, sizeof *base);
  tree_arrays_t arrays = {0};
  grove_builder_t *b = grove__builder_new(nf, groups, 1);
  if (!names || !infos || !types || !base || !b) {
    rc = grove__error_set(r->err, GROVE_ENOMEM, "out of memory");
    goto done;
  }
  if ((rc = split_tokens(r, "feature_names", h.feature_names, nf, names)) != GROVE_OK) goto done;
  /* feature_infos: "[min:max]" numeric, "none" unused, "c1:c2:..." a categorical feature's
   * codes. */
  if ((rc = split_tokens(r, "feature_infos", h.feature_infos, nf, infos)) != GROVE_OK) goto done;
  for (uint32_t i = 0; i < nf; i++)
    types[i] = infos[i][0] == '[' || strcmp(infos[i], "none") == 0 ? GROVE_FEATURE_NUMERIC
                                                                   : GROVE_FEATURE_CATEGORICAL;

  tree_ctx_t ctx = {.num_features = nf};
  size_t trees = 0;
  if (h.tree_sizes != NULL) {
    /* The first tree starts at the line the header stopped at (a model of no trees has
     * nothing there to count from: its tree_sizes must be empty). */
    char *first = r->pending != NULL ? r->pending : (char *)text_end;
    rc = read_trees_sized(r, b, h.tree_sizes, first, text_end, &ctx, &arrays, &trees);
  } else {
    rc = read_trees_in_turn(r, b, &ctx, &arrays, &trees);
  }
  if (rc != GROVE_OK) goto done;
  if (trees % groups != 0) {
    rc =
        grove__error_set(r->err, GROVE_EPARSE,
                         "%zu trees is not a multiple of num_tree_per_iteration=%u", trees, groups);
    goto done;
  }

  grove_model_meta_t meta = {
      .format = GROVE_FORMAT_LIGHTGBM_TEXT,
      .objective = obj_name,
      .booster = h.average_output ? "rf" : "gbdt",
      .task = obj->task,
      .transform = obj->transform,
      .num_features = nf,
      .num_groups = groups,
      .num_outputs = groups,
      .num_parallel_tree = 1,
      .base_margins = base,
      .feature_names = names,
      .feature_types = types,
      /* GBDT::Predict divides the raw sum by num_iteration_for_pred_. */
      .average_over = h.average_output ? (uint32_t)(trees / groups) : 0,
  };
  rc = grove__builder_finish(b, &meta, out, r->err);

done:
  tree_arrays_free(&arrays);
  grove__builder_free(b);
  free(names);
  free(infos);
  free(types);
  free(base);
  return rc;
}

/* Makes *text a NUL-terminated copy of DATA for the reader to split in place. */
static grove_err_t copy_text(const char *data, size_t len, char **text, grove_error_t *err) {
  if (memchr(data, '\0', len) != NULL)
    return grove__error_set(err, GROVE_EPARSE, "contains a NUL byte: not a LightGBM text model");
  if ((*text = malloc(len + 1)) == NULL)
    return grove__error_set(err, GROVE_ENOMEM, "out of memory");
  memcpy(*text, data, len);
  (*text)[len] = '\0';
  return GROVE_OK;
}

grove_err_t grove__lightgbm_load(const char *data, size_t len, const char *name,
                                 grove_forest_t **out, grove_error_t *err) {
  *out = NULL;
  char *text = NULL;
  grove_err_t rc = copy_text(data, len, &text, err);
  if (rc == GROVE_OK) {
    reader_t r = {.next = text, .err = err};
    rc = load_model(&r, text + len, out);
    free(text);
  }
  if (rc != GROVE_OK) grove__error_prefix(err, name);
  return rc;
}

/* ------------------------------------------------------------------------- */
/* Schema from the pandas_categorical trailer                                 */

grove_err_t grove__lightgbm_schema(const char *data, size_t len, const grove_forest_t *forest,
                                   grove_schema_t **out, grove_error_t *err) {
  *out = NULL;
  /* The trailer is the last line that starts with "pandas_categorical:". */
  const char *key = "pandas_categorical:", *at = NULL;
  for (const char *p = data; p < data + len;) {
    const char *nl = memchr(p, '\n', (size_t)(data + len - p));
    if ((size_t)(data + len - p) >= strlen(key) && memcmp(p, key, strlen(key)) == 0)
      at = p + strlen(key);
    p = nl ? nl + 1 : data + len;
  }
  if (at == NULL) return GROVE_OK;
  const char *end = memchr(at, '\n', (size_t)(data + len - at));
  size_t n = end ? (size_t)(end - at) : (size_t)(data + len - at);
  json_tokener *tok = json_tokener_new_ex(JSON_MAX_DEPTH);
  if (tok == NULL) return grove__error_set(err, GROVE_ENOMEM, "out of memory");
  json_object *lists = json_tokener_parse_ex(tok, at, (int)(n < INT32_MAX ? n : INT32_MAX));
  json_tokener_free(tok);
  /* null, or not lists of scalars: no category strings to offer (the model still loads). */
  if (!json_object_is_type(lists, json_type_array)) {
    json_object_put(lists);
    return GROVE_OK;
  }
  const uint32_t nf = forest->info.num_features;
  uint32_t num_cat_features = 0;
  for (uint32_t i = 0; i < nf; i++)
    num_cat_features += forest->feature_types[i] == GROVE_FEATURE_CATEGORICAL;
  if (json_object_array_length(lists) != num_cat_features || forest->feature_names == NULL) {
    json_object_put(lists);
    return GROVE_OK;
  }

  grove_schema_t *s = calloc(1, sizeof *s);
  grove_err_t rc = GROVE_OK;
  if (s == NULL || (s->features = calloc(nf, sizeof *s->features)) == NULL) {
    rc = grove__error_set(err, GROVE_ENOMEM, "out of memory");
    goto done;
  }
  s->num_features = nf;
  for (uint32_t i = 0, k = 0; i < nf && rc == GROVE_OK; i++) {
    grove_schema_feature_t *f = &s->features[i];
    f->min = f->max = f->step = NAN;
    f->type = (grove_feature_type_t)forest->feature_types[i];
    if ((f->name = strdup(forest->feature_names[i])) == NULL) {
      rc = grove__error_set(err, GROVE_ENOMEM, "out of memory");
      break;
    }
    if (f->type != GROVE_FEATURE_CATEGORICAL) continue;
    json_object *cats = json_object_array_get_idx(lists, k++);
    size_t nc = json_object_is_type(cats, json_type_array) ? json_object_array_length(cats) : 0;
    if ((f->categories = calloc(nc ? nc : 1, sizeof *f->categories)) == NULL) {
      rc = grove__error_set(err, GROVE_ENOMEM, "out of memory");
      break;
    }
    for (size_t c = 0; c < nc; c++) {
      /* Categories may be numbers (an integer column made categorical): use their text. */
      const char *str = json_object_get_string(json_object_array_get_idx(cats, c));
      if ((f->categories[c] = strdup(str ? str : "")) == NULL) {
        rc = grove__error_set(err, GROVE_ENOMEM, "out of memory");
        break;
      }
      f->num_categories = (uint32_t)c + 1;
    }
  }
done:
  json_object_put(lists);
  if (rc != GROVE_OK) {
    grove_schema_free(s);
    return rc;
  }
  *out = s;
  return GROVE_OK;
}
