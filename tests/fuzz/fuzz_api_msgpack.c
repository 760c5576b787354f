/*
 * libFuzzer target: any bytes -> api_decode_v1() (api/codec_v1_msgpack.c, the bounded
 * msgpack reader) against tiny embedded models. The first byte picks the set-up, API_MSGPACK, the
 * rest is the request body: bits 0-1: 0 = tests/fixtures/binary_logistic.json (features alpha,
 * beta, gamma, delta) with a schema that makes gamma categorical ("red", "green", "blue") and has
 *             labels; 1 = the same model without a schema; 2 or 3 = the unnamed 3-class
 *             multi_softprob.json (features f0..f2), with a schema of three labels on 3.
 *   bit 2: a row limit of 4 (413s) instead of 4096.
 * A decoded request is answered by api_encode_v1(..., API_MSGPACK, ...) with outputs made of the
 * request's own values (NaN, infinities, huge codes reach the label code), and the
 * response must parse back; a refusal must carry a 4xx status and a message.
 */
#include <math.h>
#include <msgpack.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "codecs.h"
#include "fuzz_common.h"
#include "grove_engine.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* tests/fixtures/binary_logistic.json and multi_softprob.json, as they are. */
static const char binary_logistic_json[] =
    "{\"learner\":{\"attributes\":{\"best_iteration\":\"2\",\"best_ntree_limit\":\"3\"},\"feature_"
    "nam"
    "es\":[\"alpha\",\"beta\",\"gamma\",\"delta\"],\"feature_types\":[\"q\",\"q\",\"int\",\"q\"],"
    "\"gr"
    "adient_booster\":{\"model\":{\"gbtree_model_param\":{\"num_parallel_tree\":\"1\",\"num_"
    "trees\":\""
    "3\",\"size_leaf_vector\":\"0\"},\"tree_info\":[0,0,0],\"trees\":[{\"base_weights\":[7.882352E-"
    "1,"
    "-3.137571E-1,2.2767363E0,1.024801E0,-1.2776831E0,2.782194E0,-8.4048027E-1],\"categories\":[],"
    "\"c"
    "ategories_nodes\":[],\"categories_segments\":[],\"categories_sizes\":[],\"default_left\":[1,1,"
    "1,"
    "0,0,0,0],\"id\":0,\"left_children\":[1,3,5,-1,-1,-1,-1],\"loss_changes\":[1.4014127E2,6."
    "5461655E"
    "1,5.9501892E1,0E0,0E0,0E0,0E0],\"parents\":[2147483647,0,0,1,1,2,2],\"right_children\":[2,4,6,"
    "-1"
    ",-1,-1,-1],\"split_conditions\":[1.2026167E-1,-1.979078E-1,1.0355471E0,5.124005E-1,-6."
    "3884157E-1"
    ",1.391097E0,-4.2024013E-1],\"split_indices\":[0,2,2,0,0,0,0],\"split_type\":[0,0,0,0,0,0,0],"
    "\"su"
    "m_hessian\":[8.4E1,4.872E1,3.5280003E1,2.037E1,2.835E1,3.045E1,4.8300004E0],\"tree_param\":{"
    "\"nu"
    "m_deleted\":\"0\",\"num_feature\":\"4\",\"num_nodes\":\"7\",\"size_leaf_vector\":\"0\"}},{"
    "\"base"
    "_weights\":[3.0102578E-1,-8.227666E-1,7.3059887E-1,-1.0764838E0,9.129393E-1,1.2343699E0,-6."
    "65781"
    "8E-1],\"categories\":[],\"categories_nodes\":[],\"categories_segments\":[],\"categories_"
    "sizes\":"
    "[],\"default_left\":[1,1,1,0,0,0,0],\"id\":1,\"left_children\":[1,3,5,-1,-1,-1,-1],\"loss_"
    "change"
    "s\":[4.0444607E1,1.1241229E1,4.3197758E1,0E0,0E0,0E0,0E0],\"parents\":[2147483647,0,0,1,1,2,2]"
    ",\""
    "right_children\":[2,4,6,-1,-1,-1,-1],\"split_conditions\":[-6.5308356E-1,1.3244133E0,5."
    "454991E-1"
    ",-5.382419E-1,4.5646966E-1,6.1718494E-1,-3.328909E-1],\"split_indices\":[0,1,2,0,0,0,0],"
    "\"split_"
    "type\":[0,0,0,0,0,0,0],\"sum_hessian\":[8.153427E1,2.2294645E1,5.9239624E1,1.9782703E1,2."
    "5119417"
    "E0,4.361919E1,1.5620437E1],\"tree_param\":{\"num_deleted\":\"0\",\"num_feature\":\"4\",\"num_"
    "nod"
    "es\":\"7\",\"size_leaf_vector\":\"0\"}},{\"base_weights\":[1.6887937E-1,-2.9827663E-1,8."
    "94264E-1"
    ",4.6175423E-1,-1.0239682E0,1.1989516E0,1.4060192E-1],\"categories\":[],\"categories_nodes\":[]"
    ",\""
    "categories_segments\":[],\"categories_sizes\":[],\"default_left\":[1,1,1,0,0,0,0],\"id\":2,"
    "\"lef"
    "t_children\":[1,3,5,-1,-1,-1,-1],\"loss_changes\":[2.4811872E1,2.5186827E1,6.4044724E0,0E0,"
    "0E0,0"
    "E0,0E0],\"parents\":[2147483647,0,0,1,1,2,2],\"right_children\":[2,4,6,-1,-1,-1,-1],\"split_"
    "cond"
    "itions\":[2.7054656E-1,-3.2609725E-1,5.43439E-1,2.3087712E-1,-5.119841E-1,5.994758E-1,7."
    "030096E-"
    "2],\"split_indices\":[0,2,2,0,0,0,0],\"split_type\":[0,0,0,0,0,0,0],\"sum_hessian\":[7."
    "143278E1,"
    "4.3808437E1,2.7624334E1,2.15756E1,2.223284E1,1.9250843E1,8.373491E0],\"tree_param\":{\"num_"
    "delet"
    "ed\":\"0\",\"num_feature\":\"4\",\"num_nodes\":\"7\",\"size_leaf_vector\":\"0\"}}]},\"name\":"
    "\"g"
    "btree\"},\"learner_model_param\":{\"base_score\":\"3E-1\",\"boost_from_average\":\"0\",\"num_"
    "cla"
    "ss\":\"0\",\"num_feature\":\"4\",\"num_target\":\"1\"},\"objective\":{\"name\":\"binary:"
    "logistic"
    "\",\"reg_loss_param\":{\"scale_pos_weight\":\"1\"}}},\"version\":[1,7,4]}";

