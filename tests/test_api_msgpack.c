/*
 * The msgpack half of the v1 API (api/codec_v1_msgpack.c): rows, records and float32 tensors
 * decoded to float rows, every refusal with its status and message, hostile bodies (huge
 * counts in tiny bodies, truncation anywhere, lengths past the end, deep nesting), and
 * responses that parse back.
 */
#include <math.h>
#include <msgpack.h>
#include <stdlib.h>

#include "api_check.h"
#include "buf.h"
#include "codecs.h"
#include "grove_engine.h"
#include "test.h"

static grove_forest_t *income, *multi, *softmax, *categorical;
static grove_schema_t *income_schema;

/* ------------------------------------------------------------------------- */
/* Building bodies                                                            */

typedef struct {
  msgpack_sbuffer sb;
  msgpack_packer pk;
} pack_t;

static void pk_init(pack_t *p) {
  msgpack_sbuffer_init(&p->sb);
  msgpack_packer_init(&p->pk, &p->sb, msgpack_sbuffer_write);
}

static void pk_str(pack_t *p, const char *s) { msgpack_pack_str_with_body(&p->pk, s, strlen(s)); }

/* Bytes from "dd 10 00 00 00" into BUF; returns the length. */
static size_t hex(const char *text, uint8_t *buf) {
  size_t n = 0;
  unsigned v;
  int used;
  while (sscanf(text, " %2x%n", &v, &used) == 1) {
    buf[n++] = (uint8_t)v;
    text += used;
  }
  return n;
}

typedef struct {
  int rc;
  api_request_t req;
  api_error_t err;
} decoded_t;

static decoded_t decode(const void *body, size_t len, const grove_forest_t *f,
                        const grove_schema_t *s, size_t max_rows) {
  decoded_t d;
  memset(&d, 0xab, sizeof d); /* the decoder must initialise everything */
  api_limits_t limits = {.max_rows = max_rows};
  d.rc = api_decode_v1(body, len, API_MSGPACK, f, s, &limits, &d.req, &d.err);
  return d;
}

static void expect_error_bytes(const void *body, size_t len, const grove_forest_t *f,
                               const grove_schema_t *s, size_t max_rows, int status,
                               const char *needle, const char *what) {
  decoded_t d = decode(body, len, f, s, max_rows);
  CHECK_EQ_INT(d.rc, -1, what);
  if (d.rc != -1) {
    api_request_free(&d.req);
    return;
  }
  if (d.err.status != status) printf("# status %d: %s\n", d.err.status, d.err.message);
  CHECK_EQ_INT(d.err.status, status, "  ...with the right status");
  CHECK_CONTAINS(d.err.message, needle, "  ...and a message naming the problem");
  CHECK(d.req.rows == NULL && d.req.nrows == 0, "  ...and no rows left behind");
}

/* P decodes, and value J of its first row is WANT (a category code passed through as given,
 * as the training libraries take numbers). */
static void expect_code(pack_t *p, const grove_forest_t *f, const grove_schema_t *s, uint32_t j,
                        float want, const char *what) {
  decoded_t d = decode(p->sb.data, p->sb.size, f, s, 1000);
  CHECK(d.rc == 0 && d.req.rows[j] == want, what);
  if (d.rc == 0) api_request_free(&d.req);
  msgpack_sbuffer_destroy(&p->sb);
}

static void expect_error(pack_t *p, const grove_forest_t *f, const grove_schema_t *s, int status,
                         const char *needle, const char *what) {
  expect_error_bytes(p->sb.data, p->sb.size, f, s, 1000, status, needle, what);
  msgpack_sbuffer_destroy(&p->sb);
}

static void expect_error_hex_on(const grove_forest_t *f, const grove_schema_t *s, const char *text,
                                int status, const char *needle, const char *what) {
  uint8_t buf[256];
  size_t n = hex(text, buf);
  expect_error_bytes(buf, n, f, s, 1000, status, needle, what);
}

static void expect_error_hex(const char *text, int status, const char *needle, const char *what) {
  expect_error_hex_on(income, income_schema, text, status, needle, what);
}

/* An income row of valid values in mixed msgpack number types: ROW selects the variant. */
static const float income_row_values[2][14] = {
    {39, 6, 77516, 9, 13, 4, 0, 1, 4, 1, 2174, 0, 40, 38},
    {-50, 3, 4294967296.0f, 11, 9.5f, NAN, 3, 0, 2, 0, 0.25f, 1e30f, -3, NAN},
};

static void pack_income_row(pack_t *p, int row) {
  msgpack_packer *pk = &p->pk;
  msgpack_pack_array(pk, 14);
  if (row == 0) {
    msgpack_pack_fix_uint8(pk, 39);     /* cc */
    msgpack_pack_int8(pk, 6);           /* fixint */
    msgpack_pack_fix_uint32(pk, 77516); /* ce */
    msgpack_pack_fix_int16(pk, 9);      /* d1 */
    msgpack_pack_double(pk, 13.0);      /* cb */
    msgpack_pack_fix_int64(pk, 4);      /* d3 */
    msgpack_pack_fix_uint16(pk, 0);     /* cd */
    msgpack_pack_fix_int8(pk, 1);       /* d0 */
    msgpack_pack_fix_uint64(pk, 4);     /* cf */
    msgpack_pack_float(pk, 1.0f);       /* ca: a category code as a float */
    msgpack_pack_fix_int32(pk, 2174);   /* d2 */
    msgpack_pack_fix_uint8(pk, 0);
    msgpack_pack_float(pk, 40.0f);
    msgpack_pack_uint8(pk, 38);
  } else {
    msgpack_pack_int8(pk, -50); /* d0 */
    msgpack_pack_int64(pk, 3);
    msgpack_pack_uint64(pk, 4294967296ull); /* cf */
    msgpack_pack_int64(pk, 11);
    msgpack_pack_float(pk, 9.5f);
    msgpack_pack_nil(pk); /* missing */
    msgpack_pack_int(pk, 3);
    msgpack_pack_int(pk, 0);
    msgpack_pack_int(pk, 2);
    msgpack_pack_int(pk, 0);
    msgpack_pack_double(pk, 0.25);
    msgpack_pack_double(pk, 1e30); /* rounded to float32 */
    msgpack_pack_fix_int8(pk, -3); /* d0 */
    msgpack_pack_nil(pk);
  }
}

static int same_bits_or_nan(float a, float b) { return (isnan(a) && isnan(b)) || a == b; }

static int rows_equal(const float *got, const float *want, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (!same_bits_or_nan(got[i], want[i])) {
      printf("# value %zu: %.9g != %.9g\n", i, (double)got[i], (double)want[i]);
      return 0;
    }
  return 1;
}

/* ------------------------------------------------------------------------- */
/* Decoding                                                                   */

