/*
 * Prediction semantics on hand-built models whose answers are known, consistency of the
 * batch machinery (threads, margins, transforms) on the bundled income model, LightGBM's
 * double inputs (grove_forest_input_value, grove_forest_predict_f64) on hand-built models
 * and on LightGBM 4.6's own fixtures (tests/lightgbm/fixtures), and category labels.
 */
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

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

/* ------------------------------------------------------------------------- */
/* LightGBM: double inputs, zero band, rf, linear trees                       */

/*
 * Four trees, one per decision to check; each leaf value is a different power of ten so
 * the margin says which leaf each tree took (LightGBM's rules, tree.h):
 *  - Tree=0, feature a: left (1) when a <= 0.15000000000000002 (training values 0.1 and
 *    0.2), else 2. LightGBM given 0.15 goes left; 0.15 as float32 (0.150000006) right.
 *  - Tree=1, feature b: <= 1600000010.5: 10; <= 1600000020.5: 20; else 40. Both thresholds
 *    lie between the float32s 1600000000 and 1600000128: 1600000015 is 20 for LightGBM and
 *    no float32 is.
 *  - Tree=2, feature c: left (100) when c <= -1.0000000180025095e-35, else 200. LightGBM
 *    zeroes |c| <= 1e-35f first: -1e-35 (as a double, or as the float32 -1.00000002e-35,
 *    which is exactly that threshold) goes right; -2e-35 left.
 *  - Tree=3, feature d categorical, set {2}: in it (LightGBM's left) 1000, else 2000. The
 *    int cast truncates: 2.9999999999 is 2, as a float32 it would be 3.
 */
static const char lgb_inputs_model[] =
    "tree\nversion=v4\nnum_class=1\nnum_tree_per_iteration=1\nlabel_index=0\n"
    "max_feature_idx=3\nobjective=regression\nfeature_names=a b c d\n"
    "feature_infos=[0:1] [0:2000000000] [-1:1] 0:1:2:3\n\n"
    "Tree=0\nnum_leaves=2\nnum_cat=0\nsplit_feature=0\nthreshold=0.15000000000000002\n"
    "decision_type=2\nleft_child=-1\nright_child=-2\nleaf_value=1 2\nshrinkage=1\n\n\n"
    "Tree=1\nnum_leaves=3\nnum_cat=0\nsplit_feature=1 1\nthreshold=1600000010.5 1600000020.5\n"
    "decision_type=2 2\nleft_child=-1 -2\nright_child=1 -3\nleaf_value=10 20 40\nshrinkage=1\n\n\n"
    "Tree=2\nnum_leaves=2\nnum_cat=0\nsplit_feature=2\nthreshold=-1.0000000180025095e-35\n"
    "decision_type=2\nleft_child=-1\nright_child=-2\nleaf_value=100 200\nshrinkage=1\n\n\n"
    "Tree=3\nnum_leaves=2\nnum_cat=1\nsplit_feature=3\nthreshold=0\ndecision_type=1\n"
    "left_child=-1\nright_child=-2\nleaf_value=1000 2000\ncat_boundaries=0 1\ncat_threshold=4\n"
    "shrinkage=1\n\n\nend of trees\n";

static grove_forest_t *load_text(const char *text, const char *name) {
  grove_forest_t *f = NULL;
  grove_error_t err;
  if (grove_forest_load_buffer(text, strlen(text), name, &f, &err) != GROVE_OK)
    printf("# %s: %s\n", name, err.msg);
  return f;
}

