/*
 * Loader tests: the committed fixtures (tests/fixtures/, models/income/) load with the
 * right summary, and a table of malformed variants -- each a small textual edit of a
 * valid fixture, so every other part of the model stays valid -- is refused with the
 * right code and a message that names both the input and the problem.
 */
#define _GNU_SOURCE /* mkdtemp */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "grove_engine.h"
#include "test.h"

#ifndef GROVE_SOURCE_ROOT
#error "GROVE_SOURCE_ROOT must name the source tree (tests/meson.build defines it)"
#endif

#define FIXTURE_DIR GROVE_SOURCE_ROOT "/tests/fixtures/"

/* ---- helpers ---- */

static char *read_fixture(const char *name, size_t *len) {
  char path[1024];
  snprintf(path, sizeof path, FIXTURE_DIR "%s", name);
  return test_read_file(path, len);
}

static void write_whole_file(const char *path, const char *data, size_t len) {
  FILE *fp = fopen(path, "wb");
  if (fp == NULL || fwrite(data, 1, len, fp) != len || fclose(fp) != 0) {
    printf("Bail out! cannot write %s\n", path);
    exit(1);
  }
}

/*
 * Returns a copy of TEXT with the first occurrence of FIND replaced by REPLACEMENT, or
 * NULL when FIND does not occur -- a table row whose edit no longer applies (because
 * the fixture was regenerated) must fail loudly rather than test the unedited model.
 */
static char *replace_first(const char *text, const char *find, const char *replacement) {
  const char *at = strstr(text, find);
  if (at == NULL) return NULL;
  size_t head = (size_t)(at - text), find_len = strlen(find), repl_len = strlen(replacement);
  size_t tail = strlen(at + find_len);
  char *out = malloc(head + repl_len + tail + 1);
  if (out == NULL) return NULL;
  memcpy(out, text, head);
  memcpy(out + head, replacement, repl_len);
  memcpy(out + head + repl_len, at + find_len, tail + 1);
  return out;
}

/* True when MSG is "NAME: something": every loader error must name its input. */
static int names_input(const char *msg, const char *name) {
  size_t n = strlen(name);
  return strncmp(msg, name, n) == 0 && msg[n] == ':' && msg[n + 1] == ' ' && msg[n + 2] != '\0';
}

/* ---- valid models ---- */

static grove_forest_t *load_fixture_file(const char *name) {
  char path[1024];
  snprintf(path, sizeof path, FIXTURE_DIR "%s", name);
  grove_forest_t *forest = NULL;
  grove_error_t err = {{0}};
  grove_err_t rc = grove_forest_load_file(path, &forest, &err);
  char what[256];
  snprintf(what, sizeof what, "%s loads", name);
  CHECK_EQ_INT(rc, GROVE_OK, what);
  if (rc != GROVE_OK) printf("# %s\n", err.msg);
  return forest;
}

/* Predicts one row and checks every output is finite (a walkable, sane forest). */
static void check_predicts_finite(const grove_forest_t *forest, const char *what) {
  grove_forest_info_t info;
  grove_forest_get_info(forest, &info);
  float *rows = malloc(8 * info.num_features * sizeof *rows);
  float out[8 * 8];
  grove_error_t err = {{0}};
  grove_forest_synthesize_rows(forest, 8, 42, rows);
  grove_err_t rc = grove_forest_predict(forest, rows, 8, out, NULL, &err);
  int finite = rc == GROVE_OK;
  for (size_t i = 0; finite && i < 8 * grove_forest_output_width(forest, 0); i++)
    finite = isfinite(out[i]);
  CHECK(finite, what);
  free(rows);
}

static void test_binary_logistic(void) {
  grove_forest_t *f = load_fixture_file("binary_logistic.json");
  if (f == NULL) return;
  grove_forest_info_t info;
  grove_forest_get_info(f, &info);
  CHECK_CONTAINS(info.format, "xgboost-json", "binary: format");
  CHECK(strcmp(info.objective, "binary:logistic") == 0, "binary: objective is binary:logistic");
  CHECK(strcmp(info.booster, "gbtree") == 0, "binary: booster is gbtree");
  CHECK_EQ_INT(info.task, GROVE_TASK_BINARY, "binary: task");
  CHECK_EQ_INT(info.transform, GROVE_TRANSFORM_SIGMOID, "binary: sigmoid transform");
  CHECK_EQ_INT(info.num_trees, 3, "binary: 3 trees");
  CHECK_EQ_INT(info.num_features, 4, "binary: 4 features");
  CHECK_EQ_INT(info.num_groups, 1, "binary: 1 group");
  CHECK_EQ_INT(info.num_outputs, 1, "binary: 1 output");
  CHECK_EQ_INT(info.num_parallel_tree, 1, "binary: num_parallel_tree 1");
  CHECK_EQ_INT(info.max_depth, 2, "binary: depth 2");
  CHECK_EQ_INT(info.num_nodes, 21, "binary: 3 x 7 nodes");
  CHECK_EQ_INT(info.num_leaves, 12, "binary: 3 x 4 leaves");
  CHECK_EQ_INT(info.num_categorical_splits, 0, "binary: no categorical splits");
  CHECK(info.has_feature_names, "binary: has feature names");
  /* base_score 0.3 is stored as a probability; the margin is logit(0.3). */
  CHECK(fabs(info.base_margin - log(0.3 / 0.7)) < 1e-6, "binary: base margin is logit(base_score)");
  CHECK(info.memory_bytes > 0, "binary: memory_bytes reported");
  const char *names[] = {"alpha", "beta", "gamma", "delta"};
  int names_ok = 1;
  for (uint32_t i = 0; i < 4; i++) {
    const char *n = grove_forest_feature_name(f, i);
    names_ok &= n != NULL && strcmp(n, names[i]) == 0;
    names_ok &= grove_forest_feature_index(f, names[i]) == (int32_t)i;
  }
  CHECK(names_ok, "binary: feature names alpha, beta, gamma, delta in order");
  CHECK(grove_forest_feature_name(f, 4) == NULL, "binary: feature name out of range is NULL");
  CHECK_EQ_INT(grove_forest_feature_index(f, "epsilon"), -1, "binary: unknown feature name is -1");
  CHECK_EQ_INT(grove_forest_feature_type(f, 0), GROVE_FEATURE_NUMERIC,
               "binary: type \"q\" is numeric");
  CHECK_EQ_INT(grove_forest_feature_type(f, 2), GROVE_FEATURE_INTEGER,
               "binary: type \"int\" is integer");
  check_predicts_finite(f, "binary: predictions are finite");
  grove_forest_free(f);
}

static void test_multi_softprob(void) {
  grove_forest_t *f = load_fixture_file("multi_softprob.json");
  if (f == NULL) return;
  grove_forest_info_t info;
  grove_forest_get_info(f, &info);
  CHECK(strcmp(info.objective, "multi:softprob") == 0, "multi: objective is multi:softprob");
  CHECK_EQ_INT(info.task, GROVE_TASK_MULTICLASS, "multi: task");
  CHECK_EQ_INT(info.transform, GROVE_TRANSFORM_SOFTMAX, "multi: softmax transform");
  CHECK_EQ_INT(info.num_trees, 6, "multi: 2 rounds x 3 classes = 6 trees");
  CHECK_EQ_INT(info.num_features, 3, "multi: 3 features");
  CHECK_EQ_INT(info.num_groups, 3, "multi: 3 groups");
  CHECK_EQ_INT(info.num_outputs, 3, "multi: 3 outputs");
  CHECK_EQ_INT(grove_forest_output_width(f, 1), 3, "multi: margin width 3");
  CHECK(!info.has_feature_names, "multi: no feature names");
  CHECK(grove_forest_feature_name(f, 0) == NULL, "multi: feature_name is NULL without names");
  CHECK_EQ_INT(grove_forest_feature_index(f, "f0"), -1, "multi: feature_index is -1 without names");
  CHECK_EQ_INT(info.num_categorical_splits, 0, "multi: no categorical splits");
  check_predicts_finite(f, "multi: predictions are finite");
  grove_forest_free(f);
}

