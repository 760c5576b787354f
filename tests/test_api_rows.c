/* Per-row errors ("errors": "per_row") and the unknown-category choice
 * ("unknown_categories") in v1 JSON and msgpack: which rows fail, with what message, that
 * the others decode as they would alone, and the answers' nulls and "errors". */
#include <json-c/json.h>
#include <math.h>
#include <msgpack.h>
#include <stdlib.h>
#include <unistd.h>

#include "api.h"
#include "api_check.h"
#include "grove_engine.h"
#include "test.h"

static grove_forest_t *income;
static grove_schema_t *income_schema;

static result_t decode(const char *body, size_t len, api_format_t fmt) {
  result_t r;
  memset(&r, 0, sizeof r);
  api_limits_t limits = {0};
  r.rc = api_decode_v1(body, len, fmt, income, income_schema, &limits, &r.req, &r.err);
  return r;
}

static result_t json(const char *body) { return decode(body, strlen(body), API_JSON); }

/* The rows of a request of good records, decoded alone (the reference for the same rows
 * among bad ones). */
static int rows_equal(const float *a, const float *b, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (!(a[i] == b[i] || (isnan(a[i]) && isnan(b[i])))) return 0;
  return 1;
}

static const char GOOD0[] = "{\"age\": 39, \"workclass\": \"State-gov\", \"hours-per-week\": 40}";
static const char GOOD1[] = "{\"age\": 50, \"education\": \"Bachelors\", \"race\": \"White\"}";

static void test_json_records(void) {
  char body[2048];
  snprintf(body, sizeof body, "{\"records\": [%s, %s]}", GOOD0, GOOD1);
  result_t want = json(body);
  CHECK_EQ_INT(want.rc, 0, "the good records alone");

  snprintf(body, sizeof body,
           "{\"records\": [%s, {\"age\": \"old\", \"race\": \"White\"}, {\"workclass\": "
           "\"Spaceman\"}, {\"nope\": 1, \"age\": 2}, 7, %s], \"errors\": \"per_row\"}",
           GOOD0, GOOD1);
  result_t r = json(body);
  CHECK(r.rc == 0 && r.req.nrows == 6 && r.req.nbad == 4, "per_row: 6 rows, 4 of them bad");
  if (r.rc == 0 && want.rc == 0) {
    CHECK(r.req.row_errors[0] == NULL && r.req.row_errors[5] == NULL, "good rows have no error");
    CHECK(rows_equal(r.req.rows, want.req.rows, 14) &&
              rows_equal(r.req.rows + 5 * 14, want.req.rows + 14, 14),
          "good rows decode as they do alone");
    CHECK_CONTAINS(r.req.row_errors[1], "record 1, feature 'age': expected a number", "bad value");
    CHECK_CONTAINS(r.req.row_errors[2], "record 2, feature 'workclass': unknown category",
                   "unknown category");
    CHECK_CONTAINS(r.req.row_errors[3], "record 3: unknown feature \"nope\"", "unknown feature");
    CHECK_CONTAINS(r.req.row_errors[4], "record 4: expected an object", "not an object");
    int all_nan = 1;
    for (int j = 0; j < 14; j++) all_nan &= isnan(r.req.rows[1 * 14 + j]);
    CHECK(all_nan, "a bad row is left all missing, not half filled");
  }

  /* The default stays all or nothing, with the first bad row's message. */
  snprintf(body, sizeof body, "{\"records\": [%s, {\"age\": \"old\"}, {\"workclass\": \"X\"}]}",
           GOOD0);
  result_t d = json(body);
  check_refused(&d, 400, "record 1, feature 'age': expected a number",
                "default: one bad row refuses");
  snprintf(body, sizeof body, "{\"errors\": \"request\", \"records\": [{\"age\": \"old\"}]}");
  d = json(body);
  check_refused(&d, 400, "record 0", "\"errors\": \"request\" is the default");

  /* Structural errors still refuse the request whatever the mode. */
  d = json("{\"errors\": \"per_row\", \"records\": [{\"age\": 1}, {\"age\": ]}");
  check_refused(&d, 400, "not valid JSON", "malformed JSON is not a row's error");
  d = json("{\"errors\": \"every\", \"records\": [{}]}");
  check_refused(&d, 400, "\"errors\" must be \"request\" or \"per_row\"", "bad errors value");
  d = json("{\"errors\": true, \"records\": [{}]}");
  check_refused(&d, 400, "\"errors\" must be", "errors must be a string");
  api_request_free(&want.req);
  api_request_free(&r.req);
}