static const char multi_softprob_json[] =
    "{\"learner\":{\"attributes\":{\"best_iteration\":\"1\",\"best_ntree_limit\":\"2\"},\"feature_"
    "nam"
    "es\":[],\"feature_types\":[],\"gradient_booster\":{\"model\":{\"gbtree_model_param\":{\"num_"
    "para"
    "llel_tree\":\"1\",\"num_trees\":\"6\",\"size_leaf_vector\":\"0\"},\"tree_info\":[0,1,2,0,1,2],"
    "\""
    "trees\":[{\"base_weights\":[1.1910666E-1,1.111821E0,-2.2541441E-1,1.3774319E0,-9.230773E-2,8."
    "687"
    "783E-1,-5.7142866E-1],\"categories\":[],\"categories_nodes\":[],\"categories_segments\":[],"
    "\"cat"
    "egories_sizes\":[],\"default_left\":[1,1,1,0,0,0,0],\"id\":0,\"left_children\":[1,3,5,-1,-1,-"
    "1,-"
    "1],\"loss_changes\":[4.6194103E1,1.1250111E1,3.85674E1,0E0,0E0,0E0,0E0],\"parents\":["
    "2147483647,"
    "0,0,1,1,2,2],\"right_children\":[2,4,6,-1,-1,-1,-1],\"split_conditions\":[-7.014092E-1,5."
    "192058E"
    "-1,-7.3066735E-1,6.8871593E-1,-4.6153866E-2,4.3438914E-1,-2.8571433E-1],\"split_indices\":[0,"
    "1,1"
    ",0,0,0,0],\"split_type\":[0,0,0,0,0,0,0],\"sum_hessian\":[1.3333333E2,3.3777775E1,9.955555E1,"
    "2.7"
    "555553E1,6.222222E0,2.3555553E1,7.599999E1],\"tree_param\":{\"num_deleted\":\"0\",\"num_"
    "feature\""
    ":\"3\",\"num_nodes\":\"7\",\"size_leaf_vector\":\"0\"}},{\"base_weights\":[-1.8610427E-1,-7."
    "0588"
    "243E-1,-1.09859206E-1,1.0752644E-2,-5.3164566E-1],\"categories\":[],\"categories_nodes\":[],"
    "\"ca"
    "tegories_segments\":[],\"categories_sizes\":[],\"default_left\":[1,0,1,0,0],\"id\":1,\"left_"
    "chil"
    "dren\":[1,-1,3,-1,-1],\"loss_changes\":[5.2461514E0,0E0,6.0256214E0,0E0,0E0],\"parents\":["
    "214748"
    "3647,0,0,2,2],\"right_children\":[2,-1,4,-1,-1],\"split_conditions\":[-1.3258483E0,-3."
    "5294122E-1"
    ",8.391131E-1,5.376322E-3,-2.6582283E-1],\"split_indices\":[1,0,0,0,0],\"split_type\":[0,0,0,0,"
    "0]"
    ",\"sum_hessian\":[1.3333333E2,1.5999999E1,1.1733333E2,9.199999E1,2.5333332E1],\"tree_param\":{"
    "\""
    "num_deleted\":\"0\",\"num_feature\":\"3\",\"num_nodes\":\"5\",\"size_leaf_vector\":\"0\"}},{"
    "\"ba"
    "se_weights\":[6.6997476E-2,-3.6888337E-1,8.9073634E-1,-7.106519E-1,8.6440676E-1,-5.309735E-1,"
    "1.3"
    "722397E0],\"categories\":[],\"categories_nodes\":[],\"categories_segments\":[],\"categories_"
    "size"
    "s\":[],\"default_left\":[1,1,1,0,0,0,0],\"id\":2,\"left_children\":[1,3,5,-1,-1,-1,-1],\"loss_"
    "ch"
    "anges\":[4.8561222E1,3.794043E1,3.275073E1,0E0,0E0,0E0,0E0],\"parents\":[2147483647,0,0,1,1,2,"
    "2]"
    ",\"right_children\":[2,4,6,-1,-1,-1,-1],\"split_conditions\":[3.1157717E-1,8.2798725E-1,-4."
    "80368"
    "7E-1,-3.5532594E-1,4.3220338E-1,-2.6548675E-1,6.8611985E-1],\"split_indices\":[1,0,0,0,0,0,0],"
    "\""
    "split_type\":[0,0,0,0,0,0,0],\"sum_hessian\":[1.3333333E2,8.755555E1,4.5777775E1,6.8888885E1,"
    "1.8"
    "666666E1,1.1555555E1,3.422222E1],\"tree_param\":{\"num_deleted\":\"0\",\"num_feature\":\"3\","
    "\"n"
    "um_nodes\":\"7\",\"size_leaf_vector\":\"0\"}},{\"base_weights\":[7.362587E-2,5.234431E-1,-3."
    "1151"
    "858E-1,9.4283414E-1,-2.4528424E-1,9.244266E-1,-5.085727E-1],\"categories\":[],\"categories_"
    "nodes"
    "\":[],\"categories_segments\":[],\"categories_sizes\":[],\"default_left\":[1,1,1,0,0,0,0],"
    "\"id\""
    ":3,\"left_children\":[1,3,5,-1,-1,-1,-1],\"loss_changes\":[2.2283405E1,1.9339611E1,1.737558E1,"
    "0E"
    "0,0E0,0E0,0E0],\"parents\":[2147483647,0,0,1,1,2,2],\"right_children\":[2,4,6,-1,-1,-1,-1],"
    "\"spl"
    "it_conditions\":[-1.2623787E-1,8.4152155E-2,-1.4085822E0,4.7141707E-1,-1.2264212E-1,4.622133E-"
    "1,"
    "-2.5428635E-1],\"split_indices\":[0,1,1,0,0,0,0],\"split_type\":[0,0,0,0,0,0,0],\"sum_"
    "hessian\":"
    "[1.2668272E2,5.8269554E1,6.841316E1,3.7554585E1,2.0714968E1,8.90002E0,5.951314E1],\"tree_"
    "param\""
    ":{\"num_deleted\":\"0\",\"num_feature\":\"3\",\"num_nodes\":\"7\",\"size_leaf_vector\":\"0\"}}"
    ",{"
    "\"base_weights\":[-1.0869872E-1,-2.2661611E-1,2.0453933E-1,-1.356573E-1,-6.1207044E-1,-3."
    "731403E"
    "-1,3.7857765E-1],\"categories\":[],\"categories_nodes\":[],\"categories_segments\":[],"
    "\"categori"
    "es_sizes\":[],\"default_left\":[1,1,1,0,0,0,0],\"id\":4,\"left_children\":[1,3,5,-1,-1,-1,-1],"
    "\""
    "loss_changes\":[4.577715E0,3.0584917E0,3.5673857E0,0E0,0E0,0E0,0E0],\"parents\":[2147483647,0,"
    "0,"
    "1,1,2,2],\"right_children\":[2,4,6,-1,-1,-1,-1],\"split_conditions\":[7.155718E-1,8.235595E-1,"
    "-6"
    ".410471E-1,-6.782865E-2,-3.0603522E-1,-1.8657015E-1,1.8928882E-1],\"split_indices\":[2,0,0,0,"
    "0,0"
    ",0],\"split_type\":[0,0,0,0,0,0,0],\"sum_hessian\":[1.2168076E2,8.8603E1,3.3077763E1,7."
    "278036E1,"
    "1.58226385E1,7.3933263E0,2.5684437E1],\"tree_param\":{\"num_deleted\":\"0\",\"num_feature\":"
    "\"3\""
    ",\"num_nodes\":\"7\",\"size_leaf_vector\":\"0\"}},{\"base_weights\":[3.1312417E-2,-3.0168027E-"
    "1,"
    "5.5078256E-1,-6.142539E-1,5.2615726E-1,-5.2656114E-1,8.1677896E-1],\"categories\":[],"
    "\"categorie"
    "s_nodes\":[],\"categories_segments\":[],\"categories_sizes\":[],\"default_left\":[1,1,1,0,0,0,"
    "0]"
    ",\"id\":5,\"left_children\":[1,3,5,-1,-1,-1,-1],\"loss_changes\":[2.1901546E1,2.0303581E1,1."
    "4597"
    "1985E1,0E0,0E0,0E0,0E0],\"parents\":[2147483647,0,0,1,1,2,2],\"right_children\":[2,4,6,-1,-1,-"
    "1,"
    "-1],\"split_conditions\":[3.1157717E-1,8.2798725E-1,-5.3265226E-1,-3.0712694E-1,2.6307863E-1,-"
    "2."
    "6328057E-1,4.0838948E-1],\"split_indices\":[1,0,0,0,0,0,0],\"split_type\":[0,0,0,0,0,0,0],"
    "\"sum_"
    "hessian\":[1.2465277E2,7.621585E1,4.8436916E1,5.551325E1,2.0702604E1,9.397085E0,3.9039833E1],"
    "\"t"
    "ree_param\":{\"num_deleted\":\"0\",\"num_feature\":\"3\",\"num_nodes\":\"7\",\"size_leaf_"
    "vector\""
    ":\"0\"}}]},\"name\":\"gbtree\"},\"learner_model_param\":{\"base_score\":\"5E-1\",\"boost_from_"
    "av"
    "erage\":\"1\",\"num_class\":\"3\",\"num_feature\":\"3\",\"num_target\":\"1\"},\"objective\":{"
    "\"n"
    "ame\":\"multi:softprob\",\"softmax_multiclass_param\":{\"num_class\":\"3\"}}},\"version\":[1,"
    "7,4"
    "]}";