/* Converted scikit-learn models: the "grove" block and the grove:probability objective. */
static void test_converted(void) {
  size_t len;
  char *json = read_fixture("multi_softprob.json", &len);
  char *a = json
                ? replace_first(json, "\"version\":[1,7,4]}",
                                "\"version\":[1,7,4],\"grove\":{\"source_format\":\"scikit-learn\","
                                "\"source_model\":\"RandomForestClassifier\",\"classes\":[0,1,2]}}")
                : NULL;
  char *b =
      a ? replace_first(a, "\"name\":\"multi:softprob\"", "\"name\":\"grove:probability\"") : NULL;
  CHECK(b != NULL, "converted: fixture edits apply");
  grove_forest_t *f = NULL, *plain = NULL;
  grove_error_t err;
  if (b != NULL && grove_forest_load_buffer(b, strlen(b), "rf.json", &f, &err) == GROVE_OK &&
      grove_forest_load_buffer(json, len, "softprob.json", &plain, &err) == GROVE_OK) {
    grove_forest_info_t info;
    grove_forest_get_info(f, &info);
    CHECK(strcmp(info.format, "scikit-learn") == 0 &&
              strcmp(info.source_model, "RandomForestClassifier") == 0,
          "converted: format scikit-learn, source model from the grove block");
    CHECK(info.task == GROVE_TASK_MULTICLASS && info.transform == GROVE_TRANSFORM_IDENTITY &&
              info.num_outputs == 3,
          "converted: grove:probability with num_class 3 is 3 identity outputs");
    /* The outputs are the margins themselves: the softprob twin's margins, untransformed. */
    const float row[3] = {0.1f, -0.7f, 0.4f};
    float got[3], want[3];
    grove_predict_opts_t margin = {.margin = 1};
    CHECK(grove_forest_predict(f, row, 1, got, NULL, &err) == GROVE_OK &&
              grove_forest_predict(plain, row, 1, want, &margin, &err) == GROVE_OK &&
              memcmp(got, want, sizeof got) == 0,
          "converted: grove:probability outputs are the summed leaves");
    grove_forest_get_info(plain, &info);
    CHECK(info.source_model[0] == '\0' && strcmp(info.format, "xgboost-json") == 0,
          "converted: a plain XGBoost model has no source model");
  } else {
    CHECK(0, "converted: loads");
    printf("# %s\n", err.msg);
  }
  grove_forest_free(f);
  grove_forest_free(plain);
  char *c = json ? replace_first(json, "\"version\":[1,7,4]}",
                                 "\"version\":[1,7,4],\"grove\":{\"source_format\":\"onnx\","
                                 "\"source_model\":\"x\"}}")
                 : NULL;
  f = NULL;
  int rc = c ? grove_forest_load_buffer(c, strlen(c), "onnx.json", &f, &err) : GROVE_OK;
  CHECK(rc == GROVE_EUNSUPPORTED && f == NULL && strstr(err.msg, "onnx") != NULL,
        "converted: an unknown grove.source_format is refused, naming it");
  free(json);
  free(a);
  free(b);
  free(c);
}

static void test_categorical(void) {
  grove_forest_t *f = load_fixture_file("categorical.json");
  if (f == NULL) return;
  grove_forest_info_t info;
  grove_forest_get_info(f, &info);
  CHECK_EQ_INT(info.num_trees, 3, "categorical: 3 trees");
  CHECK_EQ_INT(info.num_features, 2, "categorical: 2 features");
  CHECK(info.num_categorical_splits > 0, "categorical: has categorical splits");
  CHECK_EQ_INT(grove_forest_feature_type(f, 0), GROVE_FEATURE_CATEGORICAL,
               "categorical: colour is \"c\"");
  CHECK_EQ_INT(grove_forest_feature_type(f, 1), GROVE_FEATURE_NUMERIC,
               "categorical: size (\"float\") is numeric");
  CHECK_EQ_INT(grove_forest_feature_index(f, "size"), 1, "categorical: feature index of size");
  check_predicts_finite(f, "categorical: predictions are finite");
  grove_forest_free(f);
}

/* Margin of one all-zero row: how the dart weights are checked to take effect. */
static float first_margin(const char *json, size_t len) {
  grove_forest_t *f = NULL;
  grove_error_t err = {{0}};
  if (grove_forest_load_buffer(json, len, "dart-variant", &f, &err) != GROVE_OK) {
    printf("# %s\n", err.msg);
    return NAN;
  }
  float row[3] = {0, 0, 0}, out = NAN;
  grove_predict_opts_t opts = {.margin = 1};
  grove_forest_predict(f, row, 1, &out, &opts, &err);
  grove_forest_free(f);
  return out;
}

static void test_dart(void) {
  grove_forest_t *f = load_fixture_file("dart.json");
  if (f == NULL) return;
  grove_forest_info_t info;
  grove_forest_get_info(f, &info);
  CHECK(strcmp(info.booster, "dart") == 0, "dart: booster is dart");
  CHECK(strcmp(info.objective, "reg:squarederror") == 0, "dart: objective reg:squarederror");
  CHECK_EQ_INT(info.task, GROVE_TASK_REGRESSION, "dart: regression");
  CHECK_EQ_INT(info.transform, GROVE_TRANSFORM_IDENTITY, "dart: identity transform");
  CHECK_EQ_INT(info.num_trees, 3, "dart: 3 trees");
  CHECK_EQ_INT(info.num_features, 3, "dart: 3 features");
  grove_forest_free(f);

  /* The fixture's weights are not all 1, so forcing them to 1 must change the margin. */
  size_t len;
  char *json = read_fixture("dart.json", &len);
  char *unweighted = replace_first(json, "\"weight_drop\":[6.666667E-1,1E0,6.666667E-1]",
                                   "\"weight_drop\":[1,1,1]");
  CHECK(unweighted != NULL, "dart: fixture has the expected weight_drop");
  if (unweighted != NULL) {
    float weighted_margin = first_margin(json, len);
    float unweighted_margin = first_margin(unweighted, strlen(unweighted));
    CHECK(isfinite(weighted_margin) && isfinite(unweighted_margin) &&
              weighted_margin != unweighted_margin,
          "dart: weight_drop scales the trees' leaves");
  }
  free(unweighted);
  free(json);
}

static void test_income_model_dir(void) {
  const char *dir = GROVE_SOURCE_ROOT "/models/income";
  grove_forest_t *f = NULL;
  grove_schema_t *schema = NULL;
  grove_error_t err = {{0}};
  grove_err_t rc = grove_model_load(dir, &f, &schema, &err);
  CHECK_EQ_INT(rc, GROVE_OK, "models/income loads with its schema");
  if (rc != GROVE_OK) {
    printf("# %s\n", err.msg);
    return;
  }
  grove_forest_info_t info;
  grove_forest_get_info(f, &info);
  CHECK(strcmp(info.objective, "binary:logistic") == 0, "income: binary:logistic");
  CHECK_EQ_INT(info.num_trees, 300, "income: 300 trees");
  CHECK_EQ_INT(info.num_features, 14, "income: 14 features");
  CHECK_EQ_INT(info.num_groups, 1, "income: 1 group");
  CHECK(info.num_categorical_splits > 0, "income: categorical splits");
  CHECK(info.has_feature_names, "income: feature names");
  CHECK(grove_forest_feature_name(f, 0) != NULL &&
            strcmp(grove_forest_feature_name(f, 0), "age") == 0,
        "income: feature 0 is age");
  CHECK_EQ_INT(grove_forest_feature_type(f, 1), GROVE_FEATURE_CATEGORICAL,
               "income: workclass is categorical");
  CHECK(schema != NULL && schema->num_features == 14, "income: schema has 14 features");
  if (schema != NULL)
    CHECK(grove_schema_category_code(schema, 1, "Private", 7) >= 0,
          "income: schema knows workclass Private");
  check_predicts_finite(f, "income: predictions are finite");
  grove_forest_free(f);
  grove_schema_free(schema);
}

