import { operatorBuilders } from '../agent/builders.js';
import type { Settings } from '../config/env.js';
import type { Sql } from '../db/connection.js';
import type { GiteaClient } from '../gitea/client.js';
import { createLlm } from '../llm/chat.js';
import type { Logger } from '../shared/log.js';
import { builtinPhases } from '../phases/builtin.js';
import { loadPhases } from '../phases/registry.js';
import type { PhaseRegistry } from '../phases/types.js';

/**
 * The phases a tick runs, for the worker and `damascus cycle` alike: DAMASCUS_PHASES_MODULE's, else the
 * built-in ones when Gitea is configured (`gitea`), else none.
 */
export async function configuredPhases(settings: Settings, sql: Sql, log: Logger, gitea: GiteaClient | null): Promise<PhaseRegistry> {
  if (settings.phasesModule || !gitea) return loadPhases(settings.phasesModule);
  const llm =
    settings.llmBaseUrl && settings.llmModel ? createLlm({ baseUrl: settings.llmBaseUrl, apiKey: settings.llmApiKey, model: settings.llmModel }) : null;
  if (!llm) log.warn('LLM_BASE_URL / LLM_MODEL are not set: the spec phase will report an error');
  // A builders file that cannot be used stops here, not at the first build.
  operatorBuilders(settings);
  return builtinPhases({ sql, gitea, settings, log, llm, botIdentity: { name: 'Damascus', email: 'damascus@noreply.invalid' } });
}
