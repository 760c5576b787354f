/* Forms posted by browsers (urlencoded and multipart, as Chromium and Firefox encode them)
 * read as the same record sent as JSON, every refusal, and the HTML answer page. */
#include <math.h>
#include <stdlib.h>

#include "api.h"
#include "api_check.h"
#include "grove_engine.h"
#include "test.h"

static grove_forest_t *income;
static grove_schema_t *income_schema;

/* The tutorial's form: its 12 fields (no fnlwgt, no educational-num). */
static const char TUTORIAL_JSON[] =
    "{\"records\": [{\"age\": 39, \"workclass\": \"State-gov\", \"education\": \"Bachelors\", "
    "\"marital-status\": \"Never-married\", \"occupation\": \"Adm-clerical\", \"relationship\": "
    "\"Not-in-family\", \"race\": \"White\", \"gender\": \"Male\", \"capital-gain\": 2174, "
    "\"capital-loss\": 0, \"hours-per-week\": 40, \"native-country\": \"United-States\"}]}";
static const char TUTORIAL_FORM[] =
    "age=39&workclass=State-gov&education=Bachelors&marital-status=Never-married&occupation=Adm-"
    "clerical&relationship=Not-in-family&race=White&gender=Male&capital-gain=2174&capital-loss=0&"
    "hours-per-week=40&native-country=United-States";

static result_t form(const char *body, size_t len, const char *ctype) {
  result_t r;
  memset(&r, 0, sizeof r);
  api_limits_t limits = {0};
  r.rc = api_decode_form(body, len, ctype, strlen(ctype), income, income_schema, &limits, &r.req,
                         &r.err);
  return r;
}

static const char URLENCODED[] = "application/x-www-form-urlencoded";

static void url_error(const char *body, const char *needle, const char *what) {
  result_t r = form(body, strlen(body), URLENCODED);
  check_refused(&r, 400, needle, what);
}

static void test_urlencoded(void) {
  result_t want;
  memset(&want, 0, sizeof want);
  api_limits_t limits = {0};
  want.rc = api_decode_v1(TUTORIAL_JSON, strlen(TUTORIAL_JSON), API_JSON, income, income_schema,
                          &limits, &want.req, &want.err);
  result_t r = form(TUTORIAL_FORM, strlen(TUTORIAL_FORM), URLENCODED);
  CHECK(r.rc == 0 && want.rc == 0 && r.req.nrows == 1 &&
            memcmp(r.req.rows, want.req.rows, 14 * sizeof(float)) == 0 && isnan(r.req.rows[2]),
        "the tutorial's 12 fields read as the same record in JSON (fnlwgt missing)");
  api_request_free(&r.req);

  /* A browser's encoding: '+' for spaces, %XX for the rest, fields in any order, empty =
   * missing, an empty pair skipped. */
  const char *enc = "native-country=United%2DStates&&age=%33%39&capital-gain=&workclass=State-gov";
  r = form(enc, strlen(enc), "application/x-www-form-urlencoded; charset=UTF-8");
  CHECK(r.rc == 0 && r.req.rows[0] == 39.0f && isnan(r.req.rows[10]) &&
            r.req.rows[13] == want.req.rows[13] && r.req.rows[1] == want.req.rows[1],
        "percent escapes, any order, empty value missing");
  api_request_free(&r.req);
  api_request_free(&want.req);

  url_error("age=39&salary=3", "unknown form field \"salary\" (features: 'age', ", "unknown field");
  url_error("age=39&age=40", "form field \"age\" is given twice", "a field twice");
  url_error("age=3%4", "a % escape must be %XX", "broken escape");
  url_error("age=old", "feature 'age': expected a number, got the string \"old\"", "not a number");
  url_error("workclass=Spaceman", "feature 'workclass': unknown category \"Spaceman\"",
            "unknown category");
  url_error("race=%FF", "form field value is not UTF-8 text", "not UTF-8");
  url_error("age=1e999", "feature 'age': value out of float32 range", "an infinity");
  result_t e = form("", 0, URLENCODED);
  check_refused(&e, 400, "empty form", "an empty form");
}