/* Unusual but legal models: they must load and predict. */
static void test_legal_edge_cases(void) {
  size_t len;
  char *json = read_fixture("categorical.json", &len);
  /* An empty category set (every category goes left) as the model's first set. */
  char *empty_set = replace_first(json, "\"categories_sizes\":[3,2]", "\"categories_sizes\":[0,2]");
  CHECK(empty_set != NULL, "empty category set: the fixture edit applies");
  grove_forest_t *f = NULL;
  grove_error_t err = {{0}};
  if (empty_set != NULL) {
    grove_err_t rc =
        grove_forest_load_buffer(empty_set, strlen(empty_set), "empty-set.json", &f, &err);
    CHECK_EQ_INT(rc, GROVE_OK, "empty category set: loads");
    if (rc == GROVE_OK) {
      grove_forest_info_t info;
      grove_forest_get_info(f, &info);
      CHECK(info.num_categorical_splits > 0, "empty category set: still a categorical split");
      check_predicts_finite(f, "empty category set: predictions are finite");
      grove_forest_free(f);
    } else {
      printf("# %s\n", err.msg);
    }
  }
  free(empty_set);
  free(json);

  /* No trees at all: XGBoost predicts the base score. */
  static const char no_trees[] =
      "{\"learner\":{\"gradient_booster\":{\"model\":{\"gbtree_model_param\":{\"num_trees\":\"0\"},"
      "\"tree_info\":[],\"trees\":[]},\"name\":\"gbtree\"},\"learner_model_param\":{\"base_score\":"
      "\"2.5\","
      "\"num_feature\":\"2\"},\"objective\":{\"name\":\"reg:squarederror\"}}}";
  f = NULL;
  grove_err_t rc =
      grove_forest_load_buffer(no_trees, sizeof no_trees - 1, "no-trees.json", &f, &err);
  CHECK_EQ_INT(rc, GROVE_OK, "no trees: loads");
  if (rc == GROVE_OK) {
    float rows[2] = {1, 2}, out = 0;
    CHECK(grove_forest_predict(f, rows, 1, &out, NULL, &err) == GROVE_OK && out == 2.5f,
          "no trees: predicts the base score");
    grove_forest_free(f);
  } else {
    printf("# %s\n", err.msg);
  }
}

/* ---- malformed models ---- */

typedef struct {
  const char *what;    /* the problem, as the TAP line names it */
  const char *fixture; /* file in tests/fixtures/ to edit, or NULL: REPLACEMENT is the input */
  const char *find;    /* text replaced (first occurrence) in the fixture */
  const char *replacement;
  grove_err_t expected_rc;
  const char *expected_msg; /* substring of the message that names the problem */
} malformed_case_t;

#define BIN   "binary_logistic.json"
#define MULTI "multi_softprob.json"
#define CAT   "categorical.json"
#define DART  "dart.json"
#define CAT_ARRAYS \
  "\"categories_nodes\":[1,2],\"categories_segments\":[0,3],\"categories_sizes\":[3,2]"

