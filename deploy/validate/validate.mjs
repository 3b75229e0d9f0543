// Validates Kubernetes manifests offline: every YAML document is checked against the JSON schema of its
// apiVersion and kind, as generated from the Kubernetes OpenAPI specification by kubernetes-models (types,
// required fields, enums such as mountPropagation). Exit 0 when every document is valid, 1 otherwise.
//
//   node validate.mjs FILE.yaml...          validate, one line per document
//   node validate.mjs --json FILE.yaml...   print the documents as one JSON array (for checks written elsewhere)
//
// Not checked: fields the schema does not know (Kubernetes' schemas allow them; the API server drops them with a
// warning), and custom resources (their kinds are reported as unknown, which fails).
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { pathToFileURL } from "node:url";
import { parseAllDocuments } from "yaml";

const args = process.argv.slice(2);
const asJson = args[0] === "--json";
const files = asJson ? args.slice(1) : args;
if (files.length === 0) {
  console.error("usage: node validate.mjs [--json] FILE.yaml...");
  process.exit(2);
}

const docs = [];
let failed = 0;
for (const file of files) {
  for (const doc of parseAllDocuments(readFileSync(file, "utf8"))) {
    if (doc.errors.length > 0) {
      console.error(`${file}: YAML error: ${doc.errors.map((e) => e.message).join("; ")}`);
      failed++;
      continue;
    }
    const value = doc.toJS();
    if (value !== null && value !== undefined) docs.push({ file, value });
  }
}
if (asJson) {
  process.stdout.write(JSON.stringify(docs.map((d) => d.value)));
  process.exit(failed === 0 ? 0 : 1);
}

// kubernetes-models/<group>/<version>/<Kind>.js; the core group ("v1") has no group folder.
const packageRoot = dirname(createRequire(import.meta.url).resolve("kubernetes-models/package.json"));
async function modelOf(apiVersion, kind) {
  const path = join(packageRoot, ...apiVersion.split("/"), `${kind}.js`);
  try {
    const module = await import(pathToFileURL(path).href);
    return module[kind];
  } catch {
    return undefined;
  }
}

for (const { file, value } of docs) {
  const name = `${file}: ${value.kind ?? "?"}/${value.metadata?.name ?? "?"}`;
  if (typeof value.apiVersion !== "string" || typeof value.kind !== "string") {
    console.error(`${name}: no apiVersion or kind`);
    failed++;
    continue;
  }
  const Model = await modelOf(value.apiVersion, value.kind);
  if (!Model) {
    console.error(`${name}: unknown kind ${value.kind} in ${value.apiVersion} (no schema)`);
    failed++;
    continue;
  }
  try {
    new Model(value).validate();
    console.log(`${name}: valid ${value.apiVersion} ${value.kind}`);
  } catch (e) {
    console.error(`${name}: INVALID: ${e.message}`);
    failed++;
  }
}
console.log(`${docs.length - failed} valid, ${failed} invalid`);
process.exit(failed === 0 ? 0 : 1);