static char *colours[] = {"red", "green", "blue"};
static char *binary_labels[] = {"no", "yes"};
static char *class_labels[] = {"setosa", "versicolor", "virginica"};
static grove_schema_feature_t binary_features[4] = {
    {.name = "alpha", .type = GROVE_FEATURE_NUMERIC},
    {.name = "beta", .type = GROVE_FEATURE_NUMERIC},
    {.name = "gamma",
     .type = GROVE_FEATURE_CATEGORICAL,
     .categories = colours,
     .num_categories = 3},
    {.name = "delta", .type = GROVE_FEATURE_NUMERIC},
};
static const grove_schema_t binary_schema = {
    .labels = binary_labels, .num_labels = 2, .features = binary_features, .num_features = 4};
static grove_schema_feature_t multi_features[3] = {
    {.name = "f0", .type = GROVE_FEATURE_NUMERIC},
    {.name = "f1", .type = GROVE_FEATURE_NUMERIC},
    {.name = "f2", .type = GROVE_FEATURE_NUMERIC},
};
static const grove_schema_t multi_schema = {
    .labels = class_labels, .num_labels = 3, .features = multi_features, .num_features = 3};

static grove_forest_t *binary_forest, *multi_forest;

/* The response must be exactly one msgpack map with "model" and "predictions" (and maybe
 * "labels"): our own output, so msgpack_unpack is safe here. */
