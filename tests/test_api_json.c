/* The JSON API: v1 rows/records requests, every refusal, and the responses parsed back with
 * json-c (OIP v2: test_api_oip.c). */
#include <json-c/json.h>
#include <math.h>
#include <stdlib.h>

#include "api.h"
#include "api_check.h"
#include "buf.h"
#include "codecs.h"
#include "grove_engine.h"
#include "test.h"

static grove_forest_t *income, *multi, *named, *cat;
static grove_schema_t *income_schema;

static result_t v1(const grove_forest_t *f, const grove_schema_t *s, size_t max_rows,
                   const char *body) {
  result_t r;
  memset(&r, 0, sizeof r);
  api_limits_t limits = {.max_rows = max_rows};
  r.rc = api_decode_v1(body, strlen(body), API_JSON, f, s, &limits, &r.req, &r.err);
  if (r.rc == 0 && r.err.message[0] != '\0')
    printf("# unexpected message on success: %s\n", r.err.message);
  return r;
}

static void v1_error(const grove_forest_t *f, const grove_schema_t *s, const char *body, int status,
                     const char *needle, const char *what) {
  result_t r = v1(f, s, 0, body);
  check_refused(&r, status, needle, what);
}

static int all_nan(const float *p, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (!isnan(p[i])) return 0;
  return 1;
}

/* ------------------------------------------------------------------------- */

