import { estimateCostUsd } from '../domain/prices.js';
import type { AgentReport } from './presets/types.js';

/** A run's cost: as its CLI reported it, else its token counts at the price table's rate; null when neither is known. */
export function agentCostUsd(r: AgentReport): number | null {
  if (r.costUsd !== null) return r.costUsd;
  if (r.model && r.inputTokens !== null && r.outputTokens !== null) return estimateCostUsd(r.model, r.inputTokens, r.outputTokens);
  return null;
}

/** "$0.0123" or "an unknown amount": unknown is never shown as zero. */
export function describeCost(usd: number | null): string {
  return usd === null ? 'an unknown amount' : `$${usd.toFixed(4)}`;
}