static void test_rows(void) {
  pack_t p;
  pk_init(&p);
  msgpack_pack_map(&p.pk, 3);
  pk_str(&p, "margin");
  msgpack_pack_true(&p.pk);
  pk_str(&p, "rows");
  msgpack_pack_array(&p.pk, 2);
  pack_income_row(&p, 0);
  pack_income_row(&p, 1);
  pk_str(&p, "labels");
  msgpack_pack_false(&p.pk);
  decoded_t d = decode(p.sb.data, p.sb.size, income, income_schema, 1000);
  CHECK_EQ_INT(d.rc, 0, "rows: two rows of every integer and float encoding decode");
  if (d.rc != 0) printf("# %s\n", d.err.message);
  CHECK_EQ_INT(d.req.nrows, 2, "rows: nrows");
  CHECK_EQ_INT(d.req.num_features, 14, "rows: num_features");
  CHECK(d.rc == 0 && rows_equal(d.req.rows, &income_row_values[0][0], 28),
        "rows: values, nil is NaN");
  CHECK(d.req.margin == 1 && d.req.labels == 0 && d.req.binary_output == 0,
        "rows: margin and labels options");
  CHECK(d.req.id == NULL && d.req.noutputs == 0, "rows: no v2 fields");
  api_request_free(&d.req);
  msgpack_sbuffer_destroy(&p.sb);

  /* Defaults: labels on, margin off. Category strings are accepted in rows too. */
  pk_init(&p);
  msgpack_pack_map(&p.pk, 1);
  pk_str(&p, "rows");
  msgpack_pack_array(&p.pk, 1);
  msgpack_pack_array(&p.pk, 14);
  for (int j = 0; j < 14; j++) {
    if (j == 1)
      pk_str(&p, "Private");
    else
      msgpack_pack_nil(&p.pk);
  }
  d = decode(p.sb.data, p.sb.size, income, income_schema, 1000);
  CHECK(d.rc == 0 && d.req.margin == 0 && d.req.labels == 1,
        "rows: defaults margin false, labels true");
  CHECK(d.rc == 0 && d.req.rows[1] == 3.0f && isnan(d.req.rows[0]),
        "rows: a category string becomes its code");
  api_request_free(&d.req);
  msgpack_sbuffer_destroy(&p.sb);

  /* Errors inside rows. */
  pk_init(&p);
  msgpack_pack_map(&p.pk, 1);
  pk_str(&p, "rows");
  msgpack_pack_array(&p.pk, 2);
  pack_income_row(&p, 0);
  msgpack_pack_array(&p.pk, 13);
  for (int j = 0; j < 13; j++) msgpack_pack_int(&p.pk, 1);
  expect_error(&p, income, income_schema, 400, "row 1: 13 values, the model has 14 features",
               "rows: short row");

  pk_init(&p);
  msgpack_pack_map(&p.pk, 1);
  pk_str(&p, "rows");
  msgpack_pack_array(&p.pk, 1);
  msgpack_pack_array(&p.pk, 14);
  msgpack_pack_int(&p.pk, 30);
  msgpack_pack_true(&p.pk);
  for (int j = 2; j < 14; j++) msgpack_pack_nil(&p.pk);
  expect_error(
      &p, income, income_schema, 400,
      "row 0, feature 'workclass': expected a category string or code, or nil, got a boolean",
      "rows: a boolean value");

  pk_init(&p);
  msgpack_pack_map(&p.pk, 1);
  pk_str(&p, "rows");
  msgpack_pack_array(&p.pk, 1);
  msgpack_pack_array(&p.pk, 14);
  pk_str(&p, "thirty");
  for (int j = 1; j < 14; j++) msgpack_pack_nil(&p.pk);
  expect_error(&p, income, income_schema, 400,
               "row 0, feature 'age': expected a number, got the string \"thirty\"",
               "rows: a string for a numeric feature");

  pk_init(&p);
  msgpack_pack_map(&p.pk, 1);
  pk_str(&p, "rows");
  msgpack_pack_array(&p.pk, 1);
  msgpack_pack_array(&p.pk, 14);
  msgpack_pack_nil(&p.pk);
  msgpack_pack_int(&p.pk, 8); /* workclass has 8 categories: 0..7 */
  for (int j = 2; j < 14; j++) msgpack_pack_nil(&p.pk);
  expect_code(&p, income, income_schema, 1, 8.0f,
              "rows: a category code past the schema's categories is the code");

  pk_init(&p);
  msgpack_pack_map(&p.pk, 1);
  pk_str(&p, "rows");
  msgpack_pack_array(&p.pk, 1);
  msgpack_pack_array(&p.pk, 14);
  msgpack_pack_double(&p.pk, NAN);
  for (int j = 1; j < 14; j++) msgpack_pack_nil(&p.pk);
  expect_error(&p, income, income_schema, 400, "row 0, feature 'age': NaN is not a value",
               "rows: NaN is refused (nil is missing)");

  pk_init(&p);
  msgpack_pack_map(&p.pk, 1);
  pk_str(&p, "rows");
  msgpack_pack_array(&p.pk, 1);
  msgpack_pack_array(&p.pk, 14);
  msgpack_pack_double(&p.pk, 1e300);
  for (int j = 1; j < 14; j++) msgpack_pack_nil(&p.pk);
  expect_error(&p, income, income_schema, 400, "value out of float32 range",
               "rows: a float64 beyond float32");

  pk_init(&p);
  msgpack_pack_map(&p.pk, 1);
  pk_str(&p, "rows");
  msgpack_pack_array(&p.pk, 2);
  pack_income_row(&p, 0);
  msgpack_pack_map(&p.pk, 0);
  expect_error(&p, income, income_schema, 400, "row 1: expected an array of 14 values, got a map",
               "rows: a map where a row should be");

  pk_init(&p);
  msgpack_pack_map(&p.pk, 1);
  pk_str(&p, "rows");
  msgpack_pack_map(&p.pk, 0);
  expect_error(&p, income, income_schema, 400, "\"rows\": expected an array of arrays, got a map",
               "rows: not an array");

  pk_init(&p);
  msgpack_pack_map(&p.pk, 1);
  pk_str(&p, "rows");
  msgpack_pack_array(&p.pk, 0);
  expect_error(&p, income, income_schema, 400, "no rows", "rows: empty");

  /* The row limit: 413, whether the rows are all there or not. */
  pk_init(&p);
  msgpack_pack_map(&p.pk, 1);
  pk_str(&p, "rows");
  msgpack_pack_array(&p.pk, 3);
  for (int i = 0; i < 3; i++) pack_income_row(&p, i & 1);
  expect_error_bytes(p.sb.data, p.sb.size, income, income_schema, 2, 413,
                     "3 rows in one request; the limit is 2", "rows: over the row limit");
  decoded_t ok = decode(p.sb.data, p.sb.size, income, income_schema, 3);
  CHECK(ok.rc == 0 && ok.req.nrows == 3, "rows: exactly at the row limit");
  api_request_free(&ok.req);
  ok = decode(p.sb.data, p.sb.size, income, income_schema, 0);
  CHECK(ok.rc == 0 && ok.req.nrows == 3, "rows: max_rows 0 means no limit");
  api_request_free(&ok.req);
  ok.rc = api_decode_v1(p.sb.data, p.sb.size, API_MSGPACK, income, income_schema, NULL, &ok.req,
                        &ok.err);
  CHECK(ok.rc == 0 && ok.req.nrows == 3, "rows: NULL limits");
  api_request_free(&ok.req);
  msgpack_sbuffer_destroy(&p.sb);

  /* A categorical feature without a schema takes integer codes. */
  pk_init(&p);
  msgpack_pack_map(&p.pk, 1);
  pk_str(&p, "rows");
  msgpack_pack_array(&p.pk, 1);
  msgpack_pack_array(&p.pk, 2);
  msgpack_pack_int(&p.pk, 2);
  msgpack_pack_double(&p.pk, -1.5);
  d = decode(p.sb.data, p.sb.size, categorical, NULL, 1000);
  CHECK(d.rc == 0 && d.req.rows[0] == 2.0f && d.req.rows[1] == -1.5f,
        "rows: category codes without a schema");
  api_request_free(&d.req);
  msgpack_sbuffer_destroy(&p.sb);
  pk_init(&p);
  msgpack_pack_map(&p.pk, 1);
  pk_str(&p, "rows");
  msgpack_pack_array(&p.pk, 1);
  msgpack_pack_array(&p.pk, 2);
  msgpack_pack_int(&p.pk, -1);
  msgpack_pack_nil(&p.pk);
  expect_code(&p, categorical, NULL, 0, -1.0f, "rows: a negative category code is the code");
  pk_init(&p);
  msgpack_pack_map(&p.pk, 1);
  pk_str(&p, "rows");
  msgpack_pack_array(&p.pk, 1);
  msgpack_pack_array(&p.pk, 2);
  pk_str(&p, "red");
  msgpack_pack_nil(&p.pk);
  expect_error(&p, categorical, NULL, 400, "category strings need a schema.json",
               "rows: a category string without a schema");

  /* The unnamed model has features f0..f2, numeric. */
  pk_init(&p);
  msgpack_pack_map(&p.pk, 1);
  pk_str(&p, "rows");
  msgpack_pack_array(&p.pk, 1);
  msgpack_pack_array(&p.pk, 3);
  msgpack_pack_int(&p.pk, 1);
  msgpack_pack_int(&p.pk, 2);
  msgpack_pack_bin(&p.pk, 0);
  expect_error(&p, multi, NULL, 400, "row 0, feature 'f2': expected a number or nil, got a bin",
               "rows: unnamed features are named f<index>");
}

