// Parses and type-checks every .kql file in queries/ with Microsoft's Kusto language service,
// against the tables in infra/tables.json (what `handler schema` generates). Any diagnostic
// (syntax error, unknown column or table, wrong type) fails. Run by scripts/test.sh.
"use strict";
const fs = require("fs");
const path = require("path");

const root = path.join(__dirname, "..", "..");
const kusto = path.join(root, "node_modules", "@kusto", "language-service-next");
require(path.join(kusto, "bridge.js"));
require(path.join(kusto, "Kusto.Language.Bridge.js"));
const K = Kusto.Language;

function globals() {
  const schema = JSON.parse(fs.readFileSync(path.join(root, "infra", "tables.json"), "utf8"));
  const tables = Object.entries(schema.tables).map(([name, columns]) => {
    const declaration = columns.map((c) => `${c.name}:${c.type.toLowerCase()}`).join(", ");
    return K.Symbols.TableSymbol.From(`(${declaration})`).WithName(name);
  });
  const database = new K.Symbols.DatabaseSymbol.$ctor1("workspace", tables);
  return K.GlobalState.Default.WithDatabase(database);
}

function diagnostics(query, state) {
  const found = K.KustoCode.ParseAndAnalyze(query, state).GetDiagnostics();
  const messages = [];
  for (let i = 0; i < found.Count; i++) {
    const d = found.getItem(i);
    messages.push(`${d.Severity}: ${d.Message} (at ${d.Start})`);
  }
  return messages;
}

// The workspace functions in queries/functions/: each file's first line is its signature
// (`// Name(param:type, ...)`), the rest its body. Every query sees them as `let` statements, as
// it sees them in the workspace the Bicep deploys them to.
function workspaceFunctions() {
  const directory = path.join(root, "queries", "functions");
  return fs.readdirSync(directory).filter((f) => f.endsWith(".kql")).sort().map((file) => {
    const text = fs.readFileSync(path.join(directory, file), "utf8");
    const signature = text.split("\n")[0].match(/^\/\/ (\w+)\(([^)]*)\)$/);
    if (!signature || signature[1] + ".kql" !== file) {
      throw new Error(`queries/functions/${file}: the first line must be "// ${file.replace(".kql", "")}(param:type, ...)"`);
    }
    return { file, name: signature[1], params: signature[2], body: text };
  });
}

function main() {
  const state = globals();
  const functions = workspaceFunctions();
  const lets = functions.map((f) => `let ${f.name} = (${f.params}) {\n${f.body}\n};\n`).join("");
  const directory = path.join(root, "queries");
  const files = fs.readdirSync(directory).filter((f) => f.endsWith(".kql")).sort();
  let passed = 0;
  let failed = 0;
  for (const f of functions) {
    // A function's body on its own, called once with its parameters' names as strings.
    const call = `${lets}print ${f.name}(${f.params.split(",").map(() => '"x"').join(", ")})`;
    const messages = diagnostics(call, state);
    if (messages.length === 0) {
      passed++;
      console.log(`ok   queries/functions/${f.file}`);
    } else {
      failed++;
      console.log(`FAIL queries/functions/${f.file}\n  ${messages.join("\n  ")}`);
    }
  }
  for (const file of files) {
    const messages = diagnostics(lets + fs.readFileSync(path.join(directory, file), "utf8"), state);
    if (messages.length === 0) {
      passed++;
      console.log(`ok   queries/${file}`);
    } else {
      failed++;
      console.log(`FAIL queries/${file}\n  ${messages.join("\n  ")}`);
    }
  }
  // A broken checker must not pass silently: an unknown column has to be caught.
  if (diagnostics("SkytapAudit_CL | where NoSuchColumn == 1", state).length === 0) {
    console.log("FAIL the checker did not catch an unknown column");
    failed++;
  } else {
    passed++;
  }
  console.log(`kql: ${passed} passed, ${failed} failed`);
  process.exit(failed === 0 && files.length > 0 ? 0 : 1);
}

main();