static void test_lightgbm_inputs(void) {
  grove_forest_t *f = load_text(lgb_inputs_model, "inputs.txt");
  CHECK(f != NULL, "the hand-built LightGBM model loads");
  if (f == NULL) return;
  int exact;
  float v = grove_forest_input_value(f, 0, 0.15, &exact);
  CHECK(exact && v < 0.15f && v == nextafterf(0.15f, 0.0f),
        "0.15 maps to the float32 below 0.15f: the side of 0.15000000000000002 LightGBM takes");
  v = grove_forest_input_value(f, 0, 0.25, &exact);
  CHECK(exact && v == 0.25f, "a float32 value maps to itself");
  v = grove_forest_input_value(f, 0, 0.3, &exact);
  CHECK(exact && v == 0.3f, "a double far from every threshold maps to its cast");
  grove_forest_input_value(f, 1, 1600000015.0, &exact);
  CHECK(!exact, "1600000015, between two thresholds that share a float32: no float32 is exact");
  v = grove_forest_input_value(f, 1, 1600000005.0, &exact);
  CHECK(exact && v == 1600000000.0f, "1600000005, below both: 1600000000 is");
  v = grove_forest_input_value(f, 1, 1600000050.0, &exact);
  CHECK(exact && v > 1600000020.5f, "1600000050, above both: a float32 above them is");
  v = grove_forest_input_value(f, 2, -1e-35, &exact);
  CHECK(exact && v == 0.0f, "-1e-35 is in LightGBM's zero band: 0");
  v = grove_forest_input_value(f, 2, -1.0000000180025097e-35, &exact);
  CHECK(exact && v < -1e-35f, "just past the band's edge: a float32 past it too");
  v = grove_forest_input_value(f, 3, 2.9999999999, &exact);
  CHECK(exact && v == 2.0f, "categorical 2.9999999999 is category 2 (the int cast)");
  v = grove_forest_input_value(f, 3, -0.5, &exact);
  CHECK(exact && v == 0.0f, "categorical -0.5 is category 0");
  v = grove_forest_input_value(f, 0, NAN, &exact);
  CHECK(exact && isnan(v), "NaN stays NaN");

  /* Whole rows: LightGBM's answers through predict_f64; the float32 casts go elsewhere. */
  const double rows64[] = {0.15,   1600000015.0, -1e-35, 2.9999999999, 0.2,   1600000005.0,
                           -2e-35, 2.5,          0.1,    1600000050.0, 1e-36, -0.5};
  const float want[] = {1 + 20 + 200 + 1000, 2 + 10 + 100 + 1000, 1 + 40 + 200 + 2000};
  float out[3], out32[3], rows32[12];
  grove_predict_opts_t margin = {.margin = 1};
  grove_error_t err;
  CHECK(grove_forest_predict_f64(f, rows64, 3, out, &margin, &err) == GROVE_OK &&
            out[0] == want[0] && out[1] == want[1] && out[2] == want[2],
        "grove_forest_predict_f64: LightGBM's leaves for every row (1221, 1112, 2241)");
  if (out[0] != want[0] || out[1] != want[1] || out[2] != want[2])
    printf("# got %g %g %g\n", out[0], out[1], out[2]);
  for (int i = 0; i < 12; i++) rows32[i] = (float)rows64[i];
  CHECK(grove_forest_predict(f, rows32, 3, out32, &margin, &err) == GROVE_OK &&
            out32[0] == 2 + 10 + 200 + 2000,
        "the float32 casts of row 0 are LightGBM's float32 answer (2212), zero band included");
  grove_forest_free(f);

  /* XGBoost casts its inputs itself: the cast it is. */
  grove_forest_t *x = load_text(tiny_model, "tiny");
  if (x != NULL) {
    v = grove_forest_input_value(x, 0, 0.15, &exact);
    CHECK(exact && v == 0.15f, "an XGBoost model's input is its float32 cast");
    v = grove_forest_input_value(x, 0, 1e-36, &exact);
    CHECK(exact && v == 1e-36f, "no zero band for XGBoost");
  }
  grove_forest_free(x);
}

