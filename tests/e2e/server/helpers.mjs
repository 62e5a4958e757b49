// Shared by the e2e tests: a tiny random-weight Qwen3 with the full vocabulary and the real
// tokenizer, and a `hearth serve` child process on a free port.
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import OpenAI from 'openai';

export const HEARTH = process.env.HEARTH_BINARY;
export const SHARED = process.env.HEARTH_SHARED_DIR;
export const SOURCE = process.env.HEARTH_SOURCE_DIR;
export const TOKENIZER = SHARED ? path.join(SHARED, 'tokenizer', 'qwen3') : '';

// Tiny hidden sizes, Qwen3's vocabulary and EOS ids: fast on one CPU core.
export function tinyModelDir() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hearth-e2e-'));
  const config = {
    architectures: ['Qwen3ForCausalLM'], model_type: 'qwen3', vocab_size: 151936, hidden_size: 32,
    intermediate_size: 64, num_hidden_layers: 1, num_attention_heads: 2, num_key_value_heads: 1, head_dim: 16,
    rms_norm_eps: 1e-6, max_position_embeddings: 4096, tie_word_embeddings: true, bos_token_id: 151643,
    eos_token_id: [151645, 151643], rope_parameters: { rope_theta: 1000000.0, rope_type: 'default' }, dtype: 'float32',
  };
  fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify(config));
  return dir;
}

// A copy of the Qwen3 tokenizer whose chat template is the Thinking-2507 one (its prompt
// opens <think> itself, so everything a random model writes is reasoning).
export function thinkingTokenizerDir() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hearth-e2e-tok-'));
  for (const f of ['tokenizer.json', 'tokenizer_config.json', 'vocab.json', 'merges.txt']) {
    if (fs.existsSync(path.join(TOKENIZER, f))) fs.copyFileSync(path.join(TOKENIZER, f), path.join(dir, f));
  }
  fs.copyFileSync(path.join(SOURCE, 'tests/golden/tokenizer/qwen3_thinking_2507.jinja'), path.join(dir, 'chat_template.jinja'));
  return dir;
}

export class Server {
  constructor(child, port, logs) {
    this.child = child;
    this.port = port;
    this.logs = logs;
    this.base = `http://127.0.0.1:${port}`;
    this.exited = new Promise((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
  }
  client(opts = {}) {
    return new OpenAI({ baseURL: `${this.base}/v1`, apiKey: opts.apiKey ?? 'none', maxRetries: 0, timeout: 60000, ...opts });
  }
  async stop(signal = 'SIGTERM') {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill(signal);
    return this.exited;
  }
  log() { return this.logs.join(''); }
}

// Starts `hearth serve` on a free port and waits for /health 200.
// model: null leaves --model out (a --config file names it).
export async function startServer(extraArgs = [], { tokenizer = TOKENIZER, waitReady = true, model } = {}) {
  const modelArgs = model === null ? [] : ['--model', `random:${path.join(model ?? tinyModelDir(), 'config.json')}`];
  const args = ['serve', ...modelArgs, '--tokenizer', tokenizer,
    '--port', '0', '--device', 'cpu', '--threads', '1', '--served-model-name', 'tiny', ...extraArgs];
  const child = spawn(HEARTH, args, { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, HEARTH_LOG: 'info' } });
  const logs = [];
  const port = await new Promise((resolve, reject) => {
    let buf = '';
    const timer = setTimeout(() => reject(new Error(`no listening line:\n${buf}`)), 30000);
    child.stderr.on('data', (d) => {
      const s = d.toString();
      logs.push(s);
      buf += s;
      const m = buf.match(/listening on http:\/\/[^:]+:(\d+)/);
      if (m) { clearTimeout(timer); resolve(Number(m[1])); }
    });
    child.on('exit', (code) => { clearTimeout(timer); reject(new Error(`hearth serve exited ${code}:\n${buf}`)); });
  });
  const server = new Server(child, port, logs);
  if (waitReady) await waitHealthy(server);
  return server;
}

export async function waitHealthy(server, timeoutMs = 60000) {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    try {
      const r = await fetch(`${server.base}/health`);
      if (r.status === 200) return;
    } catch { /* not yet */ }
    await sleep(50);
  }
  throw new Error(`server not healthy:\n${server.log()}`);
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// One metric sample's value from /metrics text (labels as a substring, e.g. 'finished_reason="abort"').
export function metric(text, name, labels = '') {
  for (const line of text.split('\n')) {
    if (!line.startsWith(name + '{')) continue;
    if (labels && !line.includes(labels)) continue;
    return Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return undefined;
}

export async function metrics(server) {
  const r = await fetch(`${server.base}/metrics`);
  return r.text();
}

// Sends raw bytes and returns the raw response ('' when the server closed without one).
export function rawRequest(port, bytes, { timeoutMs = 5000, halfClose = true } = {}) {
  return new Promise((resolve) => {
    const sock = net.connect(port, '127.0.0.1');
    const chunks = [];
    let done = false;
    const finish = () => { if (!done) { done = true; sock.destroy(); resolve(Buffer.concat(chunks).toString('latin1')); } };
    sock.on('data', (d) => chunks.push(d));
    sock.on('end', finish);
    sock.on('error', finish);
    sock.on('close', finish);
    sock.setTimeout(timeoutMs, finish);
    sock.write(bytes, () => { if (halfClose) sock.end(); });
  });
}

export function statusOf(raw) {
  const m = raw.match(/^HTTP\/1\.[01] (\d{3})/);
  return m ? Number(m[1]) : 0;
}

// Validates with Python's jsonschema (an independent validator); null when it is absent.
export function validateWithPython(schema, instance) {
  const code = 'import json,sys\nimport jsonschema\nd=json.load(sys.stdin)\njsonschema.validate(d["i"], d["s"])\n';
  const r = spawnSync('python3', ['-c', code], { input: JSON.stringify({ s: schema, i: instance }) });
  if (r.error || (r.status !== 0 && /No module named/.test(r.stderr.toString()))) return null;
  return r.status === 0 ? true : r.stderr.toString();
}