static void test_records(void) {
  pack_t p;
  pk_init(&p);
  msgpack_pack_map(&p.pk, 1);
  pk_str(&p, "records");
  msgpack_pack_array(&p.pk, 3);
  msgpack_pack_map(&p.pk, 5);
  pk_str(&p, "age");
  msgpack_pack_int(&p.pk, 39);
  pk_str(&p, "workclass");
  pk_str(&p, "State-gov");
  pk_str(&p, "education");
  msgpack_pack_int(&p.pk, 9);
  pk_str(&p, "hours-per-week");
  msgpack_pack_double(&p.pk, 40.5);
  pk_str(&p, "native-country");
  msgpack_pack_nil(&p.pk);
  msgpack_pack_map(&p.pk, 0); /* all missing */
  msgpack_pack_map(&p.pk, 2); /* out of order: the lookup past the hint */
  pk_str(&p, "gender");
  pk_str(&p, "Male");
  pk_str(&p, "age");
  msgpack_pack_float(&p.pk, 22.0f);
  decoded_t d = decode(p.sb.data, p.sb.size, income, income_schema, 1000);
  CHECK_EQ_INT(d.rc, 0, "records: three records decode");
  if (d.rc != 0) printf("# %s\n", d.err.message);
  float want[3][14];
  for (int i = 0; i < 3; i++)
    for (int j = 0; j < 14; j++) want[i][j] = NAN;
  want[0][0] = 39, want[0][1] = 6, want[0][3] = 9, want[0][12] = 40.5f;
  want[2][9] = 1, want[2][0] = 22;
  CHECK(d.rc == 0 && d.req.nrows == 3 && d.req.num_features == 14,
        "records: nrows and num_features");
  CHECK(d.rc == 0 && rows_equal(d.req.rows, &want[0][0], 42),
        "records: values; absent and nil are NaN");
  api_request_free(&d.req);
  msgpack_sbuffer_destroy(&p.sb);

  /* The unnamed model takes f0..f2 as names. */
  pk_init(&p);
  msgpack_pack_map(&p.pk, 1);
  pk_str(&p, "records");
  msgpack_pack_array(&p.pk, 1);
  msgpack_pack_map(&p.pk, 2);
  pk_str(&p, "f2");
  msgpack_pack_int(&p.pk, -7);
  pk_str(&p, "f0");
  msgpack_pack_double(&p.pk, 0.5);
  d = decode(p.sb.data, p.sb.size, multi, NULL, 1000);
  CHECK(d.rc == 0 && d.req.rows[0] == 0.5f && isnan(d.req.rows[1]) && d.req.rows[2] == -7.0f,
        "records: f<index> names for a model without names");
  api_request_free(&d.req);
  msgpack_sbuffer_destroy(&p.sb);

  static const char *bad_unnamed[] = {"f3", "f01", "f", "x0", "f-1", "f99999999999"};
  for (size_t k = 0; k < sizeof bad_unnamed / sizeof bad_unnamed[0]; k++) {
    pk_init(&p);
    msgpack_pack_map(&p.pk, 1);
    pk_str(&p, "records");
    msgpack_pack_array(&p.pk, 1);
    msgpack_pack_map(&p.pk, 1);
    pk_str(&p, bad_unnamed[k]);
    msgpack_pack_int(&p.pk, 1);
    char needle[64];
    snprintf(needle, sizeof needle, "record 0: unknown feature \"%s\"", bad_unnamed[k]);
    expect_error(&p, multi, NULL, 400, needle, "records: not an f<index> of the model");
  }

  /* Errors. */
  pk_init(&p);
  msgpack_pack_map(&p.pk, 1);
  pk_str(&p, "records");
  msgpack_pack_array(&p.pk, 2);
  msgpack_pack_map(&p.pk, 0);
  msgpack_pack_map(&p.pk, 1);
  pk_str(&p, "salary");
  msgpack_pack_int(&p.pk, 1);
  expect_error(&p, income, income_schema, 400,
               "record 1: unknown feature \"salary\" (features: 'age', 'workclass'",
               "records: unknown feature, with the features listed");

  pk_init(&p);
  msgpack_pack_map(&p.pk, 1);
  pk_str(&p, "records");
  msgpack_pack_array(&p.pk, 1);
  msgpack_pack_map(&p.pk, 1);
  msgpack_pack_str_with_body(&p.pk, "a\"b\\c\n\xff", 7);
  msgpack_pack_int(&p.pk, 1);
  expect_error(&p, income, income_schema, 400, "unknown feature \"a?b?c??\"",
               "records: an unknown name is quoted with odd bytes replaced");

  pk_init(&p);
  msgpack_pack_map(&p.pk, 1);
  pk_str(&p, "records");
  msgpack_pack_array(&p.pk, 1);
  msgpack_pack_map(&p.pk, 1);
  msgpack_pack_str_with_body(&p.pk, "age\0x", 5);
  msgpack_pack_int(&p.pk, 1);
  expect_error(&p, income, income_schema, 400, "unknown feature \"age?x\"",
               "records: a name with a NUL byte");

  char longname[300];
  memset(longname, 'z', sizeof longname - 1);
  longname[sizeof longname - 1] = '\0';
  pk_init(&p);
  msgpack_pack_map(&p.pk, 1);
  pk_str(&p, "records");
  msgpack_pack_array(&p.pk, 1);
  msgpack_pack_map(&p.pk, 1);
  pk_str(&p, longname);
  msgpack_pack_int(&p.pk, 1);
  decoded_t e = decode(p.sb.data, p.sb.size, income, income_schema, 1000);
  CHECK(e.rc == -1 && strlen(e.err.message) < sizeof e.err.message - 1 &&
            strstr(e.err.message, "zzz...\""),
        "records: a long unknown name is cut short in the message");
  msgpack_sbuffer_destroy(&p.sb);

  pk_init(&p);
  msgpack_pack_map(&p.pk, 1);
  pk_str(&p, "records");
  msgpack_pack_array(&p.pk, 1);
  msgpack_pack_map(&p.pk, 2);
  pk_str(&p, "workclass");
  pk_str(&p, "Astronaut");
  pk_str(&p, "age");
  msgpack_pack_int(&p.pk, 1);
  expect_error(
      &p, income, income_schema, 400,
      "record 0, feature 'workclass': unknown category \"Astronaut\" (known: \"Federal-gov\"",
      "records: unknown category");

  pk_init(&p);
  msgpack_pack_map(&p.pk, 1);
  pk_str(&p, "records");
  msgpack_pack_array(&p.pk, 1);
  msgpack_pack_map(&p.pk, 1);
  pk_str(&p, "workclass");
  pk_str(&p, "Private");
  expect_error(&p, income, NULL, 400,
               "record 0, feature 'workclass': category strings need a schema.json",
               "records: a category string without a schema");

  pk_init(&p);
  msgpack_pack_map(&p.pk, 1);
  pk_str(&p, "records");
  msgpack_pack_array(&p.pk, 1);
  msgpack_pack_map(&p.pk, 1);
  pk_str(&p, "workclass");
  msgpack_pack_double(&p.pk, 2.5);
  expect_code(&p, income, income_schema, 1, 2.5f,
              "records: a fractional category code is the code (the trees truncate)");

  pk_init(&p);
  msgpack_pack_map(&p.pk, 1);
  pk_str(&p, "records");
  msgpack_pack_array(&p.pk, 1);
  msgpack_pack_map(&p.pk, 2);
  pk_str(&p, "age");
  msgpack_pack_int(&p.pk, 1);
  pk_str(&p, "age");
  msgpack_pack_int(&p.pk, 2);
  expect_error(&p, income, income_schema, 400, "record 0: feature \"age\" appears twice",
               "records: duplicate key");

  pk_init(&p);
  msgpack_pack_map(&p.pk, 1);
  pk_str(&p, "records");
  msgpack_pack_array(&p.pk, 1);
  msgpack_pack_map(&p.pk, 1);
  msgpack_pack_int(&p.pk, 0);
  msgpack_pack_int(&p.pk, 2);
  expect_error(&p, income, income_schema, 400,
               "record 0: expected a feature name (string key), got an integer",
               "records: an integer key");

  pk_init(&p);
  msgpack_pack_map(&p.pk, 1);
  pk_str(&p, "records");
  msgpack_pack_array(&p.pk, 2);
  msgpack_pack_map(&p.pk, 0);
  msgpack_pack_array(&p.pk, 0);
  expect_error(&p, income, income_schema, 400,
               "record 1: expected a map of feature: value, got an array",
               "records: an array where a record should be");

  pk_init(&p);
  msgpack_pack_map(&p.pk, 1);
  pk_str(&p, "records");
  msgpack_pack_array(&p.pk, 1);
  msgpack_pack_map(&p.pk, 1);
  pk_str(&p, "age");
  msgpack_pack_map(&p.pk, 0);
  expect_error(&p, income, income_schema, 400,
               "record 0, feature 'age': expected a number or nil, got a map",
               "records: a map as a value");

  pk_init(&p);
  msgpack_pack_map(&p.pk, 1);
  pk_str(&p, "records");
  msgpack_pack_array(&p.pk, 0);
  expect_error(&p, income, income_schema, 400, "no rows", "records: empty");

  pk_init(&p);
  msgpack_pack_map(&p.pk, 1);
  pk_str(&p, "records");
  msgpack_pack_array(&p.pk, 5);
  for (int i = 0; i < 5; i++) msgpack_pack_map(&p.pk, 0);
  expect_error_bytes(p.sb.data, p.sb.size, income, income_schema, 4, 413,
                     "5 rows in one request; the limit is 4", "records: over the row limit");
  msgpack_sbuffer_destroy(&p.sb);

  /* Many records: the rows grow past their first allocation. */
  pk_init(&p);
  msgpack_pack_map(&p.pk, 1);
  pk_str(&p, "records");
  msgpack_pack_array(&p.pk, 1000);
  for (int i = 0; i < 1000; i++) {
    msgpack_pack_map(&p.pk, 1);
    pk_str(&p, "fnlwgt");
    msgpack_pack_int(&p.pk, i);
  }
  d = decode(p.sb.data, p.sb.size, income, income_schema, 0);
  int all = d.rc == 0 && d.req.nrows == 1000;
  for (int i = 0; all && i < 1000; i++)
    all = d.req.rows[i * 14 + 2] == (float)i && isnan(d.req.rows[i * 14]);
  CHECK(all, "records: 1000 records");
  api_request_free(&d.req);
  msgpack_sbuffer_destroy(&p.sb);
}

