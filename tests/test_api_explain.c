/*
 * Explanations in the API (#16): "explain" / "leaves" in v1 JSON, msgpack and form requests
 * and the OIP "contributions" / "leaves" outputs; the checks made once a request is decoded
 * (a model that cannot be explained: 422; too many values: 413); and the answers parsed back
 * against the engine's own grove_forest_contribs / grove_forest_leaves on the decoded rows.
 */
#include <json-c/json.h>
#include <math.h>
#include <msgpack.h>
#include <stdlib.h>

#include "api.h"
#include "api_check.h"
#include "grove_engine.h"
#include "test.h"

#define NO_HEADER API_OIP_NO_HEADER

static grove_forest_t *income, *multi, *no_covers, *linear;
static grove_schema_t *income_schema;

/* binary_logistic.json without its covers (sum_hessian): it predicts, it cannot be
 * explained. Built here so no fixture file stands for it. */
static grove_forest_t *load_without_covers(void) {
  json_object *m = json_object_from_file(GROVE_SOURCE_ROOT "/tests/fixtures/binary_logistic.json");
  json_object *trees = get(get(get(get(m, "learner"), "gradient_booster"), "model"), "trees");
  for (size_t i = 0; trees != NULL && i < json_object_array_length(trees); i++)
    json_object_object_del(json_object_array_get_idx(trees, i), "sum_hessian");
  const char *text = m != NULL ? json_object_to_json_string(m) : "";
  grove_forest_t *f = NULL;
  grove_error_t err;
  if (grove_forest_load_buffer(text, strlen(text), "no_covers", &f, &err) != GROVE_OK)
    printf("# no_covers: %s\n", err.msg);
  json_object_put(m);
  return f;
}

/* LightGBM's linear-tree fixture (gzipped, as tests/lightgbm keeps it): it predicts, it
 * cannot be explained. */
static grove_forest_t *load_linear_trees(void) {
  FILE *p = popen("gzip -dc '" GROVE_SOURCE_ROOT
                  "/tests/lightgbm/fixtures/linear_tree_binary.model.txt.gz'",
                  "r");
  size_t cap = 1 << 16, n = 0;
  char *text = malloc(cap);
  for (size_t got; p != NULL && text != NULL && (got = fread(text + n, 1, cap - n, p)) > 0;) {
    n += got;
    char *bigger = n == cap ? realloc(text, cap *= 2) : text;
    if (bigger == NULL) free(text);
    text = bigger;
  }
  grove_forest_t *f = NULL;
  grove_error_t err;
  if (p == NULL || pclose(p) != 0 || text == NULL)
    printf("# cannot read the linear-tree fixture\n");
  else if (grove_forest_load_buffer(text, n, "linear_tree_binary", &f, &err) != GROVE_OK)
    printf("# linear_tree_binary: %s\n", err.msg);
  free(text);
  return f;
}

/* What the server does with a decoded request: its outputs (margins when MARGIN), and the
 * contributions and leaves it asked for, written where the decoder allocated them. */
static float *score(const grove_forest_t *f, api_request_t *req) {
  float *out = malloc(req->nrows * grove_forest_output_width(f, req->margin) * sizeof(float));
  grove_predict_opts_t opts = {.margin = req->margin};
  grove_error_t err;
  int ok = out != NULL && grove_forest_predict(f, req->rows, req->nrows, out, &opts, &err) == 0;
  if (ok && req->contribs != NULL)
    ok = grove_forest_contribs(f, req->rows, req->nrows, req->contribs, &err) == GROVE_OK;
  if (ok && req->leaf_ids != NULL)
    ok = grove_forest_leaves(f, req->rows, req->nrows, req->leaf_ids, &err) == GROVE_OK;
  if (!ok) printf("# scoring failed: %s\n", err.msg);
  return out;
}

/* The margins of REQ's rows (num_groups a row). */
static float *margins_of(const grove_forest_t *f, const api_request_t *req) {
  float *m = malloc(req->nrows * grove_forest_output_width(f, 1) * sizeof(float));
  grove_predict_opts_t opts = {.margin = 1};
  grove_error_t err;
  if (m != NULL) grove_forest_predict(f, req->rows, req->nrows, m, &opts, &err);
  return m;
}

