import type { Settings } from '../config/env.js';
import { parseRepoConfig, renderConfigError, REPO_CONFIG_PATH, type RepoConfig } from '../config/repoConfig.js';
import type { Sql } from '../db/connection.js';
import { readPhaseContext, type PhaseContextData } from '../db/ops/readPhaseContext.js';
import type { ClaimedItem } from '../db/types.js';
import type { GiteaClient } from '../gitea/client.js';
import type { Llm } from '../llm/chat.js';
import type { Logger } from '../shared/log.js';
import type { PhaseResult } from './types.js';

/** What the built-in phases need: the store, Gitea, the LLM (spec), and the process settings. */
export interface PhaseDeps {
  sql: Sql;
  gitea: GiteaClient;
  settings: Settings;
  log: Logger;
  llm: Llm | null;
  /** The bot's identity for commits (name, email). */
  botIdentity: { name: string; email: string };
}

export interface Loaded {
  ctx: PhaseContextData;
  config: RepoConfig;
}

/**
 * Read the item's context and its repo's `.gitea/damascus.yml` (default branch). A file that does not
 * parse or validate parks the item with a question quoting the error and line — never a crash and
 * never silently ignored.
 */
export async function loadPhaseInputs(deps: PhaseDeps, item: ClaimedItem): Promise<Loaded | PhaseResult> {
  const ctx = await readPhaseContext(deps.sql, item.id);
  const text = await deps.gitea.getRawFile(ctx.project.owner, ctx.project.name, REPO_CONFIG_PATH, ctx.project.defaultBranch);
  const parsed = parseRepoConfig(text);
  if (!parsed.ok) {
    return { verdict: 'needs_human', reason: `${REPO_CONFIG_PATH} is invalid`, questions: [renderConfigError(parsed)] };
  }
  loadedConfig.set(item, parsed.config);
  return { ctx, config: parsed.config };
}

/** The repo config each claimed item's phase loaded (read back by builtinPhases to apply budget_cycles). */
export const loadedConfig = new WeakMap<ClaimedItem, RepoConfig>();

export function isLoaded(x: Loaded | PhaseResult): x is Loaded {
  return (x as Loaded).config !== undefined && (x as Loaded).ctx !== undefined;
}

/** The cost budget: an item over max_cost_usd (item override, else the repo's) is blocked like a loop. */
export function overBudget(item: ClaimedItem, config: RepoConfig): string | null {
  const max = item.maxCostUsd ?? config.maxCostUsd;
  if (item.costUsd >= max) return `Cost budget spent: $${item.costUsd.toFixed(2)} of $${max.toFixed(2)}.`;
  return null;
}