/* {"shape": [n, f], "data": bin}, with the keys in either order. */
static void pack_tensor_body(pack_t *p, uint64_t n, uint64_t f, const void *data, size_t len,
                             int data_first) {
  pk_init(p);
  msgpack_pack_map(&p->pk, 2);
  for (int k = 0; k < 2; k++) {
    if ((k == 0) == (data_first != 0)) {
      pk_str(p, "data");
      msgpack_pack_bin_with_body(&p->pk, data, len);
    } else {
      pk_str(p, "shape");
      msgpack_pack_array(&p->pk, 2);
      msgpack_pack_uint64(&p->pk, n);
      msgpack_pack_uint64(&p->pk, f);
    }
  }
}

static void test_tensor(void) {
  float values[3 * 14];
  for (int i = 0; i < 3 * 14; i++) values[i] = (float)i * 1.5f - 7.0f;
  values[5] = NAN;
  pack_t p;
  for (int order = 0; order < 2; order++) {
    pack_tensor_body(&p, 3, 14, values, sizeof values, order);
    decoded_t d = decode(p.sb.data, p.sb.size, income, income_schema, 1000);
    CHECK(d.rc == 0 && d.req.nrows == 3 && d.req.num_features == 14 &&
              rows_equal(d.req.rows, values, 42),
          order ? "tensor: data before shape decodes"
                : "tensor: shape and data decode (unaligned bin, NaN kept)");
    CHECK(d.rc == 0 && d.req.binary_output == 1, "tensor: marks the request for a binary answer");
    api_request_free(&d.req);
    msgpack_sbuffer_destroy(&p.sb);
  }

  /* Options ride along. */
  pk_init(&p);
  msgpack_pack_map(&p.pk, 4);
  pk_str(&p, "labels");
  msgpack_pack_false(&p.pk);
  pk_str(&p, "shape");
  msgpack_pack_array(&p.pk, 2);
  msgpack_pack_fix_int32(&p.pk, 1); /* a signed encoding of a count */
  msgpack_pack_int(&p.pk, 14);
  pk_str(&p, "margin");
  msgpack_pack_true(&p.pk);
  pk_str(&p, "data");
  msgpack_pack_bin_with_body(&p.pk, values, 14 * 4);
  decoded_t d = decode(p.sb.data, p.sb.size, income, income_schema, 1000);
  CHECK(d.rc == 0 && d.req.nrows == 1 && d.req.margin == 1 && d.req.labels == 0,
        "tensor: with options");
  api_request_free(&d.req);
  msgpack_sbuffer_destroy(&p.sb);

  /* One rule for every decoder: an infinity is refused (NaN is missing). */
  values[20] = -INFINITY;
  pack_tensor_body(&p, 3, 14, values, sizeof values, 0);
  expect_error(&p, income, income_schema, 400,
               "row 1, feature 'occupation': value out of float32 range",
               "tensor: an infinity is refused, naming its row and feature");
  values[20] = 1.0f;

  pack_tensor_body(&p, 3, 13, values, 3 * 13 * 4, 0);
  expect_error(&p, income, income_schema, 400, "\"shape\" is [3, 13], the model has 14 features",
               "tensor: wrong feature count");
  pack_tensor_body(&p, 3, 14, values, sizeof values - 1, 0);
  expect_error(&p, income, income_schema, 400,
               "\"data\" has 167 bytes, \"shape\" [3, 14] needs 3 x 14 x 4",
               "tensor: bin one byte short");
  pack_tensor_body(&p, 2, 14, values, sizeof values, 0);
  expect_error(&p, income, income_schema, 400, "\"data\" has 168 bytes",
               "tensor: bin longer than the shape");
  pack_tensor_body(&p, 0, 14, values, 0, 0);
  expect_error(&p, income, income_schema, 400, "no rows", "tensor: zero rows");
  pack_tensor_body(&p, 1ull << 62, 14, values, 56, 0);
  expect_error(&p, income, income_schema, 413, "the limit is 1000",
               "tensor: 2^62 rows (no overflow)");
  pack_tensor_body(&p, 1ull << 62, 14, values, 56, 0);
  expect_error_bytes(p.sb.data, p.sb.size, income, income_schema, 0, 400,
                     "needs 4611686018427387904 x 14 x 4",
                     "tensor: 2^62 rows without a limit: the size check does not overflow");
  msgpack_sbuffer_destroy(&p.sb);
  pack_tensor_body(&p, 3, 14, values, sizeof values, 0);
  expect_error_bytes(p.sb.data, p.sb.size, income, income_schema, 2, 413,
                     "3 rows in one request; the limit is 2", "tensor: over the row limit");
  msgpack_sbuffer_destroy(&p.sb);

  pk_init(&p);
  msgpack_pack_map(&p.pk, 1);
  pk_str(&p, "shape");
  msgpack_pack_array(&p.pk, 2);
  msgpack_pack_int(&p.pk, 1);
  msgpack_pack_int(&p.pk, 14);
  expect_error(&p, income, income_schema, 400, "\"shape\" without \"data\"", "tensor: shape alone");

  pk_init(&p);
  msgpack_pack_map(&p.pk, 1);
  pk_str(&p, "data");
  msgpack_pack_bin_with_body(&p.pk, values, 56);
  expect_error(&p, income, income_schema, 400, "\"data\" without \"shape\"", "tensor: data alone");

  pk_init(&p);
  msgpack_pack_map(&p.pk, 2);
  pk_str(&p, "shape");
  msgpack_pack_array(&p.pk, 1);
  msgpack_pack_int(&p.pk, 1);
  pk_str(&p, "data");
  msgpack_pack_bin_with_body(&p.pk, values, 56);
  expect_error(&p, income, income_schema, 400,
               "\"shape\": expected [rows, features], got 1 numbers",
               "tensor: a one-element shape");

  pk_init(&p);
  msgpack_pack_map(&p.pk, 1);
  pk_str(&p, "shape");
  msgpack_pack_array(&p.pk, 2);
  msgpack_pack_int(&p.pk, -1);
  msgpack_pack_int(&p.pk, 14);
  expect_error(&p, income, income_schema, 400,
               "\"shape\": expected a non-negative integer, got an integer",
               "tensor: a negative shape");

  pk_init(&p);
  msgpack_pack_map(&p.pk, 1);
  pk_str(&p, "shape");
  msgpack_pack_array(&p.pk, 2);
  msgpack_pack_double(&p.pk, 1.0);
  msgpack_pack_int(&p.pk, 14);
  expect_error(&p, income, income_schema, 400,
               "\"shape\": expected a non-negative integer, got a float",
               "tensor: a float in the shape");

  pk_init(&p);
  msgpack_pack_map(&p.pk, 1);
  pk_str(&p, "data");
  msgpack_pack_str_with_body(&p.pk, "abcd", 4);
  expect_error(&p, income, income_schema, 400,
               "\"data\": expected a bin of little-endian float32, got a string",
               "tensor: data as a string");

  pk_init(&p);
  msgpack_pack_map(&p.pk, 2);
  pk_str(&p, "rows");
  msgpack_pack_array(&p.pk, 1);
  pack_income_row(&p, 0);
  pk_str(&p, "shape");
  expect_error(&p, income, income_schema, 400,
               "give one of \"rows\", \"records\", or \"shape\" with \"data\"",
               "tensor: shape after rows");
}