static result_t decode_json(const grove_forest_t *f, const grove_schema_t *s, const char *body,
                            size_t max_explain) {
  result_t r;
  memset(&r, 0, sizeof r);
  api_limits_t limits = {.max_rows = 100, .max_explain_values = max_explain};
  r.rc = api_decode_v1(body, strlen(body), API_JSON, f, s, &limits, &r.req, &r.err);
  if (r.rc != 0) printf("# refused: %d %s\n", r.err.status, r.err.message);
  return r;
}

/* BODY refused with STATUS, its message holding NEEDLE (check_refused). */
static void json_refused(const grove_forest_t *f, const char *body, size_t max_explain, int status,
                         const char *needle, const char *what) {
  result_t r = decode_json(f, NULL, body, max_explain);
  check_refused(&r, status, needle, what);
}

/* A form BODY of content type CTYPE for income, as the server decodes it. */
static result_t decode_form(const char *body, const char *ctype) {
  result_t r;
  memset(&r, 0, sizeof r);
  r.rc = api_decode_form(body, strlen(body), ctype, strlen(ctype), income, income_schema, NULL,
                         &r.req, &r.err);
  return r;
}

/* 1 when |A - B| <= 1e-5 x max(1, SCALE): run_explain.py's tolerance. */
static int close_to(double a, double b, double scale) {
  return fabs(a - b) <= 1e-5 * fmax(1.0, scale);
}

/* ------------------------------------------------------------------------- */

static void test_decode(void) {
  result_t r = decode_json(income, income_schema,
                           "{\"rows\": [[39, null, 77516, \"Bachelors\", 13, null, null, null, "
                           "null, null, 2174, 0, 40, null]], \"explain\": true, \"leaves\": true}",
                           0);
  grove_forest_info_t info;
  grove_forest_get_info(income, &info);
  CHECK(r.rc == 0 && r.req.explain && r.req.leaves, "json: explain and leaves read");
  CHECK(r.req.contribs != NULL && r.req.leaf_ids != NULL,
        "json: contributions and leaves allocated once decoded");
  api_request_free(&r.req);
  CHECK(r.req.contribs == NULL && r.req.leaf_ids == NULL, "api_request_free frees them");

  r = decode_json(income, income_schema, "{\"rows\": [[1,2,3,4,5,6,7,8,9,10,11,12,13,14]]}", 0);
  CHECK(r.rc == 0 && !r.req.explain && r.req.contribs == NULL && r.req.leaf_ids == NULL,
        "json: nothing allocated unless asked");
  api_request_free(&r.req);

  json_refused(income, "{\"rows\": [[1, 2, 3, 4]], \"explain\": \"yes\"}", 0, 400,
               "\"explain\" must be true or false", "json: explain must be a bool");
  json_refused(income, "{\"rows\": [[1, 2, 3, 4]], \"explainx\": true}", 0, 400,
               "\"explain\", \"leaves\"", "json: the unknown-key help names them");

  /* A model without covers: 422 with the engine's reason; leaves and predictions work. */
  json_refused(no_covers, "{\"rows\": [[1, 2, 3, 4]], \"explain\": true}", 0, 422, "no node covers",
               "json: a model without covers cannot be explained");
  r = decode_json(no_covers, NULL, "{\"rows\": [[1, 2, 3, 4]], \"leaves\": true}", 0);
  CHECK(r.rc == 0 && r.req.leaf_ids != NULL, "json: its leaves can still be asked for");
  api_request_free(&r.req);

  /* Limits: rows x (groups x (features + 1) + trees) values at most. */
  const size_t per_row = grove_forest_contribs_width(income) + info.num_trees;
  char rows[4096] = "{\"explain\": true, \"leaves\": true, \"rows\": [";
  for (int i = 0; i < 3; i++)
    strcat(rows, i ? ",[1,2,3,4,5,6,7,8,9,10,11,12,13,14]" : "[1,2,3,4,5,6,7,8,9,10,11,12,13,14]");
  strcat(rows, "]}");
  r = decode_json(income, NULL, rows, 3 * per_row);
  CHECK(r.rc == 0, "limit: exactly max_explain_values values pass");
  api_request_free(&r.req);
  json_refused(income, rows, 3 * per_row - 1, 413, "send fewer rows",
               "limit: one value more is 413");

  /* Forms: the explain field (a checkbox's "on"). */
  r = decode_form("age=39&education=Bachelors&explain=on", "application/x-www-form-urlencoded");
  CHECK(r.rc == 0 && r.req.explain && r.req.contribs != NULL, "form: explain=on asks for them");
  api_request_free(&r.req);
  r = decode_form("age=39&explain=maybe", "application/x-www-form-urlencoded");
  check_refused(&r, 400, "\"explain\" must be", "form: explain=maybe is refused");
  const char *mp =
      "--XyZ\r\nContent-Disposition: form-data; name=\"age\"\r\n\r\n39\r\n"
      "--XyZ\r\nContent-Disposition: form-data; name=\"explain\"\r\n\r\ntrue\r\n"
      "--XyZ--\r\n";
  r = decode_form(mp, "multipart/form-data; boundary=XyZ");
  CHECK(r.rc == 0 && r.req.explain, "form: multipart explain=true");
  api_request_free(&r.req);
}

