// The shared condition vectors (tests/vectors/conditions.json), also run by the C unit test
// tests/unit/test_condition_vectors.c: the client checks and evaluates conditions as the
// server does, case by case.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { checkCondition, evaluate, ConditionError } from '../src/condition.js';

const vectors = JSON.parse(readFileSync(new URL('../../../tests/vectors/conditions.json', import.meta.url), 'utf8'));
const model = (name) => ({ name, ...vectors.models[name] });

test('every eval vector: the condition checks and each record gives the expected result', () => {
  let cases = 0;
  for (const v of vectors.eval) {
    const m = model(v.model);
    assert.doesNotThrow(() => checkCondition(m, v.cond, 'cond'), `${v.name}: check`);
    for (const c of v.cases) {
      assert.equal(evaluate(m, v.cond, c.record), c.expect,
        `${v.name}: ${JSON.stringify(v.cond)} on ${JSON.stringify(c.record)}`);
      cases++;
    }
  }
  assert.ok(cases >= 150, `only ${cases} cases`);
});

test('every invalid vector is rejected with the server\'s exact message', () => {
  for (const v of vectors.invalid) {
    assert.throws(() => checkCondition(model(v.model), v.cond, 'cond'),
      (e) => e instanceof ConditionError && e.message === v.error,
      `${JSON.stringify(v.cond)} should fail with ${v.error}`);
  }
});

test('the vectors cover every operator and type', () => {
  const ops = new Set(), types = new Set();
  const walk = (m, c) => {
    for (const [k, val] of Object.entries(c)) {
      if (k === 'and' || k === 'or') { ops.add(k); val.forEach((x) => walk(m, x)); }
      else if (k === 'not') { ops.add(k); walk(m, val); }
      else {
        const a = m.attributes[k] || { type: k === 'id' || k === 'version' ? 'bigint' : 'timestamp' };
        types.add(a.type);
        Object.keys(val).forEach((op) => ops.add(op));
      }
    }
  };
  for (const v of vectors.eval) walk(model(v.model), v.cond);
  for (const op of ['eq', 'ne', 'gt', 'gte', 'lt', 'lte', 'in', 'null', 'and', 'or', 'not'])
    assert.ok(ops.has(op), `no eval vector uses ${op}`);
  for (const t of ['string', 'text', 'integer', 'bigint', 'float', 'boolean', 'timestamp', 'json', 'reference'])
    assert.ok(types.has(t), `no eval vector uses a ${t}`);
});
