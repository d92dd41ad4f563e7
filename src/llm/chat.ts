import OpenAI, { APIConnectionError, APIError, APIUserAbortError } from 'openai';
import { estimateCostUsd, type Price } from '../domain/prices.js';

export interface ChatMessage {
  role: 'system' | 'user' | 'assistant';
  content: string;
}

export interface Completion {
  text: string;
  /** The model the server says answered (may differ from the one asked for behind a proxy). */
  model: string;
  inputTokens: number;
  outputTokens: number;
  /** null: unknown (no report, and the model is not in the price table). */
  costUsd: number | null;
  /** Where costUsd came from: the server's own report, the price table, or nowhere (null). */
  costSource: 'reported' | 'table' | 'unknown';
}

/**
 * A failed LLM call. `retryable` (5xx, 429, 408, network, timeout, abort) means an infrastructure fault: the
 * phase answers verdict `error` (backoff, no attempt consumed). Otherwise the request itself is wrong.
 */
export class LlmError extends Error {
  override name = 'LlmError';
  constructor(
    message: string,
    readonly status: number | null,
    readonly retryable: boolean,
  ) {
    super(message);
  }
}

export interface LlmOptions {
  baseUrl: string;
  apiKey?: string | undefined;
  model: string;
  timeoutMs?: number;
  prices?: Readonly<Record<string, Price>>;
}

export interface CompleteOptions {
  signal?: AbortSignal;
  maxTokens?: number;
  temperature?: number;
}

export interface Llm {
  readonly model: string;
  complete(messages: ChatMessage[], options?: CompleteOptions): Promise<Completion>;
}

function toLlmError(e: unknown): LlmError {
  if (e instanceof LlmError) return e;
  if (e instanceof APIUserAbortError) return new LlmError('LLM request aborted', null, true);
  // APIConnectionTimeoutError is a subclass of APIConnectionError.
  if (e instanceof APIConnectionError) return new LlmError(`LLM endpoint unreachable: ${e.message}`, null, true);
  if (e instanceof APIError) {
    const status = e.status ?? null;
    const retryable = status === null || status >= 500 || status === 429 || status === 408;
    return new LlmError(`LLM endpoint answered ${status ?? 'an error'}: ${e.message}`, status, retryable);
  }
  return new LlmError(`LLM call failed: ${(e as Error)?.message ?? String(e)}`, null, true);
}

/** A cost reported by the server: LiteLLM's response header or an OpenRouter-style `usage.cost`. */
function reportedCost(headers: Headers, usage: unknown): number | null {
  const header = headers.get('x-litellm-response-cost');
  if (header !== null && header.trim() !== '' && Number.isFinite(Number(header))) return Number(header);
  const cost = (usage as { cost?: unknown } | null | undefined)?.cost;
  return typeof cost === 'number' && Number.isFinite(cost) ? cost : null;
}

/** A client for any OpenAI-compatible chat endpoint (LiteLLM, Ollama, vLLM). No retries: the tick does backoff. */
export function createLlm(options: LlmOptions): Llm {
  const client = new OpenAI({
    baseURL: options.baseUrl,
    // Ollama and vLLM accept any key; the SDK insists on one (and would otherwise read OPENAI_API_KEY).
    apiKey: options.apiKey ?? 'unused',
    maxRetries: 0,
    timeout: options.timeoutMs ?? 300_000,
  });
  return {
    model: options.model,
    async complete(messages, opts = {}) {
      try {
        const { data, response } = await client.chat.completions
          .create(
            {
              model: options.model,
              messages,
              ...(opts.maxTokens !== undefined ? { max_tokens: opts.maxTokens } : {}),
              ...(opts.temperature !== undefined ? { temperature: opts.temperature } : {}),
            },
            opts.signal ? { signal: opts.signal } : {},
          )
          .withResponse();
        const choice = data.choices?.[0];
        if (!choice) throw new LlmError('LLM response has no choices', response.status, true);
        const inputTokens = data.usage?.prompt_tokens ?? 0;
        const outputTokens = data.usage?.completion_tokens ?? 0;
        const model = data.model || options.model;
        const reported = reportedCost(response.headers, data.usage);
        const estimated = estimateCostUsd(model, inputTokens, outputTokens, options.prices);
        return {
          text: choice.message?.content ?? '',
          model,
          inputTokens,
          outputTokens,
          costUsd: reported ?? estimated,
          costSource: reported !== null ? 'reported' : estimated !== null ? 'table' : 'unknown',
        };
      } catch (e) {
        throw toLlmError(e);
      }
    },
  };
}
