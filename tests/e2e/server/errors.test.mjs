// Errors in OpenAI's shape with the right status, as the SDK sees them, and authentication.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import OpenAI from 'openai';
import { spawn, spawnSync } from 'node:child_process';
import { HEARTH, metric, metrics, sleep, startServer, tinyModelDir } from './helpers.mjs';

const noThink = { chat_template_kwargs: { enable_thinking: false } };
const msgs = [{ role: 'user', content: 'Hi' }];

async function expectError(promise, status, param) {
  try {
    await promise;
  } catch (e) {
    assert.ok(e instanceof OpenAI.APIError, `not an APIError: ${e}`);
    assert.equal(e.status, status, e.message);
    assert.equal(typeof e.error?.message, 'string');
    assert.ok('type' in e.error && 'param' in e.error && 'code' in e.error, JSON.stringify(e.error));
    if (param !== undefined) assert.equal(e.error.param, param, JSON.stringify(e.error));
    return e;
  }
  assert.fail(`expected HTTP ${status}`);
}

describe('errors', () => {
  let server, client;
  before(async () => {
    server = await startServer(['--max-request-bytes', '65536']);
    client = server.client();
  });
  after(async () => { await server.stop(); });

  test('400 names the invalid field', async () => {
    const c = client.chat.completions;
    await expectError(c.create({ model: 'tiny', messages: msgs, temperature: 'hot' }), 400, 'temperature');
    await expectError(c.create({ model: 'tiny', messages: [] }), 400, 'messages');
    await expectError(c.create({ model: 'tiny' }), 400, 'messages');
    await expectError(c.create({ model: 'tiny', messages: [{ role: 'robot', content: 'x' }] }), 400, 'messages[0].role');
    await expectError(c.create({ model: 'tiny', messages: [{ role: 'user', content: [{ type: 'image_url', image_url: { url: 'x' } }] }] }),
      400, 'messages[0].content[0].type');
    await expectError(c.create({ model: 'tiny', messages: msgs, n: 0 }), 400, 'n');
    await expectError(c.create({ model: 'tiny', messages: msgs, max_tokens: -1 }), 400, 'max_tokens');
    await expectError(c.create({ model: 'tiny', messages: msgs, top_p: 1.5 }), 400, 'top_p');
    await expectError(c.create({ model: 'tiny', messages: msgs, top_logprobs: 3 }), 400, 'top_logprobs');
    await expectError(c.create({ model: 'tiny', messages: msgs, stop: [1, 2] }), 400, 'stop[0]');
    await expectError(c.create({ model: 'tiny', messages: msgs, stream_options: { include_usage: true } }), 400, 'stream_options');
    await expectError(c.create({ model: 'tiny', messages: msgs, tool_choice: 'required' }), 400, 'tool_choice');
    await expectError(c.create({ model: 'tiny', messages: msgs, max_tokens: 5000 }), 400, 'max_completion_tokens');
    await expectError(client.completions.create({ model: 'tiny', prompt: [151936 * 2] }), 400, 'prompt');
    await expectError(client.completions.create({ model: 'tiny', prompt: 7 }), 400, 'prompt');
  });

  test('400 names an unsupported schema keyword (as `hearth schema check` refuses it)', async () => {
    // The grammar engine grows: which keywords it refuses is asked of its own CLI (exit 2).
    const candidates = [
      { type: 'array', uniqueItems: true },
      { type: 'object', if: { required: ['a'] }, then: { required: ['b'] } },
      { type: 'object', dependentSchemas: { a: { required: ['b'] } } },
      { type: 'string', pattern: '(?<=a)b' },
      { type: 'array', contains: { type: 'integer' }, minContains: 2 },
      { type: 'object', unevaluatedProperties: false, allOf: [{ properties: { a: true } }] },
      { not: { type: 'string' }, type: ['string', 'integer'] },
    ];
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hearth-schema-'));
    fs.writeFileSync(path.join(dir, 'i.json'), 'null');
    let refused = 0;
    for (const schema of candidates) {
      fs.writeFileSync(path.join(dir, 's.json'), JSON.stringify(schema));
      const cli = spawnSync(HEARTH, ['schema', 'check', '--schema', path.join(dir, 's.json'), '--instance', path.join(dir, 'i.json')]);
      const req = client.chat.completions.create({ model: 'tiny', messages: msgs, max_tokens: 8, ...noThink,
        response_format: { type: 'json_schema', json_schema: { name: 'x', schema } } });
      if (cli.status === 2) {
        refused++;
        // The CLI's reason (keyword and JSON pointer) is the server's message.
        const reason = cli.stderr.toString().trim().replace(/^hearth: (schema refused|error): /, '');
        const e = await expectError(req, 400, 'response_format.json_schema.schema');
        assert.ok(e.error.message.includes(reason), `${e.error.message}\nshould say\n${reason}`);
      } else {
        assert.ok((await req).choices.length === 1, JSON.stringify(schema));
      }
    }
    assert.ok(refused > 0, 'none of the candidate schemas is refused any more: add one that is');
  });

  test('404 for an unknown model and an unknown path', async () => {
    const e = await expectError(client.chat.completions.create({ model: 'gpt-4o', messages: msgs }), 404, 'model');
    assert.equal(e.error.code, 'model_not_found');
    await expectError(client.models.retrieve('gpt-4o'), 404);
    const r = await fetch(`${server.base}/v1/nothing`, { method: 'POST', body: '{}' });
    assert.equal(r.status, 404);
    const j = await r.json();
    assert.equal(typeof j.error.message, 'string');
  });

  test('405 for a wrong method', async () => {
    const r = await fetch(`${server.base}/v1/chat/completions`);
    assert.equal(r.status, 405);
  });

  test('413 for an oversized body, and the server lives on', async () => {
    const big = JSON.stringify({ model: 'tiny', messages: [{ role: 'user', content: 'x'.repeat(100000) }] });
    const r = await fetch(`${server.base}/v1/chat/completions`, { method: 'POST', body: big, headers: { 'content-type': 'application/json' } });
    assert.equal(r.status, 413);
    assert.equal((await r.json()).error.code, 'request_too_large');
    const ok = await fetch(`${server.base}/health`);
    assert.equal(ok.status, 200);
  });

  test('invalid JSON and a non-object body are 400', async () => {
    for (const body of ['{', '[]', '"x"', '{"messages": [{"role": "user", "content": "a"}]', '\u0000']) {
      const r = await fetch(`${server.base}/v1/chat/completions`, { method: 'POST', body });
      assert.equal(r.status, 400, body);
    }
    const deep = '['.repeat(100000) + ']'.repeat(100000);
    const r = await fetch(`${server.base}/v1/completions`, { method: 'POST', body: `{"prompt": ${deep.slice(0, 60000)}}` });
    assert.equal(r.status, 400);
  });
});

