// Checks Kubernetes manifests against the published schemas, two ways:
//  1. runtime: each document through its kubernetes-models class's validate() (JSON schema from
//     Kubernetes' OpenAPI and Argo Workflows' CRDs: required fields, types, enums, formats);
//  2. static: each document as an object literal typed with the same package's TypeScript
//     interfaces, compiled by tsc (excess property checks: a misspelt field name fails).
// Usage: node check.mjs FILE.yaml...   Exit 0 when every document passes, 1 otherwise (each
// problem printed as FILE: KIND NAME: message), 2 for bad usage.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import ts from "typescript";
import { parseAllDocuments } from "yaml";
import { WorkflowTemplate } from "@kubernetes-models/argo-workflows/argoproj.io/v1alpha1";
import { PersistentVolume, PersistentVolumeClaim } from "kubernetes-models/v1";

const here = dirname(fileURLToPath(import.meta.url));
const KINDS = {
  "argoproj.io/v1alpha1 WorkflowTemplate": {
    model: WorkflowTemplate,
    type: "IWorkflowTemplate",
    from: "@kubernetes-models/argo-workflows/argoproj.io/v1alpha1/WorkflowTemplate",
  },
  "v1 PersistentVolume": {
    model: PersistentVolume,
    type: "IPersistentVolume",
    from: "kubernetes-models/v1/PersistentVolume",
  },
  "v1 PersistentVolumeClaim": {
    model: PersistentVolumeClaim,
    type: "IPersistentVolumeClaim",
    from: "kubernetes-models/v1/PersistentVolumeClaim",
  },
};

const files = process.argv.slice(2);
if (files.length === 0) {
  console.error("usage: node check.mjs FILE.yaml...");
  process.exit(2);
}
const problems = [];
const typed = [];
for (const file of files) {
  for (const d of parseAllDocuments(readFileSync(file, "utf8"))) {
    if (d.errors.length) {
      problems.push(`${file}: YAML: ${d.errors[0].message}`);
      continue;
    }
    const obj = d.toJS();
    if (!obj) continue;
    const what = `${file}: ${obj.kind} ${obj.metadata?.name}`;
    const kind = KINDS[`${obj.apiVersion} ${obj.kind}`];
    if (!kind) {
      problems.push(`${what}: no schema known for apiVersion ${obj.apiVersion}`);
      continue;
    }
    try {
      new kind.model(obj).validate();
    } catch (e) {
      problems.push(`${what}: ${e.message}`);
    }
    typed.push({ what, kind, obj });
  }
}

// The static check: one .ts file, one typed constant per document.
const dir = mkdtempSync(join(here, ".check-"));
try {
  const lines = [];
  const imports = new Set();
  typed.forEach(({ kind, obj }, i) => {
    imports.add(`import type { ${kind.type} } from "${kind.from}";`);
    lines.push(`// @doc ${i}`, `export const doc${i}: ${kind.type} = ${JSON.stringify(obj, null, 1)};`);
  });
  const source = [...imports, ...lines].join("\n") + "\n";
  const file = join(dir, "manifests.ts");
  writeFileSync(file, source);
  const program = ts.createProgram([file], {
    strict: true,
    noEmit: true,
    skipLibCheck: true,
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    target: ts.ScriptTarget.ES2022,
  });
  for (const diag of ts.getPreEmitDiagnostics(program)) {
    const message = ts.flattenDiagnosticMessageText(diag.messageText, " ");
    let owner = "manifests";
    if (diag.file && diag.start !== undefined) {
      const before = diag.file.text.slice(0, diag.start);
      const m = [...before.matchAll(/\/\/ @doc (\d+)/g)].pop();
      if (m) owner = typed[Number(m[1])].what;
    }
    problems.push(`${owner}: ${message}`);
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}

for (const p of problems) console.log(p);
console.log(`${typed.length} documents checked, ${problems.length} problems`);
process.exit(problems.length ? 1 : 0);