/* The v1 JSON answer of F to BODY against the engine: contributions per row (per group),
 * summing to the margin, feature names, leaves; with per-row errors a bad row is null (BODY
 * has FAILED of them). */
static void check_json_answer(const grove_forest_t *f, const grove_schema_t *s, const char *body,
                              size_t failed, const char *what) {
  result_t r = decode_json(f, s, body, 0);
  CHECK_EQ_INT(r.rc, 0, what);
  if (r.rc != 0) return;
  grove_forest_info_t info;
  grove_forest_get_info(f, &info);
  const uint32_t ng = info.num_groups, nf = info.num_features;
  float *out = score(f, &r.req), *m = margins_of(f, &r.req);
  api_body_t b;
  CHECK_EQ_INT(api_encode_v1("m", f, s, &r.req, out, API_JSON, &b), 0, what);
  json_object *o = parse_body(&b, b.len);
  json_object *c = get(o, "contributions"), *names = get(o, "feature_names"),
              *leaves = get(o, "leaves");
  int shape = c != NULL && json_object_array_length(c) == r.req.nrows;
  int equal = shape, sums = shape, nulls = shape, leaves_ok = leaves != NULL;
  size_t nfailed = 0;
  for (size_t row = 0; shape && row < r.req.nrows; row++) {
    json_object *cr = at(c, row);
    if (r.req.row_errors != NULL && r.req.row_errors[row] != NULL) {
      nfailed++;
      nulls &= cr == NULL && at(leaves, row) == NULL;
      continue;
    }
    for (uint32_t g = 0; g < ng; g++) {
      json_object *cg = ng > 1 ? at(cr, g) : cr;
      if (cg == NULL || json_object_array_length(cg) != nf + 1) {
        shape = 0;
        break;
      }
      double sum = 0, abs_sum = 0;
      for (uint32_t k = 0; k <= nf; k++) {
        double v = json_object_get_double(at(cg, k));
        equal &= v == r.req.contribs[(row * ng + g) * (nf + 1) + k];
        sum += v;
        abs_sum += fabs(v);
      }
      sums &= close_to(sum, m[row * ng + g], abs_sum);
    }
    for (uint32_t t = 0; t < info.num_trees; t++)
      leaves_ok &= (uint32_t)json_object_get_int64(at(at(leaves, row), t)) ==
                   r.req.leaf_ids[row * info.num_trees + t];
    leaves_ok &= json_object_array_length(at(leaves, row)) == info.num_trees;
  }
  char w[160];
  snprintf(w, sizeof w, "%s: contributions shaped rows x %s(features + 1)", what,
           ng > 1 ? "groups x " : "");
  CHECK(shape, w);
  snprintf(w, sizeof w, "%s: contributions are the engine's doubles, read back exactly", what);
  CHECK(equal, w);
  snprintf(w, sizeof w, "%s: each row's (group's) contributions sum to its margin", what);
  CHECK(sums, w);
  snprintf(w, sizeof w, "%s: leaves are the engine's", what);
  CHECK(leaves_ok, w);
  /* Counted, so that the check cannot pass on a body none of whose rows failed. */
  snprintf(w, sizeof w, "%s: the %zu failed rows' contributions and leaves are null", what, failed);
  CHECK(nulls && nfailed == failed, w);
  int names_ok = names != NULL && json_object_array_length(names) == nf;
  for (uint32_t j = 0; names_ok && j < nf; j++) {
    const char *want = grove_forest_feature_name(f, j);
    if (want == NULL && s != NULL) want = s->features[j].name;
    char fj[16];
    snprintf(fj, sizeof fj, "f%u", j);
    names_ok = strcmp(str(at(names, j)), want ? want : fj) == 0;
  }
  snprintf(w, sizeof w, "%s: feature_names, the model's in order", what);
  CHECK(names_ok, w);
  json_object_put(o);
  api_body_free(&b);
  free(out);
  free(m);
  api_request_free(&r.req);
}