static void test_multipart(void) {
  /* As Chromium sends it: ----WebKitFormBoundary..., CRLF lines. */
  const char *ctype = "multipart/form-data; boundary=----WebKitFormBoundaryq8dgaGYnsRkmz5jT";
  const char *body =
      "------WebKitFormBoundaryq8dgaGYnsRkmz5jT\r\n"
      "Content-Disposition: form-data; name=\"age\"\r\n\r\n39\r\n"
      "------WebKitFormBoundaryq8dgaGYnsRkmz5jT\r\n"
      "Content-Disposition: form-data; name=\"workclass\"\r\n\r\nState-gov\r\n"
      "------WebKitFormBoundaryq8dgaGYnsRkmz5jT\r\n"
      "Content-Disposition: form-data; name=\"native-country\"\r\nContent-Type: text/plain\r\n\r\n"
      "United-States\r\n"
      "------WebKitFormBoundaryq8dgaGYnsRkmz5jT--\r\n";
  result_t r = form(body, strlen(body), ctype);
  const char *u = "age=39&workclass=State-gov&native-country=United-States";
  result_t w = form(u, strlen(u), URLENCODED);
  CHECK(r.rc == 0 && w.rc == 0 && memcmp(r.req.rows, w.req.rows, 14 * sizeof(float)) == 0,
        "multipart reads as the same urlencoded form");
  api_request_free(&r.req);
  api_request_free(&w.req);

  const char *quoted = "multipart/form-data; boundary=\"b b\"";
  const char *b2 =
      "preamble\r\n--b b\r\nContent-Disposition: form-data; name=age\r\n\r\n41\r\n--b b--";
  r = form(b2, strlen(b2), quoted);
  CHECK(r.rc == 0 && r.req.rows[0] == 41.0f, "quoted boundary, preamble, unquoted name");
  api_request_free(&r.req);

  const char *file =
      "--x\r\nContent-Disposition: form-data; name=\"data\"; "
      "filename=\"a.csv\"\r\n\r\n1,2\r\n--x--";
  r = form(file, strlen(file), "multipart/form-data; boundary=x");
  check_refused(&r, 400, "a file in a form post is not read", "file parts refused");
  const char *cut = "--x\r\nContent-Disposition: form-data; name=\"age\"\r\n\r\n39";
  r = form(cut, strlen(cut), "multipart/form-data; boundary=x");
  check_refused(&r, 400, "cut short", "a part without its closing boundary");
  r = form(cut, strlen(cut), "multipart/form-data");
  check_refused(&r, 400, "without a boundary", "no boundary parameter");
  const char *noname = "--x\r\nContent-Type: text/plain\r\n\r\n39\r\n--x--";
  r = form(noname, strlen(noname), "multipart/form-data; boundary=x");
  check_refused(&r, 400, "without Content-Disposition", "a part without a name");
}

static void test_html(void) {
  result_t r = form("age=39", 6, URLENCODED);
  const float out[1] = {0.75f};
  api_body_t b;
  CHECK_EQ_INT(api_encode_v1("income<&>", income, income_schema, &r.req, out, API_HTML, &b), 0,
               "HTML answer");
  CHECK(strncmp(b.content_type, "text/html", 9) == 0, "text/html");
  CHECK_CONTAINS(b.data, "<strong id=\"label\">&gt;50K</strong>", "the label, escaped");
  CHECK_CONTAINS(b.data, "<span id=\"prediction\">0.75</span>", "the probability");
  CHECK_CONTAINS(b.data, "<title>income&lt;&amp;&gt;</title>", "the model name, escaped");
  api_body_free(&b);
  api_request_free(&r.req);
  CHECK_EQ_INT(api_encode_error("bad <script>", API_HTML, &b), 0, "HTML error page");
  CHECK_CONTAINS(b.data, "<p id=\"error\">bad &lt;script&gt;</p>", "the message, escaped");
  api_body_free(&b);
}

int main(void) {
  if (load_income(&income, &income_schema) != 0) return 1;
  test_urlencoded();
  test_multipart();
  test_html();
  grove_forest_free(income);
  grove_schema_free(income_schema);
  return test_done();
}
