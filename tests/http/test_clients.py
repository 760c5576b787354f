#!/usr/bin/python3
"""grove serve as real clients speak to it, on loopback: the bytes tritonclient, MLServer's
pandas codec and KServe send over the Open Inference Protocol (Triton's binary data, raw
binary requests, FP16/BF16/BYTES, one input per feature, versions, output names), the
tutorial's HTML form as browsers post it, and the error shapes they read.

Each request is built the way the client library builds it (read from their sources:
tritonclient/http/_utils.py _get_inference_request, _requested_output.py, _infer_input.py
set_data_from_numpy; mlserver/codecs/pandas.py encode_request), and each answer is read the
way the client reads it (tritonclient's InferResult: the JSON header, then each binary output
in order). Prints TAP.
"""
import gzip
import html
import http.client
import json
import os
import struct
import sys
import urllib.parse
import zlib

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import test_http as th  # noqa: E402  (the Daemon helper, TAP counters, the context)


def post_exact(d, path, body, headers):
    """POST with exactly HEADERS (http.client adds only Host, Accept-Encoding and
    Content-Length, as most client stacks do). Returns (status, lower-cased headers, body)."""
    c = http.client.HTTPConnection("127.0.0.1", d.port, timeout=20 * d.ctx.slow)
    try:
        c.request("POST", path, body=body, headers=headers)
        r = c.getresponse()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
    finally:
        c.close()


def dumps(obj):
    """JSON as tritonclient's rapidjson and pydantic write it: no spaces."""
    return json.dumps(obj, separators=(",", ":"))


