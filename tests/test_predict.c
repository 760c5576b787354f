/*
 * Prediction semantics on hand-built models whose answers are known, and consistency of
 * the batch machinery (threads, margins, transforms) on the bundled income model.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "grove_engine.h"
#include "test.h"

/*
 * One tree: node 0 splits f0 < 0.5 (missing goes left); its left child is leaf 1.0; its
 * right child splits f1 by the category set {1, 33} (missing goes right): leaves 10 / 20.
 * Node numbering is deliberately not breadth-first (the right subtree comes first).
 */
static const char tiny_model[] =
    "{\"learner\":{\"attributes\":{},\"feature_names\":[\"a\",\"b\"],\"feature_types\":[\"q\","
    "\"c\"],"
    "\"gradient_booster\":{\"model\":{\"gbtree_model_param\":{\"num_parallel_tree\":\"1\",\"num_"
    "trees\":\"1\"},"
    "\"tree_info\":[0],\"trees\":[{\"id\":0,"
    "\"left_children\":[4,-1,1,-1,-1],\"right_children\":[2,-1,3,-1,-1],"
    "\"split_indices\":[0,0,1,0,0],\"split_conditions\":[0.5,10,NaN,20,1],"
    "\"default_left\":[1,0,0,0,0],\"split_type\":[0,0,1,0,0],"
    "\"categories\":[1,33],\"categories_nodes\":[2],\"categories_segments\":[0],\"categories_"
    "sizes\":[2],"
    "\"tree_param\":{\"num_deleted\":\"0\",\"num_feature\":\"2\",\"num_nodes\":\"5\",\"size_leaf_"
    "vector\":\"0\"}}]},"
    "\"name\":\"gbtree\"},"
    "\"learner_model_param\":{\"base_score\":\"0E0\",\"num_class\":\"0\",\"num_feature\":\"2\","
    "\"num_target\":\"1\"},"
    "\"objective\":{\"name\":\"reg:squarederror\",\"reg_loss_param\":{\"scale_pos_weight\":\"1\"}}}"
    ","
    "\"version\":[1,7,4]}";

static float predict_one(const grove_forest_t *f, float a, float b) {
  float row[2] = {a, b}, out = NAN;
  grove_error_t err;
  if (grove_forest_predict(f, row, 1, &out, NULL, &err) != GROVE_OK) printf("# %s\n", err.msg);
  return out;
}

static void test_split_semantics(void) {
  grove_forest_t *f;
  grove_error_t err;
  int rc = grove_forest_load_buffer(tiny_model, sizeof tiny_model - 1, "tiny", &f, &err);
  CHECK_EQ_INT(rc, GROVE_OK, "tiny model loads");
  if (rc != GROVE_OK) {
    printf("# %s\n", err.msg);
    return;
  }
  grove_forest_info_t info;
  grove_forest_get_info(f, &info);
  CHECK_EQ_INT(info.num_nodes, 5, "five nodes");
  CHECK_EQ_INT(info.num_leaves, 3, "three leaves");
  CHECK_EQ_INT(info.max_depth, 2, "depth two");
  CHECK_EQ_INT(info.num_categorical_splits, 1, "one categorical split");

  CHECK(predict_one(f, NAN, 1) == 1.0f, "missing numeric follows default_left");
  CHECK(predict_one(f, nextafterf(0.5f, 0.0f), 1) == 1.0f, "value just below threshold goes left");
  CHECK(predict_one(f, 0.5f, 1) == 20.0f, "value equal to threshold goes right");
  CHECK(predict_one(f, -INFINITY, 1) == 1.0f, "-inf goes left");
  CHECK(predict_one(f, INFINITY, 1) == 20.0f, "+inf goes right");
  CHECK(predict_one(f, 1, 1) == 20.0f, "category in the set goes right");
  CHECK(predict_one(f, 1, 33) == 20.0f, "category in the second word goes right");
  CHECK(predict_one(f, 1, 2) == 10.0f, "category not in the set goes left");
  CHECK(predict_one(f, 1, 1.9f) == 20.0f, "non-integer category truncates (1.9 -> 1)");
  CHECK(predict_one(f, 1, -0.5f) == 10.0f, "negative category goes left");
  CHECK(predict_one(f, 1, -0.0f) == 10.0f, "-0 is category 0 (not in the set)");
  CHECK(predict_one(f, 1, 64) == 10.0f, "category beyond the bitset goes left");
  CHECK(predict_one(f, 1, 16777216.0f) == 10.0f, "category 2^24 is out of range: left");
  CHECK(predict_one(f, 1, INFINITY) == 10.0f, "+inf category goes left");
  CHECK(predict_one(f, 1, NAN) == 20.0f, "missing category follows default_left (right)");

  /* margins == outputs for identity objectives; width is one column. */
  CHECK_EQ_INT(grove_forest_output_width(f, 0), 1, "one output column");
  CHECK_EQ_INT(grove_forest_feature_index(f, "b"), 1, "feature index by name");
  CHECK_EQ_INT(grove_forest_feature_index(f, "zz"), -1, "unknown feature name");
  CHECK(grove_forest_feature_type(f, 1) == GROVE_FEATURE_CATEGORICAL, "feature b is categorical");
  grove_forest_free(f);
}

