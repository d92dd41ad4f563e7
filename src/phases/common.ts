import type { Settings } from '../config/env.js';
import { parseRepoConfig, renderConfigError, REPO_CONFIG_PATH, type RepoConfig } from '../config/repoConfig.js';
import type { Sql } from '../db/connection.js';
import { readPhaseContext, type PhaseContextData } from '../db/ops/readPhaseContext.js';
import type { ClaimedItem } from '../db/types.js';
import type { GiteaClient } from '../gitea/client.js';
import type { Llm } from '../llm/chat.js';
import type { Logger } from '../shared/log.js';
import { isDefer, type Phase, type PhaseContext, type PhaseResult } from './types.js';

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

/** A built-in phase's run, given the item's context and repo config that withRepoInputs read for it. */
export interface LoadedPhase {
  run(item: ClaimedItem, ctx: PhaseContext, loaded: Loaded): Promise<PhaseResult>;
}

/**
 * A built-in phase: read the item's context and its repo's config, block an item over its cost budget, else run.
 * Every verdict given once the config was read carries the repo's budget_cycles (it counts for that verdict too).
 */
export function withRepoInputs(deps: PhaseDeps, phase: LoadedPhase): Phase {
  return {
    async run(item, ctx) {
      const loaded = await loadPhaseInputs(deps, item);
      if (!isLoaded(loaded)) return loaded;
      const budget = overBudget(item, loaded.config);
      const result: PhaseResult = budget ? { verdict: 'fail', block: budget, reason: budget } : await phase.run(item, ctx, loaded);
      const cycles = loaded.config.budgetCycles;
      if (isDefer(result) || cycles === item.budgetCycles) return result;
      return { ...result, patch: { ...result.patch, budgetCycles: cycles } };
    },
  };
}

/**
 * Read the item's context and its repo's `.gitea/damascus.yml` (default branch). A file that does not
 * parse or validate parks the item with a question quoting the error and line — never a crash and
 * never silently ignored.
 */
async function loadPhaseInputs(deps: PhaseDeps, item: ClaimedItem): Promise<Loaded | PhaseResult> {
  const ctx = await readPhaseContext(deps.sql, item.id);
  const text = await deps.gitea.getRawFile(ctx.project.owner, ctx.project.name, REPO_CONFIG_PATH, ctx.project.defaultBranch);
  const parsed = parseRepoConfig(text);
  if (!parsed.ok) {
    return { verdict: 'needs_human', reason: `${REPO_CONFIG_PATH} is invalid`, questions: [renderConfigError(parsed)] };
  }
  return { ctx, config: parsed.config };
}

function isLoaded(x: Loaded | PhaseResult): x is Loaded {
  return (x as Loaded).config !== undefined && (x as Loaded).ctx !== undefined;
}

/** The cost budget: an item over max_cost_usd (item override, else the repo's) is blocked like a loop. */
function overBudget(item: ClaimedItem, config: RepoConfig): string | null {
  const max = item.maxCostUsd ?? config.maxCostUsd;
  if (item.costUsd >= max) return `Cost budget spent: $${item.costUsd.toFixed(2)} of $${max.toFixed(2)}.`;
  return null;
}
