import { accessSync, constants, readFileSync, realpathSync, statSync } from 'node:fs';
import { dirname, isAbsolute, join, resolve, sep } from 'node:path';
import { parse } from 'yaml';
import { ConfigError, type Settings } from '../config/env.js';
import { parseBuilderCommand, expandBuilderCommand } from './builderCommand.js';
import { PRESETS } from './presets/index.js';
import type { BuilderPreset, Env, OutputReader, PresetRunOptions } from './presets/types.js';

/**
 * The builders an installation offers. Only the operator defines them (environment and DAMASCUS_BUILDERS_FILE):
 * a repository's `.gitea/damascus.yml` may pick one by name, never write a command, a tool list or a credential.
 */
export interface BuilderDefinition {
  name: string;
  /** The CLI it drives (claude-code, codex, opencode); null for a `command` builder. */
  preset: BuilderPreset | null;
  /** A `command` builder's argv with {promptFile}, {inputDir}, {maxTurns}, {model} placeholders; null for a preset. */
  command: string[] | null;
  /** A preset's program: its name on PATH or a path (the operator's `program:`); null for a command builder. */
  program: string | null;
  /** The model to ask for; null: the CLI's own default. */
  model: string | null;
  /** Tools the agent may use (Claude Code's --allowedTools). */
  allowedTools: string[];
  /** Secret-looking variables this builder's CLI needs (its model credentials). */
  env: string[];
  /** Extra read-only paths in the sandbox. */
  read: string[];
  /** Hosts the agent may reach through the egress proxy (the model API). */
  allowHosts: string[];
}

const DEFAULT_TOOLS = ['Read', 'Edit', 'Write', 'Glob', 'Grep'];
const FILE_KEYS = ['preset', 'command', 'program', 'model', 'allowed_tools', 'env', 'read', 'allow_hosts'];

function words(v: string | undefined): string[] {
  return (v ?? '').split(/[\s,]+/).filter(Boolean);
}

/** DAMASCUS_CLAUDE_CODE_MODEL, DAMASCUS_CODEX_MODEL, DAMASCUS_OPENCODE_MODEL. */
function presetModelVar(name: string): string {
  return `DAMASCUS_${name.toUpperCase().replace(/-/g, '_')}_MODEL`;
}

/** A preset as the environment configures it. */
function presetBuilder(preset: BuilderPreset, env: Env, name = preset.name): BuilderDefinition {
  const tools = words(env.DAMASCUS_BUILDER_ALLOWED_TOOLS);
  return {
    name,
    preset,
    command: null,
    program: preset.program,
    model: env[presetModelVar(preset.name)] || null,
    allowedTools: tools.length ? tools : [...DEFAULT_TOOLS],
    env: [...preset.credentialEnv],
    read: [],
    allowHosts: preset.allowHosts(env),
  };
}

function list(file: string, name: string, key: string, v: unknown): string[] {
  if (v === undefined) return [];
  if (!Array.isArray(v) || v.some((x) => typeof x !== 'string' || x === ''))
    throw new ConfigError(`${file}: builders.${name}.${key} must be a list of strings`);
  return v as string[];
}

function text(file: string, name: string, key: string, v: unknown): string | null {
  if (v === undefined || v === null) return null;
  if (typeof v !== 'string' || v === '') throw new ConfigError(`${file}: builders.${name}.${key} must be a non-empty string`);
  return v;
}

/** A program named by path is relative to the builders file; a bare name is looked up on PATH. */
function programOf(file: string, program: string | null): string | null {
  if (program === null || !program.includes('/') || isAbsolute(program)) return program;
  return resolve(dirname(file), program);
}

function fromFile(path: string, env: Env): BuilderDefinition[] {
  let doc: unknown;
  try {
    doc = parse(readFileSync(path, 'utf8'));
  } catch (e) {
    throw new ConfigError(`DAMASCUS_BUILDERS_FILE ${path} cannot be read: ${(e as Error).message}`);
  }
  const builders = (doc as { builders?: unknown } | null)?.builders;
  if (typeof builders !== 'object' || builders === null || Array.isArray(builders)) {
    throw new ConfigError(`DAMASCUS_BUILDERS_FILE ${path} must hold a mapping \`builders: { name: { preset: codex, ... } | { command: [...], ... } }\``);
  }
  return Object.entries(builders as Record<string, unknown>).map(([name, raw]) => {
    const b = (raw ?? {}) as Record<string, unknown>;
    for (const k of Object.keys(b)) if (!FILE_KEYS.includes(k)) throw new ConfigError(`${path}: unknown key builders.${name}.${k}`);
    // `command: claude-code` is the older spelling of `preset: claude-code`.
    const presetName = text(path, name, 'preset', b.preset) ?? (b.command === undefined || b.command === 'claude-code' ? 'claude-code' : null);
    if (presetName !== null && b.command !== undefined && b.command !== 'claude-code')
      throw new ConfigError(`${path}: builders.${name} has both preset and command: choose one`);
    const extra = { env: list(path, name, 'env', b.env), read: list(path, name, 'read', b.read), allowHosts: list(path, name, 'allow_hosts', b.allow_hosts) };
    const tools = b.allowed_tools === undefined ? null : list(path, name, 'allowed_tools', b.allowed_tools);
    if (presetName !== null) {
      const preset = PRESETS[presetName];
      if (!preset) throw new ConfigError(`${path}: builders.${name}.preset "${presetName}" is not one of ${Object.keys(PRESETS).join(', ')}`);
      const base = presetBuilder(preset, env, name);
      return {
        ...base,
        program: programOf(path, text(path, name, 'program', b.program)) ?? base.program,
        model: text(path, name, 'model', b.model) ?? base.model,
        allowedTools: tools ?? base.allowedTools,
        env: [...base.env, ...extra.env],
        read: extra.read,
        allowHosts: [...base.allowHosts, ...extra.allowHosts],
      };
    }
    if (b.program !== undefined) throw new ConfigError(`${path}: builders.${name}.program is for presets; a command builder names its program in command`);
    const command = list(path, name, 'command', b.command);
    if (command.length === 0) throw new ConfigError(`${path}: builders.${name}.command is empty`);
    return { name, preset: null, command, program: null, model: text(path, name, 'model', b.model), allowedTools: tools ?? [...DEFAULT_TOOLS], ...extra };
  });
}