/* boosting=rf: the raw score is the sum over trees; outputs average it, then the link. */
static void test_lightgbm_rf(void) {
  static const char rf[] =
      "tree\nversion=v4\nnum_class=1\nnum_tree_per_iteration=1\nlabel_index=0\nmax_feature_idx=0\n"
      "objective=binary sigmoid:1\naverage_output\nfeature_names=a\nfeature_infos=[0:1]\n\n"
      "Tree=0\nnum_leaves=2\nnum_cat=0\nsplit_feature=0\nthreshold=0.5\ndecision_type=2\n"
      "left_child=-1\nright_child=-2\nleaf_value=0.75 -1.25\nshrinkage=1\n\n\n"
      "Tree=1\nnum_leaves=2\nnum_cat=0\nsplit_feature=0\nthreshold=0.25\ndecision_type=2\n"
      "left_child=-1\nright_child=-2\nleaf_value=0.5 2.5\nshrinkage=1\n\n\nend of trees\n";
  grove_forest_t *f = load_text(rf, "rf.txt");
  CHECK(f != NULL, "an averaged (rf) LightGBM model loads");
  if (f == NULL) return;
  const float row[1] = {0.4f};
  float m, p;
  grove_predict_opts_t margin = {.margin = 1};
  grove_error_t err;
  grove_forest_predict(f, row, 1, &m, &margin, &err);
  grove_forest_predict(f, row, 1, &p, NULL, &err);
  CHECK(m == 0.75f + 2.5f, "--margin is the sum over the trees (3.25), LightGBM's raw score");
  CHECK(p == (float)(1.0 / (1.0 + exp(-3.25 / 2))), "the output is sigmoid(sum / 2 iterations)");
  float t;
  grove_forest_transform(f, &m, 1, &t);
  CHECK(t == p, "grove_forest_transform of that margin gives the same output");
  grove_forest_free(f);
}

/* Linear trees: leaf_const + coeff * x in double, the leaf's value when x is NaN. */
static void test_lightgbm_linear(void) {
  static const char lin[] =
      "tree\nversion=v4\nnum_class=1\nnum_tree_per_iteration=1\nlabel_index=0\nmax_feature_idx=1\n"
      "objective=regression\nfeature_names=a b\nfeature_infos=[0:1] [0:1]\n\n"
      "Tree=0\nnum_leaves=2\nnum_cat=0\nsplit_feature=0\nthreshold=0.5\ndecision_type=2\n"
      "left_child=-1\nright_child=-2\nleaf_value=7 9\nis_linear=1\nleaf_const=1 3\n"
      "num_features=1 0\nleaf_features=1  \nleaf_coeff=2  \nshrinkage=1\n\n\nend of trees\n";
  grove_forest_t *f = load_text(lin, "linear.txt");
  CHECK(f != NULL, "a linear-tree LightGBM model loads");
  if (f == NULL) return;
  CHECK(strcmp(grove_forest_kernel(f), "scalar-exact") == 0,
        "grove_forest_kernel names the exact walk for linear trees");
  const double rows64[] = {0.25, 0.1, 0.25, NAN, 0.75, 0.1, NAN, 0.3};
  float out[4];
  grove_predict_opts_t margin = {.margin = 1};
  grove_error_t err;
  CHECK(grove_forest_predict_f64(f, rows64, 4, out, &margin, &err) == GROVE_OK &&
            out[0] == (float)(1.0 + 2.0 * 0.1) && out[1] == 7.0f && out[2] == 3.0f &&
            out[3] == (float)(1.0 + 2.0 * 0.3),
        "1 + 2b on the left (7 when b is NaN), 3 on the right, NaN a goes left (None: 0 <= 0.5)");
  int exact;
  grove_forest_input_value(f, 1, 0.1, &exact);
  CHECK(!exact, "0.1 for a linear leaf's feature is not exact as a float32");
  grove_forest_input_value(f, 1, 0.5, &exact);
  CHECK(exact, "0.5 is");
  grove_forest_input_value(f, 0, 0.1, &exact);
  CHECK(exact, "a feature no linear leaf reads is exact away from its thresholds");
  grove_forest_free(f);
}

/* ---- LightGBM 4.6's fixtures through the double path ---- */

