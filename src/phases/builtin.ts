import { buildPhase } from './build.js';
import { loadedConfig, type PhaseDeps } from './common.js';
import { reviewPhase } from './review.js';
import { specPhase } from './spec.js';
import { isDefer, type Phase, type PhaseRegistry } from './types.js';

/** The repo's budget_cycles goes with every verdict of a phase that read the repo config. */
function withRepoBudget(phase: Phase): Phase {
  return {
    async run(item, ctx) {
      const result = await phase.run(item, ctx);
      const config = loadedConfig.get(item);
      if (!config || isDefer(result) || config.budgetCycles === item.budgetCycles) return result;
      return { ...result, patch: { ...result.patch, budgetCycles: config.budgetCycles } };
    },
  };
}

/** The three real phases (issue 5): spec-refiner, code-builder, reviewer with merge. */
export function builtinPhases(deps: PhaseDeps): PhaseRegistry {
  return { spec: withRepoBudget(specPhase(deps)), build: withRepoBudget(buildPhase(deps)), review: withRepoBudget(reviewPhase(deps)) };
}
