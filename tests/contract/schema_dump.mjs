// Prints LibreChat's own schemas as JSON: for every model of @librechat/data-schemas, its
// collection and every field path with its Mongoose type, nested documents and arrays of
// documents descended into ("feedback.rating", "reservations.expiresAt").
//
//   node schema_dump.mjs   ->  {"version": "0.0.71", "collections": {"messages": {"model":
//                              "Message", "fields": {"feedback.rating": "String", ...}}}}
//
// Types are Mongoose's `instance` names (String, Number, Boolean, Date, ObjectId, Mixed,
// Embedded, Map, Decimal128); an array is "Array<T>" with T its element type ("Array<Mixed>",
// "Array<Embedded>" for an array of documents). No database is needed.

import fs from 'node:fs';
import mongoose from 'mongoose';
import { createModels } from '@librechat/data-schemas';

function elementType(schemaType) {
  if (schemaType.schema) return 'Embedded';
  const element = schemaType.embeddedSchemaType ?? schemaType.caster;
  return element?.instance ?? 'Mixed';
}

function fieldsOf(schema, prefix, out) {
  schema.eachPath((path, schemaType) => {
    const name = prefix + path;
    out[name] = schemaType.instance === 'Array'
      ? `Array<${elementType(schemaType)}>` : schemaType.instance;
    if (schemaType.schema) fieldsOf(schemaType.schema, `${name}.`, out);
  });
  return out;
}

const packageJson = new URL('./node_modules/@librechat/data-schemas/package.json', import.meta.url);
const models = createModels(mongoose);
const collections = {};
for (const [name, model] of Object.entries(models)) {
  collections[model.collection.collectionName] = { model: name,
    fields: fieldsOf(model.schema, '', {}) };
}
const version = JSON.parse(fs.readFileSync(packageJson, 'utf8')).version;
process.stdout.write(`${JSON.stringify({ version, collections })}\n`);