static const malformed_case_t malformed_cases[] = {
    /* Not a model at all. */
    {"empty input", NULL, NULL, "", GROVE_EPARSE, "ends after 0 bytes"},
    {"not JSON", NULL, NULL, "hello, world", GROVE_EPARSE, "not valid JSON"},
    {"a lone number", NULL, NULL, "42\n", GROVE_EPARSE, "missing \"learner\""},
    {"an empty object", NULL, NULL, "{}", GROVE_EPARSE, "missing \"learner\""},
    {"an array at the top", NULL, NULL, "[1,2,3]", GROVE_EPARSE, "missing \"learner\""},
    {"learner is a string", NULL, NULL, "{\"learner\":\"x\"}", GROVE_EPARSE,
     "learner: expected object"},
    {"trailing garbage", BIN, "\"version\":[1,7,4]}", "\"version\":[1,7,4]} xyz", GROVE_EPARSE,
     "unexpected data after the JSON document"},
    {"a second document", BIN, "\"version\":[1,7,4]}", "\"version\":[1,7,4]}\n{}", GROVE_EPARSE,
     "unexpected data after the JSON document"},
    {"unterminated string", BIN, "\"alpha\"", "\"alpha", GROVE_EPARSE, "not valid JSON"},

    /* Wrong types. */
    {"trees not an array", BIN, "\"trees\":[", "\"trees\":\"oops\",\"trees_moved\":[", GROVE_EPARSE,
     "trees: expected array, found string"},
    {"a tree that is not an object", BIN,
     "\"num_trees\":\"3\",\"size_leaf_vector\":\"0\"},\"tree_info\":[0,0,0],\"trees\":[",
     "\"num_trees\":\"4\",\"size_leaf_vector\":\"0\"},\"tree_info\":[0,0,0,0],\"trees\":[7,",
     GROVE_EPARSE, "trees[0]: expected an object, found int"},
    {"num_feature a list", BIN, "\"num_feature\":\"4\",\"num_target\"",
     "\"num_feature\":[4],\"num_target\"", GROVE_EPARSE,
     "learner_model_param.num_feature: expected an integer"},
    {"num_feature zero", BIN, "\"num_feature\":\"4\",\"num_target\"",
     "\"num_feature\":\"0\",\"num_target\"", GROVE_EPARSE,
     "num_feature: expected an integer in [1, "},
    {"num_feature absurdly large", BIN, "\"num_feature\":\"4\",\"num_target\"",
     "\"num_feature\":\"2147483647\",\"num_target\"", GROVE_EPARSE,
     "num_feature: expected an integer in [1, 16777216]"},
    {"num_feature missing", BIN, "\"num_feature\":\"4\",\"num_target\"", "\"num_target\"",
     GROVE_EPARSE, "learner_model_param: missing \"num_feature\""},
    {"split_conditions holding a string", BIN, "\"split_conditions\":[1.2026167E-1",
     "\"split_conditions\":[\"abc\"", GROVE_EPARSE,
     "trees[0].split_conditions[0]: expected a number"},
    {"split_conditions holding an object", BIN, "\"split_conditions\":[1.2026167E-1",
     "\"split_conditions\":[{}", GROVE_EPARSE, "trees[0].split_conditions[0]: expected a number"},
    {"left_children an object", BIN, "\"left_children\":[1,3,5,-1,-1,-1,-1]",
     "\"left_children\":{}", GROVE_EPARSE, "trees[0].left_children: expected array, found object"},
    {"tree_param missing", BIN, "\"tree_param\":", "\"tree_param_x\":", GROVE_EPARSE,
     "trees[0]: missing \"tree_param\""},
    {"default_left of 2", BIN, "\"default_left\":[1,", "\"default_left\":[2,", GROVE_EPARSE,
     "trees[0].default_left[0]: expected 0 or 1"},
    {"split_type of 2", BIN, "\"split_type\":[0,", "\"split_type\":[2,", GROVE_EPARSE,
     "trees[0].split_type[0]: expected 0 (numeric) or 1 (categorical)"},
    {"base_score not a number", BIN, "\"base_score\":\"3E-1\"", "\"base_score\":\"abc\"",
     GROVE_EPARSE, "base_score: cannot parse \"abc\""},
    {"base_score a list", BIN, "\"base_score\":\"3E-1\"", "\"base_score\":[0.3]", GROVE_EPARSE,
     "base_score: expected a string, found array"},

    /* Broken tree structure. */
    {"left_children index out of range", BIN, "\"left_children\":[1,3,5,",
     "\"left_children\":[1,3,7,", GROVE_EPARSE,
     "trees[0].left_children[2]: expected an integer in [-1, 6]"},
    {"right_children index 2^31", BIN, "\"right_children\":[2,", "\"right_children\":[2147483648,",
     GROVE_EPARSE, "trees[0].right_children[0]: expected an integer in [-1, 6]"},
    {"child index -2", BIN, "\"left_children\":[1,3,5,", "\"left_children\":[1,-2,5,", GROVE_EPARSE,
     "trees[0].left_children[1]: expected an integer in [-1, 6]"},
    {"a cycle (child pointing back to the root)", BIN, "\"left_children\":[1,3,5,",
     "\"left_children\":[1,0,5,", GROVE_EPARSE, "tree 0 node 1: left child 0 is reached twice"},
    {"a self loop", BIN, "\"right_children\":[2,4,6,", "\"right_children\":[2,4,2,", GROVE_EPARSE,
     "tree 0 node 2: right child 2 is reached twice"},
    {"a shared child (two parents)", BIN, "\"left_children\":[1,3,5,", "\"left_children\":[1,3,3,",
     GROVE_EPARSE, "tree 0 node 2: left child 3 is reached twice"},
    {"both children the same node", BIN, "\"right_children\":[2,4,6,", "\"right_children\":[2,3,6,",
     GROVE_EPARSE, "tree 0 node 1: both children are node 3"},
    {"left=-1 with right set", BIN, "\"left_children\":[1,3,5,", "\"left_children\":[1,-1,5,",
     GROVE_EPARSE, "tree 0 node 1: left child -1 but right child 4"},
    {"right=-1 with left set", BIN, "\"right_children\":[2,4,6,", "\"right_children\":[2,-1,6,",
     GROVE_EPARSE, "tree 0 node 1: right child -1 out of range"},
    {"split feature >= num_feature", BIN, "\"split_indices\":[0,2,2,", "\"split_indices\":[4,2,2,",
     GROVE_EPARSE, "tree 0 node 0: split feature 4 out of range [0, 4)"},
    {"split feature negative", BIN, "\"split_indices\":[0,2,2,", "\"split_indices\":[-1,2,2,",
     GROVE_EPARSE, "trees[0].split_indices[0]: expected an integer in [0, "},
    {"NaN threshold on a numeric split", BIN, "\"split_conditions\":[1.2026167E-1",
     "\"split_conditions\":[NaN", GROVE_EPARSE, "tree 0 node 0: split threshold is NaN"},
    {"num_nodes larger than the arrays", BIN, "\"num_nodes\":\"7\"", "\"num_nodes\":\"8\"",
     GROVE_EPARSE, "trees[0].left_children: 7 values for num_nodes 8"},
    {"num_nodes 0", BIN, "\"num_nodes\":\"7\"", "\"num_nodes\":\"0\"", GROVE_EPARSE,
     "tree_param.num_nodes: expected an integer in [1, "},
    {"right_children one short", BIN, "\"right_children\":[2,4,6,-1,-1,-1,-1]",
     "\"right_children\":[2,4,6,-1,-1,-1]", GROVE_EPARSE,
     "trees[0].right_children: 6 values for 7 nodes"},
    {"split_conditions one long", BIN, "\"split_conditions\":[", "\"split_conditions\":[0,",
     GROVE_EPARSE, "trees[0].split_conditions: 8 values for 7 nodes"},
    {"default_left one short", BIN, "\"default_left\":[1,", "\"default_left\":[", GROVE_EPARSE,
     "trees[0].default_left: 6 values for 7 nodes"},

    /* The model as a whole. */
    {"tree_info length mismatch", BIN, "\"tree_info\":[0,0,0]", "\"tree_info\":[0,0]", GROVE_EPARSE,
     "2 tree_info entries"},
    {"num_trees mismatch", BIN, "\"num_trees\":\"3\"", "\"num_trees\":\"4\"", GROVE_EPARSE,
     "num_trees is 4 but there are 3 trees"},
    {"tree_info group out of range", BIN, "\"tree_info\":[0,0,0]", "\"tree_info\":[0,0,1]",
     GROVE_EPARSE, "tree_info[2]: expected an output group in [0, 1)"},
    {"tree_info group out of range (multi)", MULTI, "\"tree_info\":[0,1,2,",
     "\"tree_info\":[0,1,3,", GROVE_EPARSE, "tree_info[2]: expected an output group in [0, 3)"},
    {"tree_info group negative", BIN, "\"tree_info\":[0,0,0]", "\"tree_info\":[0,-1,0]",
     GROVE_EPARSE, "tree_info[1]: expected an output group"},
    {"gblinear booster", BIN, "\"name\":\"gbtree\"", "\"name\":\"gblinear\"", GROVE_EUNSUPPORTED,
     "gblinear"},
    {"unknown booster", BIN, "\"name\":\"gbtree\"", "\"name\":\"gbforest\"", GROVE_EUNSUPPORTED,
     "unknown booster \"gbforest\""},
    {"unknown objective", BIN, "\"name\":\"binary:logistic\"", "\"name\":\"reg:foo\"",
     GROVE_EUNSUPPORTED, "objective \"reg:foo\" is not supported"},
    {"unknown ranking objective", BIN, "\"name\":\"binary:logistic\"", "\"name\":\"rank:foo\"",
     GROVE_EUNSUPPORTED, "objective \"rank:foo\" is not supported"},
    {"objective name not a string", BIN, "\"name\":\"binary:logistic\"", "\"name\":7", GROVE_EPARSE,
     "learner.objective.name: expected string, found int"},
    {"multi:softprob with num_class 1", MULTI, "\"num_class\":\"3\"", "\"num_class\":\"1\"",
     GROVE_EPARSE, "multi:softprob needs num_class >= 2, found 1"},
    {"multi:softprob with num_class 0", MULTI, "\"num_class\":\"3\"", "\"num_class\":\"0\"",
     GROVE_EPARSE, "multi:softprob needs num_class >= 2, found 0"},
    {"num_class negative", MULTI, "\"num_class\":\"3\"", "\"num_class\":\"-3\"", GROVE_EPARSE,
     "learner_model_param.num_class: expected an integer in [0, "},
    {"multi-class with several targets", MULTI, "\"num_target\":\"1\"", "\"num_target\":\"2\"",
     GROVE_EUNSUPPORTED, "several targets"},
    {"base_score -0.1 for binary:logistic", BIN, "\"base_score\":\"3E-1\"",
     "\"base_score\":\"-1E-1\"", GROVE_EPARSE, "outside the domain of objective binary:logistic"},
    {"base_score 1.5 for binary:logistic", BIN, "\"base_score\":\"3E-1\"",
     "\"base_score\":\"1.5E0\"", GROVE_EPARSE, "outside the domain of objective binary:logistic"},
    {"base_score NaN for binary:logistic", BIN, "\"base_score\":\"3E-1\"", "\"base_score\":\"NaN\"",
     GROVE_EPARSE, "outside the domain of objective binary:logistic"},

    {"base_score vector of the wrong length", MULTI, "\"base_score\":\"5E-1\"",
     "\"base_score\":\"[5E-1,5E-1]\"", GROVE_EPARSE, "base_score: 2 values for 3 outputs"},
    {"base_score unclosed vector", MULTI, "\"base_score\":\"5E-1\"", "\"base_score\":\"[5E-1\"",
     GROVE_EPARSE, "base_score: cannot parse"},
    {"size_leaf_vector 2 (multi-target trees)", BIN,
     "\"num_nodes\":\"7\",\"size_leaf_vector\":\"0\"",
     "\"num_nodes\":\"7\",\"size_leaf_vector\":\"2\"", GROVE_EUNSUPPORTED, "vector leaves"},
    {"feature_names count mismatch", BIN, "[\"alpha\",\"beta\",\"gamma\",\"delta\"]",
     "[\"alpha\",\"beta\",\"gamma\"]", GROVE_EPARSE,
     "learner.feature_names: 3 names for 4 features"},
    {"feature_names holding a number", BIN, "[\"alpha\",\"beta\",", "[\"alpha\",2,", GROVE_EPARSE,
     "learner.feature_names[1]: expected a string"},
    {"feature_names an object", BIN, "\"feature_names\":[\"alpha\",\"beta\",\"gamma\",\"delta\"]",
     "\"feature_names\":{}", GROVE_EPARSE, "learner.feature_names: expected an array"},
    {"feature_types count mismatch", BIN, "\"feature_types\":[\"q\",\"q\",\"int\",\"q\"]",
     "\"feature_types\":[\"q\",\"q\",\"int\",\"q\",\"q\"]", GROVE_EPARSE, "5 types for 4 features"},
    {"unknown feature type \"x\"", BIN, "\"feature_types\":[\"q\",\"q\"",
     "\"feature_types\":[\"q\",\"x\"", GROVE_EPARSE,
     "feature_types[1]: unknown feature type \"x\""},

    /* Categorical splits. */
    {"category negative", CAT, "\"categories\":[0,2,3,1,4]", "\"categories\":[0,-2,3,1,4]",
     GROVE_EPARSE, "trees[0].categories[1]: expected a category in [0, 2^24)"},
    {"category 2^24", CAT, "\"categories\":[0,2,3,1,4]", "\"categories\":[0,16777216,3,1,4]",
     GROVE_EPARSE, "trees[0].categories[1]: expected a category in [0, 2^24)"},
    {"category 1e39", CAT, "\"categories\":[0,2,3,1,4]", "\"categories\":[0,1e39,3,1,4]",
     GROVE_EPARSE, "trees[0].categories[1]: expected a category in [0, 2^24)"},
    {"category not an integer", CAT, "\"categories\":[0,2,3,1,4]", "\"categories\":[0,2.5,3,1,4]",
     GROVE_EPARSE, "trees[0].categories[1]: expected a category"},
    {"categories_nodes pointing at a numeric node", CAT, "\"categories_nodes\":[1,2]",
     "\"categories_nodes\":[0,2]", GROVE_EPARSE,
     "categories_nodes[0] = 0 is not a categorical split"},
    {"categories_nodes listing a node twice", CAT, "\"categories_nodes\":[1,2]",
     "\"categories_nodes\":[1,1]", GROVE_EPARSE,
     "categories_nodes[1] = 1 is not a categorical split or is listed twice"},
    {"categories_nodes out of range", CAT, "\"categories_nodes\":[1,2]",
     "\"categories_nodes\":[1,7]", GROVE_EPARSE,
     "categorical split 1: node, segment or size out of range"},
    {"categorical node with no categories entry", CAT, CAT_ARRAYS,
     "\"categories_nodes\":[1],\"categories_segments\":[0],\"categories_sizes\":[3]", GROVE_EPARSE,
     "trees[0]: categorical split node 2 has no categories"},
    {"categories_segments past the end", CAT, CAT_ARRAYS,
     "\"categories_nodes\":[1,2],\"categories_segments\":[0,6],\"categories_sizes\":[3,2]",
     GROVE_EPARSE, "categorical split 1: node, segment or size out of range"},
    {"categories_sizes past the end", CAT, CAT_ARRAYS,
     "\"categories_nodes\":[1,2],\"categories_segments\":[0,3],\"categories_sizes\":[3,3]",
     GROVE_EPARSE, "categorical split 1: node, segment or size out of range"},
    {"categories_* lengths differ", CAT, CAT_ARRAYS,
     "\"categories_nodes\":[1,2],\"categories_segments\":[0,3],\"categories_sizes\":[3]",
     GROVE_EPARSE, "categories_nodes, categories_segments and categories_sizes differ in length"},
    {"categories missing", CAT, "\"categories\":[0,2,3,1,4],", "", GROVE_EPARSE,
     "trees[0]: missing \"categories\""},
    {"split_type the wrong length", CAT, "\"split_type\":[0,1,1,0,0,0,0]", "\"split_type\":[0,1,1]",
     GROVE_EPARSE, "trees[0].split_type: expected an array of 7 values"},

    /* DART. */
    {"dart without weight_drop", DART, "\"weight_drop\":", "\"weight_dropped\":", GROVE_EPARSE,
     "gradient_booster: missing \"weight_drop\""},
    {"weight_drop length mismatch", DART, "\"weight_drop\":[6.666667E-1,1E0,6.666667E-1]",
     "\"weight_drop\":[6.666667E-1,1E0]", GROVE_EPARSE, "weight_drop has 2 weights for 3 trees"},
    {"weight_drop holding a string", DART, "\"weight_drop\":[6.666667E-1,",
     "\"weight_drop\":[\"heavy\",", GROVE_EPARSE, "weight_drop[0]: expected a number"},
    {"dart without its gbtree", DART, "\"gradient_booster\":{\"gbtree\":",
     "\"gradient_booster\":{\"gbtree_x\":", GROVE_EPARSE, "gradient_booster: missing \"gbtree\""},
};