static void test_json(void) {
  check_json_answer(income, income_schema,
                    "{\"records\": [{\"age\": 39, \"workclass\": \"State-gov\", \"education\": "
                    "\"Bachelors\", \"capital-gain\": 2174, \"hours-per-week\": 40}, {\"age\": 52, "
                    "\"relationship\": \"Husband\"}, {}], \"explain\": true, \"leaves\": true}",
                    0, "income records");
  check_json_answer(
      income, income_schema,
      "{\"records\": [{\"age\": 39}, {\"age\": \"old\"}, {\"age\": 20}], \"explain\": "
      "true, \"leaves\": true, \"errors\": \"per_row\", \"margin\": true}",
      1, "income, per-row errors");
  check_json_answer(multi, NULL,
                    "{\"rows\": [[0.5, -1, 2], [null, 3, 0.25]], \"explain\": true, \"leaves\": "
                    "true, \"labels\": false}",
                    0, "multi-class");
}

/* ------------------------------------------------------------------------- */

/* The last checks of a msgpack or OIP answer: its contributions (CVALS) and leaves (LVALS) are the
 * engine's, C_NOTE and L_NOTE saying how; then B, OUT and REQ are freed. */
static void check_values_and_free(const char *what, int cvals, const char *c_note, int lvals,
                                  const char *l_note, api_body_t *b, float *out,
                                  api_request_t *req) {
  char w[160];
  snprintf(w, sizeof w, "%s: contributions are the engine's as float32%s", what, c_note);
  CHECK(cvals, w);
  snprintf(w, sizeof w, "%s: leaves are the engine's%s", what, l_note);
  CHECK(lvals, w);
  api_body_free(b);
  free(out);
  api_request_free(req);
}

/* Key KEY of msgpack map O, or NULL. */
static const msgpack_object *mp_get(const msgpack_object *o, const char *key) {
  if (o == NULL || o->type != MSGPACK_OBJECT_MAP) return NULL;
  for (uint32_t i = 0; i < o->via.map.size; i++) {
    const msgpack_object_kv *kv = &o->via.map.ptr[i];
    if (kv->key.type == MSGPACK_OBJECT_STR && kv->key.via.str.size == strlen(key) &&
        memcmp(kv->key.via.str.ptr, key, strlen(key)) == 0)
      return &kv->val;
  }
  return NULL;
}

/* 1 when tensor T is {"shape": DIMS (N of them), "data": <bin of their product x 4 bytes>}. */
static int mp_tensor(const msgpack_object *t, const uint64_t *dims, uint32_t n,
                     const uint8_t **data) {
  const msgpack_object *shape = mp_get(t, "shape"), *d = mp_get(t, "data");
  if (shape == NULL || shape->type != MSGPACK_OBJECT_ARRAY || shape->via.array.size != n ||
      d == NULL || d->type != MSGPACK_OBJECT_BIN)
    return 0;
  uint64_t count = 1;
  for (uint32_t i = 0; i < n; i++) {
    if (shape->via.array.ptr[i].via.u64 != dims[i]) return 0;
    count *= dims[i];
  }
  *data = (const uint8_t *)d->via.bin.ptr;
  return d->via.bin.size == count * 4;
}

/* A msgpack request for F: rows of NF values (row 1 a string in feature 0 when BAD) with
 * explain and leaves; the answer's tensors against the engine. */