static void test_body(void) {
  pack_t p;
  pk_init(&p);
  msgpack_pack_map(&p.pk, 2);
  pk_str(&p, "rows");
  msgpack_pack_array(&p.pk, 1);
  pack_income_row(&p, 0);
  pk_str(&p, "records");
  expect_error(&p, income, income_schema, 400, "give one of", "body: rows and records");

  pk_init(&p);
  msgpack_pack_map(&p.pk, 1);
  pk_str(&p, "margin");
  msgpack_pack_true(&p.pk);
  expect_error(&p, income, income_schema, 400, "expected {\"rows\"", "body: no rows at all");

  pk_init(&p);
  msgpack_pack_map(&p.pk, 0);
  expect_error(&p, income, income_schema, 400, "expected {\"rows\"", "body: an empty map");

  pk_init(&p);
  msgpack_pack_map(&p.pk, 1);
  pk_str(&p, "inputs");
  msgpack_pack_nil(&p.pk);
  expect_error(&p, income, income_schema, 400, "unknown key \"inputs\"", "body: unknown key");

  pk_init(&p);
  msgpack_pack_map(&p.pk, 2);
  pk_str(&p, "margin");
  msgpack_pack_true(&p.pk);
  pk_str(&p, "margin");
  msgpack_pack_true(&p.pk);
  expect_error(&p, income, income_schema, 400, "\"margin\" appears twice", "body: duplicate key");

  pk_init(&p);
  msgpack_pack_map(&p.pk, 1);
  pk_str(&p, "margin");
  msgpack_pack_int(&p.pk, 1);
  expect_error(&p, income, income_schema, 400, "\"margin\": expected true or false, got an integer",
               "body: margin as an integer");

  pk_init(&p);
  msgpack_pack_map(&p.pk, 1);
  pk_str(&p, "labels");
  msgpack_pack_nil(&p.pk);
  expect_error(&p, income, income_schema, 400, "\"labels\": expected true or false, got nil",
               "body: labels nil");

  pk_init(&p);
  msgpack_pack_map(&p.pk, 1);
  msgpack_pack_bin_with_body(&p.pk, "rows", 4);
  expect_error(&p, income, income_schema, 400, "body: expected a string key, got a bin",
               "body: a bin key");

  pk_init(&p);
  msgpack_pack_array(&p.pk, 0);
  expect_error(&p, income, income_schema, 400, "body: expected a msgpack map, got an array",
               "body: an array");

  expect_error_bytes("", 0, income, income_schema, 1000, 400, "empty body", "body: empty");
  expect_error_bytes(NULL, 0, income, income_schema, 1000, 400, "empty body", "body: NULL");
  expect_error_bytes("garbage", 7, income, income_schema, 1000, 400,
                     "expected a msgpack map, got an integer", "body: text ('g' is a fixint)");
  expect_error_hex("c1", 400, "got the invalid byte 0xc1", "body: the reserved byte 0xc1");
  expect_error_hex("80 c0", 400, "1 bytes after the msgpack map",
                   "body: trailing byte after the map");

  /* Through the dispatcher in api/api.c. */
  pk_init(&p);
  msgpack_pack_map(&p.pk, 1);
  pk_str(&p, "rows");
  msgpack_pack_array(&p.pk, 1);
  pack_income_row(&p, 1);
  api_limits_t limits = {.max_rows = 10};
  api_request_t req;
  api_error_t err;
  int rc = api_decode_v1(p.sb.data, p.sb.size, api_format_from_header("application/msgpack", 19),
                         income, income_schema, &limits, &req, &err);
  CHECK(rc == 0 && req.nrows == 1 && rows_equal(req.rows, income_row_values[1], 14),
        "body: api_decode_v1 with Content-Type application/msgpack");
  api_request_free(&req);
  msgpack_sbuffer_destroy(&p.sb);
  api_body_t body;
  CHECK(api_encode_error("nope", API_MSGPACK, &body) == 0 && body.len == 12 &&
            memcmp(body.data,
                   "\x81\xa5"
                   "error"
                   "\xa4"
                   "nope",
                   12) == 0,
        "body: api_encode_error as msgpack is {\"error\": message}");
  api_body_free(&body);

  /* A valid body followed by a second object. */
  pk_init(&p);
  msgpack_pack_map(&p.pk, 1);
  pk_str(&p, "rows");
  msgpack_pack_array(&p.pk, 1);
  pack_income_row(&p, 0);
  msgpack_pack_map(&p.pk, 0);
  expect_error(&p, income, income_schema, 400,
               "1 bytes after the msgpack map: the body must be one object", "body: two objects");
}

/* The bodies from NOTES-deps.md and friends: counts that ask for gigabytes in a few bytes,
 * lengths past the end, deep nesting. None may allocate by the claimed size (ASan would
 * report a too-large allocation) and each must be a 400. */