/* The edited (or literal) input of case C; *len is its length. NULL when the edit failed. */
static char *make_case_input(const malformed_case_t *c, size_t *len) {
  if (c->fixture == NULL) {
    *len = strlen(c->replacement);
    char *copy = malloc(*len + 1);
    memcpy(copy, c->replacement, *len + 1);
    return copy;
  }
  size_t fixture_len;
  char *fixture = read_fixture(c->fixture, &fixture_len);
  char *edited = replace_first(fixture, c->find, c->replacement);
  free(fixture);
  if (edited != NULL) *len = strlen(edited);
  return edited;
}

/* Loads DATA under NAME and checks the code, the problem's description and the prefix. */
static void check_refused(const char *data, size_t len, const char *name, const char *what,
                          grove_err_t expected_rc, const char *expected_msg) {
  grove_forest_t *forest = (grove_forest_t *)&forest; /* must be reset to NULL on failure */
  grove_error_t err;
  memset(err.msg, 0, sizeof err.msg);
  grove_err_t rc = grove_forest_load_buffer(data, len, name, &forest, &err);
  char line[512];
  snprintf(line, sizeof line, "%s: refused with %s", what, grove_err_name(expected_rc));
  CHECK_EQ_INT(rc, expected_rc, line);
  if (rc != expected_rc) printf("# message: %s\n", err.msg);
  snprintf(line, sizeof line, "%s: message names the problem", what);
  CHECK_CONTAINS(err.msg, expected_msg, line);
  snprintf(line, sizeof line, "%s: message starts with \"%s: \"", what, name);
  CHECK(names_input(err.msg, name), line);
  if (rc == GROVE_OK) {
    grove_forest_free(forest);
  } else {
    snprintf(line, sizeof line, "%s: *out is NULL", what);
    CHECK(forest == NULL, line);
  }
}

static void test_malformed_table(void) {
  size_t ncases = sizeof malformed_cases / sizeof malformed_cases[0];
  for (size_t i = 0; i < ncases; i++) {
    const malformed_case_t *c = &malformed_cases[i];
    size_t len = 0;
    char *input = make_case_input(c, &len);
    char line[512];
    snprintf(line, sizeof line, "%s: the fixture edit applies", c->what);
    CHECK(input != NULL, line);
    if (input == NULL) continue;
    char name[64];
    snprintf(name, sizeof name, "case-%zu.json", i);
    check_refused(input, len, name, c->what, c->expected_rc, c->expected_msg);
    free(input);
  }
}

/*
 * UBJSON (XGBoost 2's default .ubj) loads like JSON: the fixtures were saved from the
 * same boosters as their .json twins, so the summaries must agree. Malformed UBJSON holds
 * NUL bytes, so these inputs carry their length.
 */