/* The whole of COMMAND's output (the fixtures' models are gzipped). */
static char *read_command(const char *command, size_t *len) {
  FILE *p = popen(command, "r");
  size_t cap = 1 << 20, n = 0;
  char *buf = malloc(cap);
  for (size_t got; p != NULL && buf != NULL && (got = fread(buf + n, 1, cap - n, p)) > 0;) {
    n += got;
    if (n == cap) buf = realloc(buf, cap *= 2);
  }
  if (p == NULL || pclose(p) != 0 || buf == NULL || n == 0) {
    printf("Bail out! cannot run %s\n", command);
    exit(1);
  }
  *len = n;
  return buf;
}

/* A CSV of numbers (empty field = NaN) into an array (*N values); HEADER: skip line 1. */
static double *read_numbers(const char *path, int header, size_t *n) {
  size_t len;
  char *text = test_read_file(path, &len), *p = text;
  if (header) p = strchr(p, '\n') + 1;
  double *v = malloc((len + 1) * sizeof *v);
  size_t k = 0;
  while (*p) {
    /* One field: up to ',' or the end of the line. */
    const size_t span = strcspn(p, ",\n");
    char *end;
    const double x = strtod(p, &end);
    v[k++] = span == 0 || end != p + span ? NAN : x;
    p += span;
    if (*p == ',') {
      p++;
    } else if (*p == '\n') {
      p++;
    }
  }
  free(text);
  *n = k;
  return v;
}

#define LGB_FIXTURES GROVE_SOURCE_ROOT "/tests/lightgbm/fixtures/"

/* Whether float32 GOT is WANT's float32 rounding or its neighbour (WANT printed to 9-10
 * digits, its last digit may fall either side). */
static int within_one_step(float got, double want) {
  const float w = (float)want;
  return got == w || got == nextafterf(w, INFINITY) || got == nextafterf(w, -INFINITY);
}

/*
 * The fixture's rows as the doubles LightGBM read: grove_forest_predict_f64's margins must
 * be LightGBM's raw scores rounded to float32 and its outputs LightGBM's outputs rounded to
 * float32, value for value (4 copies of the rows, so two threads split them too). The
 * three older fixtures (OLD: outputs printed to 9-10 digits, no raw scores) agree to one
 * float32 step.
 */
static void check_fixture_f64(const char *name, int old) {
  char path[512], cmd[600], what[200];
  snprintf(cmd, sizeof cmd, "gzip -dc '" LGB_FIXTURES "%s.model.txt.gz'", name);
  size_t len, nin, nout, nraw;
  char *text = read_command(cmd, &len);
  grove_forest_t *f = NULL;
  grove_error_t err;
  int rc = grove_forest_load_buffer(text, len, name, &f, &err);
  free(text);
  snprintf(what, sizeof what, "%s loads", name);
  CHECK(rc == GROVE_OK, what);
  if (rc != GROVE_OK) {
    printf("# %s\n", err.msg);
    return;
  }
  grove_forest_info_t info;
  grove_forest_get_info(f, &info);
  snprintf(path, sizeof path, LGB_FIXTURES "%s.in.csv", name);
  double *in = read_numbers(path, 1, &nin);
  snprintf(path, sizeof path, LGB_FIXTURES "%s.out.csv", name);
  double *want = read_numbers(path, 0, &nout);
  double *raw = NULL;
  nraw = 0;
  if (!old) {
    snprintf(path, sizeof path, LGB_FIXTURES "%s.raw.csv", name);
    raw = read_numbers(path, 0, &nraw);
  }
  const size_t rows = nin / info.num_features, copies = 4, k = info.num_groups;
  double *in4 = malloc(copies * nin * sizeof *in4);
  for (size_t c = 0; c < copies; c++) memcpy(in4 + c * nin, in, nin * sizeof *in);
  float *out = malloc(copies * rows * k * sizeof *out);
  for (int margin = 0; margin <= !old; margin++) {
    const double *expect = margin ? raw : want;
    grove_predict_opts_t opts = {.margin = margin, .threads = 2};
    rc = grove_forest_predict_f64(f, in4, copies * rows, out, &opts, &err);
    size_t bad = 0, first = SIZE_MAX;
    for (size_t i = 0; rc == GROVE_OK && i < copies * rows * k; i++)
      if (old ? !within_one_step(out[i], expect[i % (rows * k)])
              : out[i] != (float)expect[i % (rows * k)]) {
        bad++;
        if (first == SIZE_MAX) first = i;
      }
    snprintf(what, sizeof what,
             "%s, doubles: grove_forest_predict_f64 %s are LightGBM's rounded to float32%s (%zu "
             "rows)",
             name, margin ? "margins" : "outputs", old ? ", to one step" : "", rows);
    if (bad)
      printf("# %zu differ, first %zu: %.9g, LightGBM %.17g\n", bad, first, out[first],
             expect[first % (rows * k)]);
    CHECK(rc == GROVE_OK && nout == rows * k && (old || nraw == rows * k) && bad == 0, what);
  }
  free(in);
  free(in4);
  free(want);
  free(raw);
  free(out);
  grove_forest_free(f);
}

