import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { ConfigError } from '../config/env.js';
import { ACTIVE_PHASES } from '../domain/states.js';
import type { Phase, PhaseRegistry } from './types.js';

/**
 * Load phases from an ES module (DAMASCUS_PHASES_MODULE): it exports `phases` (or a default
 * export) mapping spec/build/review to objects with `run(item, ctx)`, or a function returning such
 * a map. Operators use it to plug in their own phases; tests use it for scripted ones.
 */
export async function loadPhasesModule(modulePath: string): Promise<PhaseRegistry> {
  let mod: Record<string, unknown>;
  try {
    mod = (await import(pathToFileURL(resolve(modulePath)).href)) as Record<string, unknown>;
  } catch (err) {
    throw new ConfigError(`DAMASCUS_PHASES_MODULE ${modulePath} could not be loaded: ${(err as Error).message}`);
  }
  let exported = mod.phases ?? mod.default;
  if (typeof exported === 'function') exported = await (exported as () => unknown)();
  if (typeof exported !== 'object' || exported === null) {
    throw new ConfigError(`DAMASCUS_PHASES_MODULE ${modulePath} must export \`phases\`: { spec, build, review }`);
  }
  const registry: PhaseRegistry = {};
  for (const name of ACTIVE_PHASES) {
    const p = (exported as Record<string, unknown>)[name];
    if (p === undefined) continue;
    if (typeof (p as Phase).run !== 'function') {
      throw new ConfigError(`DAMASCUS_PHASES_MODULE ${modulePath}: phase "${name}" has no run(item, ctx) function`);
    }
    registry[name] = p as Phase;
  }
  if (Object.keys(registry).length === 0) {
    throw new ConfigError(`DAMASCUS_PHASES_MODULE ${modulePath} defines none of spec, build, review`);
  }
  return registry;
}

/** The registry a process runs with: the module named in the settings (built-in phases come later). */
export async function loadPhases(phasesModule: string | undefined): Promise<PhaseRegistry> {
  if (phasesModule) return loadPhasesModule(phasesModule);
  return {};
}