static void check_msgpack(const grove_forest_t *f, int bad, const char *what) {
  grove_forest_info_t info;
  grove_forest_get_info(f, &info);
  const uint32_t nf = info.num_features, ng = info.num_groups, nrows = 3;
  msgpack_sbuffer sb;
  msgpack_packer pk;
  msgpack_sbuffer_init(&sb);
  msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
  msgpack_pack_map(&pk, 3 + bad);
  msgpack_pack_str_with_body(&pk, "explain", 7);
  msgpack_pack_true(&pk);
  msgpack_pack_str_with_body(&pk, "rows", 4);
  msgpack_pack_array(&pk, nrows);
  for (uint32_t r = 0; r < nrows; r++) {
    msgpack_pack_array(&pk, nf);
    for (uint32_t j = 0; j < nf; j++)
      if (bad && r == 1 && j == 0)
        msgpack_pack_str_with_body(&pk, "x", 1);
      else
        msgpack_pack_double(&pk, (double)(r * 7 + j) * 0.37);
  }
  msgpack_pack_str_with_body(&pk, "leaves", 6);
  msgpack_pack_true(&pk);
  if (bad) {
    msgpack_pack_str_with_body(&pk, "errors", 6);
    msgpack_pack_str_with_body(&pk, "per_row", 7);
  }
  result_t r;
  memset(&r, 0, sizeof r);
  r.rc = api_decode_v1(sb.data, sb.size, API_MSGPACK, f, NULL, NULL, &r.req, &r.err);
  msgpack_sbuffer_destroy(&sb);
  CHECK(r.rc == 0 && r.req.explain && r.req.leaves && r.req.contribs && r.req.leaf_ids, what);
  if (r.rc != 0) return;
  float *out = score(f, &r.req);
  api_body_t b;
  CHECK_EQ_INT(api_encode_v1("m", f, NULL, &r.req, out, API_MSGPACK, &b), 0, what);
  msgpack_unpacked u;
  msgpack_unpacked_init(&u);
  size_t off = 0;
  int parsed =
      msgpack_unpack_next(&u, b.data, b.len, &off) == MSGPACK_UNPACK_SUCCESS && off == b.len;
  const uint8_t *cdata = NULL, *ldata = NULL;
  uint64_t cdims[3] = {nrows, ng, nf + 1}, ldims[2] = {nrows, info.num_trees};
  if (ng == 1) cdims[1] = nf + 1;
  int ctensor =
      parsed && mp_tensor(mp_get(&u.data, "contributions"), cdims, ng > 1 ? 3 : 2, &cdata);
  int ltensor = parsed && mp_tensor(mp_get(&u.data, "leaves"), ldims, 2, &ldata);
  char w[160];
  snprintf(w, sizeof w, "%s: contributions a float32 tensor [n, %sF + 1]", what,
           ng > 1 ? "groups, " : "");
  CHECK(ctensor, w);
  snprintf(w, sizeof w, "%s: leaves an int32 tensor [n, trees]", what);
  CHECK(ltensor, w);
  const msgpack_object *names = mp_get(&u.data, "feature_names");
  snprintf(w, sizeof w, "%s: feature_names beside them", what);
  CHECK(names != NULL && names->type == MSGPACK_OBJECT_ARRAY && names->via.array.size == nf, w);
  int cvals = ctensor, lvals = ltensor, nfailed = 0;
  const size_t width = (size_t)ng * (nf + 1);
  for (size_t row = 0; row < nrows; row++) {
    const int failed = r.req.row_errors != NULL && r.req.row_errors[row] != NULL;
    nfailed += failed;
    for (size_t k = 0; cvals && k < width; k++) {
      uint32_t bits = le32(cdata + (row * width + k) * 4);
      float v;
      memcpy(&v, &bits, 4);
      cvals = failed ? isnan(v) : v == (float)r.req.contribs[row * width + k];
    }
    for (size_t t = 0; lvals && t < info.num_trees; t++) {
      uint32_t v = le32(ldata + (row * info.num_trees + t) * 4);
      lvals = failed ? v == UINT32_MAX : v == r.req.leaf_ids[row * info.num_trees + t];
    }
  }
  /* Without a failed row the NaN / -1 checks below would hold of nothing. */
  snprintf(w, sizeof w, "%s: %d row%s failed", what, bad, bad == 1 ? "" : "s");
  CHECK_EQ_INT(nfailed, bad, w);
  msgpack_unpacked_destroy(&u);
  check_values_and_free(what, cvals, bad ? " (a failed row: NaN)" : "", lvals,
                        bad ? " (a failed row: -1)" : "", &b, out, &r.req);
}

static void test_msgpack(void) {
  check_msgpack(income, 0, "msgpack, binary");
  check_msgpack(income, 1, "msgpack, per-row errors");
  check_msgpack(multi, 0, "msgpack, multi-class");
}

/* ------------------------------------------------------------------------- */

/* An OIP request of 2 rows for F asking for OUTPUTS; the answer parsed (JSON header and
 * binary part). */
