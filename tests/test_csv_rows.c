/* CSV input: column matching, missing values, categories, and errors that name line and column. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "csv_rows.h"
#include "grove_engine.h"
#include "test.h"

typedef struct {
  int rc;
  double *rows; /* the values read */
  size_t nrows;
  csv_rows_t all;
  grove_error_t err;
} result_t;

static result_t read_opts(const csv_rows_opts_t *opts, const char *text) {
  result_t r = {0};
  FILE *fp = fmemopen((void *)text, strlen(text), "r");
  r.rc = csv_rows_read(fp, opts, &r.all, &r.err);
  r.rows = r.all.values;
  r.nrows = r.all.nrows;
  fclose(fp);
  return r;
}

static result_t read_text(const grove_forest_t *f, const grove_schema_t *schema, int ignore_extra,
                          const char *text) {
  csv_rows_opts_t opts = {.forest = f, .schema = schema, .ignore_extra = ignore_extra};
  return read_opts(&opts, text);
}

static void result_free(result_t *r) { csv_rows_free(&r->all); }

static void expect_error(const grove_forest_t *f, const grove_schema_t *s, const char *text,
                         const char *needle, const char *what) {
  result_t r = read_text(f, s, 0, text);
  CHECK_EQ_INT(r.rc, GROVE_EINPUT, what);
  CHECK_CONTAINS(r.rc ? r.err.msg : NULL, needle, what);
  CHECK(r.rows == NULL && r.nrows == 0, "no rows are returned on error");
  result_free(&r);
}

/* One row of the income model with WORKCLASS as the workclass field: what it reads as. */
static result_t read_workclass(const grove_forest_t *f, const grove_schema_t *schema,
                               grove_categories_t mode, const char *workclass) {
  char text[512];
  snprintf(text, sizeof text,
           "age,workclass,fnlwgt,education,educational-num,marital-status,occupation,"
           "relationship,race,gender,capital-gain,capital-loss,hours-per-week,native-country\n"
           "30,%s,,,,,,,,,,,,\n",
           workclass);
  csv_rows_opts_t opts = {.forest = f, .schema = schema, .categories = mode};
  return read_opts(&opts, text);
}

/* --categories auto|labels|codes and unknown categories on the income schema, then on the
 * same feature given numeric labels ("1".."8", as a pandas categorical of numbers saves). */
static void check_categories(const grove_forest_t *f, grove_schema_t *schema) {
  static const struct {
    int numeric; /* workclass's labels are "1".."8" */
    grove_categories_t mode;
    const char *text;
    double want;        /* NaN: refused with NEEDLE in the message */
    const char *needle; /* NULL: names the column */
    const char *what;
  } cases[] = {
      {0, GROVE_CATEGORIES_AUTO, "State-gov", 6, NULL, "auto: a label is its code"},
      {0, GROVE_CATEGORIES_AUTO, "3", 3, NULL, "auto: a number that is no label is a code"},
      {0, GROVE_CATEGORIES_AUTO, "12", 12, NULL, "auto: a code beyond the labels reaches the model"},
      {0, GROVE_CATEGORIES_AUTO, "-1", -1, NULL, "auto: a negative code reaches the model"},
      {0, GROVE_CATEGORIES_LABELS, "3", NAN, NULL, "labels: a number that is no label is refused"},
      {0, GROVE_CATEGORIES_CODES, "State-gov", NAN, NULL, "codes: a label is refused"},
      {0, GROVE_CATEGORIES_CODES, "5", 5, NULL, "codes: a number is the code"},
      {1, GROVE_CATEGORIES_AUTO, "1", NAN, "--categories labels or --categories codes",
       "auto: \"1\" is the label \"1\" and the code of \"2\": refused naming the flag"},
      {1, GROVE_CATEGORIES_LABELS, "1", 0, NULL, "labels: \"1\" is the label \"1\", code 0"},
      {1, GROVE_CATEGORIES_CODES, "1", 1, NULL, "codes: \"1\" is code 1"},
      {1, GROVE_CATEGORIES_AUTO, "8", 7, NULL, "auto: \"8\" is only a label (no code 8): code 7"},
      {1, GROVE_CATEGORIES_LABELS, "1.0", 0, NULL, "labels: \"1.0\" is the label \"1\" by value"},
  };
  grove_schema_feature_t *wc = &schema->features[1];
  char **saved = wc->categories;
  static char *numeric[] = {"1", "2", "3", "4", "5", "6", "7", "8"};
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    wc->categories = cases[i].numeric ? numeric : saved;
    result_t r = read_workclass(f, schema, cases[i].mode, cases[i].text);
    const char *needle = cases[i].needle ? cases[i].needle : "column 2 (\"workclass\")";
    if (isnan(cases[i].want))
      CHECK(r.rc == GROVE_EINPUT && strstr(r.err.msg, needle), cases[i].what);
    else
      CHECK(r.rc == GROVE_OK && r.nrows == 1 && r.rows[1] == cases[i].want, cases[i].what);
    result_free(&r);
  }
  wc->categories = saved;
}