static void test_format_header(void) {
  const char *cases[][2] = {
      {"application/msgpack", "m"},
      {"application/x-msgpack", "m"},
      {"Application/MsgPack; charset=x", "m"},
      {"application/vnd.msgpack", "m"},
      {"  application/msgpack ;q=1", "m"},
      {"text/plain, application/msgpack", "m"},
      {"text/html, application/msgpack", "h"},
      {"text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8", "h"},
      {"application/x-www-form-urlencoded", "f"},
      {"multipart/form-data; boundary=----x", "p"},
      {"application/json", "j"},
      {"application/json, application/msgpack", "j"},
      {"application/msgpackx", "j"},
      {"", "j"},
      {"*/*", "j"},
      {"application/json; charset=utf-8", "j"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    const char k = cases[i][1][0];
    api_format_t want = k == 'm'   ? API_MSGPACK
                        : k == 'h' ? API_HTML
                        : k == 'f' ? API_FORM
                        : k == 'p' ? API_MULTIPART
                                   : API_JSON;
    char what[128];
    snprintf(what, sizeof what, "format of \"%s\"", cases[i][0]);
    CHECK_EQ_INT(api_format_from_header(cases[i][0], strlen(cases[i][0])), want, what);
  }
  CHECK_EQ_INT(api_format_from_header(NULL, 0), API_JSON, "NULL header is JSON");
  CHECK_EQ_INT(api_format_from_header("application/msgpack", 11), API_JSON,
               "only LEN bytes are read");
}

static void test_v1_rows(void) {
  result_t r = v1(named, NULL, 0,
                  "{\"rows\": [[1, 2.5, null, -0.1], [1e-50, 16777217, 3.4028234e38, 0]], "
                  "\"margin\": true, \"labels\": false}");
  CHECK_EQ_INT(r.rc, 0, "rows decode");
  CHECK_EQ_INT(r.req.nrows, 2, "two rows");
  CHECK_EQ_INT(r.req.num_features, 4, "four features");
  CHECK(r.req.margin == 1 && r.req.labels == 0, "margin and labels options");
  if (r.rc == 0) {
    const float *x = r.req.rows;
    CHECK(x[0] == 1.0f && x[1] == 2.5f && isnan(x[2]) && x[3] == (float)-0.1,
          "row 0 values, null is NaN");
    CHECK(x[4] == 0.0f && x[5] == 16777216.0f && x[6] == 3.4028234e38f && x[7] == 0.0f,
          "underflow to 0, ints rounded once to float32, FLT_MAX kept");
  }
  api_request_free(&r.req);

  r = v1(named, NULL, 0, "{\"rows\": [[0.1, 0.2, 0.3, 0.7]]}");
  CHECK(r.rc == 0 && r.req.margin == 0 && r.req.labels == 1, "defaults: margin off, labels on");
  if (r.rc == 0)
    CHECK(r.req.rows[0] == 0.1f && r.req.rows[3] == 0.7f, "decimal -> double -> float, as numpy");
  api_request_free(&r.req);

  r = v1(income, income_schema, 0,
         "{\"rows\": [[39, \"State-gov\", 77516, 9, 13, null, null, null, null, 1, 0, 0, 40, "
         "\"Cuba\"]]}");
  CHECK_EQ_INT(r.rc, 0, "rows may name categories when there is a schema");
  if (r.rc == 0) {
    CHECK(r.req.rows[1] == 6.0f && r.req.rows[3] == 9.0f && r.req.rows[9] == 1.0f,
          "codes and strings");
    CHECK(r.req.rows[13] == 4.0f, "native-country Cuba = 4");
  }
  api_request_free(&r.req);
}

static void test_v1_records(void) {
  result_t r = v1(income, income_schema, 0,
                  "{\"records\": [{\"age\": 39, \"workclass\": \"State-gov\", \"education\": null, "
                  "\"gender\": \"Male\", \"race\": 4, \"hours-per-week\": 40.5}, {}]}");
  CHECK_EQ_INT(r.rc, 0, "records decode");
  CHECK_EQ_INT(r.req.nrows, 2, "two records");
  if (r.rc == 0) {
    const float *x = r.req.rows;
    CHECK(x[0] == 39.0f, "age lands in slot 0");
    CHECK(x[1] == 6.0f, "workclass State-gov = code 6 in slot 1");
    CHECK(isnan(x[3]), "null education is missing");
    CHECK(x[9] == 1.0f, "gender Male = 1 in slot 9");
    CHECK(x[8] == 4.0f, "race given as an integer code");
    CHECK(x[12] == 40.5f, "hours-per-week in slot 12");
    CHECK(isnan(x[2]) && isnan(x[4]) && isnan(x[13]), "absent features are missing");
    CHECK(all_nan(x + 14, 14), "an empty record is all missing");
  }
  api_request_free(&r.req);

  r = v1(multi, NULL, 0, "{\"records\": [{\"f2\": 1.5, \"f0\": -2}]}");
  CHECK_EQ_INT(r.rc, 0, "unnamed model: f0..fN keys");
  if (r.rc == 0)
    CHECK(r.req.rows[0] == -2.0f && isnan(r.req.rows[1]) && r.req.rows[2] == 1.5f, "f-keys land");
  api_request_free(&r.req);

  r = v1(named, NULL, 0, "{\"records\": [{\"gamma\": 7, \"alpha\": 1}]}");
  CHECK_EQ_INT(r.rc, 0, "named model without schema");
  if (r.rc == 0)
    CHECK(r.req.rows[2] == 7.0f && r.req.rows[0] == 1.0f && isnan(r.req.rows[1]), "names land");
  api_request_free(&r.req);

  r = v1(cat, NULL, 0, "{\"records\": [{\"colour\": 3, \"size\": 0.5}]}");
  CHECK_EQ_INT(r.rc, 0, "categorical without schema: integer codes");
  if (r.rc == 0) CHECK(r.req.rows[0] == 3.0f && r.req.rows[1] == 0.5f, "code and number");
  api_request_free(&r.req);
}

static void test_v1_errors(void) {
  v1_error(named, NULL, "", 400, "empty body", "empty body");
  v1_error(named, NULL, " \n\t", 400, "empty body", "whitespace body");
  v1_error(named, NULL, "[1]", 400, "expected a JSON object", "top level array");
  v1_error(named, NULL, "{\"rows\": [[1, 2, 3, 4],]}", 400, "not valid JSON", "trailing comma");
  v1_error(named, NULL, "{\"rows\": [[1, 2, 3, 4]]", 400, "ends in the middle", "truncated body");
  v1_error(named, NULL, "{\"rows\": [[1, 2, 3, 4]]} x", 400, "not valid JSON", "trailing garbage");
  v1_error(named, NULL, "{\"rows\": [[1, 2, 3, 4]]}{}", 400, "not valid JSON", "two objects");
  v1_error(named, NULL, "{\"rows\": 'x'}", 400, "not valid JSON", "single-quoted string");
  v1_error(named, NULL, "{\"rows\": [[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]}", 400, "nesting",
           "too deep");
  v1_error(named, NULL, "{\"records\": [{\"\xff\": 1}]}", 400, "not valid JSON", "invalid UTF-8");
  v1_error(named, NULL, "{\"rows\": [[NaN, 2, 3, 4]]}", 400, "row 0, feature 'alpha': NaN",
           "NaN refused");
  v1_error(named, NULL, "{\"rows\": [[1, Infinity, 3, 4]]}", 400,
           "row 0, feature 'beta': value out of float32 range", "Infinity refused");
  v1_error(named, NULL, "{\"rows\": [[1, 2, 3, 4], [1, 2, -1e39, 4]]}", 400,
           "row 1, feature 'gamma': value out of float32 range", "beyond float32");
  v1_error(named, NULL, "{\"rows\": [[1, 2, 3, 1e400]]}", 400,
           "row 0, feature 'delta': value out of float32 range", "beyond double");
  v1_error(named, NULL, "{\"rows\": [[1, 2, 3, 99999999999999999999]]}", 400,
           "row 0, feature 'delta': integer out", "integer beyond 64 bits");
  v1_error(named, NULL, "{\"rows\": [[1, 2, 3, 4], [1, 2, 3]]}", 400,
           "row 1: 3 values, the model has 4 features", "short row");
  v1_error(named, NULL, "{\"rows\": [[1, 2, 3, 4, 5]]}", 400, "row 0: 5 values", "long row");
  v1_error(named, NULL, "{\"rows\": [1, 2]}", 400, "row 0: expected an array",
           "row is not an array");
  v1_error(named, NULL, "{\"rows\": [[1, true, 3, 4]]}", 400,
           "row 0, feature 'beta': expected a number or null", "boolean value");
  v1_error(named, NULL, "{\"rows\": [[1, [2], 3, 4]]}", 400,
           "row 0, feature 'beta': expected a number", "array value");
  v1_error(named, NULL, "{\"rows\": [[1, \"2\", 3, 4]]}", 400,
           "row 0, feature 'beta': expected a number, got the string",
           "string for a numeric feature");
  v1_error(income, income_schema, "{\"records\": [{\"age\": \"old\"}]}", 400,
           "record 0, feature 'age': expected a number, got the string \"old\"",
           "string for numeric (schema)");
  v1_error(multi, NULL, "{\"rows\": [[1, 2, {}]]}", 400, "row 0, feature 'f2'",
           "unnamed features are f<i>");
  v1_error(income, income_schema, "{\"records\": [{\"age\": 1}, {\"bogus\": 1}]}", 400,
           "record 1: unknown feature \"bogus\" (features: 'age', 'workclass'", "unknown key");
  v1_error(multi, NULL, "{\"records\": [{\"f3\": 1}]}", 400, "unknown feature \"f3\"",
           "f-index out of range");
  v1_error(multi, NULL, "{\"records\": [{\"f01\": 1}]}", 400, "unknown feature \"f01\"",
           "leading zero");
  v1_error(named, NULL, "{\"records\": [{\"f0\": 1}]}", 400, "unknown feature \"f0\"",
           "named model: no f-keys");
  v1_error(income, income_schema, "{\"records\": [{\"workclass\": \"Martian\"}]}", 400,
           "record 0, feature 'workclass': unknown category \"Martian\" (known: \"Federal-gov\", "
           "\"Local-gov\"",
           "unknown category names valid ones");
  v1_error(income, income_schema, "{\"records\": [{\"native-country\": \"Atlantis\"}]}", 400,
           ", ...)", "long category lists are cut");
  v1_error(cat, NULL, "{\"records\": [{\"colour\": \"red\"}]}", 400,
           "record 0, feature 'colour': category strings need a schema",
           "category string without schema");
  /* A number for a categorical feature is a code, as XGBoost and LightGBM take it: codes past
   * the schema's categories, negative or fractional ones reach the trees (which send them to
   * the side of "not in the set"). */
  const struct {
    const grove_forest_t *f;
    const grove_schema_t *s;
    const char *body;
    uint32_t j;
    float want;
    const char *what;
  } codes[] = {
      {income, income_schema, "{\"records\": [{\"workclass\": 8}]}", 1, 8.0f,
       "code beyond the schema"},
      {income, income_schema, "{\"records\": [{\"workclass\": -1}]}", 1, -1.0f, "negative code"},
      {cat, NULL, "{\"records\": [{\"colour\": 1.5}]}", 0, 1.5f, "fractional code"},
      {cat, NULL, "{\"records\": [{\"colour\": 16777216}]}", 0, 16777216.0f, "code past 2^24"},
  };
  for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++) {
    result_t c = v1(codes[i].f, codes[i].s, 0, codes[i].body);
    CHECK(c.rc == 0 && c.req.rows[codes[i].j] == codes[i].want, codes[i].what);
    api_request_free(&c.req);
  }
  v1_error(cat, NULL, "{\"records\": [{\"colour\": 1e39}]}", 400,
           "a category code must be a finite", "code past float32");
  v1_error(named, NULL, "{\"rows\": [[1, 2, 3, 4]], \"margin\": 1}", 400,
           "\"margin\" must be true or false", "margin not a boolean");
  v1_error(named, NULL, "{\"rows\": [[1, 2, 3, 4]], \"labels\": \"no\"}", 400,
           "\"labels\" must be true or false", "labels not a boolean");
  v1_error(named, NULL, "{\"rows\": []}", 400, "no rows", "no rows");
  v1_error(named, NULL, "{\"records\": []}", 400, "no rows", "no records");
  v1_error(named, NULL, "{}", 400, "expected {\"rows\": [[number|null, ...], ...]}",
           "neither rows nor records");
  v1_error(named, NULL, "{\"margin\": true}", 400, "\"records\"", "only options");
  v1_error(named, NULL, "{\"rows\": [[1, 2, 3, 4]], \"records\": [{}]}", 400, "not both", "both");
  v1_error(named, NULL, "{\"row\": [[1, 2, 3, 4]]}", 400, "unknown key \"row\"",
           "unknown top-level key");
  v1_error(named, NULL, "{\"rows\": {}}", 400, "\"rows\" must be an array", "rows not an array");
  v1_error(named, NULL, "{\"records\": [[1, 2, 3, 4]]}", 400, "record 0: expected an object",
           "record not an object");
  v1_error(named, NULL, "{\"records\": 5}", 400, "\"records\" must be an array",
           "records not an array");

  result_t r = v1(named, NULL, 2, "{\"rows\": [[1, 2, 3, 4], [1, 2, 3, 4], [1, 2, 3, 4]]}");
  check_refused(&r, 413, "3 rows in one request; the limit is 2", "too many rows");
  r = v1(named, NULL, 2, "{\"records\": [{}, {}]}");
  CHECK(r.rc == 0 && r.req.nrows == 2, "exactly max_rows is fine");
  api_request_free(&r.req);

  /* Messages stay short even when they quote long user strings. */
  char body[2048], key[600];
  memset(key, 'k', sizeof key - 1);
  key[sizeof key - 1] = '\0';
  snprintf(body, sizeof body, "{\"records\": [{\"%s\": 1}]}", key);
  v1_error(income, income_schema, body, 400, "unknown feature \"kkkk", "a long unknown key is cut");
  snprintf(body, sizeof body, "{\"records\": [{\"workclass\": \"%s\"}]}", key);
  v1_error(income, income_schema, body, 400, "unknown category \"kkkk", "a long category is cut");

  result_t m = {0};
  api_limits_t lim = {0};
  m.rc = api_decode_v1("\x81\xa4rows\x90", 7, API_MSGPACK, named, NULL, &lim, &m.req, &m.err);
  CHECK(m.rc == -1 && m.err.status >= 400, "msgpack bodies go to the msgpack decoder");
  api_request_free(&m.req);
}

