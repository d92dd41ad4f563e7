import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createLlm, LlmError } from '../../src/llm/chat.js';
import { estimateCostUsd, priceFor } from '../../src/domain/prices.js';
import { startLlmServer, type LlmServer } from '../support/llmServer.js';

let server: LlmServer | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

async function failure(p: Promise<unknown>): Promise<LlmError> {
  try {
    await p;
  } catch (e) {
    if (e instanceof LlmError) return e;
    throw e;
  }
  throw new Error('expected the call to fail');
}

const MSG = [{ role: 'user' as const, content: 'write a spec' }];

test('returns the text, the model and the token usage; sends model, messages and the key', async () => {
  server = await startLlmServer({ responses: [{ text: '## Summary\nhello', promptTokens: 1000, completionTokens: 500 }] });
  const llm = createLlm({ baseUrl: server.url, apiKey: 'sk-test-key', model: 'gpt-4o' });
  const out = await llm.complete([{ role: 'system', content: 'be brief' }, ...MSG]);
  expect(out).toMatchObject({ text: '## Summary\nhello', model: 'gpt-4o', inputTokens: 1000, outputTokens: 500, costSource: 'table' });
  // gpt-4o: $2.5 / $10 per million tokens
  expect(out.costUsd).toBeCloseTo((1000 * 2.5 + 500 * 10) / 1e6, 10);
  expect(server.requests).toHaveLength(1);
  expect(server.requests[0]?.model).toBe('gpt-4o');
  expect(server.requests[0]?.messages).toEqual([{ role: 'system', content: 'be brief' }, ...MSG]);
  expect(server.requests[0]?.headers.authorization).toBe('Bearer sk-test-key');
});

test('a cost reported by the proxy wins over the price table', async () => {
  server = await startLlmServer({
    responses: [
      { text: 'a', costHeader: '0.0123', promptTokens: 10, completionTokens: 10 },
      { text: 'b', usageCost: 0.5, promptTokens: 10, completionTokens: 10 },
      { text: 'c', model: 'my-local-llama', promptTokens: 10, completionTokens: 10 },
    ],
  });
  const llm = createLlm({ baseUrl: server.url, model: 'gpt-4o' });
  expect(await llm.complete(MSG)).toMatchObject({ costUsd: 0.0123, costSource: 'reported' });
  expect(await llm.complete(MSG)).toMatchObject({ costUsd: 0.5, costSource: 'reported' });
  expect(await llm.complete(MSG)).toMatchObject({ model: 'my-local-llama', costUsd: null, costSource: 'unknown' });
});

test.each([500, 502, 503, 429])('HTTP %i → retryable LlmError carrying the status', async (status) => {
  server = await startLlmServer({ responses: [{ status, message: 'upstream is down' }] });
  const err = await failure(createLlm({ baseUrl: server.url, model: 'm' }).complete(MSG));
  expect(err).toMatchObject({ status, retryable: true });
  expect(err.message).toContain(String(status));
  // maxRetries is 0: the tick owns backoff, the client must not retry by itself.
  expect(server.requests).toHaveLength(1);
});

test.each([400, 401, 404])('HTTP %i → LlmError that is not retryable', async (status) => {
  server = await startLlmServer({ responses: [{ status }] });
  const err = await failure(createLlm({ baseUrl: server.url, model: 'm' }).complete(MSG));
  expect(err).toMatchObject({ status, retryable: false });
});

test('an unreachable endpoint is a retryable error without a status', async () => {
  const s = await startLlmServer({ responses: [] });
  const url = s.url;
  await s.close();
  const err = await failure(createLlm({ baseUrl: url, model: 'm' }).complete(MSG));
  expect(err).toMatchObject({ status: null, retryable: true });
});

test('a request that outlives its timeout is a retryable error', async () => {
  // A server that accepts the request and never answers.
  const hang = createServer(() => undefined);
  await new Promise<void>((r) => hang.listen(0, '127.0.0.1', r));
  const { port } = hang.address() as AddressInfo;
  try {
    const err = await failure(createLlm({ baseUrl: `http://127.0.0.1:${port}/v1`, model: 'm', timeoutMs: 200 }).complete(MSG));
    expect(err).toMatchObject({ status: null, retryable: true });
  } finally {
    hang.closeAllConnections();
    await new Promise((r) => hang.close(r));
  }
});

test('an aborted call rejects as a retryable error', async () => {
  const hang = createServer(() => undefined);
  await new Promise<void>((r) => hang.listen(0, '127.0.0.1', r));
  const { port } = hang.address() as AddressInfo;
  const ac = new AbortController();
  try {
    const p = createLlm({ baseUrl: `http://127.0.0.1:${port}/v1`, model: 'm' }).complete(MSG, { signal: ac.signal });
    ac.abort();
    expect(await failure(p)).toMatchObject({ retryable: true, message: expect.stringMatching(/aborted/) });
  } finally {
    hang.closeAllConnections();
    await new Promise((r) => hang.close(r));
  }
});

test('a 200 without choices is a retryable error, not an empty spec', async () => {
  server = await startLlmServer({ responses: [{ raw: { id: 'x', object: 'chat.completion', created: 1, model: 'm', choices: [] } }] });
  expect(await failure(createLlm({ baseUrl: server.url, model: 'm' }).complete(MSG))).toMatchObject({ retryable: true });
});

test('price table: longest prefix, provider prefixes, unknown models', () => {
  expect(priceFor('gpt-4o-mini-2024-07-18')).toEqual({ input: 0.15, output: 0.6 });
  expect(priceFor('openai/gpt-4o')).toEqual({ input: 2.5, output: 10 });
  expect(priceFor('llama3:8b')).toBeNull();
  expect(estimateCostUsd('claude-sonnet-4-5', 1_000_000, 1_000_000)).toBe(18);
  expect(estimateCostUsd('llama3', 1_000_000, 1_000_000)).toBeNull(); // unknown, never free
});
