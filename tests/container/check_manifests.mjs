// Offline checks of deploy/: the Kubernetes objects `kubectl kustomize` rendered, against the
// Kubernetes object schemas (npm kubernetes-models), and the KServe objects against
// kserve.schema.json (KServe's CRD fields, see its $comment); then what grove needs of them
// (probes, grace period, non-root, read-only root, scrape annotations, the runtime's args).
//
// usage: node check_manifests.mjs --rendered FILE [--rendered FILE...] --variant NAME...
//          --kserve DIR --schema FILE
// Prints one JSON object per line: {"ok": bool, "what": "...", "detail": "..."}; the caller
// (test_container.py) turns them into TAP. Exits 0 even when checks fail; 2 on bad usage.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import Ajv from "ajv";
import YAML from "yaml";
import { Deployment } from "kubernetes-models/apps/v1/Deployment";
import { HorizontalPodAutoscaler } from "kubernetes-models/autoscaling/v2/HorizontalPodAutoscaler";
import { PodDisruptionBudget } from "kubernetes-models/policy/v1/PodDisruptionBudget";
import { Container } from "kubernetes-models/v1/Container";
import { PersistentVolumeClaim } from "kubernetes-models/v1/PersistentVolumeClaim";
import { Service } from "kubernetes-models/v1/Service";

const MODELS = {
  "apps/v1/Deployment": Deployment,
  "v1/Service": Service,
  "autoscaling/v2/HorizontalPodAutoscaler": HorizontalPodAutoscaler,
  "policy/v1/PodDisruptionBudget": PodDisruptionBudget,
  "v1/PersistentVolumeClaim": PersistentVolumeClaim,
};

function check(ok, what, detail = "") {
  console.log(JSON.stringify({ ok: Boolean(ok), what, detail: ok ? "" : String(detail) }));
}

// Validates OBJ with its kubernetes-models class: "" when valid, else the reasons.
function schemaErrors(obj) {
  const Model = MODELS[`${obj.apiVersion}/${obj.kind}`];
  if (!Model) return `no schema for ${obj.apiVersion} ${obj.kind}`;
  try {
    new Model(obj).validate();
    return "";
  } catch (e) {
    return e.message;
  }
}

function containerErrors(obj) {
  try {
    new Container(obj).validate();
    return "";
  } catch (e) {
    return e.message;
  }
}

function env(container, name) {
  return (container.env || []).find((e) => e.name === name)?.value;
}

// True when every label of SELECTOR is among LABELS.
function selects(selector, labels) {
  return Object.entries(selector || {}).every(([k, v]) => labels?.[k] === v) &&
    Object.keys(selector || {}).length > 0;
}