/* ------------------------------------------------------------------------- */

static void test_encode_v1(void) {
  api_request_t req = {.nrows = 3, .labels = 1};
  api_body_t b;
  const float out[3] = {0.2f, 0.70000005f, 0.5f};
  CHECK_EQ_INT(api_encode_v1("income", income, income_schema, &req, out, API_JSON, &b), 0,
               "encode binary");
  CHECK(b.content_type && strcmp(b.content_type, "application/json") == 0, "content type");
  CHECK(b.inference_header_len == 0, "no inference header");
  json_object *o = parse_body(&b, b.len);
  CHECK(o != NULL, "v1 response parses");
  CHECK(strcmp(str(get(o, "model")), "income") == 0, "model name");
  json_object *p = get(o, "predictions"), *l = get(o, "labels");
  CHECK(
      same_float(at(p, 0), 0.2f) && same_float(at(p, 1), 0.70000005f) && same_float(at(p, 2), 0.5f),
      "predictions round-trip float32");
  CHECK(strcmp(str(at(l, 0)), "<=50K") == 0 && strcmp(str(at(l, 1)), ">50K") == 0 &&
            strcmp(str(at(l, 2)), "<=50K") == 0,
        "labels from the schema, p > 0.5");
  json_object_put(o);
  api_body_free(&b);

  req.margin = 1;
  const float m[3] = {-1.0f, 2.0f, 0.0f};
  api_encode_v1("income", income, income_schema, &req, m, API_JSON, &b);
  o = parse_body(&b, b.len);
  l = get(o, "labels");
  CHECK(strcmp(str(at(l, 0)), "<=50K") == 0 && strcmp(str(at(l, 1)), ">50K") == 0 &&
            strcmp(str(at(l, 2)), "<=50K") == 0,
        "margin labels: m > 0");
  json_object_put(o);
  api_body_free(&b);

  req.margin = 0;
  req.labels = 0;
  api_encode_v1("income", income, income_schema, &req, out, API_JSON, &b);
  o = parse_body(&b, b.len);
  CHECK(o != NULL && get(o, "labels") == NULL, "labels: false leaves them out");
  json_object_put(o);
  api_body_free(&b);

  req.labels = 1;
  const float odd[3] = {NAN, INFINITY, -INFINITY};
  api_encode_v1("b\"l\\\n\x01\xff", named, NULL, &req, odd, API_JSON, &b);
  o = parse_body(&b, b.len);
  CHECK(o != NULL, "escaped name and non-finite values parse");
  CHECK(strcmp(str(get(o, "model")), "b\"l\\\n\x01\xEF\xBF\xBD") == 0,
        "name escaped, bad UTF-8 replaced");
  p = get(o, "predictions");
  CHECK(json_object_is_type(at(p, 0), json_type_null), "NaN is null");
  CHECK(isinf(json_object_get_double(at(p, 1))) && json_object_get_double(at(p, 2)) < 0,
        "inf is 1e999");
  l = get(o, "labels");
  CHECK(json_object_is_type(at(l, 0), json_type_null) && is_int(at(l, 1), 1) && is_int(at(l, 2), 0),
        "no schema: class indices, null for NaN");
  json_object_put(o);
  api_body_free(&b);

  /* multi-class softprob: K numbers per row, argmax labels */
  req.nrows = 2;
  const float probs[6] = {0.1f, 0.7f, 0.2f, 0.5f, 0.2f, 0.3f};
  api_encode_v1("multi", multi, NULL, &req, probs, API_JSON, &b);
  o = parse_body(&b, b.len);
  p = get(o, "predictions");
  l = get(o, "labels");
  CHECK(json_object_array_length(at(p, 0)) == 3 && same_float(at(at(p, 1), 2), 0.3f),
        "K numbers per row");
  CHECK(is_int(at(l, 0), 1) && is_int(at(l, 1), 0), "argmax labels");
  json_object_put(o);
  api_body_free(&b);

  char *names[3] = {"setosa", "versicolor", "virginica"};
  grove_schema_t labelled = {.labels = names, .num_labels = 3};
  api_encode_v1("multi", multi, &labelled, &req, probs, API_JSON, &b);
  o = parse_body(&b, b.len);
  l = get(o, "labels");
  CHECK(strcmp(str(at(l, 0)), "versicolor") == 0 && strcmp(str(at(l, 1)), "setosa") == 0,
        "schema class labels");
  json_object_put(o);
  api_body_free(&b);

  /* a regression-like model has no labels: the named fixture is binary, so check via ranking-free
   * path */
  float many[1000];
  for (int i = 0; i < 1000; i++) many[i] = (float)i / 7.0f;
  req.nrows = 1000;
  api_encode_v1("named", named, NULL, &req, many, API_JSON, &b);
  o = parse_body(&b, b.len);
  p = get(o, "predictions");
  int exact = json_object_array_length(p) == 1000;
  for (int i = 0; i < 1000 && exact; i++) exact = same_float(at(p, (size_t)i), many[i]);
  CHECK(exact, "1000 predictions round-trip exactly");
  json_object_put(o);
  api_body_free(&b);

  CHECK_EQ_INT(api_encode_error("bad \"thing\"\n", API_JSON, &b), 0, "encode error");
  o = parse_body(&b, b.len);
  CHECK(strcmp(str(get(o, "error")), "bad \"thing\"\n") == 0, "error message escaped");
  CHECK(strcmp(b.content_type, "application/json") == 0, "error content type");
  json_object_put(o);
  api_body_free(&b);
  api_body_free(&b);
  CHECK(b.data == NULL, "api_body_free twice is safe");
}