/* Replaces the first FROM in TEXT with TO, into a malloc'd string. */
static char *replace(const char *text, const char *from, const char *to) {
  const char *at = strstr(text, from);
  if (at == NULL) return NULL;
  size_t head = (size_t)(at - text), n = strlen(text) - strlen(from) + strlen(to);
  char *s = malloc(n + 1);
  memcpy(s, text, head);
  strcpy(s + head, to);
  strcat(s, at + strlen(from));
  return s;
}

/* XGBoost 3 accepts base_score 0 or 1 for logistic objectives (every label equal). */
static void test_degenerate_base_score(void) {
  char *logistic = replace(tiny_model, "reg:squarederror", "binary:logistic");
  char *one = logistic ? replace(logistic, "\"0E0\"", "\"1E0\"") : NULL;
  grove_forest_t *f = NULL;
  grove_error_t err;
  int rc = one ? grove_forest_load_buffer(one, strlen(one), "one", &f, &err) : -1;
  CHECK_EQ_INT(rc, GROVE_OK, "binary:logistic with base_score 1 loads");
  if (rc == GROVE_OK) {
    grove_forest_info_t info;
    grove_forest_get_info(f, &info);
    CHECK(isinf(info.base_margin) && info.base_margin > 0, "its base margin is +inf");
    CHECK(predict_one(f, 1, 1) == 1.0f && predict_one(f, NAN, NAN) == 1.0f,
          "every probability is 1");
  }
  grove_forest_free(f);
  free(logistic);
  free(one);
}

static void test_batches_on_income(void) {
  grove_forest_t *f;
  grove_schema_t *schema;
  grove_error_t err;
  int rc = grove_model_load(GROVE_SOURCE_ROOT "/models/income", &f, &schema, &err);
  CHECK_EQ_INT(rc, GROVE_OK, "income model directory loads with its schema");
  if (rc != GROVE_OK) {
    printf("# %s\n", err.msg);
    return;
  }
  CHECK(schema != NULL && schema->num_labels == 2, "schema has two labels");
  CHECK_EQ_INT(grove_schema_category_code(schema, 9, "Male", 4), 1, "gender Male is code 1");
  CHECK_EQ_INT(grove_schema_category_code(schema, 9, "Robot", 5), -1, "unknown category is -1");

  grove_forest_info_t info;
  grove_forest_get_info(f, &info);
  const size_t n = 5000;
  float *rows = malloc(n * info.num_features * sizeof *rows);
  float *one = malloc(n * sizeof *one), *many = malloc(n * sizeof *many),
        *margin = malloc(n * sizeof *margin);
  grove_forest_synthesize_rows(f, n, 7, rows);
  grove_predict_opts_t single = {.threads = 1}, threaded = {.threads = 4},
                       raw = {.margin = 1, .threads = 3};
  CHECK_EQ_INT(grove_forest_predict(f, rows, n, one, &single, &err), GROVE_OK,
               "single-thread batch");
  CHECK_EQ_INT(grove_forest_predict(f, rows, n, many, &threaded, &err), GROVE_OK, "4-thread batch");
  CHECK_EQ_INT(grove_forest_predict(f, rows, n, margin, &raw, &err), GROVE_OK, "margin batch");
  CHECK(memcmp(one, many, n * sizeof *one) == 0, "threads give bit-identical results");
  size_t bad = 0, distinct = 0;
  for (size_t i = 0; i < n; i++) {
    float p = 1.0f / (1.0f + expf(-margin[i]));
    if (p != one[i]) bad++;
    if (i > 0 && one[i] != one[i - 1]) distinct++;
  }
  CHECK_EQ_INT(bad, 0, "probability == sigmoid(margin) on every row");
  CHECK(distinct > n / 4, "synthetic rows reach many different leaves");

  /* Row by row equals one batch (the blocked kernel has no cross-row state). */
  size_t mismatch = 0;
  for (size_t i = 0; i < 200; i++) {
    float p;
    grove_forest_predict(f, rows + i * info.num_features, 1, &p, NULL, &err);
    if (p != one[i]) mismatch++;
  }
  CHECK_EQ_INT(mismatch, 0, "single-row calls equal the batch");
  CHECK_EQ_INT(grove_forest_predict(f, rows, 0, one, NULL, &err), GROVE_OK,
               "an empty batch is fine");
  free(rows);
  free(one);
  free(many);
  free(margin);
  grove_schema_free(schema);
  grove_forest_free(f);
}

/* Every code of the error table has its own name and message; others are unknown. */
static void test_error_table(void) {
  CHECK(strcmp(grove_err_name(GROVE_OK), "OK") == 0 &&
            strcmp(grove_strerror(GROVE_OK), "success") == 0,
        "GROVE_OK: OK, success");
#define XX(name, code, str)                                 \
  CHECK(strcmp(grove_err_name(GROVE_##name), #name) == 0 && \
            strcmp(grove_strerror(GROVE_##name), str) == 0, \
        "GROVE_" #name ": its name and message");
  GROVE_ERRNO_MAP(XX)
#undef XX
  CHECK(strcmp(grove_err_name(-99), "EUNKNOWN") == 0 &&
            strcmp(grove_strerror(-99), "unknown error") == 0,
        "an unknown code is EUNKNOWN, unknown error");
}

int main(void) {
  test_error_table();
  test_split_semantics();
  test_degenerate_base_score();
  test_batches_on_income();
  return test_done();
}