function checkKubernetes(docs, variant) {
  const byKind = (k) => docs.filter((d) => d.kind === k);
  for (const d of docs) {
    const errs = schemaErrors(d);
    check(errs === "", `${variant}: ${d.kind} ${d.metadata?.name} matches the Kubernetes schema`, errs);
  }
  const kinds = docs.map((d) => d.kind).sort().join(",");
  const want = ["Deployment", "HorizontalPodAutoscaler", "PodDisruptionBudget", "Service"];
  check(want.every((k) => byKind(k).length === 1),
        `${variant}: one Deployment, Service, HorizontalPodAutoscaler and PodDisruptionBudget`, kinds);
  const [dep] = byKind("Deployment");
  if (!dep) return;
  const pod = dep.spec.template;
  const c = pod.spec.containers.find((x) => x.name === "grove") || {};
  const ports = Object.fromEntries((c.ports || []).map((p) => [p.name, p.containerPort]));
  const portOf = (p) => (typeof p === "string" ? ports[p] : p);
  check(c.readinessProbe?.httpGet?.path === "/v2/health/ready" &&
          portOf(c.readinessProbe.httpGet.port) === 8080,
        `${variant}: readiness probe GETs /v2/health/ready on 8080`, JSON.stringify(c.readinessProbe));
  check(c.livenessProbe?.httpGet?.path === "/v2/health/live" &&
          portOf(c.livenessProbe.httpGet.port) === 8080,
        `${variant}: liveness probe GETs /v2/health/live on 8080`, JSON.stringify(c.livenessProbe));
  const grace = Number(env(c, "GROVE_SHUTDOWN_GRACE"));
  const preStop = c.lifecycle?.preStop?.sleep?.seconds || 0;
  const tgps = pod.spec.terminationGracePeriodSeconds;
  check(grace > 0 && tgps >= preStop + grace + 1 && tgps <= preStop + grace + 10,
        `${variant}: terminationGracePeriodSeconds (${tgps}) covers preStop ${preStop} s + --shutdown-grace ${grace} s, with a margin under 10 s`,
        `tgps ${tgps}, preStop ${preStop}, grace ${grace}`);
  const psc = pod.spec.securityContext || {};
  const csc = c.securityContext || {};
  check(psc.runAsNonRoot === true && psc.runAsUser > 0 && csc.readOnlyRootFilesystem === true &&
          csc.allowPrivilegeEscalation === false && (csc.capabilities?.drop || []).includes("ALL"),
        `${variant}: non-root, read-only root filesystem, no privilege escalation, no capabilities`,
        JSON.stringify({ psc, csc }));
  const r = c.resources || {};
  check(r.requests?.cpu && r.requests?.memory && r.limits?.cpu && r.limits?.memory,
        `${variant}: CPU and memory requests and limits`, JSON.stringify(r));
  const a = pod.metadata.annotations || {};
  check(a["prometheus.io/scrape"] === "true" && Number(a["prometheus.io/port"]) === 8080 &&
          a["prometheus.io/path"] === "/metrics",
        `${variant}: Prometheus scrape annotations point at :8080/metrics`, JSON.stringify(a));
  check(/\/grove:[^:]+$/.test(c.image || "") && c.image !== "grove",
        `${variant}: the image is set by kustomization.yaml`, c.image);
  const modelPath = (c.args || [])[(c.args || []).length - 1];
  const mount = (c.volumeMounts || []).find((m) => m.mountPath === modelPath);
  const vol = (pod.spec.volumes || []).find((v) => v.name === mount?.name);
  check(c.args?.[0] === "serve" && mount?.readOnly === true && vol &&
          env(c, "GROVE_MODEL_NAME"),
        `${variant}: serves the model directory mounted read-only at ${modelPath} under GROVE_MODEL_NAME`,
        JSON.stringify({ args: c.args, mount, vol }));
  const [svc] = byKind("Service");
  check(svc && selects(svc.spec.selector, pod.metadata.labels) &&
          svc.spec.ports.every((p) => portOf(p.targetPort) === 8080),
        `${variant}: the Service selects the pods and targets port 8080`, JSON.stringify(svc?.spec));
  const [hpa] = byKind("HorizontalPodAutoscaler");
  check(hpa && hpa.spec.scaleTargetRef.kind === "Deployment" &&
          hpa.spec.scaleTargetRef.name === dep.metadata.name && hpa.spec.minReplicas >= 2 &&
          dep.spec.replicas === undefined,
        `${variant}: the HPA scales the Deployment from 2 (and the Deployment leaves replicas to it)`,
        JSON.stringify(hpa?.spec));
  const [pdb] = byKind("PodDisruptionBudget");
  check(pdb && selects(pdb.spec.selector.matchLabels, pod.metadata.labels) &&
          pdb.spec.minAvailable < hpa?.spec.minReplicas,
        `${variant}: the PodDisruptionBudget selects the pods and lets a drain proceed`,
        JSON.stringify(pdb?.spec));
  return { vol, docs };
}