/** The default builder's name: DAMASCUS_BUILDER, else `command` when DAMASCUS_BUILDER_COMMAND is set, else Claude Code. */
export function defaultBuilderName(settings: Settings): string {
  return settings.builder ?? (settings.builderCommand ? 'command' : 'claude-code');
}

/**
 * Every builder this installation offers, by name: the default, the presets DAMASCUS_BUILDERS names, the `command`
 * builder when DAMASCUS_BUILDER_COMMAND is set, and the builders file's. Nothing else: a repository cannot reach a
 * preset (and the credentials it would use) that the operator did not offer.
 */
export function operatorBuilders(settings: Settings, env: Env = process.env): Map<string, BuilderDefinition> {
  const out = new Map<string, BuilderDefinition>();
  for (const name of [defaultBuilderName(settings), ...settings.builders]) {
    const preset = PRESETS[name];
    if (preset && !out.has(name)) out.set(name, presetBuilder(preset, env));
  }
  if (settings.builderCommand) {
    out.set('command', {
      name: 'command',
      preset: null,
      command: parseBuilderCommand(settings.builderCommand),
      program: null,
      model: null,
      allowedTools: [],
      env: words(env.DAMASCUS_BUILDER_ENV),
      read: [],
      allowHosts: [],
    });
  }
  if (settings.buildersFile) for (const b of fromFile(settings.buildersFile, env)) out.set(b.name, b);
  for (const name of settings.builders) {
    if (!out.has(name))
      throw new ConfigError(`DAMASCUS_BUILDERS: "${name}" is neither a preset (${Object.keys(PRESETS).join(', ')}) nor defined in DAMASCUS_BUILDERS_FILE`);
  }
  return out;
}

/** The builder a repo runs: the one it names, else the installation's default. */
export function chooseBuilder(settings: Settings, repoChoice: string | null, env: Env = process.env): BuilderDefinition | { error: string } {
  const builders = operatorBuilders(settings, env);
  const name = repoChoice ?? defaultBuilderName(settings);
  const b = builders.get(name);
  if (!b) return { error: `builder "${name}" is not defined on this installation (defined: ${[...builders.keys()].join(', ')})` };
  return b;
}

/** How one run of a builder starts: argv (program first), HOME files, extra environment, and how to read it. */
export interface BuilderRun {
  argv: string[];
  homeFiles: Record<string, string>;
  env: Record<string, string>;
  reader: OutputReader | undefined;
  /** Read-only paths the program needs in the sandbox (its install directory). */
  read: string[];
  /** Damascus stops the run at this many turns; null where the CLI enforces its own limit. */
  turnLimit: number | null;
}

/** The program's real path: a path as given, else the first executable of that name on PATH; null: not found. */
export function resolveProgram(program: string, env: Env = process.env): string | null {
  const candidates = program.includes('/')
    ? [resolve(program)]
    : (env.PATH ?? '')
        .split(':')
        .filter(Boolean)
        .map((d) => join(d, program));
  for (const c of candidates) {
    try {
      accessSync(c, constants.X_OK);
      const real = realpathSync(c);
      if (statSync(real).isFile()) return real;
    } catch {
      /* not here */
    }
  }
  return null;
}

/** What the sandbox must show of an installed program: the node_modules tree it came from (its wrapper's siblings), else its directory. */
export function programReadPath(realPath: string): string {
  const parts = realPath.split(sep);
  const at = parts.lastIndexOf('node_modules');
  return at > 0 ? parts.slice(0, at + 1).join(sep) : dirname(realPath);
}

export function builderRun(b: BuilderDefinition, o: Omit<PresetRunOptions, 'model' | 'allowedTools'>): BuilderRun | { error: string } {
  if (!b.preset) return { argv: commandArgv(b, o), homeFiles: {}, env: {}, reader: undefined, read: b.read, turnLimit: null };
  const program = resolveProgram(b.program ?? b.preset.program, o.env);
  if (!program) return { error: `the ${b.name} builder's program \`${b.program ?? b.preset.program}\` is not installed (not found on PATH)` };
  const prepared = b.preset.prepare({ ...o, model: b.model, allowedTools: b.allowedTools });
  return {
    argv: [program, ...prepared.argv.slice(1)],
    homeFiles: prepared.homeFiles,
    env: prepared.env,
    reader: b.preset.reader(b.model),
    read: [programReadPath(program), ...b.read],
    turnLimit: b.preset.limitsTurns ? null : o.maxTurns,
  };
}

/** The argv for one run of a `command` builder. Issue text never reaches it: the prompt is a file. */
export function commandArgv(b: BuilderDefinition, o: { promptFile: string; inputDir: string; maxTurns: number }): string[] {
  if (!b.command) throw new Error(`builder ${b.name} is a preset, not a command`);
  return expandBuilderCommand(b.command, { promptFile: o.promptFile, inputDir: o.inputDir, maxTurns: String(o.maxTurns), model: b.model ?? '' });
}