static void test_metadata(void) {
  api_model_meta_t meta = {.name = "income",
                           .path = "/models/income",
                           .loaded_at = 1700000000.5,
                           .load_seconds = 0.25,
                           .reloads = 3};
  api_body_t b;
  CHECK_EQ_INT(api_encode_model_v1(&meta, income, income_schema, &b), 0, "model v1");
  json_object *o = parse_body(&b, b.len);
  CHECK(o != NULL, "model v1 parses");
  CHECK(strcmp(str(get(o, "name")), "income") == 0 && strcmp(str(get(o, "task")), "binary") == 0,
        "name, task");
  CHECK(strcmp(str(get(o, "objective")), "binary:logistic") == 0 &&
            strcmp(str(get(o, "format")), "xgboost-json") == 0,
        "objective, format");
  CHECK(is_int(get(o, "num_features"), 14) && is_int(get(o, "trees"), 300) &&
            is_int(get(o, "num_outputs"), 1),
        "counts");
  CHECK(get(o, "max_depth") && get(o, "leaves") && get(o, "memory_bytes") && get(o, "isa") &&
            get(o, "kernel"),
        "engine facts");
  CHECK(json_object_get_double(get(o, "loaded_at")) == 1700000000.5, "loaded_at");
  CHECK(strcmp(str(at(get(o, "classes"), 1)), ">50K") == 0, "classes from schema labels");
  json_object *s = get(o, "schema"), *f0 = at(get(s, "features"), 0),
              *f1 = at(get(s, "features"), 1);
  CHECK(strncmp(str(get(s, "description")), "Predicts whether", 16) == 0, "schema description");
  CHECK(strcmp(str(at(get(s, "labels"), 0)), "<=50K") == 0, "schema labels");
  CHECK(strcmp(str(get(f0, "name")), "age") == 0 && json_object_get_double(get(f0, "min")) == 17 &&
            json_object_get_double(get(f0, "max")) == 90 &&
            json_object_get_double(get(f0, "step")) == 1,
        "numeric feature with range");
  CHECK(strcmp(str(get(f0, "description")), "Age in years.") == 0, "feature description");
  CHECK(strcmp(str(get(f1, "type")), "categorical") == 0 &&
            strcmp(str(at(get(f1, "categories"), 0)), "Federal-gov") == 0,
        "categorical feature with categories");
  CHECK(get(f1, "min") == NULL, "absent min left out");
  json_object_put(o);
  api_body_free(&b);

  meta.name = "multi";
  api_encode_model_v1(&meta, multi, NULL, &b);
  o = parse_body(&b, b.len);
  s = get(o, "schema");
  f0 = at(get(s, "features"), 2);
  CHECK(strcmp(str(get(f0, "name")), "f2") == 0 && strcmp(str(get(f0, "type")), "numeric") == 0,
        "generated schema");
  CHECK(is_int(get(o, "classes"), 3) && strcmp(str(get(o, "task")), "multiclass") == 0,
        "classes = 3");
  json_object_put(o);
  api_body_free(&b);

  meta.name = "named";
  api_encode_model_v1(&meta, named, NULL, &b);
  o = parse_body(&b, b.len);
  f0 = at(get(get(o, "schema"), "features"), 2);
  CHECK(strcmp(str(get(f0, "name")), "gamma") == 0 && strcmp(str(get(f0, "type")), "integer") == 0,
        "generated schema: names and integer type");
  json_object_put(o);
  api_body_free(&b);

  /* A regression model's classes are null (json-c's null object is NULL: once an "out of
   * memory" for the whole answer). */
  grove_forest_t *regression = load("tests/fixtures/dart.json");
  meta.name = "dart";
  CHECK_EQ_INT(api_encode_model_v1(&meta, regression, NULL, &b), 0,
               "model v1 of a regression model");
  o = parse_body(&b, b.len);
  CHECK(o != NULL && json_object_object_get_ex(o, "classes", NULL) && get(o, "classes") == NULL &&
            strcmp(str(get(o, "task")), "regression") == 0,
        "regression: \"classes\": null");
  json_object_put(o);
  api_body_free(&b);
  CHECK_EQ_INT(api_encode_model_info(regression, NULL, &b), 0, "grove info of a regression model");
  o = parse_body(&b, b.len);
  CHECK(o != NULL && is_int(get(o, "num_class"), 0) && is_int(get(o, "num_features"), 3) &&
            json_object_get_boolean(get(o, "schema")) == 0,
        "grove info: num_class 0, num_features, schema false");
  json_object_put(o);
  api_body_free(&b);

  api_model_meta_t metas[3] = {{.name = "income"}, {.name = "multi"}, {.name = "dart"}};
  const grove_forest_t *forests[3] = {income, multi, regression};
  CHECK_EQ_INT(api_encode_models_v1(metas, forests, 3, &b), 0,
               "models v1, a regression model among them");
  o = parse_body(&b, b.len);
  json_object *ms = get(o, "models");
  CHECK(json_object_array_length(ms) == 3 && strcmp(str(get(at(ms, 1), "name")), "multi") == 0,
        "three models");
  CHECK(get(at(ms, 0), "schema") == NULL && is_int(get(at(ms, 0), "num_features"), 14),
        "no schema in the list");
  json_object_put(o);
  api_body_free(&b);
  grove_forest_free(regression);

  CHECK_EQ_INT(api_encode_models_v1(NULL, NULL, 0, &b), 0, "no models");
  CHECK(b.len == strlen("{\"models\":[]}") && memcmp(b.data, "{\"models\":[]}", b.len) == 0,
        "empty list");
  api_body_free(&b);
}