/* Per-row errors: every record is a row; a bad one is all missing and has its message. */
static void check_per_row(const grove_forest_t *f, const grove_schema_t *schema,
                          const char *header) {
  char text[2048];
  snprintf(text, sizeof text,
           "%s39,State-gov,1,,,,,,,,,,,\n40,Martian,1,,,,,,,,,,,\n41,,1,,,,,,,,,,\n"
           "42,,abc,,,,,,,,,,,\n43, ?,1,,,,,,,,,,, ?\n",
           header);
  csv_rows_opts_t opts = {.forest = f, .schema = schema, .per_row_errors = 1};
  result_t r = read_opts(&opts, text);
  CHECK(r.rc == GROVE_OK && r.nrows == 5 && r.all.num_errors == 3,
        "per-row: 5 rows read, 3 of them bad");
  if (r.rc == GROVE_OK && r.nrows == 5) {
    CHECK(r.all.errors[0] == NULL && r.rows[0] == 39 && r.rows[1] == 6, "per-row: a good row");
    CHECK_CONTAINS(r.all.errors[1], "line 3, column 2 (\"workclass\"): unknown category",
                   "per-row: an unknown category names line and column");
    CHECK(isnan(r.rows[14]) && isnan(r.rows[15]), "per-row: a bad row is all missing");
    CHECK_CONTAINS(r.all.errors[2], "line 4: 13 fields, the header has 14",
                   "per-row: a short line");
    CHECK_CONTAINS(r.all.errors[3], "line 5, column 3 (\"fnlwgt\"): not a number",
                   "per-row: not a number");
    CHECK(r.all.errors[4] == NULL && r.rows[56] == 43 && isnan(r.rows[57]) && isnan(r.rows[69]),
          "the schema's \"?\" (after trimming) is missing");
  }
  result_free(&r);
  snprintf(text, sizeof text, "%s40,Martian,1,,,,,,,,,,,\n", header);
  opts = (csv_rows_opts_t){.forest = f, .schema = schema, .unknown_missing = 1};
  r = read_opts(&opts, text);
  CHECK(r.rc == GROVE_OK && r.nrows == 1 && isnan(r.rows[1]) && r.rows[2] == 1,
        "unknown_missing: an unknown label is a missing value");
  result_free(&r);
}