static void test_hostile(void) {
  expect_error_hex("dd 10 00 00 00", 400, "expected a msgpack map, got an array",
                   "hostile: array32 of 2^28 in 5 bytes");
  expect_error_hex("dd ff ff ff ff", 400, "expected a msgpack map, got an array",
                   "hostile: array32 of 2^32-1");
  expect_error_hex("df ff ff ff ff", 400, "truncated msgpack", "hostile: map32 of 2^32-1");
  expect_error_hex("de ff ff", 400, "truncated msgpack", "hostile: map16 of 65535");
  expect_error_hex("df 00 00 00 01 a4 72 6f 77 73 dd ff ff ff ff", 400,
                   "\"rows\": truncated msgpack", "hostile: rows claims 2^32-1 rows");
  expect_error_hex("81 a4 72 6f 77 73 91 dd 7f ff ff ff", 400, "row 0: truncated msgpack",
                   "hostile: one row claims 2^31 values");
  expect_error_hex("81 a7 72 65 63 6f 72 64 73 dd 00 0f 42 40 80 80 80", 400,
                   "\"records\": truncated", "hostile: records claims a million, sends 3");
  expect_error_hex("81 a7 72 65 63 6f 72 64 73 91 df 7f ff ff ff", 400, "record 0: truncated",
                   "hostile: a record claims 2^31 entries");
  expect_error_hex("82 a5 73 68 61 70 65 92 01 0e a4 64 61 74 61 c6 ff ff ff ff 00", 400,
                   "\"data\": truncated msgpack", "hostile: a bin32 longer than the body");
  expect_error_hex("82 a5 73 68 61 70 65 92 01 0e a4 64 61 74 61 c5 00 38 00 00", 400,
                   "\"data\": truncated", "hostile: a bin16 longer than the body");
  expect_error_hex("81 db ff ff ff ff 61", 400, "body: truncated msgpack",
                   "hostile: str32 key past the end");
  expect_error_hex("81 d9 05 72 6f 77", 400, "body: truncated msgpack",
                   "hostile: str8 key past the end");
  expect_error_hex("81 a4 72 6f 77", 400, "truncated", "hostile: fixstr key past the end");
  expect_error_hex("81 a4 72 6f 77 73 91 9e cb 00 00", 400, "row 0: truncated",
                   "hostile: a row of 14 in 3 bytes");
  expect_error_hex_on(multi, NULL, "81 a4 72 6f 77 73 91 93 cb 00 00", 400,
                      "row 0, feature 'f0': truncated", "hostile: a float64 cut short");
  expect_error_hex_on(multi, NULL, "81 a4 72 6f 77 73 91 93 01 02 d1", 400,
                      "row 0, feature 'f2': truncated", "hostile: an int16 cut short");
  expect_error_hex("81 a4 72 6f 77 73 91 9e c0 d9 ff 41 41 41 41 41 41 41 41 41 41 41 41", 400,
                   "row 0, feature 'workclass': truncated",
                   "hostile: a category str8 past the end");
  expect_error_hex("81 a5 73 68 61 70 65 92 cf ff", 400, "\"shape\": truncated",
                   "hostile: a shape uint64 cut short");
  expect_error_hex_on(multi, NULL, "81 a4 72 6f 77 73 91 93 c7 01 01", 400,
                      "row 0, feature 'f0': expected a number or nil, got an extension",
                      "hostile: an ext value");

  /* 10000 nested arrays where a value should be: refused at the first, no recursion. */
  size_t depth = 10000, n = 0;
  uint8_t *deep = malloc(16 + depth);
  n += hex("81 a4 72 6f 77 73 91", deep);
  memset(deep + n, 0x91, depth);
  n += depth;
  deep[n++] = 0x01;
  expect_error_bytes(deep, n, income, income_schema, 1000, 400,
                     "row 0: 1 values, the model has 14 features", "hostile: 10000 nested arrays");
  n = hex("81 a4 72 6f 77 73 91 9e", deep);
  memset(deep + n, 0x91, depth);
  expect_error_bytes(deep, n + depth, income, income_schema, 1000, 400,
                     "row 0, feature 'age': expected a number or nil, got an array",
                     "hostile: nesting inside a row");
  n = hex("81 a7 72 65 63 6f 72 64 73", deep);
  memset(deep + n, 0x91, depth);
  expect_error_bytes(deep, n + depth, income, income_schema, 1000, 400, "record 0: expected a map",
                     "hostile: nested arrays as records");
  memset(deep, 0x81, depth); /* map of map of map ... */
  expect_error_bytes(deep, depth, income, income_schema, 1000, 400,
                     "body: expected a string key, got a map", "hostile: 10000 nested maps");
  free(deep);

  /* More rows claimed than the body can hold (2000 rows need at least 2000 x 15 bytes):
   * nothing is allocated by the count; the rows are read into a scratch row and the body
   * is refused where it breaks. */
  pack_t p;
  pk_init(&p);
  msgpack_pack_map(&p.pk, 1);
  pk_str(&p, "rows");
  msgpack_pack_array(&p.pk, 2000);
  for (int i = 0; i < 50; i++) pack_income_row(&p, 0);
  expect_error_bytes(p.sb.data, p.sb.size, income, income_schema, 0, 400,
                     "row 50: truncated msgpack", "hostile: 2000 rows claimed, 50 sent");
  msgpack_sbuffer_destroy(&p.sb);

  /* Every prefix of a valid body is refused as truncated; every body with one byte
   * replaced either decodes or is refused with a 4xx and a message. */
  pk_init(&p);
  msgpack_pack_map(&p.pk, 3);
  pk_str(&p, "margin");
  msgpack_pack_false(&p.pk);
  pk_str(&p, "records");
  msgpack_pack_array(&p.pk, 2);
  msgpack_pack_map(&p.pk, 2);
  pk_str(&p, "age");
  msgpack_pack_double(&p.pk, 30.0);
  pk_str(&p, "workclass");
  pk_str(&p, "Private");
  msgpack_pack_map(&p.pk, 1);
  pk_str(&p, "capital-gain");
  msgpack_pack_fix_uint32(&p.pk, 5000);
  pk_str(&p, "labels");
  msgpack_pack_true(&p.pk);
  const size_t full = p.sb.size;
  decoded_t d = decode(p.sb.data, full, income, income_schema, 1000);
  CHECK(d.rc == 0 && d.req.nrows == 2 && d.req.rows[1] == 3.0f && d.req.rows[14 + 10] == 5000.0f,
        "hostile: the body to be cut and mutated decodes");
  api_request_free(&d.req);
  int prefixes_ok = 1;
  for (size_t len = 0; len < full; len++) {
    decoded_t t = decode(p.sb.data, len, income, income_schema, 1000);
    if (t.rc != -1 || t.err.status != 400 || t.req.rows != NULL) {
      printf("# prefix of %zu bytes: rc %d status %d %s\n", len, t.rc, t.err.status, t.err.message);
      prefixes_ok = 0;
      if (t.rc == 0) api_request_free(&t.req);
    }
  }
  CHECK(prefixes_ok, "hostile: every prefix of a body is refused with 400");
  int mutants_ok = 1;
  static const uint8_t swaps[] = {0x00, 0x7f, 0x80, 0x8f, 0x9f, 0xc0, 0xc1, 0xc4, 0xc6, 0xca, 0xcb,
                                  0xcf, 0xd3, 0xd9, 0xdb, 0xdc, 0xdd, 0xde, 0xdf, 0xe0, 0xff};
  for (size_t i = 0; i < full; i++) {
    for (size_t k = 0; k < sizeof swaps; k++) {
      char *copy = malloc(full);
      memcpy(copy, p.sb.data, full);
      copy[i] = (char)swaps[k];
      decoded_t t = decode(copy, full, income, income_schema, 1000);
      if (t.rc == 0) {
        if (t.req.rows == NULL || t.req.nrows == 0 || t.req.num_features != 14) mutants_ok = 0;
        api_request_free(&t.req);
      } else if (t.rc != -1 || t.err.status < 400 || t.err.status > 499 ||
                 t.err.message[0] == '\0' || strlen(t.err.message) >= sizeof t.err.message ||
                 t.req.rows != NULL) {
        printf("# byte %zu = %02x: rc %d status %d %s\n", i, swaps[k], t.rc, t.err.status,
               t.err.message);
        mutants_ok = 0;
      }
      free(copy);
    }
  }
  CHECK(mutants_ok, "hostile: one byte replaced anywhere: a clean decode or a 4xx with a message");
  msgpack_sbuffer_destroy(&p.sb);
}

/* ------------------------------------------------------------------------- */
/* Encoding                                                                   */

typedef struct {
  msgpack_unpacked u;
  int ok;
  const msgpack_object *model, *predictions, *labels, *error;
  uint32_t nkeys;
} response_t;

