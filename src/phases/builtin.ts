import { buildPhase } from './build.js';
import type { PhaseDeps } from './common.js';
import { reviewPhase } from './review.js';
import { specPhase } from './spec.js';
import type { PhaseRegistry } from './types.js';

/** The three real phases (issue 5): spec-refiner, code-builder, reviewer with merge. */
export function builtinPhases(deps: PhaseDeps): PhaseRegistry {
  return { spec: specPhase(deps), build: buildPhase(deps), review: reviewPhase(deps) };
}