def read_infer_result(headers, body):
    """An OIP answer as tritonclient's InferResult reads it: {name: (datatype, shape, values)}."""
    hlen = headers.get("inference-header-content-length")
    header = json.loads(body[:int(hlen)] if hlen is not None else body)
    at = int(hlen) if hlen is not None else len(body)
    outs = {}
    for out in header.get("outputs", []):
        size = (out.get("parameters") or {}).get("binary_data_size")
        dt, shape = out["datatype"], out["shape"]
        if size is None:
            outs[out["name"]] = (dt, shape, out["data"])
            continue
        raw = body[at:at + size]
        at += size
        if dt == "FP32":
            vals = list(struct.unpack("<%df" % (size // 4), raw))
        elif dt == "INT64":
            vals = list(struct.unpack("<%dq" % (size // 8), raw))
        elif dt == "INT32":
            vals = list(struct.unpack("<%di" % (size // 4), raw))
        elif dt == "BYTES":
            vals, p = [], 0
            while p < len(raw):
                n = struct.unpack_from("<I", raw, p)[0]
                vals.append(raw[p + 4:p + 4 + n].decode())
                p += 4 + n
        else:
            vals = None
        outs[out["name"]] = (dt, shape, vals)
    return header, outs, at == len(body)


def column(values, shape, j):
    """Column J of a [n, k] output given flat."""
    k = shape[1] if len(shape) == 2 else 1
    return values[j::k]


def complete_rows(ctx):
    idx = ctx.complete
    return [ctx.rows[i] for i in idx], [ctx.expected[i] for i in idx], [ctx.records[i] for i in idx]


# ---------------------------------------------------------------- tritonclient

def test_tritonclient(ctx, d):
    rows, want, _ = complete_rows(ctx)
    n = len(rows)
    flat = [v for r in rows for v in r]
    raw = struct.pack("<%df" % len(flat), *flat)
    labels = [">50K" if p > 0.5 else "<=50K" for p in want]

    # client.infer("income", [InferInput set_data_from_numpy(x)]) with no outputs asked:
    # binary input, "binary_data_output": true, no Content-Type.
    hdr = dumps({"inputs": [{"name": "input", "shape": [n, 14], "datatype": "FP32",
                             "parameters": {"binary_data_size": len(raw)}}],
                 "parameters": {"binary_data_output": True}}).encode()
    st, h, body = post_exact(d, "/v2/models/income/infer", hdr + raw,
                             {"Inference-Header-Content-Length": str(len(hdr))})
    ok = st == 200 and "inference-header-content-length" in h
    header, outs, whole = read_infer_result(h, body) if ok else ({}, {}, False)
    p = outs.get("predict", (None, [], []))
    pp = outs.get("predict_proba", (None, [], []))
    th.check(ok and whole and h.get("content-type") == "application/octet-stream"
             and header.get("model_version") == "1", "tritonclient default: a binary answer, read whole",
             "%s %s %s" % (st, h, body[:300]))
    th.check(p[0] == "BYTES" and p[1] == [n] and p[2] == labels,
             "predict: the schema's labels as BYTES, length-prefixed", str(p)[:300])
    th.check(pp[0] == "FP32" and pp[1] == [n, 2] and th.close_to(column(pp[2], pp[1], 1), want)
             and th.close_to(column(pp[2], pp[1], 0), [1 - w for w in want], 1e-6),
             "predict_proba: [n, 2] as scikit-learn's predict_proba, P(>50K) matches", str(pp)[:300])

    # InferRequestedOutput("output__0") (binary_data=True by default) with JSON input
    # (set_data_from_numpy(x, binary_data=False)): no Inference-Header-Content-Length.
    req = dumps({"inputs": [{"name": "input", "shape": [n, 14], "datatype": "FP32", "data": flat}],
                 "outputs": [{"name": "output__0", "parameters": {"binary_data": True}}]})
    st, h, body = post_exact(d, "/v2/models/income/infer", req.encode(), {})
    ok = st == 200 and "inference-header-content-length" in h
    header, outs, whole = read_infer_result(h, body) if ok else ({}, {}, False)
    o0 = outs.get("output__0", (None, [], []))
    th.check(ok and whole and list(outs) == ["output__0"] and o0[1] == [n, 2]
             and th.close_to(column(o0[2], o0[1], 1), want),
             "per-output binary_data: true is honoured (Triton's output__0)", "%s %s %s" % (st, h, body[:300]))

    # InferRequestedOutput("predict", binary_data=False): JSON.
    req = dumps({"inputs": [{"name": "input", "shape": [n, 14], "datatype": "FP32", "data": flat}],
                 "outputs": [{"name": "predict", "parameters": {"binary_data": False}}]})
    st, h, body = post_exact(d, "/v2/models/income/infer", req.encode(), {})
    r = th.parse_json(body)
    th.check(st == 200 and "inference-header-content-length" not in h
             and r.get("outputs", [{}])[0].get("data") == labels,
             "binary_data: false gives JSON labels", "%s %s" % (st, body[:300]))

    # The extension: an output's binary_data: false overrides binary_data_output: true.
    req = dumps({"inputs": [{"name": "input", "shape": [n, 14], "datatype": "FP32", "data": flat}],
                 "parameters": {"binary_data_output": True},
                 "outputs": [{"name": "predict_proba", "parameters": {"binary_data": False}},
                             {"name": "predict"}]})
    st, h, body = post_exact(d, "/v2/models/income/infer", req.encode(), {})
    ok = st == 200 and "inference-header-content-length" in h
    header, outs, whole = read_infer_result(h, body) if ok else ({}, {}, False)
    hp = [o for o in header.get("outputs", []) if o.get("name") == "predict_proba"]
    th.check(ok and whole and hp and "data" in hp[0] and outs.get("predict", (0, 0, []))[2] == labels,
             "binary_data: false beats binary_data_output: true; the other output stays binary",
             "%s %s" % (st, body[:400]))

    # Raw binary request: Inference-Header-Content-Length: 0, the body one FP32 tensor.
    st, h, body = post_exact(d, "/v2/models/income/infer", raw,
                             {"Inference-Header-Content-Length": "0", "Content-Type": "application/octet-stream"})
    r = th.parse_json(body)
    pp = [o for o in r.get("outputs", []) if o.get("name") == "predict_proba"]
    th.check(st == 200 and pp and th.close_to(column(pp[0]["data"], pp[0]["shape"], 1), want),
             "a raw binary request is scored", "%s %s" % (st, body[:300]))
    st, _, body = post_exact(d, "/v2/models/income/infer", raw[:-3],
                             {"Inference-Header-Content-Length": "0", "Content-Type": "application/octet-stream"})
    th.check(st == 400 and "56 bytes each" in th.parse_json(body).get("error", ""),
             "a raw body that is not whole rows: 400 saying the row size", "%s %s" % (st, body[:300]))

    # FP16 (numpy float16 tobytes) and BF16 (tritonclient's serialize_bf16_tensor: a float32's
    # upper half) binary inputs score as the same row sent as FP32.
    row = [39.0, 3.0, 2048.0, 9.0, 13.0, 2.0, 1.0, 0.0, 4.0, 1.0, 0.0, 0.0, 40.0, 38.0]
    st2, _, r2 = th.jpost(d, "/v1/models/income/predict", {"rows": [row]})
    for dtype, packed in (("FP16", struct.pack("<14e", *row)),
                          ("BF16", b"".join(struct.pack("<f", v)[2:] for v in row))):
        hdr = dumps({"inputs": [{"name": "input", "shape": [1, 14], "datatype": dtype,
                                 "parameters": {"binary_data_size": 28}}]}).encode()
        st, h, body = post_exact(d, "/v2/models/income/infer", hdr + packed,
                                 {"Inference-Header-Content-Length": str(len(hdr))})
        r = th.parse_json(body)
        pp = [o for o in r.get("outputs", []) if o.get("name") == "predict_proba"]
        th.check(st == 200 and st2 == 200 and pp and pp[0]["data"][1] == r2.get("predictions", [None])[0],
                 "%s binary input scores as the same row in FP32" % dtype, "%s %s" % (st, body[:300]))

    # request_compression_algorithm="gzip" / "deflate": the body compressed whole, the header
    # length still the JSON's uncompressed size.
    hdr = dumps({"inputs": [{"name": "input", "shape": [n, 14], "datatype": "FP32",
                             "parameters": {"binary_data_size": len(raw)}}],
                 "outputs": [{"name": "predict_proba", "parameters": {"binary_data": False}}]}).encode()
    for coding, pack in (("gzip", gzip.compress), ("deflate", zlib.compress)):
        st, h, body = post_exact(d, "/v2/models/income/infer", pack(hdr + raw),
                                 {"Inference-Header-Content-Length": str(len(hdr)), "Content-Encoding": coding})
        r = th.parse_json(body)
        pp = [o for o in r.get("outputs", []) if o.get("name") == "predict_proba"]
        th.check(st == 200 and pp and th.close_to(column(pp[0]["data"], pp[0]["shape"], 1), want),
                 "a %s-compressed binary request (Content-Encoding: %s) is scored" % (coding, coding),
                 "%s %s" % (st, body[:300]))
    st, _, body = post_exact(d, "/v2/models/income/infer", gzip.compress(hdr + raw)[:-9],
                             {"Inference-Header-Content-Length": str(len(hdr)), "Content-Encoding": "gzip"})
    th.check(st == 400 and "not a whole gzip" in th.parse_json(body).get("error", ""),
             "a cut gzip stream: 400 saying so", "%s %s" % (st, body[:300]))
    st, _, body = post_exact(d, "/v2/models/income/infer", hdr + raw,
                             {"Inference-Header-Content-Length": str(len(hdr)), "Content-Encoding": "br"})
    th.check(st == 415 and "Content-Encoding" in th.parse_json(body).get("error", ""),
             "Content-Encoding: br: 415 naming what is read", "%s %s" % (st, body[:300]))

    # Triton's classification extension is refused, not silently ignored.
    req = dumps({"inputs": [{"name": "input", "shape": [n, 14], "datatype": "FP32", "data": flat}],
                 "outputs": [{"name": "output__0", "parameters": {"binary_data": True, "classification": 1}}]})
    st, _, body = post_exact(d, "/v2/models/income/infer", req.encode(), {})
    th.check(st == 400 and "classification" in th.parse_json(body).get("error", ""),
             "outputs[].parameters.classification: 400 saying it is not supported", "%s %s" % (st, body[:300]))


def test_tritonclient_explain(ctx, d):
    """Explanations as tritonclient asks for them (#16): InferRequestedOutput("contributions")
    (binary_data=True, its default) and InferRequestedOutput("leaves", binary_data=False) with
    a binary input; the bytes read back as InferResult.as_numpy would, against the v1 JSON
    answer for the same rows (FP32: the same doubles rounded once)."""
    rows, _, _ = complete_rows(ctx)
    n = len(rows)
    flat = [v for r in rows for v in r]
    raw = struct.pack("<%df" % len(flat), *flat)
    st, _, v1 = th.jpost(d, "/v1/models/income/predict", {"rows": rows, "explain": True, "leaves": True})
    hdr = dumps({"inputs": [{"name": "input", "shape": [n, 14], "datatype": "FP32",
                             "parameters": {"binary_data_size": len(raw)}}],
                 "outputs": [{"name": "contributions", "parameters": {"binary_data": True}},
                             {"name": "leaves", "parameters": {"binary_data": False}}]}).encode()
    st2, h, body = post_exact(d, "/v2/models/income/infer", hdr + raw,
                              {"Inference-Header-Content-Length": str(len(hdr))})
    ok = st == 200 and st2 == 200 and "inference-header-content-length" in h
    header, outs, whole = read_infer_result(h, body) if ok else ({}, {}, False)
    c = outs.get("contributions", (None, [], []))
    lv = outs.get("leaves", (None, [], []))
    want = [th.f32(x) for row in v1.get("contributions", []) for x in row]
    th.check(ok and whole and c[0] == "FP32" and c[1] == [n, 15] and c[2] == want,
             "tritonclient contributions (binary): FP32 [n, 15], the v1 answer's values as float32",
             "%s %s" % (st2, str(header)[:400]))
    th.check(lv[0] == "INT32" and lv[1] == [n, len(v1.get("leaves", [[]])[0])] and
             lv[2] == [x for row in v1.get("leaves", []) for x in row],
             "tritonclient leaves (binary_data false): INT32 JSON data, the v1 answer's", str(lv)[:300])
    # binary_data_output: true makes both binary, leaves as little-endian int32
    hdr = dumps({"inputs": [{"name": "input", "shape": [n, 14], "datatype": "FP32", "data": flat}],
                 "outputs": [{"name": "leaves"}, {"name": "predict"}],
                 "parameters": {"binary_data_output": True}}).encode()
    st, h, body = post_exact(d, "/v2/models/income/infer", hdr, {})
    header, outs, whole = read_infer_result(h, body) if st == 200 else ({}, {}, False)
    th.check(st == 200 and whole and outs.get("leaves", (0, 0, []))[2] == lv[2] and
             list(outs) == ["leaves", "predict"],
             "binary_data_output: true: leaves as binary INT32, in the order asked", "%s %s" % (st, str(header)[:300]))


# ---------------------------------------------------------------- MLServer / KServe

def pandas_request(records, names, types):
    """What mlserver.codecs.PandasCodec.encode_request(df).model_dump_json() sends for a
    DataFrame of RECORDS: one input per column, shape [n, 1] (inject_batch_dimension), int64
    -> INT64, float64 -> FP64 (NaN -> null), str -> BYTES with content_type "str"."""
    inputs = []
    for name in names:
        col = [rec.get(name) for rec in records]
        if types[name] == "categorical":
            inputs.append({"name": name, "shape": [len(col), 1], "datatype": "BYTES",
                           "parameters": {"content_type": "str"}, "data": col})
        elif all(isinstance(v, int) for v in col):
            inputs.append({"name": name, "shape": [len(col), 1], "datatype": "INT64", "data": col})
        else:
            inputs.append({"name": name, "shape": [len(col), 1], "datatype": "FP64",
                           "data": [None if v is None else float(v) for v in col]})
    return {"parameters": {"content_type": "pd"}, "inputs": inputs}


def test_mlserver(ctx, d):
    _, want, records = complete_rows(ctx)
    names = ctx.fnames
    types = {f["name"]: f["type"] for f in ctx.schema["features"]}
    body = pandas_request(records, names, types)
    st, _, r = th.jpost(d, "/v2/models/income/infer", body)
    outs = {o.get("name"): o for o in r.get("outputs", [])}
    pp = outs.get("predict_proba", {})
    th.check(st == 200 and th.close_to(column(pp.get("data", []), pp.get("shape", [0, 2]), 1), want),
             "MLServer's pandas codec: one input per column, BYTES categories, mixed INT64/FP64",
             json.dumps(r)[:400])
    th.check(outs.get("predict", {}).get("data") == [">50K" if p > 0.5 else "<=50K" for p in want],
             "MLServer's predict output: the class labels", json.dumps(r)[:400])

    # The same with the columns shuffled and shape [n] (KServe's own InferInput per column).
    body2 = pandas_request(records, list(reversed(names)), types)
    for inp in body2["inputs"]:
        inp["shape"] = [len(records)]
        inp.pop("parameters", None)
    st, _, r2 = th.jpost(d, "/v2/models/income/infer", body2)
    th.check(st == 200 and r2.get("outputs") == r.get("outputs"),
             "columns in any order, shape [n]: the same answer", json.dumps(r2)[:300])

    # Missing values a DataFrame holds: NaN in a float column is null.
    recs = [dict(rec) for rec in records[:2]]
    recs[0]["capital-gain"] = None
    recs[1]["capital-gain"] = 1.5
    st, _, r3 = th.jpost(d, "/v2/models/income/infer", pandas_request(recs, names, types))
    st4, _, r4 = th.jpost(d, "/v1/models/income/predict", {"records": [
        {k: v for k, v in rec.items() if v is not None} for rec in recs]})
    pp3 = [o for o in r3.get("outputs", []) if o.get("name") == "predict_proba"]
    th.check(st == 200 and st4 == 200 and pp3 and column(pp3[0]["data"], pp3[0]["shape"], 1) == r4.get("predictions"),
             "FP64 null is a missing value, as the same record without it in v1", json.dumps(r3)[:300])

    # Errors a pandas user meets: a column the model does not know, one it needs.
    bad = pandas_request(records, names, types)
    bad["inputs"][3]["name"] = "schooling"
    st, _, r = th.jpost(d, "/v2/models/income/infer", bad)
    th.check(st == 400 and 'no feature is named "schooling"' in r.get("error", "")
             and "'education'" in r.get("error", ""), "an unknown column: 400 naming the features", r)
    bad = pandas_request(records, [n for n in names if n != "race"], types)
    st, _, r = th.jpost(d, "/v2/models/income/infer", bad)
    th.check(st == 400 and "'race'" in r.get("error", ""), "a missing column: 400 naming it", r)


# ---------------------------------------------------------------- the tutorial's form

TUTORIAL = [("age", "39"), ("workclass", "State-gov"), ("education", "Bachelors"),
            ("marital-status", "Never-married"), ("occupation", "Adm-clerical"),
            ("relationship", "Not-in-family"), ("race", "White"), ("gender", "Male"),
            ("capital-gain", "2174"), ("capital-loss", "0"), ("hours-per-week", "40"),
            ("native-country", "United-States")]
BROWSER_ACCEPT = "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8"


def test_form(ctx, d):
    record = {k: (v if not v.isdigit() else int(v)) for k, v in TUTORIAL}
    st, _, want = th.jpost(d, "/predict", {"records": [record]})
    th.check(st == 200 and want.get("labels"), "the tutorial's record as JSON", want)
    # What a browser sends for <form method=post>: urlencoded, '+' for spaces.
    body = urllib.parse.urlencode(TUTORIAL).encode()
    st, h, r = post_exact(d, "/predict", body, {"Content-Type": "application/x-www-form-urlencoded",
                                                "Accept": "application/json"})
    th.check(st == 200 and th.parse_json(r) == want, "the tutorial's 12 fields posted as a form: the same answer",
             "%s %s" % (st, r[:300]))
    # multipart/form-data, as Chromium encodes it.
    boundary = "----WebKitFormBoundary7MA4YWxkTrZu0gW"
    parts = b"".join(b"--%s\r\nContent-Disposition: form-data; name=\"%s\"\r\n\r\n%s\r\n" %
                     (boundary.encode(), k.encode(), v.encode()) for k, v in TUTORIAL)
    st, h, r = post_exact(d, "/v1/models/income/predict", parts + b"--%s--\r\n" % boundary.encode(),
                          {"Content-Type": "multipart/form-data; boundary=" + boundary})
    th.check(st == 200 and th.parse_json(r) == want, "the same as multipart/form-data", "%s %s" % (st, r[:300]))
    # A browser without JavaScript asks for HTML and gets a page.
    st, h, r = post_exact(d, "/predict", body, {"Content-Type": "application/x-www-form-urlencoded",
                                                "Accept": BROWSER_ACCEPT})
    page = r.decode(errors="replace")
    th.check(st == 200 and h.get("content-type", "").startswith("text/html")
             and '<strong id="label">%s</strong>' % html.escape(want["labels"][0]) in page
             and '<span id="prediction">%.6g</span>' % want["predictions"][0] in page,
             "Accept: text/html gets a result page with the label and probability", page[:400])
    bad = urllib.parse.urlencode(TUTORIAL[:1] + [("workclass", "Astronaut")]).encode()
    st, h, r = post_exact(d, "/predict", bad, {"Content-Type": "application/x-www-form-urlencoded",
                                               "Accept": BROWSER_ACCEPT})
    th.check(st == 400 and "Astronaut" in r.decode(errors="replace") and h.get("content-type", "").startswith("text/html"),
             "a bad field: 400 with a page saying what is wrong", "%s %s" % (st, r[:300]))
    st, h, r = post_exact(d, "/predict", bad, {"Content-Type": "application/x-www-form-urlencoded"})
    th.check(st == 400 and "Astronaut" in th.parse_json(r).get("error", ""), "and JSON for other clients",
             "%s %s" % (st, r[:300]))
    # The form's explain checkbox ("on"), urlencoded and multipart: the JSON answer gains the
    # contributions the JSON request asking for them gets.
    st, _, want_x = th.jpost(d, "/predict", {"records": [record], "explain": True})
    for ctype, payload in (("application/x-www-form-urlencoded",
                            urllib.parse.urlencode(TUTORIAL + [("explain", "on")]).encode()),
                           ("multipart/form-data; boundary=" + boundary,
                            parts + b"--%s\r\nContent-Disposition: form-data; name=\"explain\"\r\n\r\non\r\n--%s--\r\n"
                            % (boundary.encode(), boundary.encode()))):
        st, h, r = post_exact(d, "/predict", payload, {"Content-Type": ctype, "Accept": "application/json"})
        got = th.parse_json(r)
        th.check(st == 200 and got == want_x and len(got.get("contributions", [[]])[0]) == 15,
                 "%s form with explain=on: the JSON request's contributions and feature_names" % ctype.split(";")[0],
                 "%s %s" % (st, r[:300]))
    st, h, r = post_exact(d, "/predict", urllib.parse.urlencode(TUTORIAL + [("explain", "on")]).encode(),
                          {"Content-Type": "application/x-www-form-urlencoded", "Accept": BROWSER_ACCEPT})
    page = r.decode(errors="replace")
    th.check(st == 200 and '<table id="contributions">' in page and "<th>bias</th>" in page,
             "a browser without JavaScript gets the contributions as a table on the page", page[:600])
    # curl -d with a JSON body still sends Content-Type: application/x-www-form-urlencoded.
    st, _, r = post_exact(d, "/predict", json.dumps({"records": [record]}).encode(),
                          {"Content-Type": "application/x-www-form-urlencoded"})
    th.check(st == 200 and th.parse_json(r) == want, "curl -d '{...}' (urlencoded header, JSON body) stays JSON",
             "%s %s" % (st, r[:300]))
    st, _, r = post_exact(d, "/predict", b"<x/>", {"Content-Type": "application/xml"})
    th.check(st == 415 and "form" in th.parse_json(r).get("error", ""), "XML: 415 naming what is read",
             "%s %s" % (st, r[:300]))


# ---------------------------------------------------------------- versions, metadata, errors

def test_versions(ctx, d):
    st, _, meta = th.jget(d, "/v2/models/income")
    st1, _, meta1 = th.jget(d, "/v2/models/income/versions/1")
    th.check(st == 200 and st1 == 200 and meta == meta1 and meta.get("versions") == ["1"],
             "GET /v2/models/income/versions/1 is the advertised version's metadata", meta1)
    th.check(meta.get("platform") == "grove_xgboost", "platform is <project>_<format>", meta)
    names = [o.get("name") for o in meta.get("outputs", [])]
    th.check(names == ["predict", "predict_proba", "output__0", "contributions", "leaves"]
             and all(isinstance(v, str) for v in (meta.get("parameters") or {"x": 0}).values())
             and "predict_proba" in meta.get("parameters", {}).get("outputs", ""),
             "metadata lists the outputs and says what each holds", meta)
    st, _, r = th.jget(d, "/v2/models/income/versions/1/ready")
    th.check(st == 200 and r.get("ready") is True, "GET /v2/models/income/versions/1/ready", r)
    for path, method in (("/v2/models/income/versions/2/ready", "GET"), ("/v2/models/income/versions/999", "GET"),
                         ("/v2/models/income/versions/999/infer", "POST")):
        st, h, body = d.request(method, path, dumps({"inputs": []}) if method == "POST" else None)
        r = th.parse_json(body)
        th.check(st == 404 and 'no version "' in r.get("error", "") and h.get("content-type") == "application/json",
                 "%s %s: 404 naming the versions there are" % (method, path), "%s %s" % (st, body[:200]))
    row = ctx.rows[ctx.complete[0]]
    st, _, r = th.jpost(d, "/v2/models/income/versions/1/infer",
                        {"inputs": [{"name": "input", "shape": [1, 14], "datatype": "FP32", "data": row}]})
    th.check(st == 200 and r.get("model_version") == "1" and r.get("model_name") == "income",
             "answers carry model_version", r)


def test_error_shapes(ctx, d):
    st, h, body = d.request("GET", "/v2/models/income/infer")
    th.check(st == 405 and h.get("allow") == "POST" and "error" in th.parse_json(body),
             "405 carries Allow: POST", "%s %s" % (st, h))
    st, h, body = d.request("POST", "/v2/models/income", "{}")
    th.check(st == 405 and h.get("allow") == "GET, HEAD", "405 on a GET route carries Allow: GET, HEAD",
             "%s %s" % (st, h))
    st, h, body = d.request("POST", "/v1/nothing/here", "{}")
    th.check(st == 404 and "error" in th.parse_json(body), "POST to an unknown /v1 path is 404, not 405",
             "%s %s" % (st, body[:200]))


def main():
    th.run_suite("grove-clients-", "clients", ["--threads", "1", "--workers", "1"], lambda ctx, d: [
        ("tritonclient", lambda: test_tritonclient(ctx, d)),
        ("tritonclient explain", lambda: test_tritonclient_explain(ctx, d)),
        ("mlserver", lambda: test_mlserver(ctx, d)),
        ("form", lambda: test_form(ctx, d)),
        ("versions", lambda: test_versions(ctx, d)),
        ("error shapes", lambda: test_error_shapes(ctx, d))])


if __name__ == "__main__":
    main()
    sys.exit(1 if th.failed else 0)