static response_t parse_response(const api_body_t *body) {
  response_t r;
  memset(&r, 0, sizeof r);
  msgpack_unpacked_init(&r.u);
  size_t off = 0;
  if (msgpack_unpack_next(&r.u, body->data, body->len, &off) != MSGPACK_UNPACK_SUCCESS ||
      off != body->len || r.u.data.type != MSGPACK_OBJECT_MAP)
    return r;
  r.ok = 1;
  r.nkeys = r.u.data.via.map.size;
  for (uint32_t k = 0; k < r.nkeys; k++) {
    const msgpack_object_kv *kv = &r.u.data.via.map.ptr[k];
    if (kv->key.type != MSGPACK_OBJECT_STR) continue;
    const char *key = kv->key.via.str.ptr;
    size_t len = kv->key.via.str.size;
    if (len == 5 && memcmp(key, "model", 5) == 0) r.model = &kv->val;
    if (len == 11 && memcmp(key, "predictions", 11) == 0) r.predictions = &kv->val;
    if (len == 6 && memcmp(key, "labels", 6) == 0) r.labels = &kv->val;
    if (len == 5 && memcmp(key, "error", 5) == 0) r.error = &kv->val;
  }
  return r;
}

static int is_str(const msgpack_object *o, const char *s) {
  return o != NULL && o->type == MSGPACK_OBJECT_STR && o->via.str.size == strlen(s) &&
         memcmp(o->via.str.ptr, s, o->via.str.size) == 0;
}

/* The bin tensor {"shape", "data"} of a response: checks the shape, copies the floats. */
static int tensor_of(const msgpack_object *o, size_t n, uint32_t width, float *out) {
  if (o == NULL || o->type != MSGPACK_OBJECT_MAP || o->via.map.size != 2) return 0;
  const msgpack_object *shape = NULL, *data = NULL;
  for (uint32_t k = 0; k < 2; k++) {
    if (is_str(&o->via.map.ptr[k].key, "shape")) shape = &o->via.map.ptr[k].val;
    if (is_str(&o->via.map.ptr[k].key, "data")) data = &o->via.map.ptr[k].val;
  }
  if (shape == NULL || data == NULL || shape->type != MSGPACK_OBJECT_ARRAY ||
      data->type != MSGPACK_OBJECT_BIN)
    return 0;
  uint32_t dims = width == 1 ? 1 : 2;
  if (shape->via.array.size != dims || shape->via.array.ptr[0].via.u64 != n ||
      (dims == 2 && shape->via.array.ptr[1].via.u64 != width))
    return 0;
  if (data->via.bin.size != n * width * 4) return 0;
  memcpy(out, data->via.bin.ptr, data->via.bin.size);
  return 1;
}

static void test_encode(void) {
  /* Binary classifier, few rows: float32 arrays and the schema's labels. */
  float out[70];
  for (int i = 0; i < 70; i++) out[i] = (float)i / 70.0f;
  out[1] = 0.5f; /* not > 0.5: the negative class */
  out[2] = NAN;
  api_request_t req = {.nrows = 4, .num_features = 14, .labels = 1};
  api_body_t body;
  CHECK_EQ_INT(api_encode_v1("income", income, income_schema, &req, out, API_MSGPACK, &body), 0,
               "encode: binary");
  CHECK(body.content_type != NULL && strcmp(body.content_type, "application/msgpack") == 0,
        "encode: content type application/msgpack");
  CHECK_EQ_INT(body.inference_header_len, 0, "encode: no inference header");
  response_t r = parse_response(&body);
  CHECK(r.ok && r.nkeys == 3 && is_str(r.model, "income"),
        "encode: one map with model, predictions, labels");
  int ok = r.predictions && r.predictions->type == MSGPACK_OBJECT_ARRAY &&
           r.predictions->via.array.size == 4;
  for (uint32_t i = 0; ok && i < 4; i++) {
    const msgpack_object *v = &r.predictions->via.array.ptr[i];
    ok = v->type == MSGPACK_OBJECT_FLOAT32 && same_bits_or_nan((float)v->via.f64, out[i]);
  }
  CHECK(ok, "encode: predictions are float32 values");
  ok = r.labels && r.labels->type == MSGPACK_OBJECT_ARRAY && r.labels->via.array.size == 4 &&
       is_str(&r.labels->via.array.ptr[0], "<=50K") &&
       is_str(&r.labels->via.array.ptr[1], "<=50K") &&
       r.labels->via.array.ptr[2].type == MSGPACK_OBJECT_NIL;
  CHECK(ok, "encode: labels from the schema; p = 0.5 is negative; NaN is nil");
  msgpack_unpacked_destroy(&r.u);
  api_body_free(&body);

  out[0] = 0.9f;
  api_encode_v1("income", income, income_schema, &req, out, API_MSGPACK, &body);
  r = parse_response(&body);
  CHECK(r.ok && r.labels && is_str(&r.labels->via.array.ptr[0], ">50K"),
        "encode: p > 0.5 is positive");
  msgpack_unpacked_destroy(&r.u);
  api_body_free(&body);

  /* Margins: m > 0; no schema: class indices. */
  req.margin = 1;
  out[0] = -0.1f, out[1] = 0.1f, out[2] = 0.0f, out[3] = 3.0f;
  api_encode_v1("income", income, NULL, &req, out, API_MSGPACK, &body);
  r = parse_response(&body);
  ok = r.ok && r.labels && r.labels->via.array.size == 4;
  int64_t want_cls[4] = {0, 1, 0, 1};
  for (int i = 0; ok && i < 4; i++)
    ok = r.labels->via.array.ptr[i].type == MSGPACK_OBJECT_POSITIVE_INTEGER &&
         r.labels->via.array.ptr[i].via.i64 == want_cls[i];
  CHECK(ok, "encode: margins label by m > 0; without a schema labels are class indices");
  msgpack_unpacked_destroy(&r.u);
  api_body_free(&body);

  /* labels false: no labels key. */
  req.margin = 0;
  req.labels = 0;
  api_encode_v1(NULL, income, income_schema, &req, out, API_MSGPACK, &body);
  r = parse_response(&body);
  CHECK(r.ok && r.nkeys == 2 && r.labels == NULL && is_str(r.model, ""),
        "encode: labels false; NULL name is \"\"");
  msgpack_unpacked_destroy(&r.u);
  api_body_free(&body);

  /* 64 rows: a float32 bin with shape [n]. */
  for (int i = 0; i < 70; i++) out[i] = (float)i / 70.0f;
  req.labels = 1;
  req.nrows = 64;
  api_encode_v1("income", income, income_schema, &req, out, API_MSGPACK, &body);
  r = parse_response(&body);
  float back[70];
  CHECK(r.ok && tensor_of(r.predictions, 64, 1, back) && rows_equal(back, out, 64),
        "encode: 64 rows go out as {shape: [64], data: bin}");
  CHECK(r.labels && r.labels->via.array.size == 64 && is_str(&r.labels->via.array.ptr[63], ">50K"),
        "encode: labels stay an array beside the bin");
  msgpack_unpacked_destroy(&r.u);
  api_body_free(&body);

  req.nrows = 63;
  api_encode_v1("income", income, income_schema, &req, out, API_MSGPACK, &body);
  r = parse_response(&body);
  CHECK(r.ok && r.predictions && r.predictions->type == MSGPACK_OBJECT_ARRAY,
        "encode: 63 rows stay an array");
  msgpack_unpacked_destroy(&r.u);
  api_body_free(&body);

  /* A tensor request is answered with a tensor, however small. */
  req.nrows = 2;
  req.binary_output = 1;
  api_encode_v1("income", income, income_schema, &req, out, API_MSGPACK, &body);
  r = parse_response(&body);
  CHECK(r.ok && tensor_of(r.predictions, 2, 1, back) && rows_equal(back, out, 2),
        "encode: a tensor request gets a bin back");
  msgpack_unpacked_destroy(&r.u);
  api_body_free(&body);

  /* softprob: [n][3] arrays, argmax labels; with 22 rows (66 floats) a [22, 3] bin. */
  api_request_t mreq = {.nrows = 2, .num_features = 3, .labels = 1};
  float probs[66] = {0.2f, 0.5f, 0.3f, 0.6f, 0.3f, 0.1f};
  api_encode_v1("multi", multi, NULL, &mreq, probs, API_MSGPACK, &body);
  r = parse_response(&body);
  ok = r.ok && r.predictions && r.predictions->type == MSGPACK_OBJECT_ARRAY &&
       r.predictions->via.array.size == 2;
  for (uint32_t i = 0; ok && i < 2; i++) {
    const msgpack_object *row = &r.predictions->via.array.ptr[i];
    ok = row->type == MSGPACK_OBJECT_ARRAY && row->via.array.size == 3;
    for (uint32_t k = 0; ok && k < 3; k++)
      ok = row->via.array.ptr[k].type == MSGPACK_OBJECT_FLOAT32 &&
           (float)row->via.array.ptr[k].via.f64 == probs[i * 3 + k];
  }
  CHECK(ok, "encode: softprob predictions are rows of 3 float32");
  CHECK(r.labels && r.labels->via.array.size == 2 && r.labels->via.array.ptr[0].via.i64 == 1 &&
            r.labels->via.array.ptr[1].via.i64 == 0,
        "encode: softprob labels are the argmax");
  msgpack_unpacked_destroy(&r.u);
  api_body_free(&body);

  static char *abc[] = {"ant", "bee", "cat"};
  grove_schema_t labelled = {.labels = abc, .num_labels = 3};
  mreq.nrows = 22;
  api_encode_v1("multi", multi, &labelled, &mreq, probs, API_MSGPACK, &body);
  r = parse_response(&body);
  CHECK(r.ok && tensor_of(r.predictions, 22, 3, back) && rows_equal(back, probs, 66),
        "encode: 22 x 3 outputs go out as {shape: [22, 3], data: bin}");
  CHECK(r.labels && is_str(&r.labels->via.array.ptr[0], "bee") &&
            is_str(&r.labels->via.array.ptr[1], "ant"),
        "encode: multi-class labels from the schema");
  msgpack_unpacked_destroy(&r.u);
  api_body_free(&body);

  /* softmax: the output is the class index; out-of-range and NaN are nil. */
  float idx[4] = {2.0f, 0.0f, 7.0f, NAN};
  mreq.nrows = 4;
  api_encode_v1("softmax", softmax, &labelled, &mreq, idx, API_MSGPACK, &body);
  r = parse_response(&body);
  CHECK(r.ok && r.labels && r.labels->via.array.size == 4 &&
            is_str(&r.labels->via.array.ptr[0], "cat") &&
            is_str(&r.labels->via.array.ptr[1], "ant") &&
            r.labels->via.array.ptr[2].type == MSGPACK_OBJECT_NIL &&
            r.labels->via.array.ptr[3].type == MSGPACK_OBJECT_NIL,
        "encode: softmax labels index the labels; 7 and NaN are nil");
  msgpack_unpacked_destroy(&r.u);
  api_body_free(&body);

  /* Regression-like: the categorical fixture is binary, so use the margin width of softmax
   * (3 margins) for argmax over margins. */
  mreq.margin = 1;
  mreq.nrows = 1;
  float margins[3] = {-1.0f, 2.0f, 0.5f};
  api_encode_v1("softmax", softmax, NULL, &mreq, margins, API_MSGPACK, &body);
  r = parse_response(&body);
  CHECK(r.ok && r.labels && r.labels->via.array.ptr[0].via.i64 == 1 && r.predictions &&
            r.predictions->via.array.ptr[0].via.array.size == 3,
        "encode: softmax margins are 3 per row, labelled by argmax");
  msgpack_unpacked_destroy(&r.u);
  api_body_free(&body);

  /* Errors. */
  CHECK_EQ_INT(api__msgpack_encode_error("row 3: bad \"value\"", &body), 0, "encode: error body");
  r = parse_response(&body);
  CHECK(r.ok && r.nkeys == 1 && is_str(r.error, "row 3: bad \"value\"") &&
            strcmp(body.content_type, "application/msgpack") == 0,
        "encode: {\"error\": message}");
  msgpack_unpacked_destroy(&r.u);
  api_body_free(&body);
  api__msgpack_encode_error(NULL, &body);
  r = parse_response(&body);
  CHECK(r.ok && is_str(r.error, "error"), "encode: NULL message");
  msgpack_unpacked_destroy(&r.u);
  api_body_free(&body);
}