static void test_ubjson(void) {
  const char *pairs[][2] = {{"binary_logistic.json", "binary_logistic.ubj"},
                            {"categorical.json", "categorical.ubj"}};
  for (size_t i = 0; i < 2; i++) {
    grove_forest_t *from_json = load_fixture_file(pairs[i][0]);
    grove_forest_t *from_ubjson = load_fixture_file(pairs[i][1]);
    if (from_json == NULL || from_ubjson == NULL) {
      grove_forest_free(from_json);
      grove_forest_free(from_ubjson);
      continue;
    }
    grove_forest_info_t a, b;
    grove_forest_get_info(from_json, &a);
    grove_forest_get_info(from_ubjson, &b);
    char what[128];
    snprintf(what, sizeof what, "%s: same shape as its JSON twin", pairs[i][1]);
    CHECK(a.num_trees == b.num_trees && a.num_nodes == b.num_nodes &&
              a.num_features == b.num_features &&
              a.num_categorical_splits == b.num_categorical_splits &&
              a.base_margin == b.base_margin && strcmp(a.objective, b.objective) == 0 &&
              a.has_feature_names == b.has_feature_names,
          what);
    /* Thresholds are float32 in both encodings: predictions must be identical. */
    float rows[16 * 4], out_json[16], out_ubjson[16];
    grove_forest_synthesize_rows(from_json, 16, 7, rows);
    grove_error_t err = {{0}};
    grove_predict_opts_t margin = {.margin = 1};
    int same = grove_forest_predict(from_json, rows, 16, out_json, &margin, &err) == GROVE_OK &&
               grove_forest_predict(from_ubjson, rows, 16, out_ubjson, &margin, &err) == GROVE_OK &&
               memcmp(out_json, out_ubjson, sizeof out_json) == 0;
    snprintf(what, sizeof what, "%s: same margins as its JSON twin", pairs[i][1]);
    CHECK(same, what);
    grove_forest_free(from_json);
    grove_forest_free(from_ubjson);
  }

  /* '{' then 'L': an int64 key length, then the key "learner" and nothing after it. */
  static const char truncated_key[] = "{L\x00\x00\x00\x00\x00\x00\x00\x07learner{";
  static const char typed_object_without_count[] =
      "{$U"
      "ax";
  static const char unknown_marker[] =
      "{i\x01"
      "aQ}";
  static const char negative_length[] =
      "{i\xff"
      "a";
  static const char huge_count[] = "{#L\x7f\xff\xff\xff\xff\xff\xff\xff";
  static const char trailing[] =
      "{#U\x00"
      "x";
  check_refused(truncated_key, sizeof truncated_key - 1, "model.ubj", "UBJSON cut after a key",
                GROVE_EPARSE, "UBJSON at byte");
  check_refused(typed_object_without_count, sizeof typed_object_without_count - 1, "model.ubj",
                "UBJSON typed object without a count", GROVE_EPARSE, "bad object header or count");
  check_refused(unknown_marker, sizeof unknown_marker - 1, "model.ubj",
                "UBJSON unknown type marker", GROVE_EPARSE, "unknown type marker 0x51");
  check_refused(negative_length, sizeof negative_length - 1, "model.ubj",
                "UBJSON negative key length", GROVE_EPARSE, "UBJSON at byte");
  check_refused(huge_count, sizeof huge_count - 1, "model.ubj",
                "UBJSON count larger than the input", GROVE_EPARSE, "bad object header or count");
  check_refused("{i", 2, "model.ubj", "UBJSON of two bytes", GROVE_EPARSE, "UBJSON at byte");
  /* A typed array of booleans costs no input bytes per element: refused outright. */
  static const char zero_size_typed[] =
      "{i\x01"
      "a[$T#l\x00\x10\x00\x00}";
  check_refused(zero_size_typed, sizeof zero_size_typed - 1, "model.ubj",
                "UBJSON typed array of true values", GROVE_EPARSE, "bad array header or count");
  check_refused(trailing, sizeof trailing - 1, "model.ubj", "UBJSON with trailing data",
                GROVE_EPARSE, "unexpected data after the document");

  /* Lengths that claim more bytes than are left (found by fuzz_load_xgboost): each
   * input is copied to an exact-size heap block, so reading past it is an ASan report. */
  static const char key_past_end[] =
      "{U\x07"
      "learn";
  static const char string_past_end[] =
      "{U\x01"
      "aSU\x04"
      "xy";
  const struct {
    const char *what, *bytes;
    size_t len;
  } past_end[] = {
      {"UBJSON key length past the end", key_past_end, sizeof key_past_end - 1},
      {"UBJSON string length past the end", string_past_end, sizeof string_past_end - 1}};
  for (size_t i = 0; i < 2; i++) {
    char *exact = malloc(past_end[i].len);
    memcpy(exact, past_end[i].bytes, past_end[i].len);
    check_refused(exact, past_end[i].len, "model.ubj", past_end[i].what, GROVE_EPARSE,
                  "UBJSON at byte");
    free(exact);
  }

  /* A valid .ubj cut at every byte is refused with a UBJSON message, never read past its
   * end. One CHECK for all the cuts keeps the TAP output short; the first misses print. */
  size_t len;
  char *ubj = read_fixture("binary_logistic.ubj", &len);
  size_t cuts_misbehaving = 0;
  for (size_t cut = 2; cut < len; cut++) {
    char *prefix = malloc(cut);
    memcpy(prefix, ubj, cut);
    grove_forest_t *f = NULL;
    grove_error_t err = {{0}};
    grove_err_t rc = grove_forest_load_buffer(prefix, cut, "cut.ubj", &f, &err);
    if (rc != GROVE_EPARSE || f != NULL || !names_input(err.msg, "cut.ubj") ||
        !strstr(err.msg, "UBJSON at byte")) {
      if (cuts_misbehaving++ < 3)
        printf("# cut after %zu bytes: %s: %s\n", cut, grove_err_name(rc), err.msg);
    }
    grove_forest_free(f);
    free(prefix);
  }
  CHECK_EQ_INT(cuts_misbehaving, 0,
               "binary_logistic.ubj cut at every byte: each refused with EPARSE");
  /* Well-formed UBJSON that is not a valid model fails in the loader proper, as JSON does. */
  char *edited = malloc(len);
  memcpy(edited, ubj, len);
  char *objective = memmem(edited, len, "binary:logistic", 15);
  CHECK(objective != NULL, "binary_logistic.ubj holds its objective's name");
  if (objective != NULL) {
    memcpy(objective, "binary:logistix", 15);
    check_refused(edited, len, "edited.ubj", "UBJSON with an unknown objective", GROVE_EUNSUPPORTED,
                  "objective \"binary:logistix\" is not supported");
  }
  free(edited);
  free(ubj);
}

/* A prefix of a valid model is never a model: cut at 10 points spread over the file. */
static void test_truncated(void) {
  size_t len;
  char *json = read_fixture(CAT, &len);
  const size_t cuts[10] = {1,       2,       11,          len / 8, len / 4,
                           len / 3, len / 2, 2 * len / 3, len - 2, len - 1};
  for (size_t i = 0; i < 10; i++) {
    char what[128];
    snprintf(what, sizeof what, "truncated after %zu of %zu bytes", cuts[i], len);
    /* A separate heap copy, so ASan catches a read past the cut. */
    char *prefix = malloc(cuts[i]);
    memcpy(prefix, json, cuts[i]);
    check_refused(prefix, cuts[i], "cut.json", what, GROVE_EPARSE, "truncated JSON");
    free(prefix);
  }
  free(json);
}

/* Nesting far deeper than any model must fail cleanly, not overflow the stack. */
static void test_deep_nesting(void) {
  const size_t depth = 10000;
  char *brackets = malloc(2 * depth + 1);
  memset(brackets, '[', depth);
  memset(brackets + depth, ']', depth);
  check_refused(brackets, 2 * depth, "deep.json", "10000 nested arrays", GROVE_EPARSE,
                "nesting too deep");
  check_refused(brackets, depth, "deep-open.json", "10000 unclosed arrays", GROVE_EPARSE,
                "nesting too deep");
  char *objects = malloc(6 * depth + 1);
  for (size_t i = 0; i < depth; i++) memcpy(objects + 5 * i, "{\"a\":", 5);
  memset(objects + 5 * depth, '}', depth);
  check_refused(objects, 6 * depth, "deep-objects.json", "10000 nested objects", GROVE_EPARSE,
                "nesting too deep");
  free(objects);
  free(brackets);
}

/* The input need not be NUL-terminated: a buffer of exactly LEN bytes must load. */
static void test_unterminated_buffer(void) {
  size_t len;
  char *json = read_fixture(BIN, &len);
  char *exact = malloc(len);
  memcpy(exact, json, len);
  grove_forest_t *f = NULL;
  grove_error_t err = {{0}};
  CHECK_EQ_INT(grove_forest_load_buffer(exact, len, "exact.json", &f, &err), GROVE_OK,
               "a buffer without a terminating NUL loads");
  grove_forest_free(f);
  /* A NULL name still gives a message with some name in front. */
  err.msg[0] = '\0';
  CHECK_EQ_INT(grove_forest_load_buffer("{}", 2, NULL, &f, &err), GROVE_EPARSE,
               "NULL name: refused");
  CHECK(err.msg[0] != '\0' && strstr(err.msg, "missing \"learner\"") != NULL,
        "NULL name: message says why");
  free(exact);
  free(json);
}

/* ---- files and model directories ---- */

static void test_missing_file(void) {
  const char *path = GROVE_SOURCE_ROOT "/tests/fixtures/no-such-model.json";
  grove_forest_t *f = NULL;
  grove_error_t err = {{0}};
  CHECK_EQ_INT(grove_forest_load_file(path, &f, &err), GROVE_EIO, "missing file: EIO");
  CHECK(names_input(err.msg, path), "missing file: message starts with the path");
  CHECK_CONTAINS(err.msg, "No such file", "missing file: message says why");
  CHECK(f == NULL, "missing file: *out is NULL");

  grove_schema_t *schema = NULL;
  CHECK_EQ_INT(grove_model_load(path, &f, &schema, &err), GROVE_EIO, "missing model path: EIO");
  CHECK(names_input(err.msg, path), "missing model path: message starts with the path");
}

