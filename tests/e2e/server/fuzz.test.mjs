// A bounded fuzz loop against 127.0.0.1: >= 1,000 malformed requests (request lines, headers,
// framing, JSON bodies, field values). The server must never answer 5xx, never crash, and
// must serve a normal request afterwards. Deterministic (seeded), so failures reproduce.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { rawRequest, startServer, statusOf } from './helpers.mjs';

function rng(seed) {
  return () => {
    seed |= 0; seed = (seed + 0x6D2B79F5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const PATHS = ['/v1/chat/completions', '/v1/completions', '/tokenize', '/detokenize', '/v1/models', '/health', '/metrics', '/x'];
const WEIRD = [null, true, false, -1, 0, 1.5, 1e308, -1e308, 2 ** 63, '', 'x', '\u0000', '\ud800', [], {}, [1, [2, [3]]],
  { a: { b: {} } }, 'A'.repeat(3000), [null], 151936, -151936, '5', 3, 4];

function validBodies() {
  return [
    { model: 'tiny', messages: [{ role: 'user', content: 'hi' }], max_tokens: 3 },
    { messages: [{ role: 'system', content: 's' }, { role: 'user', content: [{ type: 'text', text: 'a' }] }], max_tokens: 2, stream: true },
    { prompt: 'abc', max_tokens: 2, logprobs: 2 },
    { prompt: [1, 2, 3], max_tokens: 2, n: 2 },
    { messages: [{ role: 'user', content: 'x' }], max_tokens: 3, response_format: { type: 'json_schema', json_schema: { name: 'n', schema: { type: 'integer' } } } },
    { messages: [{ role: 'user', content: 'x' }], max_tokens: 3, tools: [{ type: 'function', function: { name: 'f', parameters: { type: 'object' } } }] },
    { prompt: 'hello' },
    { tokens: [1, 2, 3] },
  ];
}

// Replaces a random value somewhere in the object (max_tokens stays small so that a valid
// mutant does not generate for long).
function mutateValue(obj, r) {
  const clone = JSON.parse(JSON.stringify(obj));
  const paths = [];
  const walk = (v, p) => {
    paths.push(p);
    if (v && typeof v === 'object') for (const k of Object.keys(v)) walk(v[k], [...p, k]);
  };
  walk(clone, []);
  const p = paths[Math.floor(r() * paths.length)];
  let value = WEIRD[Math.floor(r() * WEIRD.length)];
  if (p.at(-1) === 'max_tokens' && typeof value === 'number' && value > 8 && value < 1e6) value = 4;
  if (p.length === 0) return value;
  let o = clone;
  for (const k of p.slice(0, -1)) o = o[k];
  if (r() < 0.2) delete o[p.at(-1)];
  else o[p.at(-1)] = value;
  if (r() < 0.3) o[`extra_${Math.floor(r() * 100)}`] = value;
  return clone;
}

function mutateBytes(text, r) {
  const b = Buffer.from(text);
  const n = 1 + Math.floor(r() * 4);
  for (let i = 0; i < n && b.length; i++) {
    const at = Math.floor(r() * b.length);
    const op = r();
    if (op < 0.5) b[at] = Math.floor(r() * 256);
    else if (op < 0.75) return Buffer.concat([b.subarray(0, at), b.subarray(at + 1)]);
    else return b.subarray(0, at);
  }
  return b;
}

function request(method, path, body, headers = {}) {
  const b = Buffer.isBuffer(body) ? body : Buffer.from(body ?? '');
  const lines = [`${method} ${path} HTTP/1.1`, 'Host: 127.0.0.1', `Content-Length: ${b.length}`, 'Connection: close'];
  for (const [k, v] of Object.entries(headers)) lines.push(`${k}: ${v}`);
  return Buffer.concat([Buffer.from(lines.join('\r\n') + '\r\n\r\n', 'latin1'), b]);
}

// Header and framing attacks: [bytes, the request is incomplete (no answer is fine)].
function headerCases(r) {
  const cases = [
    ['GET / HTTP/1.1\r\n\r\n', false],
    ['GET /health HTTP/2.0\r\n\r\n', false],
    ['GET /health HTTP/1.1 extra\r\n\r\n', false],
    ['G@T /health HTTP/1.1\r\n\r\n', false],
    ['GET health HTTP/1.1\r\n\r\n', false],
    ['GET /health\r\n\r\n', false],
    ['\r\n\r\nGET /health HTTP/1.1\r\n\r\n', false],
    ['GET /health HTTP/1.1\r\nBad Header: x\r\n\r\n', false],
    ['GET /health HTTP/1.1\r\n folded: x\r\n\r\n', false],
    ['GET /health HTTP/1.1\r\nX: a\u0001b\r\n\r\n', false],
    ['POST /tokenize HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n{"a":1}', false],
    ['POST /tokenize HTTP/1.1\r\nContent-Length: -5\r\n\r\n', false],
    ['POST /tokenize HTTP/1.1\r\nContent-Length: 99999999999999999999\r\n\r\n', false],
    ['POST /tokenize HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n0\r\n\r\n', false],
    ['POST /tokenize HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n', false],
    ['POST /tokenize HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n', false],
    ['POST /tokenize HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nabcdefgh\r\n0\r\n\r\n', false],
    ['POST /tokenize HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n10\r\n{"prompt": "hi"}\r\n0\r\n\r\n', false],
    ['POST /tokenize HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffffff\r\n', false],
    ['POST /tokenize HTTP/1.1\r\nContent-Length: 100\r\n\r\n{"prompt"', true],
    ['POST /tokenize HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 16\r\n\r\n{"prompt": "hi"}', false],
    ['POST /tokenize HTTP/1.1\r\nExpect: teapot\r\n\r\n', false],
    [`GET /${'a'.repeat(20000)} HTTP/1.1\r\n\r\n`, false],
    [`GET /health HTTP/1.1\r\nX-Big: ${'b'.repeat(70000)}\r\n\r\n`, false],
    [`GET /health HTTP/1.1\r\n${Array.from({ length: 150 }, (_, i) => `X-${i}: v`).join('\r\n')}\r\n\r\n`, false],
    ['GET /health HTTP/1.1\r\nAuthorization: Bearer \u00ff\u00fe\r\n\r\n', false],
    ['GET /health HTTP/1.0\r\n\r\n', false],
    ['OPTIONS * HTTP/1.1\r\n\r\n', false],
    ['DELETE /v1/models HTTP/1.1\r\n\r\n', false],
    ['GET /health?x=%ZZ#frag HTTP/1.1\r\n\r\n', false],
    ['GET http://host/health HTTP/1.1\r\n\r\n', false],
    ['GET /health HTTP/1.1\nHost: a\n\n', false],
    ['GET /health HTTP/1.1\r\nHost: a\r\r\n\r\n', false],
    ['\u0000\u0001\u0002\u0003', true],
    ['GET /health HTTP/1.1\r\n', true],
  ];
  // Random bytes and mutated request heads.
  for (let i = 0; i < 120; i++) {
    const base = request(r() < 0.5 ? 'POST' : 'GET', PATHS[Math.floor(r() * PATHS.length)], '{"prompt":"hi"}');
    const head = base.toString('latin1');
    const cut = head.indexOf('\r\n\r\n');
    const mutated = Buffer.concat([mutateBytes(head.slice(0, cut), r), Buffer.from(head.slice(cut), 'latin1')]);
    cases.push([mutated, true]);  // a mutated Content-Length may ask for more bytes than sent
  }
  for (let i = 0; i < 40; i++) {
    const n = 1 + Math.floor(r() * 300);
    cases.push([Buffer.from(Array.from({ length: n }, () => Math.floor(r() * 256))), true]);
  }
  return cases.map(([b, incomplete]) => [Buffer.isBuffer(b) ? b : Buffer.from(b, 'latin1'), incomplete]);
}

function bodyCases(r) {
  const cases = [];
  const bodies = validBodies();
  for (let i = 0; i < 900; i++) {
    const path = PATHS[Math.floor(r() * 4)];
    const base = bodies[Math.floor(r() * bodies.length)];
    const kind = r();
    let body;
    if (kind < 0.55) body = JSON.stringify(mutateValue(base, r));
    else if (kind < 0.9) body = mutateBytes(JSON.stringify(base), r);
    else body = JSON.stringify(mutateValue(mutateValue(base, r), r));
    cases.push([request('POST', path, body, { 'Content-Type': 'application/json' }), false]);
  }
  return cases;
}

describe('fuzz', () => {
  let server;
  before(async () => {
    server = await startServer(['--max-tokens', '4', '--max-request-bytes', '1048576']);
  });
  after(async () => {
    const { code } = await server.stop();
    assert.equal(code, 0, server.log());
  });

  test('>= 1,000 malformed requests: no 5xx, no crash, alive after', async () => {
    const r = rng(20261126);
    const cases = [...headerCases(r), ...bodyCases(r)];
    assert.ok(cases.length >= 1000, `${cases.length} cases`);
    const statuses = new Map();
    const batch = 8;
    for (let i = 0; i < cases.length; i += batch) {
      const slice = cases.slice(i, i + batch);
      const raws = await Promise.all(slice.map(([bytes]) => rawRequest(server.port, bytes, { timeoutMs: 10000 })));
      raws.forEach((raw, k) => {
        const status = statusOf(raw);
        const [bytes, incomplete] = slice[k];
        statuses.set(status, (statuses.get(status) ?? 0) + 1);
        assert.ok(status < 500, `case ${i + k}: ${status}\n${bytes.toString('latin1').slice(0, 300)}\n${raw.slice(0, 500)}`);
        if (!incomplete) assert.ok(status >= 100, `case ${i + k}: no response\n${bytes.toString('latin1').slice(0, 300)}`);
      });
      assert.equal(server.child.exitCode, null, 'the server exited');
    }
    console.log('fuzz statuses', Object.fromEntries([...statuses].sort()));
    assert.ok((statuses.get(400) ?? 0) > 100);
    const health = await fetch(`${server.base}/health`);
    assert.equal(health.status, 200);
    const ok = await server.client().chat.completions.create({ model: 'tiny', messages: [{ role: 'user', content: 'still there?' }], max_tokens: 3 });
    assert.equal(ok.choices.length, 1);
  });
});