int main(void) {
  grove_forest_t *f;
  grove_schema_t *schema;
  grove_error_t err;
  if (grove_model_load(GROVE_SOURCE_ROOT "/models/income", &f, &schema, &err) != GROVE_OK) {
    printf("not ok 1 - income model loads: %s\n1..1\n", err.msg);
    return 1;
  }
  static const char header[] =
      "age,workclass,fnlwgt,education,educational-num,marital-status,occupation,relationship,race,"
      "gender,capital-gain,capital-loss,hours-per-week,native-country\n";
  char text[4096];

  snprintf(text, sizeof text,
           "%s39, State-gov ,77516,Bachelors,13,Never-married,Adm-clerical,Not-in-family,"
           "White,Male,2174,0,40,United-States\n\"50\",,NA,nan,NaN,,,,,,,,,\n",
           header);
  result_t r = read_text(f, schema, 0, text);
  CHECK_EQ_INT(r.rc, GROVE_OK, "valid CSV with strings, quotes and missing values");
  CHECK_EQ_INT(r.nrows, 2, "two rows");
  if (r.rc == GROVE_OK && r.nrows == 2) {
    CHECK(r.rows[0] == 39.0 && r.rows[1] == 6.0,
          "age and workclass code (State-gov = 6, spaces trimmed)");
    CHECK(r.rows[9] == 1.0, "gender Male = 1");
    CHECK(r.rows[14] == 50.0, "quoted number");
    int all_missing = 1;
    for (int j = 1; j < 14; j++) all_missing &= isnan(r.rows[14 + j]);
    CHECK(all_missing, "empty, NA, nan, NaN are missing");
  }
  result_free(&r);

  /* Columns in another order are matched by name. */
  snprintf(text, sizeof text,
           "gender,age,workclass,fnlwgt,education,educational-num,marital-status,occupation,"
           "relationship,race,capital-gain,capital-loss,hours-per-week,native-country\nFemale,20,,,"
           ",,,,,,,,,\n");
  r = read_text(f, schema, 0, text);
  CHECK(r.rc == GROVE_OK && r.nrows == 1 && r.rows[0] == 20.0 && r.rows[9] == 0.0,
        "columns matched by name");
  result_free(&r);

  snprintf(text, sizeof text, "%s39,Martian,1,,,,,,,,,,,\n", header);
  expect_error(f, schema, text, "line 2, column 2 (\"workclass\"): unknown category \"Martian\"",
               "unknown category");
  snprintf(text, sizeof text, "%s39,,1,,,,,,,,,,,\n40,,abc,,,,,,,,,,,\n", header);
  expect_error(f, schema, text, "line 3, column 3 (\"fnlwgt\"): not a number: \"abc\"",
               "non-numeric value");
  snprintf(text, sizeof text, "%s39,,1,,,,,,,,,,\n", header);
  expect_error(f, schema, text, "line 2: 13 fields, the header has 14", "short line");
  snprintf(text, sizeof text, "%s39,,1,,,,,,,,,,,,\n", header);
  expect_error(f, schema, text, "line 2: 15 fields, the header has 14", "long line");
  snprintf(text, sizeof text, "shoe_size,%s", header);
  expect_error(f, schema, text, "unknown column \"shoe_size\"", "unknown column");
  expect_error(f, schema, "age,workclass\n1,\n", "no column for feature \"fnlwgt\"",
               "missing feature column");
  snprintf(text, sizeof text, "age,%s", header);
  expect_error(f, schema, text, "\"age\" appears twice", "duplicate column");
  expect_error(f, schema, "", "no header row", "empty input");
  snprintf(text, sizeof text, "%s\"39,,1,,,,,,,,,,,\n", header);
  expect_error(f, schema, text, "malformed CSV", "unterminated quote");

  snprintf(text, sizeof text, "shoe_size,%s42,39,,1,,,,,,,,,,,\n", header);
  r = read_text(f, schema, 1, text);
  CHECK(r.rc == GROVE_OK && r.nrows == 1 && r.rows[0] == 39.0,
        "--ignore-extra skips unknown columns");
  result_free(&r);

  /* Without a schema categorical features take integer codes as numbers. */
  snprintf(text, sizeof text, "%s39,2.5,1,,,,,,,,,,,\n", header);
  r = read_text(f, NULL, 0, text);
  CHECK(r.rc == GROVE_OK && r.nrows == 1 && r.rows[1] == 2.5,
        "codes pass through as numbers without a schema");
  result_free(&r);

  /* Decimal text is kept as its double (LightGBM decides 0.15 against 0.15000000000000002). */
  snprintf(text, sizeof text, "%s39,,0.15000000000000002,,,,,,,,,,,\n", header);
  r = read_text(f, schema, 0, text);
  CHECK(r.rc == GROVE_OK && r.nrows == 1 && r.rows[2] == 0.15000000000000002 &&
            r.rows[2] != (double)(float)0.15000000000000002,
        "numbers are kept as doubles");
  result_free(&r);

  check_categories(f, schema);
  check_per_row(f, schema, header);
  grove_schema_free(schema);
  grove_forest_free(f);
  return test_done();
}