static void check_response(const api_body_t *body, const char *what) {
  if (body->data == NULL || body->len == 0 || body->content_type == NULL ||
      strcmp(body->content_type, "application/msgpack") != 0)
    fuzz_contract_violated("msgpack API", what, "no body or wrong content type");
  msgpack_unpacked u;
  msgpack_unpacked_init(&u);
  size_t off = 0;
  msgpack_unpack_return rc = msgpack_unpack_next(&u, body->data, body->len, &off);
  if (rc != MSGPACK_UNPACK_SUCCESS || off != body->len || u.data.type != MSGPACK_OBJECT_MAP ||
      u.data.via.map.size < 1 || u.data.via.map.size > 3)
    fuzz_contract_violated("msgpack API", what, "does not parse back as one map");
  msgpack_unpacked_destroy(&u);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  /* Loaded once and kept: the fuzzer's leak check ignores what is still reachable. */
  if (binary_forest == NULL) {
    binary_forest = fuzz_load_or_die(binary_logistic_json);
    multi_forest = fuzz_load_or_die(multi_softprob_json);
  }
  if (size < 1) return 0;
  unsigned mode = data[0] & 3;
  const grove_forest_t *forest = mode >= 2 ? multi_forest : binary_forest;
  const grove_schema_t *schema = mode == 0 ? &binary_schema : mode == 3 ? &multi_schema : NULL;
  api_limits_t limits = {.max_rows = (data[0] & 4) ? 4 : 4096};
  const char *body = (const char *)data + 1;
  size_t len = size - 1;

  api_request_t req;
  api_error_t err;
  memset(&req, 0x5a, sizeof req); /* the decoder must initialise every field */
  memset(&err, 0, sizeof err);
  int rc = api_decode_v1(body, len, API_MSGPACK, forest, schema, &limits, &req, &err);
  api_body_t out_body;
  if (rc != 0) {
    if (rc != -1)
      fuzz_contract_violated("msgpack API", "decode returned neither 0 nor -1", err.message);
    if (err.status < 400 || err.status > 499)
      fuzz_contract_violated("msgpack API", "refusal without a 4xx status", err.message);
    if (err.message[0] == '\0' || strnlen(err.message, sizeof err.message) >= sizeof err.message)
      fuzz_contract_violated("msgpack API", "refusal without a terminated message", err.message);
    if (req.rows != NULL || req.nrows != 0)
      fuzz_contract_violated("msgpack API", "rows left after a refusal", err.message);
    if (api__msgpack_encode_error(err.message, &out_body) != 0)
      fuzz_contract_violated("msgpack API", "error encode failed", err.message);
    api_body_free(&out_body);
    return 0;
  }

  grove_forest_info_t info;
  grove_forest_get_info(forest, &info);
  if (req.rows == NULL || req.nrows == 0 || req.nrows > limits.max_rows ||
      req.num_features != info.num_features)
    fuzz_contract_violated("msgpack API", "inconsistent request", "");
  if (req.id != NULL || req.noutputs != 0 || (req.margin != 0 && req.margin != 1) ||
      (req.labels != 0 && req.labels != 1) || (req.binary_output != 0 && req.binary_output != 1))
    fuzz_contract_violated("msgpack API", "request fields not initialised", "");

  /* Fake outputs from the rows themselves: NaN, infinities and any float reach the labels. */
  const uint32_t width = grove_forest_output_width(forest, req.margin);
  const size_t nvalues = req.nrows * req.num_features, nout = req.nrows * width;
  float *out = malloc(nout * sizeof *out);
  if (out == NULL) abort();
  for (size_t i = 0; i < nout; i++) out[i] = req.rows[i % nvalues];
  if (api_encode_v1("fuzz", forest, schema, &req, out, API_MSGPACK, &out_body) != 0)
    fuzz_contract_violated("msgpack API", "encode failed", "");
  check_response(&out_body, "encoded response");
  api_body_free(&out_body);
  free(out);
  api_request_free(&req);
  return 0;
}