/* Decoded rows predicted and encoded: the sample row of the income model. */
static void test_end_to_end(void) {
  result_t r =
      v1(income, income_schema, 0,
         "{\"records\": [{\"age\": 27, \"fnlwgt\": 181284, \"education\": \"12th\", "
         "\"educational-num\": 8, "
         "\"marital-status\": \"Married-civ-spouse\", \"relationship\": \"Husband\", \"race\": "
         "\"Black\", "
         "\"gender\": \"Male\", \"capital-gain\": 0, \"capital-loss\": 0, \"hours-per-week\": 45, "
         "\"native-country\": \"United-States\"}]}");
  CHECK_EQ_INT(r.rc, 0, "sample.csv row 1 as a record");
  if (r.rc != 0) return;
  float p;
  grove_error_t err;
  CHECK_EQ_INT(grove_forest_predict(income, r.req.rows, 1, &p, NULL, &err), GROVE_OK, "predict");
  CHECK(fabsf(p - 0.0951776952f) < 2e-6f, "matches sample_expected.csv");
  api_body_t b;
  api_encode_v1("income", income, income_schema, &r.req, &p, API_JSON, &b);
  json_object *o = parse_body(&b, b.len);
  CHECK(strcmp(str(at(get(o, "labels"), 0)), "<=50K") == 0, "label <=50K");
  json_object_put(o);
  api_body_free(&b);
  api_request_free(&r.req);
  api_request_free(&r.req);
  CHECK(r.req.rows == NULL, "api_request_free twice is safe");
}

