// condition.js - the condition language of models.json scopes, list filters and policy
// `when` rules (docs/models.md), checked and evaluated on the client with the same meaning
// as common/src/condition.c: the shared vectors in tests/vectors/conditions.json hold both
// sides to it, case by case.

/** Columns every model has besides its declared attributes. */
export const SYSTEM_COLUMNS = Object.freeze({
  id: { type: 'bigint' },
  version: { type: 'bigint' },
  created_at: { type: 'timestamp' },
  updated_at: { type: 'timestamp' },
});

const OPS = ['eq', 'ne', 'gt', 'gte', 'lt', 'lte', 'in', 'null'];
export const MAX_DEPTH = 8;
export const MAX_IN = 100;

/** A condition that does not fit its model; message as the server words it. */
export class ConditionError extends Error {
  constructor(message) {
    super(message);
    this.name = 'ConditionError';
  }
}

/** The declared attribute or system column `name` of model ({name, attributes}), or null. */
export function column(model, name) {
  const attrs = model.attributes || {};
  if (Object.prototype.hasOwnProperty.call(attrs, name)) return attrs[name];
  if (Object.prototype.hasOwnProperty.call(SYSTEM_COLUMNS, name)) return SYSTEM_COLUMNS[name];
  return null;
}

const isObject = (v) => v !== null && typeof v === 'object' && !Array.isArray(v);
const isDigit = (c) => c >= '0' && c <= '9';

/**
 * Parses an RFC 3339 timestamp as the server does (date, optional time, optional fraction of
 * up to 9 digits, Z or ±hh[:mm]; 'T', 't' or ' ' between date and time; no offset = UTC).
 * Returns seconds since the epoch (a double, as the server computes it), or null.
 */
export function parseTime(text) {
  if (typeof text !== 'string') return null;
  let p = 0;
  const digits = (n) => {
    let v = 0;
    for (let i = 0; i < n; i++) {
      const c = text[p];
      if (c === undefined || !isDigit(c)) return -1;
      v = v * 10 + (c.charCodeAt(0) - 48);
      p++;
    }
    return v;
  };
  let h = 0, mi = 0, sec = 0, oh = 0, om = 0, sign = 1, frac = 0;
  const y = digits(4);
  if (y < 0 || text[p++] !== '-') return null;
  const mo = digits(2);
  if (mo < 0 || text[p++] !== '-') return null;
  const d = digits(2);
  if (d < 0) return null;
  if (text[p] === 'T' || text[p] === 't' || text[p] === ' ') {
    p++;
    if ((h = digits(2)) < 0 || text[p++] !== ':' || (mi = digits(2)) < 0) return null;
    if (text[p] === ':') {
      p++;
      if ((sec = digits(2)) < 0) return null;
      if (text[p] === '.') {
        let scale = 0.1;
        p++;
        if (text[p] === undefined || !isDigit(text[p])) return null;
        for (let n = 0; text[p] !== undefined && isDigit(text[p]); p++, n++) {
          if (n >= 9) return null;
          frac += (text.charCodeAt(p) - 48) * scale;
          scale /= 10;
        }
      }
    }
    if (text[p] === 'Z' || text[p] === 'z') {
      p++;
    } else if (text[p] === '+' || text[p] === '-') {
      sign = text[p++] === '-' ? -1 : 1;
      if ((oh = digits(2)) < 0) return null;
      if (text[p] === ':') p++;
      if (p < text.length && (om = digits(2)) < 0) return null;
    }
  }
  const mdays = [31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
  const leap = (y % 4 === 0 && y % 100 !== 0) || y % 400 === 0;
  if (p !== text.length || mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1] ||
      (mo === 2 && d === 29 && !leap) || h > 23 || mi > 59 || sec > 60 || oh > 23 || om > 59)
    return null;
  const t = new Date(0);
  t.setUTCFullYear(y, mo - 1, d); // not Date.UTC: it maps years 0-99 to 1900-1999
  t.setUTCHours(h, mi, sec, 0);
  return t.getTime() / 1000 + frac - sign * (oh * 3600.0 + om * 60.0);
}