/* Writes DIR/model.json (a copy of FIXTURE) and DIR/schema.json (SCHEMA_JSON, or none). */
static void make_model_dir(const char *dir, const char *fixture, const char *schema_json) {
  char path[1024];
  size_t len;
  char *json = read_fixture(fixture, &len);
  snprintf(path, sizeof path, "%s/model.json", dir);
  write_whole_file(path, json, len);
  free(json);
  snprintf(path, sizeof path, "%s/schema.json", dir);
  if (schema_json != NULL)
    write_whole_file(path, schema_json, strlen(schema_json));
  else
    unlink(path);
}

static void remove_model_dir(const char *dir) {
  char path[1024];
  snprintf(path, sizeof path, "%s/model.json", dir);
  unlink(path);
  snprintf(path, sizeof path, "%s/schema.json", dir);
  unlink(path);
  rmdir(dir);
}

typedef struct {
  const char *what;
  const char *fixture;
  const char *schema_json; /* NULL: no schema.json */
  grove_err_t expected_rc;
  const char *expected_msg; /* NULL when the load must succeed */
} model_dir_case_t;

static const model_dir_case_t model_dir_cases[] = {
    {"dir without schema.json", BIN, NULL, GROVE_OK, NULL},
    {"dir with a matching schema", BIN,
     "{\"features\":[{\"name\":\"alpha\"},{\"name\":\"beta\"},{\"name\":\"gamma\",\"type\":"
     "\"integer\"},"
     "{\"name\":\"delta\"}],\"labels\":[\"no\",\"yes\"]}",
     GROVE_OK, NULL},
    {"schema with the wrong feature count", BIN,
     "{\"features\":[{\"name\":\"alpha\"},{\"name\":\"beta\"},{\"name\":\"gamma\"}]}", GROVE_EINVAL,
     "schema has 3 features, the model 4"},
    {"schema with a wrong feature name", BIN,
     "{\"features\":[{\"name\":\"alpha\"},{\"name\":\"beta\"},{\"name\":\"GAMMA\"},{\"name\":"
     "\"delta\"}]}",
     GROVE_EINVAL, "schema feature 2 is \"GAMMA\", the model's is \"gamma\""},
    {"schema calling a categorical feature numeric", CAT,
     "{\"features\":[{\"name\":\"colour\"},{\"name\":\"size\"}]}", GROVE_EINVAL,
     "feature \"colour\" is categorical in the model but not in the schema"},
    {"schema with 3 labels for a binary model", BIN,
     "{\"features\":[{\"name\":\"alpha\"},{\"name\":\"beta\"},{\"name\":\"gamma\"},{\"name\":"
     "\"delta\"}],"
     "\"labels\":[\"a\",\"b\",\"c\"]}",
     GROVE_EINVAL, "a binary model needs 2 labels"},
    {"schema with 2 labels for 3 classes", MULTI,
     "{\"features\":[{\"name\":\"a\"},{\"name\":\"b\"},{\"name\":\"c\"}],\"labels\":[\"x\",\"y\"]}",
     GROVE_EINVAL, "schema has 2 labels, the model 3 classes"},
    {"schema that is not JSON", BIN, "{\"features\":[", GROVE_EPARSE, "not valid JSON"},
    {"schema with an unknown feature type", BIN,
     "{\"features\":[{\"name\":\"alpha\",\"type\":\"complex\"}]}", GROVE_EPARSE,
     "unknown type \"complex\""},
};

static void test_model_dirs(void) {
  char dir[] = "/tmp/grove-test-loader-XXXXXX";
  if (mkdtemp(dir) == NULL) {
    printf("Bail out! mkdtemp failed\n");
    exit(1);
  }
  char schema_path[1024];
  snprintf(schema_path, sizeof schema_path, "%s/schema.json", dir);
  for (size_t i = 0; i < sizeof model_dir_cases / sizeof model_dir_cases[0]; i++) {
    const model_dir_case_t *c = &model_dir_cases[i];
    make_model_dir(dir, c->fixture, c->schema_json);
    /* Non-NULL garbage: grove_model_load must reset both outputs itself. */
    grove_forest_t *f = (grove_forest_t *)&f;
    grove_schema_t *schema = (grove_schema_t *)&schema;
    grove_error_t err = {{0}};
    grove_err_t rc = grove_model_load(dir, &f, &schema, &err);
    char line[512];
    snprintf(line, sizeof line, "%s: %s", c->what, grove_err_name(c->expected_rc));
    CHECK_EQ_INT(rc, c->expected_rc, line);
    if (c->expected_msg == NULL) {
      if (rc != GROVE_OK) printf("# %s\n", err.msg);
      snprintf(line, sizeof line, "%s: schema returned iff present", c->what);
      CHECK(rc == GROVE_OK && (schema != NULL) == (c->schema_json != NULL), line);
    } else {
      snprintf(line, sizeof line, "%s: message names the problem", c->what);
      CHECK_CONTAINS(err.msg, c->expected_msg, line);
      snprintf(line, sizeof line, "%s: message starts with the schema path", c->what);
      CHECK(names_input(err.msg, schema_path), line);
      snprintf(line, sizeof line, "%s: no forest and no schema returned", c->what);
      CHECK(f == NULL && schema == NULL, line);
    }
    if (rc == GROVE_OK) {
      grove_forest_free(f);
      grove_schema_free(schema);
    }
  }

  /* A directory without a model: EIO naming the directory. */
  remove_model_dir(dir);
  if (mkdtemp(dir) == NULL) return;
  grove_forest_t *f = NULL;
  grove_schema_t *schema = NULL;
  grove_error_t err = {{0}};
  CHECK_EQ_INT(grove_model_load(dir, &f, &schema, &err), GROVE_EIO, "empty model dir: EIO");
  CHECK(names_input(err.msg, dir), "empty model dir: message starts with the directory");
  CHECK_CONTAINS(err.msg, "model.json, model.ubj, model.txt or model.bst",
                 "empty model dir: message says which files are missing");
  CHECK(!grove_model_dir_has_model(dir), "empty dir: grove_model_dir_has_model says no");

  /* A directory holding only model.ubj (XGBoost 2's default) loads it. */
  char model_path[1024], ubj_path[1024];
  snprintf(ubj_path, sizeof ubj_path, "%s/model.ubj", dir);
  size_t ubj_len;
  char *ubj = read_fixture("binary_logistic.ubj", &ubj_len);
  write_whole_file(ubj_path, ubj, ubj_len);
  free(ubj);
  CHECK(grove_model_dir_has_model(dir),
        "dir with model.ubj only: grove_model_dir_has_model says yes");
  CHECK_EQ_INT(grove_model_load(dir, &f, &schema, &err), GROVE_OK,
               "dir with model.ubj only: loads");
  grove_forest_free(f);
  grove_schema_free(schema);
  unlink(ubj_path);

  snprintf(model_path, sizeof model_path, "%s/model.json", dir);

  /* A model file that is not valid: the message names the file, not "<buffer>". */
  write_whole_file(model_path, "{\"learner\":", 11);
  CHECK_EQ_INT(grove_forest_load_file(dir, &f, &err), GROVE_EPARSE, "truncated model.json: EPARSE");
  CHECK(names_input(err.msg, model_path), "truncated model.json: message starts with its path");
  remove_model_dir(dir);
}

/* A LightGBM model of one categorical split on "colour" (codes 0 and 2 go right), with the
 * pandas_categorical trailer that names its categories. */
static const char lightgbm_with_trailer[] =
    "tree\nversion=v4\nnum_class=1\nnum_tree_per_iteration=1\nlabel_index=0\nmax_feature_idx=1\n"
    "objective=binary sigmoid:1\nfeature_names=colour size\nfeature_infos=0:1:2 [0:10]\n\n"
    "Tree=0\nnum_leaves=2\nnum_cat=1\nsplit_feature=0\nthreshold=0\ndecision_type=1\nleft_child=-"
    "1\n"
    "right_child=-2\nleaf_value=0.5 -0.5\ncat_boundaries=0 1\ncat_threshold=5\nshrinkage=1\n\n\n"
    "end of trees\n\npandas_categorical:[[\"red\",\"green\",\"blue\"]]\n";