describe('authentication', () => {
  let server;
  before(async () => {
    const keyFile = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'hearth-key-')), 'key');
    fs.writeFileSync(keyFile, 'sk-hearth-test\n');
    server = await startServer(['--api-key-file', keyFile, '--allowed-origins', 'http://app.example']);
  });
  after(async () => { await server.stop(); });

  test('401 without or with a wrong key, 200 with it', async () => {
    await expectError(server.client({ apiKey: 'wrong' }).chat.completions.create({ model: 'tiny', messages: msgs, max_tokens: 2 }), 401);
    await expectError(server.client({ apiKey: 'wrong' }).models.list(), 401);
    const r = await fetch(`${server.base}/v1/models`);
    assert.equal(r.status, 401);
    assert.equal((await r.json()).error.code, 'invalid_api_key');
    const ok = await server.client({ apiKey: 'sk-hearth-test' }).chat.completions.create({ model: 'tiny', messages: msgs, max_tokens: 2, ...noThink });
    assert.equal(ok.choices.length, 1);
    const t = await fetch(`${server.base}/tokenize`, { method: 'POST', body: '{"prompt":"a"}' });
    assert.equal(t.status, 401);
  });

  test('/health and /metrics need no key', async () => {
    assert.equal((await fetch(`${server.base}/health`)).status, 200);
    const m = await fetch(`${server.base}/metrics`);
    assert.equal(m.status, 200);
    assert.match(await m.text(), /vllm:num_requests_running/);
  });

  test('CORS: the allowed origin is echoed, preflight answered without a key', async () => {
    const pre = await fetch(`${server.base}/v1/chat/completions`, { method: 'OPTIONS', headers: {
      origin: 'http://app.example', 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization,content-type' } });
    assert.equal(pre.status, 204);
    assert.equal(pre.headers.get('access-control-allow-origin'), 'http://app.example');
    assert.match(pre.headers.get('access-control-allow-methods'), /POST/);
    const other = await fetch(`${server.base}/health`, { headers: { origin: 'http://evil.example' } });
    assert.equal(other.headers.get('access-control-allow-origin'), null);
    const same = await fetch(`${server.base}/health`, { headers: { origin: 'http://app.example' } });
    assert.equal(same.headers.get('access-control-allow-origin'), 'http://app.example');
  });
});

describe('overload', () => {
  let server;
  before(async () => {
    server = await startServer(['--max-num-seqs', '1', '--max-queued-requests', '1']);
  });
  after(async () => { await server.stop(); });

  test('429 with Retry-After when the bounded queue is full', async () => {
    const client = server.client();
    const long = { model: 'tiny', messages: msgs, max_tokens: 3000, ignore_eos: true, ...noThink };
    const controllers = [new AbortController(), new AbortController()];
    // One running, one queued: the queue (max 1) is full.
    const running = controllers.map((c) => client.chat.completions.create({ ...long, stream: true }, { signal: c.signal }));
    const streams = await Promise.all(running);
    const r = await fetch(`${server.base}/v1/chat/completions`, { method: 'POST', body: JSON.stringify({ ...long, max_tokens: 2 }) });
    assert.equal(r.status, 429);
    assert.equal(r.headers.get('retry-after'), '1');
    const j = await r.json();
    assert.equal(j.error.code, 'rate_limit_exceeded');
    controllers.forEach((c) => c.abort());
    for (const s of streams) {
      try { for await (const _ of s) { /* drain until aborted */ } } catch { /* aborted */ }
    }
    // Capacity comes back once the aborted requests are gone.
    let status = 0;
    for (let i = 0; i < 100 && status !== 200; i++) {
      const ok = await fetch(`${server.base}/v1/chat/completions`, { method: 'POST', body: JSON.stringify({ ...long, max_tokens: 2 }) });
      status = ok.status;
      await ok.text();
      if (status !== 200) await sleep(20);
    }
    assert.equal(status, 200);
    const m = await metrics(server);
    assert.ok(metric(m, 'hearth_requests_rejected_total', 'reason="queue_full"') >= 1);
  });
});

describe('config.yaml', () => {
  const run = (args) => new Promise((resolve) => {
    const child = spawn(HEARTH, ['serve', ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    child.stderr.on('data', (d) => { err += d; });
    child.on('exit', (code) => resolve({ code, err }));
  });

  test('an unknown key or a bad value is an error naming it', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hearth-cfg-'));
    const bad = path.join(dir, 'bad.yaml');
    fs.writeFileSync(bad, 'inference:\n  model: random:qwen3-0.6b\n  max_num_seqs: lots\n');
    let r = await run(['--config', bad]);
    assert.equal(r.code, 1);
    assert.match(r.err, /bad\.yaml:3: inference\.max_num_seqs: expected a positive integer/);
    fs.writeFileSync(bad, 'inference:\n  max_num_sequences: 4\n');
    r = await run(['--config', bad]);
    assert.equal(r.code, 1);
    assert.match(r.err, /unknown key 'inference\.max_num_sequences'/);
  });

  test('settings come from the file, flags override them', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hearth-cfg-'));
    const model = tinyModelDir();
    const cfg = path.join(dir, 'config.yaml');
    fs.writeFileSync(cfg, `inference:\n  model: random:${path.join(model, 'config.json')}\n  max_model_len: 1024\n  max_num_seqs: 4\n  max_tokens: 3\n  temperature: 0\n  enable_prefix_caching: true\n`);
    const server = await startServer(['--config', cfg, '--max-model-len', '512'], { model: null });
    const m = await server.client().models.retrieve('tiny');
    assert.equal(m.max_model_len, 512);
    const r = await server.client().chat.completions.create({ model: 'tiny', messages: msgs, ignore_eos: true, ...noThink });
    assert.equal(r.usage.completion_tokens, 3);  // inference.max_tokens
    await server.stop();
  });
});
