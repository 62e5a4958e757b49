// Life cycle: /health while loading, client disconnects (streaming, non-streaming, during
// prefill) abort their request within about one engine step, SIGTERM drains and exits 0.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { describe, test } from 'node:test';
import { metric, metrics, rawRequest, sleep, startServer, statusOf, tinyModelDir, waitHealthy } from './helpers.mjs';
import { spawn } from 'node:child_process';
import { HEARTH, TOKENIZER } from './helpers.mjs';

const noThink = { chat_template_kwargs: { enable_thinking: false } };
const msgs = [{ role: 'user', content: 'Hi' }];

// Polls /metrics until pred(text) holds; returns the milliseconds it took.
async function until(server, pred, timeoutMs = 10000) {
  const t0 = Date.now();
  while (Date.now() - t0 < timeoutMs) {
    if (pred(await metrics(server))) return Date.now() - t0;
    await sleep(2);
  }
  throw new Error('metrics condition not reached');
}
const running = (m) => metric(m, 'vllm:num_requests_running') + metric(m, 'vllm:num_requests_waiting');
const aborted = (m) => metric(m, 'vllm:request_success_total', 'finished_reason="abort"');

function postRaw(port, path, body) {
  const b = Buffer.from(JSON.stringify(body));
  const sock = net.connect(port, '127.0.0.1');
  sock.write(`POST ${path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${b.length}\r\n\r\n`);
  sock.write(b);
  return sock;
}

describe('health while loading', () => {
  test('503 while loading, 200 when ready', async () => {
    const server = await startServer([], { waitReady: false });
    const first = await fetch(`${server.base}/health`);
    const body = await first.text();
    assert.equal(first.status, 503, body);
    assert.equal(JSON.parse(body).error.code, 'model_loading');
    await waitHealthy(server);
    assert.equal((await fetch(`${server.base}/health`)).status, 200);
    assert.equal((await server.stop()).code, 0);
  });

  test('a model that fails to load: the error is logged, exit 1', async () => {
    const dir = tinyModelDir();
    const cfg = JSON.parse(fs.readFileSync(path.join(dir, 'config.json')));
    cfg.vocab_size = 1000;  // smaller than the tokenizer's vocabulary
    fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify(cfg));
    const child = spawn(HEARTH, ['serve', '--model', `random:${path.join(dir, 'config.json')}`, '--tokenizer', TOKENIZER,
      '--port', '0', '--device', 'cpu'], { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    child.stderr.on('data', (d) => { err += d; });
    const code = await new Promise((resolve) => child.on('exit', resolve));
    assert.equal(code, 1);
    assert.match(err, /failed to load/);
  });
});

describe('client disconnects', () => {
  test('a streaming client that goes away aborts its request', async () => {
    const server = await startServer();
    const client = server.client();
    const ctl = new AbortController();
    const stream = await client.chat.completions.create({ model: 'tiny', messages: msgs, max_tokens: 4000, ignore_eos: true,
      stream: true, ...noThink }, { signal: ctl.signal });
    let n = 0;
    try {
      for await (const _ of stream) if (++n === 5) ctl.abort();
    } catch { /* aborted */ }
    const ms = await until(server, (m) => running(m) === 0 && aborted(m) === 1);
    console.log(`streaming disconnect: engine idle ${ms} ms after the client left`);
    const m = await metrics(server);
    assert.ok(metric(m, 'vllm:generation_tokens_total') < 4000);
    assert.equal((await server.stop()).code, 0);
  });

  test('a non-streaming client that goes away aborts its request', async () => {
    const server = await startServer();
    const sock = postRaw(server.port, '/v1/chat/completions', { model: 'tiny', messages: msgs, max_tokens: 4000, ignore_eos: true, ...noThink });
    await until(server, (m) => metric(m, 'vllm:num_requests_running') === 1);
    const t0 = Date.now();
    sock.destroy();
    await until(server, (m) => running(m) === 0 && aborted(m) === 1);
    console.log(`non-streaming disconnect: engine idle ${Date.now() - t0} ms after the client left`);
    assert.match(server.log(), /status=499/);
    assert.equal((await server.stop()).code, 0);
  });

  test('a client that goes away during prefill aborts before any token', async () => {
    // Chunked prefill of 8 tokens per step over a 4,000-token prompt: hundreds of steps.
    const server = await startServer(['--max-num-batched-tokens', '8', '--max-num-seqs', '1']);
    const prompt = Array.from({ length: 4000 }, (_, i) => 1000 + (i % 5000));
    const sock = postRaw(server.port, '/v1/completions', { model: 'tiny', prompt, max_tokens: 50 });
    await until(server, (m) => metric(m, 'hearth_engine_steps_total') >= 5);
    sock.destroy();
    await until(server, (m) => running(m) === 0 && aborted(m) === 1);
    const m = await metrics(server);
    const steps = metric(m, 'hearth_engine_steps_total');
    console.log(`prefill disconnect: aborted after ${steps} of 500 prefill steps`);
    assert.equal(metric(m, 'vllm:generation_tokens_total'), 0, 'no token was generated');
    assert.ok(steps < 500, `${steps} steps: the prefill ran to the end`);
    assert.equal((await server.stop()).code, 0);
  });
});

describe('SIGTERM', () => {
  test('in-flight requests finish, new ones are refused, exit 0', async () => {
    const server = await startServer(['--shutdown-timeout', '60']);
    const client = server.client();
    const stream = await client.chat.completions.create({ model: 'tiny', messages: msgs, max_tokens: 600, ignore_eos: true,
      stream: true, stream_options: { include_usage: true }, ...noThink });
    const it = stream[Symbol.asyncIterator]();
    await it.next();
    server.child.kill('SIGTERM');
    await sleep(100);
    // Not accepting: the listening socket is closed (or a 503 while it closes).
    const refused = await rawRequest(server.port, 'GET /health HTTP/1.1\r\n\r\n', { timeoutMs: 2000 });
    assert.ok(refused === '' || statusOf(refused) === 503, refused);
    let usage, finish;
    for (let r = await it.next(); !r.done; r = await it.next()) {
      if (r.value.usage) usage = r.value.usage;
      for (const ch of r.value.choices) if (ch.finish_reason) finish = ch.finish_reason;
    }
    assert.equal(finish, 'length');
    assert.equal(usage.completion_tokens, 600);
    const { code } = await server.exited;
    assert.equal(code, 0, server.log());
    assert.match(server.log(), /shutting down/);
  });

  test('requests past --shutdown-timeout are aborted, exit 0', async () => {
    const server = await startServer(['--shutdown-timeout', '0.3']);
    const client = server.client();
    const stream = await client.chat.completions.create({ model: 'tiny', messages: msgs, max_tokens: 4000, ignore_eos: true,
      stream: true, ...noThink });
    const it = stream[Symbol.asyncIterator]();
    await it.next();
    const t0 = Date.now();
    server.child.kill('SIGTERM');
    let finish = null;
    try {
      for (let r = await it.next(); !r.done; r = await it.next())
        for (const ch of r.value.choices) if (ch.finish_reason) finish = ch.finish_reason;
    } catch { /* the connection may close first */ }
    const { code } = await server.exited;
    const ms = Date.now() - t0;
    assert.equal(code, 0, server.log());
    assert.ok(finish === null || finish === 'abort', String(finish));
    assert.ok(ms < 5000, `${ms} ms to exit`);
    assert.match(server.log(), /aborting them/);
  });
});
