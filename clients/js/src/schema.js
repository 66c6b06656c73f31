// schema.js - what the client knows of a model: attribute types (to evaluate conditions and
// order records as the server does), scope conditions and the default order. From the
// `schema` option (models.json's shape, as modelcast-codegen writes it) or GET /v1/models.
import { checkCondition, column, compareColumn } from './condition.js';

const isObject = (v) => v !== null && typeof v === 'object' && !Array.isArray(v);

function parseOrder(order) {
  if (Array.isArray(order)) return order.map(String);
  if (typeof order === 'string' && order.trim()) return order.split(',').map((s) => s.trim()).filter(Boolean);
  return null;
}

/**
 * A model as the client uses it: {name, attributes, scopes: {name: condition | null}, order,
 * anyInstance}. A scope whose condition is unknown (an older server listed names only) is
 * null: live queries then ask the server whether a changed record is in it. anyInstance:
 * the instance channel classes through which the caller may read the model for any id
 * (GET /v1/models' any_instance), which no subscription covers.
 */
export function normalizeModel(name, spec) {
  const scopes = {};
  if (Array.isArray(spec.scopes)) {
    for (const s of spec.scopes) {
      if (typeof s === 'string') scopes[s] = null;
      else if (isObject(s) && typeof s.name === 'string') scopes[s.name] = isObject(s.condition) ? s.condition : null;
    }
  } else if (isObject(spec.scopes)) {
    for (const [k, v] of Object.entries(spec.scopes)) scopes[k] = isObject(v) ? v : null;
  }
  // GET /v1/models lists the names, and the conditions apart ({"scope_conditions": {name: cond}}).
  if (isObject(spec.scope_conditions)) {
    for (const [k, v] of Object.entries(spec.scope_conditions)) if (isObject(v)) scopes[k] = v;
  }
  const model = {
    name, attributes: { ...(spec.attributes || {}) }, scopes, order: parseOrder(spec.order),
    anyInstance: Array.isArray(spec.any_instance) ? spec.any_instance.filter((c) => typeof c === 'string') : [],
  };
  for (const [k, cond] of Object.entries(scopes)) {
    if (cond) checkCondition(model, cond, `${name}.scopes.${k}`);
  }
  return model;
}

/** The models of a `schema` option: models.json's shape ({models: {Name: spec}}) or a list. */
export function schemaModels(schema) {
  const out = new Map();
  if (!schema) return out;
  const models = schema.models ?? schema;
  if (Array.isArray(models)) {
    for (const m of models) if (m && typeof m.name === 'string') out.set(m.name, m);
  } else if (isObject(models)) {
    for (const [name, spec] of Object.entries(models)) {
      if (isObject(spec) && !spec.server_only && !name.startsWith('$')) out.set(name, spec);
    }
  }
  return out;
}

/** Parses order keys ("word", "-created_at") against model: [{name, desc, attr}], then id. */
export function orderKeys(model, keys) {
  const out = [];
  for (const k of keys || []) {
    const desc = k.startsWith('-');
    const name = desc ? k.slice(1) : k;
    const attr = column(model, name);
    if (!attr) throw new TypeError(`${model.name}: cannot order by '${name}': not an attribute`);
    out.push({ name, desc, attr });
  }
  if (!out.some((k) => k.name === 'id')) out.push({ name: 'id', desc: false, attr: column(model, 'id') });
  return out;
}

/** Compares two records by keys as the server's ORDER BY (ascending NULLS LAST, descending NULLS FIRST). */
export function compareRecords(keys, a, b) {
  for (const k of keys) {
    const x = a[k.name], y = b[k.name];
    const xn = x === undefined || x === null, yn = y === undefined || y === null;
    if (xn && yn) continue;
    if (xn || yn) return (xn ? 1 : -1) * (k.desc ? -1 : 1);
    const c = compareColumn(k.attr, x, y);
    if (c !== 0) return k.desc ? -c : c;
  }
  return 0;
}