static void check_oip(const grove_forest_t *f, int binary, const char *what) {
  grove_forest_info_t info;
  grove_forest_get_info(f, &info);
  const uint32_t nf = info.num_features, ng = info.num_groups;
  char body[2048];
  int n =
      snprintf(body, sizeof body,
               "{\"inputs\": [{\"name\": \"input\", \"datatype\": \"FP64\", \"shape\": [2, %u], "
               "\"data\": [",
               nf);
  for (uint32_t e = 0; e < 2 * nf; e++)
    n += snprintf(body + n, sizeof body - n, "%s%g", e ? "," : "", e * 0.73 - 3);
  snprintf(body + n, sizeof body - n,
           "]}], \"outputs\": [{\"name\": \"contributions\"%s}, {\"name\": \"leaves\"}, {\"name\": "
           "\"predict\"}]%s}",
           binary ? ", \"parameters\": {\"binary_data\": true}" : "",
           binary ? ", \"parameters\": {\"binary_data_output\": true}" : "");
  result_t r;
  memset(&r, 0, sizeof r);
  r.rc = api_decode_v2_infer(body, strlen(body), NO_HEADER, f, NULL, NULL, &r.req, &r.err);
  if (r.rc != 0) printf("# %s\n", r.err.message);
  CHECK(r.rc == 0 && r.req.explain && r.req.leaves && r.req.contribs && r.req.leaf_ids, what);
  if (r.rc != 0) return;
  float *out = score(f, &r.req);
  api_body_t b;
  CHECK_EQ_INT(api_encode_v2_infer("m", f, NULL, &r.req, out, &b), 0, what);
  size_t hlen = binary ? b.inference_header_len : b.len;
  json_object *o = parse_body(&b, hlen);
  json_object *outs = get(o, "outputs"), *c = at(outs, 0), *l = at(outs, 1);
  char w[160];
  json_object *cs = get(c, "shape");
  int shape_ok = strcmp(str(get(c, "name")), "contributions") == 0 &&
                 strcmp(str(get(c, "datatype")), "FP32") == 0 &&
                 json_object_array_length(cs) == (ng > 1 ? 3u : 2u) &&
                 json_object_get_int64(at(cs, 0)) == 2 &&
                 json_object_get_int64(at(cs, ng > 1 ? 2 : 1)) == nf + 1 &&
                 (ng == 1 || json_object_get_int64(at(cs, 1)) == ng);
  snprintf(w, sizeof w, "%s: contributions FP32 [2, %sF + 1]", what, ng > 1 ? "groups, " : "");
  CHECK(shape_ok, w);
  json_object *ls = get(l, "shape");
  snprintf(w, sizeof w, "%s: leaves INT32 [2, trees]", what);
  CHECK(strcmp(str(get(l, "datatype")), "INT32") == 0 && json_object_array_length(ls) == 2 &&
            json_object_get_int64(at(ls, 1)) == info.num_trees,
        w);
  const size_t width = (size_t)ng * (nf + 1), cn = 2 * width, ln = 2 * (size_t)info.num_trees;
  int cvals = 1, lvals = 1;
  if (binary) {
    json_object *cp = get(c, "parameters"), *lp = get(l, "parameters");
    snprintf(w, sizeof w, "%s: binary_data_size of each output: 4 bytes an element", what);
    CHECK(json_object_get_int64(get(cp, "binary_data_size")) == (int64_t)cn * 4 &&
              json_object_get_int64(get(lp, "binary_data_size")) == (int64_t)ln * 4 &&
              get(c, "data") == NULL,
          w);
    const uint8_t *p = (const uint8_t *)b.data + hlen;
    if (hlen + (cn + ln) * 4 > b.len) cvals = lvals = 0;
    for (size_t e = 0; cvals && e < cn; e++) {
      uint32_t bits = le32(p + e * 4);
      float v;
      memcpy(&v, &bits, 4);
      cvals = v == (float)r.req.contribs[e];
    }
    for (size_t e = 0; lvals && e < ln; e++) lvals = le32(p + (cn + e) * 4) == r.req.leaf_ids[e];
  } else {
    json_object *cd = get(c, "data"), *ld = get(l, "data");
    cvals = cd != NULL && json_object_array_length(cd) == cn;
    lvals = ld != NULL && json_object_array_length(ld) == ln;
    for (size_t e = 0; cvals && e < cn; e++)
      cvals = (float)json_object_get_double(at(cd, e)) == (float)r.req.contribs[e];
    for (size_t e = 0; lvals && e < ln; e++)
      lvals = json_object_get_int64(at(ld, e)) == r.req.leaf_ids[e];
  }
  json_object_put(o);
  check_values_and_free(what, cvals, ", row-major", lvals, "", &b, out, &r.req);
}