static void test_json_rows(void) {
  result_t r = json(
      "{\"errors\": \"per_row\", \"rows\": [[1, 2, 3], [39, 7, 77516, 9, 13, 4, 1, "
      "1, 4, 1, 2174, 0, 40, 38], [39, 7, 77516, 9, 13, 4, 1, 1, 4, 1, 2174, 0, "
      "\"x\", 38], null]}");
  CHECK(r.rc == 0 && r.req.nbad == 3, "rows: 3 of 4 bad");
  if (r.rc == 0) {
    CHECK_CONTAINS(r.req.row_errors[0], "row 0: 3 values, the model has 14", "short row");
    CHECK(r.req.row_errors[1] == NULL && r.req.rows[14] == 39.0f, "a good row is kept");
    CHECK_CONTAINS(r.req.row_errors[2], "row 2, feature 'hours-per-week'", "bad value in a row");
    CHECK_CONTAINS(r.req.row_errors[3], "row 3: expected an array", "null row");
  }
  api_request_free(&r.req);
}

static void test_unknown_categories(void) {
  result_t r = json(
      "{\"unknown_categories\": \"missing\", \"records\": [{\"workclass\": "
      "\"Spaceman\", \"age\": 30}]}");
  CHECK(r.rc == 0 && isnan(r.req.rows[1]) && r.req.rows[0] == 30.0f,
        "unknown_categories: missing leaves the value missing, keeps the rest");
  api_request_free(&r.req);
  r = json("{\"records\": [{\"workclass\": \"Spaceman\"}], \"unknown_categories\": \"refuse\"}");
  check_refused(&r, 400, "unknown category \"Spaceman\"", "refuse is the default, named");
  r = json("{\"unknown_categories\": \"missing\", \"records\": [{\"workclass\": 99}]}");
  CHECK(r.rc == 0 && r.req.rows[1] == 99.0f, "a number is a code, not an unknown string");
  api_request_free(&r.req);
}

/* The schema's "missing" tokens and "unknown_categories" default. */
static void test_schema_choices(void) {
  result_t r = json("{\"records\": [{\"workclass\": \"?\", \"age\": \"?\", \"race\": \"White\"}]}");
  CHECK(r.rc == 0 && isnan(r.req.rows[0]) && isnan(r.req.rows[1]) && !isnan(r.req.rows[8]),
        "the income schema's \"?\" is missing, in categorical and numeric features");
  api_request_free(&r.req);
  r = json(
      "{\"rows\": [[\"?\", \"?\", 1, \"?\", 1, \"?\", \"?\", \"?\", \"?\", \"?\", 0, 0, 40, "
      "\"?\"]]}");
  CHECK(r.rc == 0 && isnan(r.req.rows[13]) && r.req.rows[12] == 40.0f, "and in rows");
  api_request_free(&r.req);

  income_schema->unknown_missing = 1;
  r = json("{\"records\": [{\"workclass\": \"Spaceman\"}]}");
  CHECK(r.rc == 0 && isnan(r.req.rows[1]),
        "the schema's unknown_categories: missing is the default");
  api_request_free(&r.req);
  r = json("{\"unknown_categories\": \"refuse\", \"records\": [{\"workclass\": \"Spaceman\"}]}");
  check_refused(&r, 400, "unknown category", "a request may still refuse");
  income_schema->unknown_missing = 0;

  /* Parsing them. */
  char path[] = "/tmp/grove-schema-XXXXXX";
  int fd = mkstemp(path);
  const char *text =
      "{\"missing\": [\"?\", \"n/a\"], \"unknown_categories\": \"missing\", "
      "\"features\": [{\"name\": \"a\", \"missing\": [\"-1\"]}, {\"name\": \"b\"}]}";
  int wrote = fd >= 0 && write(fd, text, strlen(text)) == (ssize_t)strlen(text);
  if (fd >= 0) close(fd);
  grove_schema_t *s = NULL;
  grove_error_t err;
  CHECK(wrote && grove_schema_load_file(path, &s, &err) == GROVE_OK,
        "a schema with missing tokens loads");
  if (s != NULL) {
    CHECK(s->unknown_missing == 1 && grove_schema_is_missing(s, 1, "n/a", 3) &&
              grove_schema_is_missing(s, 0, "-1", 2) && !grove_schema_is_missing(s, 1, "-1", 2) &&
              !grove_schema_is_missing(s, 0, "?x", 2),
          "tokens: the whole schema's and a feature's own");
    grove_schema_free(s);
  }
  FILE *fp = fopen(path, "w");
  if (fp != NULL) {
    fputs("{\"unknown_categories\": \"ignore\", \"features\": []}", fp);
    fclose(fp);
  }
  CHECK(grove_schema_load_file(path, &s, &err) == GROVE_EPARSE &&
            strstr(err.msg, "\"unknown_categories\" must be \"refuse\" or \"missing\"") != NULL,
        "a bad unknown_categories is refused at load");
  fp = fopen(path, "w");
  if (fp != NULL) {
    fputs("{\"missing\": \"?\", \"features\": []}", fp);
    fclose(fp);
  }
  CHECK(grove_schema_load_file(path, &s, &err) == GROVE_EPARSE &&
            strstr(err.msg, "\"missing\" must be an array of strings") != NULL,
        "missing must be an array");
  unlink(path);
}

