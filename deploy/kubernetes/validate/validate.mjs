#!/usr/bin/env node
// Schema validation of rendered Kubernetes manifests (the output of `kubectl kustomize`), offline:
// every object is checked against the Kubernetes OpenAPI schema compiled into the npm package
// kubernetes-models (and @kubernetes-models/prometheus-operator for ServiceMonitor), and every
// ConfigMap entry named *.json must parse as JSON. Secret data is read as the API server reads it.
//
//   node validate.mjs FILE...        (FILE: multi-document YAML; '-' reads stdin)
//
// Prints one line per object and a summary; exits 1 if any object fails, 2 on bad usage or YAML.
// The schemas do not reject unknown fields; deploy's ManifestsTest checks those.
import { readFileSync } from "node:fs";
import { parseAllDocuments } from "yaml";

// apiVersion → module holding its models; the export named like the kind validates it
const MODULES = {
  "v1": "kubernetes-models/v1",
  "apps/v1": "kubernetes-models/apps/v1",
  "batch/v1": "kubernetes-models/batch/v1",
  "policy/v1": "kubernetes-models/policy/v1",
  "rbac.authorization.k8s.io/v1": "kubernetes-models/rbac.authorization.k8s.io/v1",
  "networking.k8s.io/v1": "kubernetes-models/networking.k8s.io/v1",
  "coordination.k8s.io/v1": "kubernetes-models/coordination.k8s.io/v1",
  "discovery.k8s.io/v1": "kubernetes-models/discovery.k8s.io/v1",
  "autoscaling/v2": "kubernetes-models/autoscaling/v2",
  "monitoring.coreos.com/v1": "@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1",
};

const files = process.argv.slice(2);
if (files.length === 0) {
  console.error("usage: node validate.mjs FILE... (rendered manifests, e.g. kubectl kustomize DIR > FILE)");
  process.exit(2);
}

let checked = 0;
let failed = 0;
for (const file of files) {
  const text = readFileSync(file === "-" ? 0 : file, "utf8");
  const docs = parseAllDocuments(text);
  for (const doc of docs) {
    if (doc.errors.length > 0) {
      console.error(`${file}: YAML error: ${doc.errors[0].message}`);
      process.exit(2);
    }
    const obj = doc.toJS();
    if (obj == null) {
      continue; // empty document
    }
    const name = `${obj.kind ?? "?"}/${obj.metadata?.name ?? "?"}`;
    const problems = await validate(obj);
    checked++;
    if (problems.length === 0) {
      console.log(`ok   ${file}: ${obj.apiVersion} ${name}`);
    } else {
      failed++;
      for (const p of problems) {
        console.log(`FAIL ${file}: ${obj.apiVersion} ${name}: ${p}`);
      }
    }
  }
}
console.log(`${checked - failed} passed, ${failed} failed`);
process.exit(failed === 0 ? 0 : 1);

async function validate(obj) {
  if (typeof obj !== "object" || Array.isArray(obj)) {
    return ["not an object"];
  }
  const modulePath = MODULES[obj.apiVersion];
  if (!modulePath) {
    return [`no schema for apiVersion '${obj.apiVersion}' (add it to MODULES in validate.mjs)`];
  }
  const models = await import(modulePath);
  const Model = models[obj.kind];
  if (typeof Model !== "function") {
    return [`no kind '${obj.kind}' in ${obj.apiVersion}`];
  }
  const problems = [];
  if (obj.kind === "Secret" && obj.data != null) {
    // kustomize writes long base64 values over several lines; the API server's decoder (Go's
    // encoding/base64) skips line breaks, the schema's "byte" format does not: join them first
    obj.data = Object.fromEntries(Object.entries(obj.data).map(([k, v]) => [k, String(v).replace(/[\r\n]/g, "")]));
  }
  try {
    new Model(obj).validate();
  } catch (e) {
    problems.push(...String(e.message).split("\n").filter((l) => l.trim() !== ""));
  }
  if (!obj.metadata?.name) {
    problems.push("metadata.name is missing");
  }
  if (obj.kind === "ConfigMap") {
    for (const [key, value] of Object.entries(obj.data ?? {})) {
      if (key.endsWith(".json")) {
        try {
          JSON.parse(value);
        } catch (e) {
          problems.push(`data['${key}'] is not valid JSON: ${e.message}`);
        }
      }
    }
  }
  return problems;
}