static void test_oip(void) {
  check_oip(income, 0, "oip json");
  check_oip(income, 1, "oip binary");
  check_oip(multi, 0, "oip json, multi-class");
  check_oip(multi, 1, "oip binary, multi-class");

  /* Unasked, nothing is computed; a model without covers refuses contributions only. */
  const char *plain =
      "{\"inputs\": [{\"name\": \"input\", \"datatype\": \"FP32\", \"shape\": [1, "
      "4], \"data\": [1, 2, 3, 4]}]}";
  result_t r;
  memset(&r, 0, sizeof r);
  r.rc =
      api_decode_v2_infer(plain, strlen(plain), NO_HEADER, no_covers, NULL, NULL, &r.req, &r.err);
  CHECK(r.rc == 0 && r.req.contribs == NULL && r.req.leaf_ids == NULL,
        "oip: default outputs compute no explanations");
  api_request_free(&r.req);
  const char *ask =
      "{\"inputs\": [{\"name\": \"input\", \"datatype\": \"FP32\", \"shape\": [1, 4], "
      "\"data\": [1, 2, 3, 4]}], \"outputs\": [{\"name\": \"contributions\"}]}";
  memset(&r, 0, sizeof r);
  r.rc = api_decode_v2_infer(ask, strlen(ask), NO_HEADER, no_covers, NULL, NULL, &r.req, &r.err);
  check_refused(&r, 422, "no node covers", "oip: contributions of a model without covers: 422");

  /* The metadata lists both, with their shapes; contributions only where they exist. */
  api_model_meta_t meta = {.name = "multi"};
  api_body_t b;
  api_encode_model_v2(&meta, multi, NULL, &b);
  json_object *o = parse_body(&b, b.len), *outs = get(o, "outputs"), *c = NULL, *l = NULL;
  for (size_t i = 0; i < json_object_array_length(outs); i++) {
    if (strcmp(str(get(at(outs, i), "name")), "contributions") == 0) c = at(outs, i);
    if (strcmp(str(get(at(outs, i), "name")), "leaves") == 0) l = at(outs, i);
  }
  grove_forest_info_t info;
  grove_forest_get_info(multi, &info);
  json_object *cs = get(c, "shape"), *ls = get(l, "shape");
  CHECK(c != NULL && strcmp(str(get(c, "datatype")), "FP32") == 0 &&
            json_object_array_length(cs) == 3 && json_object_get_int64(at(cs, 0)) == -1 &&
            json_object_get_int64(at(cs, 1)) == info.num_groups &&
            json_object_get_int64(at(cs, 2)) == info.num_features + 1,
        "metadata: contributions FP32 [-1, groups, F + 1]");
  CHECK(l != NULL && strcmp(str(get(l, "datatype")), "INT32") == 0 &&
            json_object_array_length(ls) == 2 && json_object_get_int64(at(ls, 1)) == info.num_trees,
        "metadata: leaves INT32 [-1, trees]");
  json_object_put(o);
  api_body_free(&b);
  meta.name = "no_covers";
  api_encode_model_v2(&meta, no_covers, NULL, &b);
  CHECK(b.data != NULL && strstr(b.data, "\"contributions\"") == NULL &&
            strstr(b.data, "\"leaves\"") != NULL,
        "metadata: a model without covers lists leaves, not contributions");
  api_body_free(&b);
}

/* F's v1 metadata says EXPLAINABLE, and when not, the reason holding NEEDLE, the same
 * the engine and a predict request with "explain" give. */