/** Compares two strings by Unicode code point (= UTF-8 byte order, as C's strcmp). */
export function compareStrings(a, b) {
  if (a === b) return 0;
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a.charCodeAt(i), y = b.charCodeAt(i);
    if (x === y) continue;
    // Surrogates (astral characters) sort after every other BMP character in code point order.
    const sx = x >= 0xd800 && x <= 0xdfff, sy = y >= 0xd800 && y <= 0xdfff;
    if (sx !== sy) return sx ? 1 : -1;
    return x < y ? -1 : 1;
  }
  return a.length < b.length ? -1 : a.length > b.length ? 1 : 0;
}

const INT32_MIN = -2147483648, INT32_MAX = 2147483647;

/** The server's type check of one (non-null) value for an attribute; a message or null. */
export function typeError(attr, v) {
  switch (attr.type) {
    case 'string':
    case 'text':
      if (typeof v !== 'string') return 'must be a string';
      if (v.includes('\0')) return 'must not contain NUL characters';
      return null;
    case 'integer':
      if (!Number.isInteger(v) || v < INT32_MIN || v > INT32_MAX)
        return 'must be an integer in the 32-bit range';
      return null;
    case 'bigint':
    case 'reference':
      return Number.isInteger(v) ? null : 'must be an integer';
    case 'float':
      return typeof v === 'number' ? null : 'must be a number';
    case 'boolean':
      return typeof v === 'boolean' ? null : 'must be true or false';
    case 'timestamp':
      return parseTime(v) === null ? 'must be an RFC 3339 timestamp, e.g. 2026-11-27T10:00:00Z' : null;
    default:
      return null;
  }
}

function condTypeError(attr, v) {
  if (v === null) return 'null is not a value here (use the null operator)';
  return typeError(attr, v);
}

function check(model, cond, path, depth) {
  const fail = (msg) => { throw new ConditionError(msg); };
  if (depth > MAX_DEPTH) fail(`${path}: nested deeper than ${MAX_DEPTH} levels`);
  if (!isObject(cond) || Object.keys(cond).length === 0)
    fail(`${path}: expected a non-empty object of conditions`);
  for (const [key, v] of Object.entries(cond)) {
    const sub = `${path}.${key}`;
    if (key === 'and' || key === 'or') {
      if (!Array.isArray(v) || v.length === 0) fail(`${sub}: expected a non-empty array of conditions`);
      v.forEach((c, i) => check(model, c, `${sub}[${i}]`, depth + 1));
      continue;
    }
    if (key === 'not') {
      check(model, v, sub, depth + 1);
      continue;
    }
    const a = column(model, key);
    if (!a) fail(`${sub}: '${key}' is not an attribute of ${model.name}`);
    if (!isObject(v) || Object.keys(v).length === 0)
      fail(`${sub}: expected an object of operators, e.g. {"eq": ...}`);
    for (const [op, val] of Object.entries(v)) {
      if (!OPS.includes(op)) fail(`${sub}.${op}: unknown operator (eq, ne, gt, gte, lt, lte, in, null)`);
      if (op === 'null') {
        if (typeof val !== 'boolean') fail(`${sub}.null: expected true or false`);
        continue;
      }
      if (a.type === 'json') fail(`${sub}.${op}: json attributes only take the null operator`);
      if (a.type === 'boolean' && op !== 'eq' && op !== 'ne' && op !== 'in')
        fail(`${sub}.${op}: booleans only take eq, ne, in and null`);
      if (op === 'in') {
        if (!Array.isArray(val) || val.length === 0 || val.length > MAX_IN)
          fail(`${sub}.in: expected an array of 1 to ${MAX_IN} values`);
        val.forEach((e, i) => {
          const why = condTypeError(a, e);
          if (why) fail(`${sub}.in[${i}]: ${why}`);
        });
        continue;
      }
      const why = condTypeError(a, val);
      if (why) fail(`${sub}.${op}: ${why}`);
    }
  }
}