/* msgpack: the options may come after the rows (a Python dict keeps insertion order). */
static void test_msgpack(void) {
  msgpack_sbuffer sb;
  msgpack_sbuffer_init(&sb);
  msgpack_packer pk;
  msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
  msgpack_pack_map(&pk, 3);
  msgpack_pack_str_with_body(&pk, "records", 7);
  msgpack_pack_array(&pk, 4);
  msgpack_pack_map(&pk, 1); /* good */
  msgpack_pack_str_with_body(&pk, "age", 3);
  msgpack_pack_int(&pk, 39);
  msgpack_pack_map(&pk, 2); /* a bad value, then one more pair to skip */
  msgpack_pack_str_with_body(&pk, "age", 3);
  msgpack_pack_map(&pk, 1);
  msgpack_pack_str_with_body(&pk, "deep", 4);
  msgpack_pack_array(&pk, 2);
  msgpack_pack_int(&pk, 1);
  msgpack_pack_str_with_body(&pk, "x", 1);
  msgpack_pack_str_with_body(&pk, "race", 4);
  msgpack_pack_str_with_body(&pk, "White", 5);
  msgpack_pack_map(&pk, 1); /* unknown category: missing by the option below */
  msgpack_pack_str_with_body(&pk, "workclass", 9);
  msgpack_pack_str_with_body(&pk, "Spaceman", 8);
  msgpack_pack_array(&pk, 1); /* not a map */
  msgpack_pack_nil(&pk);
  msgpack_pack_str_with_body(&pk, "errors", 6);
  msgpack_pack_str_with_body(&pk, "per_row", 7);
  msgpack_pack_str_with_body(&pk, "unknown_categories", 18);
  msgpack_pack_str_with_body(&pk, "missing", 7);
  result_t r = decode(sb.data, sb.size, API_MSGPACK);
  CHECK(r.rc == 0 && r.req.nrows == 4 && r.req.nbad == 2, "msgpack records: options after rows");
  if (r.rc == 0) {
    CHECK(r.req.row_errors[0] == NULL && r.req.rows[0] == 39.0f, "msgpack good record");
    CHECK_CONTAINS(r.req.row_errors[1], "record 1, feature 'age': expected a number",
                   "msgpack bad value");
    CHECK(r.req.row_errors[2] == NULL && isnan(r.req.rows[2 * 14 + 1]),
          "msgpack unknown category as missing");
    CHECK_CONTAINS(r.req.row_errors[3], "record 3: expected a map", "msgpack record not a map");
  }

  /* The answer: nil predictions and labels, and "errors". */
  const float out[4] = {0.25f, 0.5f, 0.75f, 0.9f};
  api_body_t b;
  CHECK_EQ_INT(api_encode_v1("income", income, income_schema, &r.req, out, API_MSGPACK, &b), 0,
               "encode msgpack with bad rows");
  msgpack_unpacked u;
  msgpack_unpacked_init(&u);
  int ok = msgpack_unpack_next(&u, b.data, b.len, NULL) == MSGPACK_UNPACK_SUCCESS &&
           u.data.type == MSGPACK_OBJECT_MAP;
  int saw_errors = 0;
  for (uint32_t i = 0; ok && i < u.data.via.map.size; i++) {
    msgpack_object_kv *kv = &u.data.via.map.ptr[i];
    if (kv->key.via.str.size == 6 && memcmp(kv->key.via.str.ptr, "errors", 6) == 0) {
      msgpack_object_array *e = &kv->val.via.array;
      saw_errors = e->size == 4 && e->ptr[0].type == MSGPACK_OBJECT_NIL &&
                   e->ptr[1].type == MSGPACK_OBJECT_STR && e->ptr[2].type == MSGPACK_OBJECT_NIL;
    }
    if (kv->key.via.str.size == 11 && memcmp(kv->key.via.str.ptr, "predictions", 11) == 0)
      ok &= kv->val.via.array.size == 4 && kv->val.via.array.ptr[1].type == MSGPACK_OBJECT_NIL &&
            kv->val.via.array.ptr[2].type != MSGPACK_OBJECT_NIL;
  }
  CHECK(ok && saw_errors, "msgpack answer: nil for bad rows, \"errors\" aligned with rows");
  msgpack_unpacked_destroy(&u);
  api_body_free(&b);
  api_request_free(&r.req);

  msgpack_sbuffer_destroy(&sb);

  /* A truncated body is no row's error. */
  msgpack_sbuffer_init(&sb);
  msgpack_pack_map(&pk, 2);
  msgpack_pack_str_with_body(&pk, "errors", 6);
  msgpack_pack_str_with_body(&pk, "per_row", 7);
  msgpack_pack_str_with_body(&pk, "records", 7);
  msgpack_pack_array(&pk, 2);
  msgpack_pack_map(&pk, 1);
  msgpack_pack_str_with_body(&pk, "age", 3);
  msgpack_pack_str_with_body(&pk, "x", 1);
  msgpack_pack_map(&pk, 1);
  msgpack_pack_str_with_body(&pk, "age", 3);
  r = decode(sb.data, sb.size, API_MSGPACK);
  check_refused(&r, 400, "truncated", "truncation refuses the request, even per row");
  msgpack_sbuffer_destroy(&sb);
}