static void check_explainable(const grove_forest_t *f, const char *name, int explainable,
                              const char *needle) {
  api_model_meta_t meta = {.name = name};
  api_body_t b;
  char what[160];
  snprintf(what, sizeof what, "%s: v1 metadata encodes", name);
  CHECK_EQ_INT(api_encode_model_v1(&meta, f, NULL, &b), 0, what);
  json_object *o = parse_body(&b, b.len), *e = get(o, "explainable");
  snprintf(what, sizeof what, "%s: \"explainable\": %s", name, explainable ? "true" : "false");
  CHECK(e != NULL && json_object_is_type(e, json_type_boolean) &&
            json_object_get_boolean(e) == explainable,
        what);
  grove_error_t gerr;
  const int engine = grove_forest_explainable(f, &gerr) == GROVE_OK;
  if (explainable) {
    snprintf(what, sizeof what, "%s: no \"explain_error\"", name);
    CHECK(engine && o != NULL && !json_object_object_get_ex(o, "explain_error", NULL), what);
  } else {
    snprintf(what, sizeof what, "%s: \"explain_error\" is the engine's reason", name);
    CHECK(!engine && strcmp(str(get(o, "explain_error")), gerr.msg) == 0, what);
    snprintf(what, sizeof what, "%s: the reason says why", name);
    CHECK_CONTAINS(str(get(o, "explain_error")), needle, what);
    /* The 422 a request with "explain" gets carries the same words. */
    result_t r = decode_json(f, NULL, "{\"records\": [{}], \"explain\": true}", 0);
    snprintf(what, sizeof what, "%s: explain is refused with the metadata's reason", name);
    CHECK(r.rc == -1 && r.err.status == 422 && strstr(r.err.message, gerr.msg) != NULL, what);
    api_request_free(&r.req);
  }
  json_object_put(o);
  api_body_free(&b);

  /* The model list and `grove info` are the same object: they say it too. */
  const grove_forest_t *forests[1] = {f};
  snprintf(what, sizeof what, "%s: models v1 encodes", name);
  CHECK_EQ_INT(api_encode_models_v1(&meta, forests, 1, &b), 0, what);
  o = parse_body(&b, b.len);
  snprintf(what, sizeof what, "%s: GET /v1/models says \"explainable\" too", name);
  CHECK(
      json_object_get_boolean(get(at(get(o, "models"), 0), "explainable")) == explainable &&
          json_object_object_get_ex(at(get(o, "models"), 0), "explain_error", NULL) == !explainable,
      what);
  json_object_put(o);
  api_body_free(&b);
  snprintf(what, sizeof what, "%s: grove info encodes", name);
  CHECK_EQ_INT(api_encode_model_info(f, NULL, &b), 0, what);
  o = parse_body(&b, b.len);
  snprintf(what, sizeof what, "%s: grove info says \"explainable\" too", name);
  CHECK(json_object_get_boolean(get(o, "explainable")) == explainable, what);
  json_object_put(o);
  api_body_free(&b);

  /* OIP: a free-form string parameter, and contributions listed only when they exist. */
  snprintf(what, sizeof what, "%s: model v2 encodes", name);
  CHECK_EQ_INT(api_encode_model_v2(&meta, f, NULL, &b), 0, what);
  o = parse_body(&b, b.len);
  json_object *outs = get(o, "outputs");
  int listed = 0;
  for (size_t i = 0; i < json_object_array_length(outs); i++)
    listed |= strcmp(str(get(at(outs, i), "name")), "contributions") == 0;
  json_object *reason = get(get(o, "parameters"), "explain_error");
  snprintf(what, sizeof what, "%s: v2 metadata %s", name,
           explainable ? "lists contributions, no explain_error parameter"
                       : "has no contributions, an explain_error string parameter");
  CHECK(
      listed == explainable && (explainable ? reason == NULL : strcmp(str(reason), gerr.msg) == 0),
      what);
  json_object_put(o);
  api_body_free(&b);
}

static void test_explainable(void) {
  check_explainable(income, "income", 1, NULL);
  check_explainable(multi, "multi", 1, NULL);
  check_explainable(linear, "linear_tree_binary", 0, "linear trees");
  check_explainable(no_covers, "no_covers", 0, "no node covers");
}

int main(void) {
  if (load_income(&income, &income_schema) != 0) return 1;
  multi = load("tests/fixtures/multi_softprob.json");
  no_covers = load_without_covers();
  linear = load_linear_trees();
  if (fixtures_loaded(multi != NULL && no_covers != NULL && linear != NULL) != 0) return 1;
  test_decode();
  test_json();
  test_msgpack();
  test_oip();
  test_explainable();
  grove_forest_free(income);
  grove_forest_free(linear);
  grove_forest_free(multi);
  grove_forest_free(no_covers);
  grove_schema_free(income_schema);
  return test_done();
}
