// Validates Kubernetes manifests offline: every YAML document is checked against the JSON schema of its
// apiVersion and kind, as generated from the Kubernetes OpenAPI specification by kubernetes-models (types,
// required fields, enums such as mountPropagation), and strictly: a field the API type does not have (a typo,
// which the API server would drop with only a warning) is an error too, found from the package's type
// declarations. Exit 0 when every document is valid, 1 otherwise.
//
//   node validate.mjs FILE.yaml...          validate, one line per document
//   node validate.mjs --json FILE.yaml...   print the documents as one JSON array (for checks written elsewhere)
//
// Not checked: custom resources (their kinds are reported as unknown, which fails) and what the API server
// decides at admission (CSI volume attributes, names of other objects).
import { existsSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join, resolve } from "node:path";
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

// Strict check: the type declarations (.d.ts) of kubernetes-models name every field of every API type.
const modulesRoot = join(packageRoot, "..");
const declarations = new Map();
function declarationOf(path) {
  if (declarations.has(path)) return declarations.get(path);
  let parsed = null;
  if (existsSync(path)) {
    const src = readFileSync(path, "utf8").replace(/\/\*[\s\S]*?\*\//g, "");
    const imports = new Map();
    for (const m of src.matchAll(/import\s*\{([^}]*)\}\s*from\s*"([^"]+)"/g)) {
      const from = m[2].startsWith(".") ? resolve(dirname(path), m[2].replace(/\.js$/, "")) : join(modulesRoot, m[2]);
      for (const name of m[1].split(",").map((n) => n.trim()).filter(Boolean)) imports.set(name.split(/\s+as\s+/).pop(), `${from}.d.ts`);
    }
    const start = src.search(/export interface I\w+[^{]*\{/);
    if (start >= 0) parsed = { imports, fields: fieldsOf(src, src.indexOf("{", start) + 1) };
  }
  declarations.set(path, parsed);
  return parsed;
}
// The interface's fields and their type text, read at the interface body's own nesting level.
function fieldsOf(src, i) {
  const fields = new Map();
  let depth = 0;
  while (i < src.length) {
    const c = src[i];
    if (c === "}" && depth === 0) break;
    const m = depth === 0 ? /^"([^"]+)"\??:\s*/.exec(src.slice(i, i + 200)) : null;
    if (m) {
      let j = i + m[0].length, d = 0;
      while (j < src.length && !(d === 0 && src[j] === ";")) {
        if ("{<(".includes(src[j])) d++;
        if ("}>)".includes(src[j])) d--;
        j++;
      }
      fields.set(m[1], src.slice(i + m[0].length, j).trim());
      i = j + 1;
      continue;
    }
    if (c === "{") depth++;
    if (c === "}") depth--;
    i++;
  }
  return fields;
}
// Unknown fields in value, whose type is typeText as written in the declaration at path.
function unknownFields(value, typeText, path, where, out) {
  if (value === null || typeof value !== "object") return;
  const array = /^Array<([\s\S]*)>$/.exec(typeText);
  if (array) {
    if (Array.isArray(value)) value.forEach((v, k) => unknownFields(v, array[1].trim(), path, `${where}[${k}]`, out));
    return;
  }
  const map = /^\{\s*\[key: string\]:\s*([\s\S]*?);?\s*\}$/.exec(typeText);
  if (map) {
    for (const [k, v] of Object.entries(value)) unknownFields(v, map[1].trim(), path, `${where}.${k}`, out);
    return;
  }
  const decl = declarationOf(path);
  const target = /^I\w+$/.test(typeText) ? decl?.imports.get(typeText) : null;
  if (target) checkObject(value, target, where, out);
}
function checkObject(value, path, where, out) {
  const decl = declarationOf(path);
  if (!decl) return; // a type alias (quantities, int-or-string, free-form JSON): nothing to check inside
  for (const [k, v] of Object.entries(value)) {
    if (!decl.fields.has(k)) out.push(`${where}.${k}: unknown field`);
    else unknownFields(v, decl.fields.get(k), path, `${where}.${k}`, out);
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
    const unknown = [];
    checkObject(value, join(packageRoot, ...value.apiVersion.split("/"), `${value.kind}.d.ts`), "data", unknown);
    if (unknown.length > 0) throw new Error(unknown.join("; "));
    console.log(`${name}: valid ${value.apiVersion} ${value.kind}`);
  } catch (e) {
    console.error(`${name}: INVALID: ${e.message}`);
    failed++;
  }
}
console.log(`${docs.length - failed} valid, ${failed} invalid`);
process.exit(failed === 0 ? 0 : 1);
