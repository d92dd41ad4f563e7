import { claudeCodePreset } from './claudeCode.js';
import { codexPreset } from './codex.js';
import { opencodePreset } from './opencode.js';
import type { BuilderPreset } from './types.js';

/** The coding-agent CLIs Damascus drives by name. */
export const PRESETS: Readonly<Record<string, BuilderPreset>> = {
  'claude-code': claudeCodePreset,
  codex: codexPreset,
  opencode: opencodePreset,
};