/*
 * grove_forest_predict_margins64() + grove_forest_transform64(), the batcher's way (one
 * batch of margins, each request its own transform), must give exactly what
 * grove_forest_predict() gives directly, margins and outputs, on LightGBM models (double
 * sums: the margins are not rounded before the transform) and XGBoost's (float sums).
 */
static void check_margins64(grove_forest_t *f, const char *name) {
  grove_forest_info_t info;
  grove_forest_get_info(f, &info);
  const size_t n = 700, k = info.num_groups, w = info.num_outputs;
  float *rows = malloc(n * info.num_features * sizeof *rows), *m32 = malloc(n * k * sizeof *m32),
        *direct = malloc(n * w * sizeof *direct), *via = malloc(n * w * sizeof *via);
  double *m64 = malloc(n * k * sizeof *m64);
  grove_forest_synthesize_rows(f, n, 5, rows);
  grove_predict_opts_t margin = {.margin = 1, .threads = 2}, plain = {.threads = 1};
  grove_error_t err;
  int rc = grove_forest_predict_margins64(f, rows, n, m64, &margin, &err) |
           grove_forest_predict(f, rows, n, m32, &margin, &err) |
           grove_forest_predict(f, rows, n, direct, &plain, &err);
  grove_forest_transform64(f, m64, n, via);
  size_t bad_m = 0, bad_o = 0;
  for (size_t i = 0; i < n * k; i++) bad_m += (float)m64[i] != m32[i];
  for (size_t i = 0; i < n * w; i++) bad_o += memcmp(&via[i], &direct[i], sizeof *via) != 0;
  char what[200];
  snprintf(what, sizeof what,
           "%s: predict_margins64 rounds to predict's margins, transform64 of them is predict's "
           "outputs (%zu rows)",
           name, n);
  if (bad_m || bad_o) printf("# %zu margins, %zu outputs differ\n", bad_m, bad_o);
  CHECK(rc == GROVE_OK && bad_m == 0 && bad_o == 0, what);
  free(rows);
  free(m32);
  free(direct);
  free(via);
  free(m64);
}

static void test_margins64(void) {
  static const char *const names[] = {"adult_binary_cat", "multiclass4_missing", "rf_binary_raw"};
  for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
    char cmd[600];
    size_t len;
    snprintf(cmd, sizeof cmd, "gzip -dc '" LGB_FIXTURES "%s.model.txt.gz'", names[i]);
    char *text = read_command(cmd, &len);
    grove_forest_t *f = NULL;
    grove_error_t err;
    if (grove_forest_load_buffer(text, len, names[i], &f, &err) == GROVE_OK)
      check_margins64(f, names[i]);
    else
      CHECK(0, names[i]);
    free(text);
    grove_forest_free(f);
  }
  grove_forest_t *f = NULL;
  grove_error_t err;
  if (grove_forest_load_file(GROVE_SOURCE_ROOT "/models/income", &f, &err) == GROVE_OK)
    check_margins64(f, "income (XGBoost)");
  grove_forest_free(f);
}