static void test_json_answer(void) {
  result_t r = json("{\"errors\": \"per_row\", \"records\": [{\"age\": 39}, {\"age\": \"x\"}]}");
  const float out[2] = {0.75f, 0.5f};
  api_body_t b;
  CHECK_EQ_INT(api_encode_v1("income", income, income_schema, &r.req, out, API_JSON, &b), 0,
               "encode JSON with a bad row");
  json_object *o = parse_body(&b, b.len);
  json_object *p = get(o, "predictions"), *l = get(o, "labels"), *e = get(o, "errors");
  CHECK(same_float(at(p, 0), 0.75f) && at(p, 1) == NULL && strcmp(str(at(l, 0)), ">50K") == 0 &&
            at(l, 1) == NULL,
        "null prediction and label for the bad row");
  CHECK(json_object_array_length(e) == 2 && at(e, 0) == NULL &&
            strstr(str(at(e, 1)), "expected a number") != NULL,
        "\"errors\": one entry per row");
  json_object_put(o);
  api_body_free(&b);
  api_request_free(&r.req);

  r = json("{\"records\": [{\"age\": 39}]}");
  api_encode_v1("income", income, income_schema, &r.req, out, API_JSON, &b);
  o = parse_body(&b, b.len);
  CHECK(get(o, "errors") == NULL, "no \"errors\" unless asked for");
  json_object_put(o);
  api_body_free(&b);
  api_request_free(&r.req);
}

int main(void) {
  if (load_income(&income, &income_schema) != 0) return 1;
  test_json_records();
  test_json_rows();
  test_unknown_categories();
  test_schema_choices();
  test_msgpack();
  test_json_answer();
  grove_forest_free(income);
  grove_schema_free(income_schema);
  return test_done();
}
