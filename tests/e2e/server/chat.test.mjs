// Chat and text completions through the official OpenAI SDK: non-streaming and streaming,
// usage, n, seeds, stop strings, logprobs, structured output, tools, reasoning.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { metric, metrics, sleep, startServer, thinkingTokenizerDir, validateWithPython } from './helpers.mjs';

const noThink = { chat_template_kwargs: { enable_thinking: false } };

describe('chat and completions', () => {
  let server, client;
  before(async () => {
    server = await startServer();
    client = server.client();
  });
  after(async () => {
    const { code } = await server.stop();
    assert.equal(code, 0, server.log());
  });

  test('models lists the served name', async () => {
    const list = await client.models.list();
    assert.deepEqual(list.data.map((m) => m.id), ['tiny']);
    const m = await client.models.retrieve('tiny');
    assert.equal(m.id, 'tiny');
  });

  test('chat completion: message, finish reason, usage', async () => {
    const r = await client.chat.completions.create({
      model: 'tiny', messages: [{ role: 'system', content: 'Be brief.' }, { role: 'user', content: 'Hello!' }],
      max_tokens: 8, ...noThink,
    });
    assert.equal(r.object, 'chat.completion');
    assert.equal(r.choices.length, 1);
    const c = r.choices[0];
    assert.equal(c.message.role, 'assistant');
    assert.equal(typeof c.message.content, 'string');
    assert.ok(['stop', 'length'].includes(c.finish_reason));
    assert.ok(r.usage.prompt_tokens > 5);
    assert.ok(r.usage.completion_tokens >= 1 && r.usage.completion_tokens <= 8);
    assert.equal(r.usage.total_tokens, r.usage.prompt_tokens + r.usage.completion_tokens);
  });

  test('max_tokens is honoured exactly with ignore_eos', async () => {
    const r = await client.chat.completions.create({ model: 'tiny', messages: [{ role: 'user', content: 'count' }],
      max_completion_tokens: 7, ignore_eos: true, ...noThink });
    assert.equal(r.usage.completion_tokens, 7);
    assert.equal(r.choices[0].finish_reason, 'length');
  });

  test('streaming equals non-streaming under the same seed, usage last', async () => {
    const body = { model: 'tiny', messages: [{ role: 'user', content: 'Tell me a story' }], max_tokens: 24,
      temperature: 1.0, seed: 1234, ignore_eos: true, ...noThink };
    const whole = await client.chat.completions.create(body);
    const stream = await client.chat.completions.create({ ...body, stream: true, stream_options: { include_usage: true } });
    let text = '', role = null, finish = null, usage = null, chunks = 0;
    for await (const chunk of stream) {
      chunks++;
      assert.equal(chunk.object, 'chat.completion.chunk');
      if (chunk.usage) usage = chunk.usage;
      for (const ch of chunk.choices) {
        if (ch.delta.role) role = ch.delta.role;
        if (ch.delta.content) text += ch.delta.content;
        if (ch.finish_reason) finish = ch.finish_reason;
      }
    }
    assert.equal(role, 'assistant');
    assert.ok(chunks > 3);
    assert.equal(text, whole.choices[0].message.content);
    assert.equal(finish, 'length');
    assert.deepEqual(usage, whole.usage);
  });

  test('n = 3 gives three choices; a seed makes them reproducible', async () => {
    const body = { model: 'tiny', messages: [{ role: 'user', content: 'Hi' }], max_tokens: 12, n: 3, seed: 7, ...noThink };
    const a = await client.chat.completions.create(body);
    const b = await client.chat.completions.create(body);
    assert.deepEqual(a.choices.map((c) => c.index), [0, 1, 2]);
    assert.deepEqual(a.choices.map((c) => c.message.content), b.choices.map((c) => c.message.content));
    assert.ok(new Set(a.choices.map((c) => c.message.content)).size > 1, 'choices differ from each other');
  });

  test('n = 2 streams both choices', async () => {
    const stream = await client.chat.completions.create({ model: 'tiny', messages: [{ role: 'user', content: 'Hi' }],
      max_tokens: 6, n: 2, stream: true, ignore_eos: true, ...noThink });
    const finished = new Set();
    for await (const chunk of stream) for (const ch of chunk.choices) if (ch.finish_reason) finished.add(ch.index);
    assert.deepEqual([...finished].sort(), [0, 1]);
  });

  test('a stop string cuts the text where it starts', async () => {
    const body = { model: 'tiny', messages: [{ role: 'user', content: 'Go' }], max_tokens: 30, seed: 99, ignore_eos: true, ...noThink };
    const full = (await client.chat.completions.create(body)).choices[0].message.content;
    const stop = full.slice(10, 14);
    const cut = await client.chat.completions.create({ ...body, stop: [stop] });
    assert.equal(cut.choices[0].finish_reason, 'stop');
    assert.equal(cut.choices[0].message.content, full.slice(0, full.indexOf(stop)));
    assert.ok(cut.usage.completion_tokens < 30);
  });

  test('logprobs and top_logprobs', async () => {
    const r = await client.chat.completions.create({ model: 'tiny', messages: [{ role: 'user', content: 'Hi' }],
      max_tokens: 5, logprobs: true, top_logprobs: 3, ignore_eos: true, ...noThink });
    const lp = r.choices[0].logprobs.content;
    assert.equal(lp.length, 5);
    for (const e of lp) {
      assert.equal(typeof e.token, 'string');
      assert.ok(e.logprob <= 0);
      assert.equal(e.top_logprobs.length, 3);
      assert.ok(e.top_logprobs[0].logprob >= e.top_logprobs[2].logprob);
      assert.ok(Array.isArray(e.bytes));
    }
    assert.equal(lp.map((e) => Buffer.from(e.bytes).toString('utf8')).join(''), r.choices[0].message.content);
  });

  test('text completions: string prompt, token-id prompt, logprobs, streaming', async () => {
    const a = await client.completions.create({ model: 'tiny', prompt: 'Once upon a time', max_tokens: 6, logprobs: 2, ignore_eos: true });
    assert.equal(a.object, 'text_completion');
    assert.equal(a.choices[0].logprobs.tokens.length, 6);
    assert.equal(a.choices[0].logprobs.top_logprobs[0] && Object.keys(a.choices[0].logprobs.top_logprobs[0]).length, 2);
    const b = await client.completions.create({ model: 'tiny', prompt: [9707, 11, 1879], max_tokens: 4, ignore_eos: true });
    assert.equal(b.usage.prompt_tokens, 3);
    assert.equal(b.usage.completion_tokens, 4);
    const stream = await client.completions.create({ model: 'tiny', prompt: 'abc', max_tokens: 5, stream: true, seed: 5,
      ignore_eos: true, stream_options: { include_usage: true } });
    let text = '', usage;
    for await (const chunk of stream) {
      if (chunk.usage) usage = chunk.usage;
      for (const ch of chunk.choices) text += ch.text;
    }
    const whole = await client.completions.create({ model: 'tiny', prompt: 'abc', max_tokens: 5, seed: 5, ignore_eos: true });
    assert.equal(text, whole.choices[0].text);
    assert.equal(usage.completion_tokens, 5);
  });

  test('json_schema output parses and validates', async () => {
    const schema = {
      type: 'object',
      properties: {
        title: { type: 'string', maxLength: 12 },
        salary: { type: 'integer', minimum: 0, maximum: 500000 },
        remote: { type: 'boolean' },
        level: { enum: ['junior', 'senior'] },
      },
      required: ['title', 'salary', 'remote', 'level'],
      additionalProperties: false,
    };
    for (let seed = 0; seed < 6; seed++) {
      const r = await client.chat.completions.create({ model: 'tiny', messages: [{ role: 'user', content: 'Extract the job' }],
        max_tokens: 200, seed, response_format: { type: 'json_schema', json_schema: { name: 'job', schema, strict: true } }, ...noThink });
      assert.equal(r.choices[0].finish_reason, 'stop', r.choices[0].message.content);
      const value = JSON.parse(r.choices[0].message.content);
      const v = validateWithPython(schema, value);
      if (v !== null) assert.equal(v, true, v);
      assert.deepEqual(Object.keys(value).sort(), ['level', 'remote', 'salary', 'title']);
    }
  });

  test('json_object output is an object', async () => {
    const r = await client.chat.completions.create({ model: 'tiny', messages: [{ role: 'user', content: 'JSON please' }],
      max_tokens: 300, seed: 3, response_format: { type: 'json_object' }, ...noThink });
    if (r.choices[0].finish_reason === 'stop') {
      const v = JSON.parse(r.choices[0].message.content);
      assert.equal(typeof v, 'object');
      assert.ok(!Array.isArray(v));
    } else {
      assert.equal(r.choices[0].finish_reason, 'length');
      assert.ok(r.choices[0].message.content.startsWith('{'));
    }
  });

  const tools = [{
    type: 'function',
    function: {
      name: 'get_weather',
      description: 'Weather of a city',
      parameters: { type: 'object', properties: { city: { enum: ['Paris', 'Oslo'] }, days: { type: 'integer', minimum: 1, maximum: 7 } },
        required: ['city', 'days'], additionalProperties: false },
    },
  }, {
    type: 'function',
    function: { name: 'get_time', parameters: { type: 'object', properties: { zone: { enum: ['UTC', 'CET'] } }, required: ['zone'], additionalProperties: false } },
  }];

  test('tools: a named tool_choice yields a call with valid arguments', async () => {
    const r = await client.chat.completions.create({ model: 'tiny', messages: [{ role: 'user', content: 'Weather in Paris?' }],
      tools, tool_choice: { type: 'function', function: { name: 'get_weather' } }, max_tokens: 60, seed: 1, ...noThink });
    const c = r.choices[0];
    assert.equal(c.finish_reason, 'tool_calls');
    assert.equal(c.message.tool_calls.length, 1);
    const call = c.message.tool_calls[0];
    assert.equal(call.type, 'function');
    assert.match(call.id, /^call_/);
    assert.equal(call.function.name, 'get_weather');
    const args = JSON.parse(call.function.arguments);
    assert.equal(validateWithPython(tools[0].function.parameters, args) ?? true, true);
  });

  test('tools: required, streamed, and the call round-trips as history', async () => {
    const stream = await client.chat.completions.create({ model: 'tiny', messages: [{ role: 'user', content: 'Time?' }],
      tools, tool_choice: 'required', max_tokens: 120, seed: 2, stream: true, ...noThink });
    const calls = [];
    let finish;
    for await (const chunk of stream) {
      for (const ch of chunk.choices) {
        for (const tc of ch.delta.tool_calls ?? []) calls[tc.index] = tc;
        if (ch.finish_reason) finish = ch.finish_reason;
      }
    }
    assert.equal(finish, 'tool_calls');
    assert.ok(calls.length >= 1);
    for (const c of calls) {
      assert.ok(['get_weather', 'get_time'].includes(c.function.name));
      JSON.parse(c.function.arguments);
    }
    const next = await client.chat.completions.create({ model: 'tiny', tools, max_tokens: 4, ...noThink, messages: [
      { role: 'user', content: 'Time?' },
      { role: 'assistant', content: null, tool_calls: calls.map((c) => ({ id: c.id, type: 'function', function: c.function })) },
      { role: 'tool', tool_call_id: calls[0].id, content: '12:00' },
    ] });
    assert.ok(next.choices[0].message);
  });

  test('tools: auto returns a well-formed message', async () => {
    const r = await client.chat.completions.create({ model: 'tiny', messages: [{ role: 'user', content: 'Weather?' }],
      tools, max_tokens: 10, ...noThink });
    assert.ok(['stop', 'length', 'tool_calls'].includes(r.choices[0].finish_reason));
    assert.ok(Array.isArray(r.choices[0].message.tool_calls));
  });

  test('content parts are joined', async () => {
    const r = await client.chat.completions.create({ model: 'tiny', max_tokens: 2, ...noThink,
      messages: [{ role: 'user', content: [{ type: 'text', text: 'Hello' }, { type: 'text', text: 'world' }] }] });
    assert.ok(r.choices[0].message);
  });

  test('one log line per request; metrics moved', async () => {
    const r = await client.chat.completions.create({ model: 'tiny', messages: [{ role: 'user', content: 'log me' }],
      max_tokens: 3, ignore_eos: true, ...noThink });
    await sleep(50);
    const line = server.log().split('\n').find((l) => l.includes(`id=${r.id} `));
    assert.ok(line, server.log());
    assert.match(line, /POST \/v1\/chat\/completions status=200 prompt_tokens=\d+ completion_tokens=3 ttft_ms=[\d.]+ latency_ms=[\d.]+ finish=length/);
    const m = await metrics(server);
    assert.ok(metric(m, 'vllm:prompt_tokens_total') > 0);
    assert.ok(metric(m, 'vllm:generation_tokens_total') >= 3);
    assert.ok(metric(m, 'vllm:time_to_first_token_seconds_count') > 0);
    assert.ok(metric(m, 'vllm:e2e_request_latency_seconds_count') > 0);
    assert.ok(metric(m, 'vllm:inter_token_latency_seconds_count') > 0);
    assert.ok(metric(m, 'vllm:request_success_total', 'finished_reason="length"') > 0);
    assert.equal(metric(m, 'vllm:num_requests_running'), 0);
    for (const name of ['vllm:num_requests_waiting', 'vllm:kv_cache_usage_perc', 'vllm:prefix_cache_queries_total',
      'vllm:prefix_cache_hits_total', 'hearth_gpu_memory_peak_bytes']) assert.notEqual(metric(m, name), undefined, name);
  });

  test('tokenize and detokenize', async () => {
    const t = await (await fetch(`${server.base}/tokenize`, { method: 'POST', body: JSON.stringify({ prompt: 'Hello world' }) })).json();
    assert.deepEqual(t.tokens, [9707, 1879]);
    assert.equal(t.count, 2);
    const d = await (await fetch(`${server.base}/detokenize`, { method: 'POST', body: JSON.stringify({ tokens: t.tokens }) })).json();
    assert.equal(d.prompt, 'Hello world');
  });
});