static void test_lightgbm_fixtures(void) {
  static const char *const names[] = {"zero_band",          "big_sum_1500",
                                      "rf_binary_raw",      "linear_tree_regression",
                                      "linear_tree_binary", "legacy_no_end_of_trees",
                                      "legacy_no_version",  "numeric_category_labels"};
  static const char *const older[] = {"adult_binary_cat", "multiclass4_missing",
                                      "regression_missing"};
  for (size_t i = 0; i < sizeof names / sizeof *names; i++) check_fixture_f64(names[i], 0);
  for (size_t i = 0; i < sizeof older / sizeof *older; i++) check_fixture_f64(older[i], 1);
}

/* ------------------------------------------------------------------------- */
/* XGBoost 3.x: reg:expectileerror                                            */

/*
 * reg:expectileerror with alphas [0.1, 0.5, 0.9] and no trees, as XGBoost 3.4 writes it:
 * the outputs are the base score's, through ExpectileRegression's ProbToMargin and then
 * PredTransform (XGBoost v3.4.0 / v3.4.1, src/objective/regression_obj.cu; kRtEps = 1e-6f
 * in include/xgboost/base.h, SoftPlus / SoftPlusInv in src/common/math.h, all float32):
 *   margins: m0 = s0, mj = SoftPlusInv(sj - s(j-1) - 1e-6), SoftPlusInv(x) =
 *            max(x, 1e-6) + log(-expm1(-max(x, 1e-6)));
 *   outputs: o0 = m0, oj = o(j-1) + (1e-6 + SoftPlus(mj)).
 * With s = [0, 0, 0.5] the first gap is below kRtEps, so SoftPlusInv clamps it and o1 is
 * 2e-6, not 0: that shows both the clamp and the kRtEps of each step (without it o1 would
 * be 1e-6 and o2 0.50000006). The expected values were computed with numpy float32
 * (np.log1p, np.exp, np.log, np.expm1), a different libm from grove's: they agree to a few
 * float32 ulps, so the check allows 1e-6 relative.
 */
static const char expectile_model[] =
    "{\"learner\":{\"attributes\":{},\"feature_names\":[\"a\"],\"feature_types\":[\"q\"],"
    "\"gradient_booster\":{\"model\":{\"gbtree_model_param\":{\"num_parallel_tree\":\"1\","
    "\"num_trees\":\"0\"},\"tree_info\":[],\"trees\":[]},\"name\":\"gbtree\"},"
    "\"learner_model_param\":{\"base_score\":\"[0E0,0E0,5E-1]\",\"num_class\":\"0\","
    "\"num_feature\":\"1\",\"num_target\":\"3\"},"
    "\"objective\":{\"name\":\"reg:expectileerror\",\"expectile_loss_param\":"
    "{\"expectile_alpha\":\"[0.1,0.5,0.9]\"}}},\"version\":[3,4,0]}";

static int near_rel(float got, double want) {
  return fabs((double)got - want) <= 1e-6 * fabs(want) + 1e-30;
}

static void test_expectile(void) {
  grove_forest_t *f = load_text(expectile_model, "expectile.json");
  CHECK(f != NULL, "an XGBoost 3.4 reg:expectileerror model (3 alphas) loads");
  if (f == NULL) return;
  const float row[1] = {0.5f};
  float m[3], o[3];
  grove_predict_opts_t margin = {.margin = 1};
  grove_error_t err;
  grove_forest_predict(f, row, 1, m, &margin, &err);
  grove_forest_predict(f, row, 1, o, NULL, &err);
  printf("# margins %.9g %.9g %.9g, outputs %.9g %.9g %.9g\n", m[0], m[1], m[2], o[0], o[1], o[2]);
  CHECK(m[0] == 0.0f && near_rel(m[1], -13.815509796142578) && near_rel(m[2], -0.4327546954154968),
        "base_score [0, 0, 0.5] becomes the margins [0, -13.8155098, -0.432754695]");
  CHECK(o[0] == 0.0f && near_rel(o[1], 2.000000222324161e-06) && near_rel(o[2], 0.5000020861625671),
        "the outputs build on each other: [0, 2.0000002e-06, 0.500002086]");
  grove_forest_free(f);
}

