// Parses every PromQL expression of a Grafana dashboard with the Prometheus project's own grammar
// (@prometheus-io/lezer-promql, the parser of Prometheus' web UI), after putting sample values in for Grafana's
// variables. Exit 0 when every expression parses, 1 otherwise.
//
//   node promql.mjs DASHBOARD.json
import { readFileSync } from "node:fs";
import { parser } from "@prometheus-io/lezer-promql";

const file = process.argv[2];
if (!file) {
  console.error("usage: node promql.mjs DASHBOARD.json");
  process.exit(2);
}
const dashboard = JSON.parse(readFileSync(file, "utf8"));
const expressions = [];
(function walk(node, where) {
  if (Array.isArray(node)) node.forEach((n, i) => walk(n, `${where}[${i}]`));
  else if (node && typeof node === "object") {
    if (typeof node.expr === "string") expressions.push({ where: `${where} "${node.legendFormat ?? ""}"`, expr: node.expr });
    for (const [k, v] of Object.entries(node)) walk(v, `${where}.${k}`);
  }
})(dashboard.panels, "panels");

// Grafana replaces these before Prometheus sees the query.
const substitute = (expr) => expr.replaceAll("$__rate_interval", "1m").replaceAll("$__interval", "1m").replaceAll("$__range", "1h");

let failed = 0;
for (const { where, expr } of expressions) {
  const text = substitute(expr);
  const errors = [];
  parser.parse(text).iterate({
    enter: (n) => {
      if (n.type.isError) errors.push(`at ${n.from}: "${text.slice(Math.max(0, n.from - 15), n.to + 15)}"`);
    },
  });
  if (errors.length > 0) {
    console.error(`${where}: syntax error ${errors.join("; ")}\n  ${expr}`);
    failed++;
  }
}
console.log(`${expressions.length - failed} expressions parse, ${failed} do not`);
process.exit(failed === 0 && expressions.length > 0 ? 0 : 1);