/*
 * The pull reader against json-c, an independent strict reader: what json-c refuses as JSON
 * is refused as "not valid JSON" (and the reverse), and on the bodies both take the rows are
 * what json-c's values give, bit for bit: integers rounded once to float32, others through
 * a double; the `cat` model's feature 0 takes category codes.
 */
static json_object *strict_parse(const char *body, size_t len) {
  json_tokener *tok = json_tokener_new_ex(16);
  json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
  json_object *o = json_tokener_parse_ex(tok, body, (int)len);
  int ok = o != NULL && json_tokener_get_error(tok) == json_tokener_success;
  for (size_t k = json_tokener_get_parse_end(tok); ok && k < len; k++)
    ok = body[k] == ' ' || body[k] == '\n' || body[k] == '\t' || body[k] == '\r';
  json_tokener_free(tok);
  if (!ok) json_object_put(o);
  return ok ? o : NULL;
}

/* json-c's reading of one value for feature J of `cat`: 1 with *OUT, or -1 when refused. */
static int oracle_value(json_object *v, uint32_t j, float *out) {
  if (v == NULL) return *out = NAN, 1;
  double d;
  if (json_object_is_type(v, json_type_int)) {
    int64_t i = json_object_get_int64(v);
    if (i == INT64_MIN || i == INT64_MAX) return -1; /* json-c clamps out-of-range integers */
    d = (double)(float)i;
  } else if (json_object_is_type(v, json_type_double)) {
    d = json_object_get_double(v);
  } else {
    return -1;
  }
  float f = (float)d;
  if (isnan(d) || isinf(f)) return -1;
  return *out = f, 1;
}

/* The rows json-c makes of BODY for `cat`: 1 with ROWS / *N, 0 when json-c refuses the JSON,
 * -1 when the JSON is fine but the request is not. */
static int oracle_rows(const char *body, float *rows, size_t cap, size_t *n) {
  json_object *o = strict_parse(body, strlen(body)), *list = NULL;
  if (o == NULL) return 0;
  int rc = json_object_is_type(o, json_type_object) ? 1 : -1;
  if (rc == 1) {
    json_object_object_foreach(o, key, val) {
      if (strcmp(key, "rows") == 0)
        list = val;
      else if (strcmp(key, "margin") != 0 && strcmp(key, "labels") != 0)
        rc = -1;
      else if (!json_object_is_type(val, json_type_boolean))
        rc = -1;
    }
  }
  if (rc == 1 && (list == NULL || !json_object_is_type(list, json_type_array) ||
                  json_object_array_length(list) == 0 || json_object_array_length(list) > cap))
    rc = -1;
  *n = rc == 1 ? json_object_array_length(list) : 0;
  for (size_t r = 0; rc == 1 && r < *n; r++) {
    json_object *row = json_object_array_get_idx(list, r);
    if (!json_object_is_type(row, json_type_array) || json_object_array_length(row) != 2) rc = -1;
    for (uint32_t j = 0; rc == 1 && j < 2; j++)
      rc = oracle_value(json_object_array_get_idx(row, j), j, &rows[r * 2 + j]);
  }
  json_object_put(o);
  return rc;
}

/* Where json-c is laxer than RFC 8259 and grove is not: code points past U+10FFFF and
 * overlong UTF-8, and numbers such as "00", "-01", "-.2" (json-c takes these, though it
 * refuses "01"). */
static int json_c_laxer(const char *message) {
  return strstr(message, "not UTF-8") != NULL || strstr(message, "malformed number") != NULL;
}

