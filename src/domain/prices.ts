/** USD per million tokens. */
export interface Price {
  input: number;
  output: number;
}

/**
 * List prices by model-name prefix (longest prefix wins). A rough guide for budgets only: a proxy that
 * reports the real cost (LiteLLM's header or `usage.cost`) always takes precedence. Unknown → null, never 0.
 */
export const PRICES: Readonly<Record<string, Price>> = {
  'gpt-4o-mini': { input: 0.15, output: 0.6 },
  'gpt-4o': { input: 2.5, output: 10 },
  'gpt-4.1-nano': { input: 0.1, output: 0.4 },
  'gpt-4.1-mini': { input: 0.4, output: 1.6 },
  'gpt-4.1': { input: 2, output: 8 },
  'o4-mini': { input: 1.1, output: 4.4 },
  o3: { input: 2, output: 8 },
  'claude-3-5-haiku': { input: 0.8, output: 4 },
  'claude-haiku-4': { input: 1, output: 5 },
  'claude-sonnet-4': { input: 3, output: 15 },
  'claude-3-7-sonnet': { input: 3, output: 15 },
  'claude-opus-4': { input: 15, output: 75 },
};

/** The price entry for a model, matching "openai/gpt-4o" as "gpt-4o" too (proxies prefix providers). */
export function priceFor(model: string, prices: Readonly<Record<string, Price>> = PRICES): Price | null {
  const name = model.toLowerCase();
  const bare = name.includes('/') ? name.slice(name.lastIndexOf('/') + 1) : name;
  let best: string | null = null;
  for (const prefix of Object.keys(prices)) {
    if ((bare.startsWith(prefix) || name.startsWith(prefix)) && (best === null || prefix.length > best.length)) best = prefix;
  }
  return best === null ? null : (prices[best] ?? null);
}

/** Estimated USD for one call from the table; null for a model it does not know (unknown is not free). */
export function estimateCostUsd(model: string, inputTokens: number, outputTokens: number, prices?: Readonly<Record<string, Price>>): number | null {
  const p = priceFor(model, prices);
  if (p === null) return null;
  return (inputTokens * p.input + outputTokens * p.output) / 1_000_000;
}
