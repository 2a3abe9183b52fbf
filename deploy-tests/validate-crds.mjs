// Validates the custom resources of rendered manifests (which kubernetes-validate only
// warns about) against their CRDs' OpenAPI schemas, as shipped by the
// @kubernetes-models packages: KEDA's ScaledObject and TriggerAuthentication, the
// Prometheus Operator's ServiceMonitor.
//
//   node deploy-tests/validate-crds.mjs rendered.yaml [more.yaml …]
//
// Exits 1 when a custom resource is invalid, or when its API group has no validator
// here (an unchecked resource is a failure, not a skip). Built-in kinds are left to
// kubernetes-validate. Run with NODE_PATH pointing at the node_modules that
// .ci/deploy-checks.sh installs.

import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";
import { pathToFileURL } from "node:url";

// The packages live in NODE_PATH (.tools/node/node_modules), not beside this script.
// ES modules ignore NODE_PATH, and the models export ESM entry points only: import them
// by file path (their own imports then resolve inside that node_modules).
const modules = process.env.NODE_PATH;
if (!modules) {
  console.error("validate-crds.mjs: set NODE_PATH to the node_modules holding the validators");
  process.exit(2);
}
const esm = (subpath) => import(pathToFileURL(path.join(modules, subpath, "index.js")).href);
const { parseAllDocuments } = createRequire(path.join(modules, "noop.js"))("yaml");
const validators = {
  "keda.sh/v1alpha1": await esm("@kubernetes-models/keda/keda.sh/v1alpha1"),
  "monitoring.coreos.com/v1": await esm(
    "@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1",
  ),
};

// Core groups (no dot, or *.k8s.io) are kubernetes-validate's job.
const isBuiltIn = (apiVersion) => {
  const group = apiVersion.includes("/") ? apiVersion.split("/")[0] : "";
  return !group.includes(".") || group.endsWith(".k8s.io");
};

const files = process.argv.slice(2);
if (files.length === 0) {
  console.error("usage: validate-crds.mjs FILE…");
  process.exit(2);
}

let failures = 0;
let checked = 0;
for (const file of files) {
  for (const doc of parseAllDocuments(readFileSync(file, "utf8"))) {
    if (doc.errors.length > 0) {
      console.error(`FAIL ${file}: YAML error: ${doc.errors[0].message}`);
      failures++;
      continue;
    }
    const obj = doc.toJS();
    if (!obj || isBuiltIn(obj.apiVersion ?? "")) continue;
    const where = `${file}: ${obj.kind}/${obj.metadata?.name} (${obj.apiVersion})`;
    const Model = validators[obj.apiVersion]?.[obj.kind];
    if (!Model) {
      console.error(`FAIL ${where}: no schema validator for this kind`);
      failures++;
      continue;
    }
    try {
      new Model(obj).validate();
      console.log(`ok   ${where}`);
      checked++;
    } catch (err) {
      console.error(`FAIL ${where}: ${err.message}`);
      failures++;
    }
  }
}
console.log(`custom resources: ${checked} valid, ${failures} failed`);
process.exit(failures > 0 ? 1 : 0);