/* BODY through the decoder against json-c; returns 1 when they agree. */
static int agrees_with_json_c(const char *body, int *both_took) {
  float want[64];
  size_t n;
  int oracle = oracle_rows(body, want, 32, &n);
  api_limits_t limits = {.max_rows = 32};
  result_t got;
  memset(&got, 0xab, sizeof got);
  got.rc = api_decode_v1(body, strlen(body), API_JSON, cat, NULL, &limits, &got.req, &got.err);
  int syntax = got.rc != 0 &&
               (strstr(got.err.message, "not valid JSON") || strstr(got.err.message, "empty body"));
  if (syntax && oracle != 0 && json_c_laxer(got.err.message)) oracle = 0;
  int ok = oracle == 0  ? syntax
           : oracle < 0 ? got.rc != 0 && !syntax && got.err.status >= 400 && got.err.status < 500
                        : got.rc == 0 && got.req.nrows == n &&
                              memcmp(got.req.rows, want, n * 2 * sizeof(float)) == 0;
  if (!ok)
    printf("#   body %s: json-c %d, decoder rc %d (%s)\n", body, oracle, got.rc,
           got.rc ? got.err.message : "");
  *both_took = oracle == 1 && got.rc == 0;
  api_request_free(&got.req);
  return ok;
}

static void test_v1_against_json_c(void) {
  static const char *const cases[] = {
      "{\"rows\": [[1, 2.5]]}",
      " {\"rows\":[[0,0],[1,-0],[2,-0.0],[3,1e-50],[4,1E+2],[0,123456789012345678]]} \n",
      "{\"rows\": [[null, null], [1, 0.1], [2, 3.4028235e38], [3, -16777217]]}",
      "{\"margin\": true, \"rows\": [[1, 2]], \"labels\": false}",
      "{\r\n\t\"rows\" : [ [ 1 , 2 ] , [ 3 , 4 ] ] ,\"margin\":false}",
      "{\"rows\": [[1.5, 2]]}",
      "{\"rows\": [[1, 3.5e38]]}",
      "{\"rows\": [[1, 1234567890123456789]]}",
      "{\"rows\": [[1, 2, 3]]}",
      "{\"rows\": [[1]]}",
      "{\"rows\": []}",
      "{\"rows\": [[1, 2]], \"extra\": 1}",
      "{\"rows\": [[1, \"2\"]]}",
      "{\"rows\": [[01, 2]]}",
      "{\"rows\": [[1., 2]]}",
      "{\"rows\": [[1, .5]]}",
      "{\"rows\": [[1, 2]]",
      "{\"rows\": [[1, 2]]} x",
      "{\"ro\\u0077s\": [[1, 2]]}",
      "{\"rows\": [[1, 2]], \"margin\": 1}",
      "{\"rows\": [[1, NaN]]}",
      "{\"rows\": [[1, -]]}",
      "{\"rows\": [[1, 2e]]}",
      "[[1, 2]]",
      "",
      "{\"rows\": [[1, 2],]}",
      "{\"rows\": [[1, 2]],}",
      "{\"rows\" [[1, 2]]}",
      "{\"rows\": [[1 2]]}",
      "{rows: [[1, 2]]}",
      "{\"rows\": [[1, 2]]}\n{}",
      "{\"rows\": [[1, \"\\x\"]]}",
      "{\"rows\": [[1, tru]]}",
      "{\"rows\": [[1, nul]]}",
      "{\"rows\": [[1, \"a\tb\"]]}",
      "{\"rows\": [[1, 1e999]]}",
      "{\"rows\": [[1, -1e999]]}",
      "{\"rows\": [[99999999999999999999, 2]]}",
      "{\"rows\": [[1, 2]], \"rows\": [[3, 4]]}",
  };
  char what[200];
  int took;
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    snprintf(what, sizeof what, "json-c agrees: case %zu", i);
    if (i ==
        sizeof cases / sizeof cases[0] - 1) { /* duplicates: json-c's last wins, grove refuses */
      result_t r = v1(cat, NULL, 0, cases[i]);
      check_refused(&r, 400, "\"rows\" appears twice", "a duplicate \"rows\" is refused");
      continue;
    }
    CHECK(agrees_with_json_c(cases[i], &took), what);
  }
  /* Random bodies of numbers in many spellings, and the same with one byte changed: the
   * decoder and json-c take the same ones, and give the same rows. */
  static const char *const spellings[] = {"0",       "-0",   "7",        "-13",    "0.25",
                                          "-1.5e-3", "2E5",  "1e-45",    "3.0e38", "123456789",
                                          "0.1",     "null", "16777217", "-2.5E+1"};
  static const char mutations[] = "0123456789-+.eE,[]{}\" :ntfaul\\";
  int agree = 1, accepted = 0, mutated_taken = 0;
  char body[1024];
  uint64_t state = 12345;
  for (int k = 0; k < 4000 && agree; k++) {
    size_t len = (size_t)snprintf(body, sizeof body, "{\"rows\": [");
    int rows = 1 + (int)(state % 3);
    for (int r = 0; r < rows; r++) {
      state = state * 6364136223846793005ull + 1442695040888963407ull;
      const char *a = spellings[(state >> 33) % 3]; /* colour: small codes or null */
      const char *b = spellings[(state >> 40) % (sizeof spellings / sizeof spellings[0])];
      len += (size_t)snprintf(body + len, sizeof body - len, "%s[%s,%s]", r ? "," : "", a, b);
    }
    len += (size_t)snprintf(body + len, sizeof body - len, "]}");
    if (k % 2) { /* change, insert or delete one byte */
      state = state * 6364136223846793005ull + 1442695040888963407ull;
      size_t at = (state >> 20) % len;
      char c = mutations[(state >> 40) % (sizeof mutations - 1)];
      int op = (int)((state >> 50) % 3);
      if (op == 0)
        body[at] = c;
      else if (op == 1)
        memmove(body + at + 1, body + at, len - at + 1), body[at] = c;
      else
        memmove(body + at, body + at + 1, len - at);
    }
    agree = agrees_with_json_c(body, &took);
    accepted += took && k % 2 == 0;
    mutated_taken += took && k % 2;
  }
  printf("# %d of 2000 plain bodies and %d of 2000 mutated ones taken by both\n", accepted,
         mutated_taken);
  CHECK(agree && accepted > 1000 && mutated_taken > 50,
        "4000 random and mutated bodies: the pull reader and json-c agree on every one");
}