describe('reasoning (Thinking-2507 template)', () => {
  let server, client;
  before(async () => {
    server = await startServer([], { tokenizer: thinkingTokenizerDir() });
    client = server.client();
  });
  after(async () => { await server.stop(); });

  test('reasoning goes to reasoning_content, never content', async () => {
    const r = await client.chat.completions.create({ model: 'tiny', messages: [{ role: 'user', content: 'Think' }],
      max_tokens: 12, ignore_eos: true, seed: 4 });
    const m = r.choices[0].message;
    // The prompt opened <think>; a random model does not close it: all of it is reasoning.
    assert.ok(m.reasoning_content && m.reasoning_content.length > 0);
    assert.equal(m.reasoning, m.reasoning_content);
    assert.ok(m.content === null || m.content === '');
    const stream = await client.chat.completions.create({ model: 'tiny', messages: [{ role: 'user', content: 'Think' }],
      max_tokens: 12, ignore_eos: true, seed: 4, stream: true });
    let reasoning = '', content = '';
    for await (const chunk of stream) {
      for (const ch of chunk.choices) {
        reasoning += ch.delta.reasoning_content ?? '';
        content += ch.delta.content ?? '';
      }
    }
    assert.equal(reasoning, m.reasoning_content);
    assert.equal(content, '');
  });
});