/* grove_model_dir_has_model() on the bundled model, files, missing paths, and a directory
 * holding only model.txt, whose trailer then gives grove_model_load() its schema. */
static void test_model_dir_has_model(void) {
  CHECK(grove_model_dir_has_model(GROVE_SOURCE_ROOT "/models/income"),
        "models/income holds a model");
  CHECK(grove_model_dir_has_model(GROVE_SOURCE_ROOT "/models/income/"),
        "models/income/ holds a model");
  CHECK(!grove_model_dir_has_model(GROVE_SOURCE_ROOT "/models"), "models/ itself holds none");
  CHECK(!grove_model_dir_has_model(GROVE_SOURCE_ROOT "/tests/fixtures"),
        "tests/fixtures (no model.* file) holds none");
  CHECK(!grove_model_dir_has_model(FIXTURE_DIR "binary_logistic.json"),
        "a model file is not a model directory");
  CHECK(!grove_model_dir_has_model(GROVE_SOURCE_ROOT "/no-such-dir"),
        "a missing path holds no model");

  char dir[] = "/tmp/grove-test-hasmodel-XXXXXX";
  if (mkdtemp(dir) == NULL) {
    printf("Bail out! mkdtemp failed\n");
    exit(1);
  }
  char path[1024];
  snprintf(path, sizeof path, "%s/model.txt", dir);
  write_whole_file(path, lightgbm_with_trailer, strlen(lightgbm_with_trailer));
  CHECK(grove_model_dir_has_model(dir),
        "dir with model.txt only: grove_model_dir_has_model says yes");
  grove_forest_t *f = NULL;
  grove_schema_t *schema = NULL;
  grove_error_t err = {{0}};
  grove_err_t rc = grove_model_load(dir, &f, &schema, &err);
  CHECK_EQ_INT(rc, GROVE_OK, "dir with model.txt only: loads");
  if (rc != GROVE_OK) printf("# %s\n", err.msg);
  CHECK(schema != NULL && schema->num_features == 2 && schema->features[0].num_categories == 3 &&
            grove_schema_category_code(schema, 0, "blue", 4) == 2 &&
            schema->features[1].type == GROVE_FEATURE_NUMERIC,
        "dir with model.txt only: the pandas_categorical trailer is its schema");
  if (f != NULL) {
    grove_forest_info_t info;
    grove_forest_get_info(f, &info);
    CHECK(strcmp(info.format, "lightgbm-text") == 0,
          "dir with model.txt only: reported as lightgbm-text");
    /* Category 2 is in the set (LightGBM sends it left; grove numbers that side right). */
    const float rows[2 * 2] = {2.0f, 1.0f, 1.0f, 1.0f};
    float out[2];
    grove_predict_opts_t opts = {.margin = 1};
    CHECK(grove_forest_predict(f, rows, 2, out, &opts, &err) == GROVE_OK && out[0] == 0.5f &&
              out[1] == -0.5f,
          "dir with model.txt only: predicts the set's side for category 2 and the other for 1");
  }
  grove_forest_free(f);
  grove_schema_free(schema);
  unlink(path);

  /* model.bst, as KServe's runtimes store models: LightGBM text loads by its bytes; XGBoost's
   * legacy binary format is refused saying how to re-save it. */
  snprintf(path, sizeof path, "%s/model.bst", dir);
  write_whole_file(path, lightgbm_with_trailer, strlen(lightgbm_with_trailer));
  f = NULL;
  schema = NULL;
  rc = grove_model_load(dir, &f, &schema, &err);
  CHECK(rc == GROVE_OK && schema != NULL && schema->num_features == 2,
        "dir with model.bst (LightGBM text): loads, with its trailer's schema");
  grove_forest_free(f);
  grove_schema_free(schema);
  static const char binf[] = "binf\x00\x00\x00?\x03\x00\x00\x00";
  write_whole_file(path, binf, sizeof binf - 1);
  f = NULL;
  CHECK(grove_model_load(dir, &f, &schema, &err) == GROVE_EUNSUPPORTED && f == NULL &&
            strstr(err.msg, "legacy binary model format") != NULL &&
            strstr(err.msg, "save_model(\"model.json\")") != NULL,
        "model.bst in XGBoost's legacy binary format (binf): refused, saying how to re-save it");
  static const char old_binary[] = "\x00\x00\x00?\x0e\x00\x00\x00\x01\x00\x00\x00";
  CHECK(grove_forest_load_buffer(old_binary, sizeof old_binary - 1, "old.bst", &f, &err) ==
                GROVE_EUNSUPPORTED &&
            strstr(err.msg, "old.bst: XGBoost's legacy binary") == err.msg,
        "the older binary format without magic (zero bytes up front): refused the same way");
  unlink(path);
  rmdir(dir);
}

/* The names models are served under (grove_model_name_from_path). */
static void test_model_name_from_path(void) {
  static const struct {
    const char *path, *name;
  } cases[] = {
      {"models/income", "income"},
      {"models/income/", "income"},
      {"models/income//", "income"},
      {"dir/model.txt", "dir"},
      {"dir/model.json", "dir"},
      {"dir/model.ubj", "dir"},
      {"/a/b/dir/model.json", "dir"},
      {"dir//model.json", "dir"},
      {"x/foo.json", "foo"},
      {"x/foo.ubj", "foo"},
      {"x/foo.txt", "foo"},
      {"model.json", "model"},
      {"./model.json", "model"},
      {"/model.txt", "model"},
      {"/a/b.bin", "b.bin"},
      {"foo.tar.json", "foo.tar"},
      {"x/.json", ".json"},
      {"x/foo.JSON", "foo.JSON"},
      {"income", "income"},
      {"/", "/"},
      {"", ""},
      {GROVE_SOURCE_ROOT "/models/income", "income"},
      {GROVE_SOURCE_ROOT "/models/income/model.json", "income"},
  };
  char buf[256], what[512];
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    const char *got = grove_model_name_from_path(cases[i].path, buf, sizeof buf);
    snprintf(what, sizeof what, "name of \"%s\" is \"%s\"", cases[i].path, cases[i].name);
    if (got != buf || strcmp(got, cases[i].name) != 0) printf("# got \"%s\"\n", got);
    CHECK(got == buf && strcmp(got, cases[i].name) == 0, what);
  }
  char small[4];
  CHECK(strcmp(grove_model_name_from_path("models/income", small, sizeof small), "inc") == 0,
        "a name longer than the buffer is cut, NUL-terminated");

  /* A directory is named as it is, extension and all; a model file inside names it. */
  char dir[] = "/tmp/grove-test-names-XXXXXX";
  if (mkdtemp(dir) == NULL) {
    printf("Bail out! mkdtemp failed\n");
    exit(1);
  }
  char sub[1024], file[1100];
  snprintf(sub, sizeof sub, "%s/v2.json", dir);
  if (mkdir(sub, 0700) != 0) {
    printf("Bail out! cannot make %s\n", sub);
    exit(1);
  }
  CHECK(strcmp(grove_model_name_from_path(sub, buf, sizeof buf), "v2.json") == 0,
        "a directory called v2.json keeps its extension");
  snprintf(file, sizeof file, "%s/model.json", sub);
  write_whole_file(file, "{}", 2);
  CHECK(strcmp(grove_model_name_from_path(file, buf, sizeof buf), "v2.json") == 0,
        "its model.json is named after it");
  unlink(file);
  rmdir(sub);
  rmdir(dir);
}

int main(void) {
  test_binary_logistic();
  test_multi_softprob();
  test_converted();
  test_categorical();
  test_dart();
  test_income_model_dir();
  test_legal_edge_cases();
  test_malformed_table();
  test_ubjson();
  test_truncated();
  test_deep_nesting();
  test_unterminated_buffer();
  test_missing_file();
  test_model_dirs();
  test_model_dir_has_model();
  test_model_name_from_path();
  return test_done();
}