/* Hostile shapes cost no more than their rows: a body of many empty records or rows is
 * refused at the row limit before anything is allocated, whatever its size. */
static void test_v1_hostile_shapes(void) {
  size_t n = 300000;
  char *body = malloc(3 * n + 32);
  size_t len = (size_t)sprintf(body, "{\"records\":[");
  for (size_t i = 0; i < n; i++) memcpy(body + len, i ? ",{}" : "{}", i ? 3 : 2), len += i ? 3 : 2;
  len += (size_t)sprintf(body + len, "]}");
  api_limits_t limits = {.max_rows = 1000};
  result_t r;
  r.rc = api_decode_v1(body, len, API_JSON, income, income_schema, &limits, &r.req, &r.err);
  check_refused(&r, 413, "300000 rows in one request; the limit is 1000",
                "300k empty records: 413 with the count");
  memcpy(body, "{\"rows\"   :[", 12);
  for (size_t i = 12; i < len - 2; i++)
    if (body[i] == '{')
      body[i] = '[';
    else if (body[i] == '}')
      body[i] = ']';
  r.rc = api_decode_v1(body, len, API_JSON, income, income_schema, &limits, &r.req, &r.err);
  check_refused(&r, 413, "300000 rows in one request", "300k empty rows: 413 with the count");
  free(body);
}

/* Whether api_buf_json_float(V) writes what printf's "%.9g" does; prints the first miss. */
static int float_text_matches(float v, int *shown) {
  api_buf_t b = {0};
  char want[64];
  api_buf_json_float(&b, v);
  snprintf(want, sizeof want, "%.9g", (double)v);
  int same = !b.failed && b.len == strlen(want) && memcmp(b.data, want, b.len) == 0;
  if (!same && (*shown)++ < 5)
    printf("# float %a: wrote \"%.*s\", printf writes \"%s\"\n", (double)v, (int)b.len,
           b.data ? b.data : "", want);
  free(b.data);
  return same;
}

/* The hand-written float output (api.c) against printf, on every class of float. */
static void test_float_text(void) {
  int shown = 0;
  size_t bad = 0, n = 0;
  /* Every binade (subnormals too), both signs, mantissas at its ends and in between. */
  uint64_t rng = 0x9e3779b97f4a7c15ull;
  for (uint32_t sign = 0; sign < 2; sign++)
    for (uint32_t e = 0; e < 255; e++)
      for (int k = 0; k < 64; k++) {
        rng = rng * 6364136223846793005ull + 1442695040888963407ull;
        uint32_t frac = k == 0 ? 0 : k == 1 ? 1 : k == 2 ? 0x7fffff : (uint32_t)(rng >> 41);
        uint32_t bits = sign << 31 | e << 23 | frac;
        float v;
        memcpy(&v, &bits, sizeof v);
        bad += !float_text_matches(v, &shown);
        n++;
      }
  /* Both sides of every power of ten and of values that round to one, and halfway-prone
   * short decimals. */
  for (int p = -45; p <= 38; p++) {
    float t = (float)pow(10.0, p);
    float near[] = {t,
                    nextafterf(t, 0),
                    nextafterf(t, INFINITY),
                    (float)(pow(10.0, p) * 0.9999999995),
                    (float)(pow(10.0, p) * 1.25),
                    (float)(pow(10.0, p) * 0.5)};
    for (size_t i = 0; i < sizeof near / sizeof *near; i++, n++)
      bad += !float_text_matches(near[i], &shown);
  }
  for (int i = 0; i <= 100000; i++, n++) bad += !float_text_matches((float)i / 100000.0f, &shown);
  /* And random bit patterns. */
  for (int i = 0; i < 2000000; i++) {
    rng = rng * 6364136223846793005ull + 1442695040888963407ull;
    uint32_t bits = (uint32_t)(rng >> 32);
    float v;
    memcpy(&v, &bits, sizeof v);
    if (isnan(v) || isinf(v)) continue;
    bad += !float_text_matches(v, &shown);
    n++;
  }
  printf("# %zu floats, %zu differ from %%.9g\n", n, bad);
  CHECK(bad == 0, "JSON float output writes exactly what printf's %.9g does, on every float class");
}

int main(void) {
  if (load_income(&income, &income_schema) != 0) return 1;
  multi = load("tests/fixtures/multi_softprob.json");
  named = load("tests/fixtures/binary_logistic.json");
  cat = load("tests/fixtures/categorical.json");
  if (fixtures_loaded(multi != NULL && named != NULL && cat != NULL) != 0) return 1;
  test_format_header();
  test_v1_rows();
  test_v1_records();
  test_v1_errors();
  test_v1_against_json_c();
  test_v1_hostile_shapes();
  test_encode_v1();
  test_metadata();
  test_end_to_end();
  test_float_text();
  grove_forest_free(income);
  grove_forest_free(multi);
  grove_forest_free(named);
  grove_forest_free(cat);
  grove_schema_free(income_schema);
  return test_done();
}