function checkKserve(dir, schemaFile) {
  const ajv = new Ajv({ allErrors: true, strict: true });
  const schema = JSON.parse(readFileSync(schemaFile, "utf8"));
  ajv.addSchema(schema);
  const sr = YAML.parse(readFileSync(join(dir, "servingruntime.yaml"), "utf8"));
  const isvc = YAML.parse(readFileSync(join(dir, "inferenceservice.yaml"), "utf8"));
  const vsr = ajv.getSchema(`${schema.$id}#/definitions/servingRuntime`);
  const visvc = ajv.getSchema(`${schema.$id}#/definitions/inferenceService`);
  check(vsr(sr), "ServingRuntime matches KServe's CRD fields", ajv.errorsText(vsr.errors));
  check(visvc(isvc), "InferenceService matches KServe's CRD fields", ajv.errorsText(visvc.errors));
  // The checker itself must be able to fail: a misspelt field and a wrong type are refused.
  const typo = structuredClone(sr);
  typo.spec.supportedModelFormat = typo.spec.supportedModelFormats;
  const badType = structuredClone(isvc);
  badType.spec.predictor.model.protocolVersion = "v3";
  check(!vsr(typo) && !visvc(badType), "the KServe schema refuses a misspelt field and an unknown protocol");
  const c = (sr.spec.containers || []).find((x) => x.name === "kserve-container");
  check(c, "the runtime's container is named kserve-container (KServe merges the predictor into it)");
  if (!c) return;
  const errs = containerErrors(c);
  check(errs === "", "the runtime's container matches the Kubernetes Container schema", errs);
  const args = c.args || [];
  const port = Number((args.find((x) => x.startsWith("--port=")) || "").slice(7));
  check(args[0] === "serve" && args.includes("--model-name={{.Name}}") &&
          args[args.length - 1] === "/mnt/models",
        "the runtime serves /mnt/models under {{.Name}}", JSON.stringify(args));
  check(port === 8080 && c.ports?.[0]?.containerPort === port &&
          c.readinessProbe?.httpGet?.path === "/v2/health/ready" && c.readinessProbe.httpGet.port === port,
        "the runtime listens, exposes and probes readiness on 8080", JSON.stringify(c));
  check(c.securityContext?.runAsNonRoot === true && c.securityContext?.readOnlyRootFilesystem === true,
        "the runtime's container runs non-root on a read-only root filesystem", JSON.stringify(c.securityContext));
  check(JSON.stringify(sr.spec.protocolVersions) === '["v2"]',
        "the runtime claims the Open Inference Protocol v2 only", JSON.stringify(sr.spec.protocolVersions));
  const formats = sr.spec.supportedModelFormats || [];
  // What grove reads as KServe users store it: XGBoost JSON/UBJSON, LightGBM text (model.bst
  // included), converted scikit-learn; nothing is auto-selected, since KServe's own xgboost
  // runtime also reads legacy binary .bst files, which grove refuses.
  check(formats.length > 0 && formats.every((f) => ["xgboost", "lightgbm", "sklearn"].includes(f.name)),
        "the runtime claims only xgboost, lightgbm and (converted) sklearn", JSON.stringify(formats));
  check(formats.every((f) => f.autoSelect === false), "no format is auto-selected", JSON.stringify(formats));
  const m = isvc.spec.predictor.model;
  check(m.runtime === sr.metadata.name && m.protocolVersion === "v2" &&
          formats.some((f) => f.name === m.modelFormat.name &&
                              (m.modelFormat.version === undefined || f.version === m.modelFormat.version)),
        "the InferenceService names the runtime, a format and version it lists, and protocol v2",
        JSON.stringify(m));
}

function main(argv) {
  const rendered = [];
  const variants = [];
  let kserve = null;
  let schema = null;
  for (let i = 0; i < argv.length; i += 2) {
    if (argv[i] === "--rendered") rendered.push(argv[i + 1]);
    else if (argv[i] === "--variant") variants.push(argv[i + 1]);
    else if (argv[i] === "--kserve") kserve = argv[i + 1];
    else if (argv[i] === "--schema") schema = argv[i + 1];
    else {
      console.error(`check_manifests: unknown argument ${argv[i]}`);
      process.exit(2);
    }
  }
  if (rendered.length !== variants.length || !kserve || !schema) {
    console.error("usage: node check_manifests.mjs (--rendered FILE --variant NAME)... --kserve DIR --schema FILE");
    process.exit(2);
  }
  // The Kubernetes checker must be able to fail too: a port that is not a number.
  const bad = { apiVersion: "v1", kind: "Service", metadata: { name: "x" },
                spec: { ports: [{ port: "eighty" }] } };
  check(schemaErrors(bad) !== "", "the Kubernetes schema check refuses a Service whose port is a string");
  const results = rendered.map((f, i) =>
    checkKubernetes(YAML.parseAllDocuments(readFileSync(f, "utf8")).map((d) => d.toJS()).filter(Boolean),
                    variants[i]));
  // The PVC variant: its volume is the claim it creates, not a ConfigMap.
  const pvc = results.find((r, i) => variants[i] === "pvc");
  if (pvc) {
    const claim = pvc.docs.find((d) => d.kind === "PersistentVolumeClaim");
    check(claim && pvc.vol?.persistentVolumeClaim?.claimName === claim.metadata.name &&
            !pvc.vol.configMap,
          "pvc: the model volume is the PersistentVolumeClaim it creates", JSON.stringify(pvc.vol));
  }
  checkKserve(kserve, schema);
}

main(process.argv.slice(2));
