/* CSV input: column matching, missing values, categories, and errors that name line and column. */
#include <math.h>
#include <stdlib.h>

#include "csv_rows.h"
#include "grove_engine.h"
#include "test.h"

typedef struct {
  int rc;
  float *rows;
  size_t nrows;
  grove_error_t err;
} result_t;

static result_t read_text(const grove_forest_t *f, const grove_schema_t *schema, int ignore_extra,
                          const char *text) {
  result_t r = {0};
  FILE *fp = fmemopen((void *)text, strlen(text), "r");
  csv_rows_opts_t opts = {.forest = f, .schema = schema, .ignore_extra = ignore_extra};
  r.rc = csv_rows_read(fp, &opts, &r.rows, &r.nrows, &r.err);
  fclose(fp);
  return r;
}

static void expect_error(const grove_forest_t *f, const grove_schema_t *s, const char *text,
                         const char *needle, const char *what) {
  result_t r = read_text(f, s, 0, text);
  CHECK_EQ_INT(r.rc, GROVE_EINPUT, what);
  CHECK_CONTAINS(r.rc ? r.err.msg : NULL, needle, what);
  CHECK(r.rows == NULL, "no rows are returned on error");
  free(r.rows);
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
    CHECK(r.rows[0] == 39.0f && r.rows[1] == 6.0f,
          "age and workclass code (State-gov = 6, spaces trimmed)");
    CHECK(r.rows[9] == 1.0f, "gender Male = 1");
    CHECK(r.rows[14] == 50.0f, "quoted number");
    int all_missing = 1;
    for (int j = 1; j < 14; j++) all_missing &= isnan(r.rows[14 + j]);
    CHECK(all_missing, "empty, NA, nan, NaN are missing");
  }
  free(r.rows);

  /* Columns in another order are matched by name. */
  snprintf(text, sizeof text,
           "gender,age,workclass,fnlwgt,education,educational-num,marital-status,occupation,"
           "relationship,race,capital-gain,capital-loss,hours-per-week,native-country\nFemale,20,,,"
           ",,,,,,,,,\n");
  r = read_text(f, schema, 0, text);
  CHECK(r.rc == GROVE_OK && r.nrows == 1 && r.rows[0] == 20.0f && r.rows[9] == 0.0f,
        "columns matched by name");
  free(r.rows);

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
  CHECK(r.rc == GROVE_OK && r.nrows == 1 && r.rows[0] == 39.0f,
        "--ignore-extra skips unknown columns");
  free(r.rows);

  /* Without a schema categorical features take integer codes as numbers. */
  snprintf(text, sizeof text, "%s39,2.5,1,,,,,,,,,,,\n", header);
  r = read_text(f, NULL, 0, text);
  CHECK(r.rc == GROVE_OK && r.nrows == 1 && r.rows[1] == 2.5f,
        "codes pass through as floats without a schema");
  free(r.rows);

  grove_schema_free(schema);
  grove_forest_free(f);
  return test_done();
}