/* Decode a tensor, "predict", encode: the response decodes back to the same floats. */
static void test_round_trip(void) {
  enum { N = 100 };
  float *rows = malloc(N * 14 * sizeof *rows);
  grove_forest_synthesize_rows(income, N, 7, rows);
  pack_t p;
  pack_tensor_body(&p, N, 14, rows, N * 14 * 4, 0);
  decoded_t d = decode(p.sb.data, p.sb.size, income, income_schema, 1000);
  msgpack_sbuffer_destroy(&p.sb);
  CHECK(d.rc == 0 && rows_equal(d.req.rows, rows, N * 14),
        "round trip: 100 synthesized rows decode");
  float out[N], back[N];
  grove_error_t gerr;
  CHECK(d.rc == 0 && grove_forest_predict(income, d.req.rows, N, out, NULL, &gerr) == GROVE_OK,
        "round trip: predict");
  api_body_t body;
  CHECK(d.rc == 0 &&
            api_encode_v1("income", income, income_schema, &d.req, out, API_MSGPACK, &body) == 0,
        "round trip: encode");
  response_t r = parse_response(&body);
  CHECK(r.ok && tensor_of(r.predictions, N, 1, back) && rows_equal(back, out, N),
        "round trip: the predictions come back bit for bit");
  msgpack_unpacked_destroy(&r.u);
  api_body_free(&body);
  api_request_free(&d.req);
  free(rows);
}

/* ------------------------------------------------------------------------- */

static grove_forest_t *load_fixture(const char *name, const char *from, const char *to) {
  char path[512];
  snprintf(path, sizeof path, "%s/tests/fixtures/%s", GROVE_SOURCE_ROOT, name);
  size_t len;
  char *json = test_read_file(path, &len);
  char *at = from != NULL ? strstr(json, from) : NULL;
  if (at != NULL) { /* replace FROM with TO */
    size_t head = (size_t)(at - json), nfrom = strlen(from), nto = strlen(to);
    char *edited = malloc(len - nfrom + nto + 1);
    memcpy(edited, json, head);
    memcpy(edited + head, to, nto);
    memcpy(edited + head + nto, at + nfrom, len - head - nfrom + 1);
    free(json);
    json = edited;
    len = len - nfrom + nto;
  }
  grove_forest_t *f = NULL;
  grove_error_t err;
  if (grove_forest_load_buffer(json, len, name, &f, &err) != GROVE_OK) printf("# %s\n", err.msg);
  free(json);
  return f;
}

int main(void) {
  if (load_income(&income, &income_schema) != 0) return 1;
  multi = load_fixture("multi_softprob.json", NULL, NULL);
  softmax = load_fixture("multi_softprob.json", "multi:softprob", "multi:softmax");
  categorical = load_fixture("categorical.json", NULL, NULL);
  CHECK(income_schema != NULL && multi != NULL && softmax != NULL && categorical != NULL,
        "models load");
  if (multi == NULL || softmax == NULL || categorical == NULL || income_schema == NULL)
    return test_done();
  grove_forest_info_t info;
  grove_forest_get_info(softmax, &info);
  CHECK(info.transform == GROVE_TRANSFORM_ARGMAX && grove_forest_output_width(softmax, 0) == 1,
        "the softmax variant outputs one class index");

  test_rows();
  test_records();
  test_tensor();
  test_body();
  test_hostile();
  test_encode();
  test_round_trip();

  grove_forest_free(income);
  grove_forest_free(multi);
  grove_forest_free(softmax);
  grove_forest_free(categorical);
  grove_schema_free(income_schema);
  return test_done();
}