/**
 * Checks cond against model ({name, attributes}): attributes exist, operators are known and
 * fit the type, values have the attribute's type. Throws ConditionError with the message the
 * server would give (path prefixes it); returns cond.
 */
export function checkCondition(model, cond, path = 'condition') {
  check(model, cond, path, 0);
  return cond;
}

// Compares a record value with a condition value of attr's type: <0, 0, >0; 2 = unknown.
function cmp(attr, rv, cv) {
  switch (attr.type) {
    case 'string':
    case 'text': {
      if (typeof rv !== 'string') return 2;
      return compareStrings(rv, cv);
    }
    case 'timestamp': {
      const x = parseTime(rv), y = parseTime(cv);
      if (x === null || y === null) return 2;
      return x < y ? -1 : x > y ? 1 : 0;
    }
    case 'boolean':
      if (typeof rv !== 'boolean') return 2;
      return rv === cv ? 0 : 1;
    case 'integer':
    case 'bigint':
    case 'reference':
    case 'float':
      if (typeof rv !== 'number') return 2;
      return rv < cv ? -1 : rv > cv ? 1 : 0;
    default:
      return JSON.stringify(rv) === JSON.stringify(cv) ? 0 : 2;
  }
}

/**
 * Evaluates a checked cond on record (attribute → value, as the server renders records),
 * with SQL's NULL semantics: a comparison with NULL is false, `ne` holds for NULL, and
 * `not` of a false comparison is true.
 */
export function evaluate(model, cond, record) {
  for (const [key, v] of Object.entries(cond)) {
    if (key === 'and' || key === 'or') {
      const results = v.map((c) => evaluate(model, c, record));
      if (!(key === 'and' ? results.every(Boolean) : results.some(Boolean))) return false;
      continue;
    }
    if (key === 'not') {
      if (evaluate(model, v, record)) return false;
      continue;
    }
    const a = column(model, key);
    if (!a) return false;
    const rv = record == null ? undefined : record[key];
    const isNull = rv === undefined || rv === null;
    for (const [op, val] of Object.entries(v)) {
      if (op === 'null') {
        if (isNull !== (val === true)) return false;
        continue;
      }
      if (op === 'ne') {
        if (!isNull && cmp(a, rv, val) === 0) return false;
        continue;
      }
      if (isNull) return false; // SQL: a comparison with NULL is not true
      if (op === 'in') {
        if (!val.some((e) => cmp(a, rv, e) === 0)) return false;
        continue;
      }
      const c = cmp(a, rv, val);
      if (c === 2 || (op === 'eq' && c !== 0) || (op === 'gt' && c <= 0) ||
          (op === 'gte' && c < 0) || (op === 'lt' && c >= 0) || (op === 'lte' && c > 0))
        return false;
    }
  }
  return true;
}

/** The column names a condition reads. */
export function conditionColumns(cond, out = new Set()) {
  if (!isObject(cond)) return out;
  for (const [key, v] of Object.entries(cond)) {
    if (key === 'and' || key === 'or') (Array.isArray(v) ? v : []).forEach((c) => conditionColumns(c, out));
    else if (key === 'not') conditionColumns(v, out);
    else out.add(key);
  }
  return out;
}

/**
 * Orders two values of one column as the server's ORDER BY does (strings by code point, as
 * under the C collation of the local stack; booleans false first; timestamps by time).
 * NULLs are for the caller (ascending puts them last, descending first).
 */
export function compareColumn(attr, a, b) {
  switch (attr.type) {
    case 'string':
    case 'text':
      return compareStrings(String(a), String(b));
    case 'timestamp': {
      const x = parseTime(a), y = parseTime(b);
      if (x === null || y === null) return compareStrings(String(a), String(b));
      return x < y ? -1 : x > y ? 1 : 0;
    }
    case 'boolean':
      return a === b ? 0 : a ? 1 : -1;
    default:
      return a < b ? -1 : a > b ? 1 : 0;
  }
}
