// validate.mjs -- Kubernetes manifests against the OpenAPI schema of the
// Kubernetes API, through kubernetes-models (its objects validate
// themselves: types, required fields, enums, formats).
//
//   node validate.mjs FILE...         one line per object: "ok FILE#N KIND NS/NAME"
//                                     or "not ok FILE#N KIND NS/NAME: ERRORS";
//                                     exit 1 when any object is invalid
//   node validate.mjs --dump FILE...  the documents as one JSON array
import { readFileSync } from "node:fs";
import { parseAllDocuments } from "yaml";

function docs(file) {
  const out = [];
  parseAllDocuments(readFileSync(file, "utf8")).forEach((d, i) => {
    if (d.errors.length) throw new Error(`${file}#${i + 1}: ${d.errors[0].message}`);
    const o = d.toJS();
    if (o !== null && o !== undefined) out.push({ file, index: i + 1, object: o });
  });
  return out;
}

// apiVersion "apps/v1" kind "Deployment" -> kubernetes-models/apps/v1/Deployment;
// the core group "v1" -> kubernetes-models/v1/ConfigMap
async function model(apiVersion, kind) {
  const path = `kubernetes-models/${apiVersion}/${kind}`;
  try {
    const m = await import(path);
    return m[kind] || m.default;
  } catch (e) {
    return null;
  }
}

const args = process.argv.slice(2);
if (args[0] === "--dump") {
  console.log(JSON.stringify(args.slice(1).flatMap(docs).map((d) => ({ file: d.file, index: d.index, ...d.object }))));
  process.exit(0);
}
let bad = 0;
for (const file of args) {
  for (const { index, object } of docs(file)) {
    const where = `${file}#${index} ${object.kind} ${object.metadata?.namespace ?? ""}/${object.metadata?.name}`;
    const Model = await model(object.apiVersion, object.kind);
    if (!Model) {
      console.log(`not ok ${where}: no schema for apiVersion ${object.apiVersion} kind ${object.kind}`);
      bad++;
      continue;
    }
    try {
      new Model(object).validate();
      console.log(`ok ${where}`);
    } catch (e) {
      console.log(`not ok ${where}: ${e.message}`);
      bad++;
    }
  }
}
process.exit(bad ? 1 : 0);