/* ------------------------------------------------------------------------- */
/* Category labels that are numbers                                           */

static void test_category_read(void) {
  grove_schema_feature_t feats[2] = {
      {.name = "n", .type = GROVE_FEATURE_CATEGORICAL, .num_categories = 3},
      {.name = "s", .type = GROVE_FEATURE_CATEGORICAL, .num_categories = 2}};
  char *numeric[] = {"1", "2", "3.5"}, *words[] = {"red", "blue"};
  feats[0].categories = numeric;
  feats[1].categories = words;
  grove_schema_t s = {.features = feats, .num_features = 2};
  double code = -1;
  CHECK(grove_schema_category_labels_numeric(&s, 0) && !grove_schema_category_labels_numeric(&s, 1),
        "labels [1, 2, 3.5] are numeric, [red, blue] are not");
#define READ(i, text, mode) \
  grove_schema_category_read(&s, (i), (text), strlen(text), GROVE_CATEGORIES_##mode, &code)
  CHECK(READ(0, "1", AUTO) == GROVE_CATEGORY_AMBIGUOUS && code == 0,
        "auto: \"1\" is label 1 (code 0) and code 1 (label 2): ambiguous");
  CHECK(READ(0, "3.5", AUTO) == GROVE_CATEGORY_LABEL && code == 2,
        "auto: \"3.5\" is only a label: code 2");
  CHECK(READ(0, "3.50", AUTO) == GROVE_CATEGORY_LABEL && code == 2,
        "auto: numeric labels match by value (3.50 is 3.5)");
  CHECK(READ(0, "7", AUTO) == GROVE_CATEGORY_CODE && code == 7,
        "auto: \"7\" is no label: code 7 (past the labels: LightGBM's \"not in the set\")");
  CHECK(READ(0, "0", AUTO) == GROVE_CATEGORY_CODE && code == 0, "auto: \"0\" is code 0");
  CHECK(READ(0, "1", LABELS) == GROVE_CATEGORY_LABEL && code == 0, "labels: \"1\" is label 1");
  CHECK(READ(0, "7", LABELS) == GROVE_CATEGORY_UNKNOWN, "labels: \"7\" is unknown");
  CHECK(READ(0, "1", CODES) == GROVE_CATEGORY_CODE && code == 1, "codes: \"1\" is code 1");
  CHECK(READ(0, "-2", CODES) == GROVE_CATEGORY_CODE && code == -2, "codes: any number");
  CHECK(READ(0, "x", CODES) == GROVE_CATEGORY_UNKNOWN, "codes: text is unknown");
  CHECK(READ(1, "blue", AUTO) == GROVE_CATEGORY_LABEL && code == 1, "auto: \"blue\" is code 1");
  CHECK(READ(1, "1", AUTO) == GROVE_CATEGORY_CODE && code == 1,
        "auto: \"1\" (no such label) is code 1");
  CHECK(READ(1, "green", AUTO) == GROVE_CATEGORY_UNKNOWN, "auto: \"green\" is unknown");
  CHECK(grove_schema_category_read(NULL, 0, "4", 1, GROVE_CATEGORIES_AUTO, &code) ==
                GROVE_CATEGORY_CODE &&
            code == 4,
        "no schema: a number is its code");
#undef READ
}

/*
 * Threads split small batches on the engine's helpers (pool.c), and concurrent callers that
 * find them busy split theirs their own way: every call, of every size, from four threads at
 * once, gives the single-thread answer bit for bit.
 */
typedef struct {
  const grove_forest_t *f;
  const float *rows, *want;
  uint32_t nf;
  size_t calls, wrong;
} pool_caller_t;

static void *pool_caller(void *arg) {
  pool_caller_t *c = arg;
  static const size_t sizes[] = {1, 31, 64, 65, 100, 257, 1024, 1500};
  float got[1500];
  grove_error_t err;
  for (int round = 0; round < 40; round++) {
    for (size_t k = 0; k < sizeof sizes / sizeof *sizes; k++) {
      const size_t n = sizes[k], at = (size_t)(round * 37 + (int)k * 11) % (5000 - n);
      grove_predict_opts_t opts = {.threads = 2 + (uint32_t)(round % 3)};
      if (grove_forest_predict(c->f, c->rows + at * c->nf, n, got, &opts, &err) != GROVE_OK ||
          memcmp(got, c->want + at, n * sizeof *got) != 0)
        c->wrong++;
      c->calls++;
    }
  }
  return NULL;
}

static void test_threads_small_batches(void) {
  grove_forest_t *f = NULL;
  grove_error_t err;
  if (grove_forest_load_file(GROVE_SOURCE_ROOT "/models/income", &f, &err) != GROVE_OK) {
    CHECK(0, "load income");
    return;
  }
  grove_forest_info_t info;
  grove_forest_get_info(f, &info);
  const size_t n = 5000;
  float *rows = malloc(n * info.num_features * sizeof *rows), *want = malloc(n * sizeof *want);
  grove_forest_synthesize_rows(f, n, 11, rows);
  grove_predict_opts_t single = {.threads = 1};
  CHECK_EQ_INT(grove_forest_predict(f, rows, n, want, &single, &err), GROVE_OK, "reference");
  pool_caller_t callers[4];
  pthread_t tids[4];
  int started = 0;
  for (int i = 0; i < 4; i++) {
    callers[i] = (pool_caller_t){.f = f, .rows = rows, .want = want, .nf = info.num_features};
    if (pthread_create(&tids[i], NULL, pool_caller, &callers[i]) == 0) started++;
  }
  CHECK_EQ_INT(started, 4, "four callers started");
  size_t calls = 0, wrong = 0;
  for (int i = 0; i < started; i++) {
    pthread_join(tids[i], NULL);
    calls += callers[i].calls;
    wrong += callers[i].wrong;
  }
  printf("# %zu calls of 1-1500 rows with 2-4 threads from 4 threads at once\n", calls);
  CHECK(calls == 4 * 40 * 8 && wrong == 0,
        "threaded calls from concurrent callers equal the single-thread answer");
  /* And one caller alone, on the helpers every time. */
  pool_caller_t alone = {.f = f, .rows = rows, .want = want, .nf = info.num_features};
  pool_caller(&alone);
  CHECK(alone.wrong == 0, "threaded calls of one caller equal the single-thread answer");
  /* A child of fork() has none of the helpers its parent started: it starts its own. */
  fflush(stdout);
  const pid_t child = fork();
  if (child == 0) {
    alarm(20); /* a child waiting for helpers it does not have would hang */
    float got[200];
    grove_predict_opts_t two = {.threads = 2};
    _exit(grove_forest_predict(f, rows, 200, got, &two, &err) == GROVE_OK &&
                  memcmp(got, want, sizeof got) == 0
              ? 0
              : 1);
  }
  int status = -1;
  CHECK(child > 0 && waitpid(child, &status, 0) == child && WIFEXITED(status) &&
            WEXITSTATUS(status) == 0,
        "a forked child scores with threads on helpers of its own");
  free(rows);
  free(want);
  grove_forest_free(f);
}

int main(void) {
  test_error_table();
  test_split_semantics();
  test_degenerate_base_score();
  test_batches_on_income();
  test_threads_small_batches();
  test_lightgbm_inputs();
  test_lightgbm_rf();
  test_lightgbm_linear();
  test_lightgbm_fixtures();
  test_margins64();
  test_expectile();
  test_category_read();
  return test_done();
}
