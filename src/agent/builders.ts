import { readFileSync } from 'node:fs';
import { load } from 'js-yaml';
import { ConfigError, type Settings } from '../config/env.js';
import { defaultBuilderCommand, expandBuilderCommand, parseBuilderCommand } from './builderCommand.js';

/**
 * The builders an installation offers. Only the operator defines them (environment and DAMASCUS_BUILDERS_FILE):
 * a repository's `.gitea/damascus.yml` may pick one by name, never write a command, a tool list or a credential.
 */
export interface BuilderDefinition {
  name: string;
  /** argv with {promptFile}, {inputDir}, {maxTurns}, {model} placeholders; null = the Claude Code preset. */
  command: string[] | null;
  /** Tools the agent may use (Claude Code's --allowedTools). */
  allowedTools: string[];
  /** Secret-looking variables this builder's CLI needs (its model credentials). */
  env: string[];
  /** Extra read-only paths in the sandbox (the CLI's install directory). */
  read: string[];
  /** Hosts the agent may reach through the egress proxy (the model API). */
  allowHosts: string[];
}

const CLAUDE_ENV = ['ANTHROPIC_API_KEY', 'ANTHROPIC_AUTH_TOKEN', 'CLAUDE_CODE_OAUTH_TOKEN', 'ANTHROPIC_BASE_URL'];
const DEFAULT_TOOLS = ['Read', 'Edit', 'Write', 'Glob', 'Grep'];

function claudeHosts(env: Record<string, string | undefined>): string[] {
  return [env.ANTHROPIC_BASE_URL ?? 'https://api.anthropic.com'];
}

function list(file: string, name: string, key: string, v: unknown): string[] {
  if (v === undefined) return [];
  if (!Array.isArray(v) || v.some((x) => typeof x !== 'string' || x === '')) throw new ConfigError(`${file}: builders.${name}.${key} must be a list of strings`);
  return v as string[];
}

function fromFile(path: string): BuilderDefinition[] {
  let doc: unknown;
  try {
    doc = load(readFileSync(path, 'utf8'));
  } catch (e) {
    throw new ConfigError(`DAMASCUS_BUILDERS_FILE ${path} cannot be read: ${(e as Error).message}`);
  }
  const builders = (doc as { builders?: unknown } | null)?.builders;
  if (typeof builders !== 'object' || builders === null || Array.isArray(builders)) {
    throw new ConfigError(`DAMASCUS_BUILDERS_FILE ${path} must hold a mapping \`builders: { name: { command: [...], ... } }\``);
  }
  return Object.entries(builders as Record<string, unknown>).map(([name, raw]) => {
    const b = (raw ?? {}) as Record<string, unknown>;
    for (const k of Object.keys(b)) {
      if (!['command', 'allowed_tools', 'env', 'read', 'allow_hosts'].includes(k)) throw new ConfigError(`${path}: unknown key builders.${name}.${k}`);
    }
    const command = b.command === undefined || b.command === 'claude-code' ? null : list(path, name, 'command', b.command);
    if (command !== null && command.length === 0) throw new ConfigError(`${path}: builders.${name}.command is empty`);
    return {
      name,
      command,
      allowedTools: b.allowed_tools === undefined ? [...DEFAULT_TOOLS] : list(path, name, 'allowed_tools', b.allowed_tools),
      env: list(path, name, 'env', b.env),
      read: list(path, name, 'read', b.read),
      allowHosts: list(path, name, 'allow_hosts', b.allow_hosts),
    };
  });
}

/** Every builder this installation defines, by name. */
export function operatorBuilders(settings: Settings, env: Record<string, string | undefined> = process.env): Map<string, BuilderDefinition> {
  const out = new Map<string, BuilderDefinition>();
  const allowedTools = (env.DAMASCUS_BUILDER_ALLOWED_TOOLS ?? '').split(/[\s,]+/).filter(Boolean);
  out.set('claude-code', { name: 'claude-code', command: null, allowedTools: allowedTools.length ? allowedTools : [...DEFAULT_TOOLS], env: CLAUDE_ENV, read: [], allowHosts: claudeHosts(env) });
  if (settings.builderCommand) {
    out.set('command', {
      name: 'command', command: parseBuilderCommand(settings.builderCommand), allowedTools: [],
      env: (env.DAMASCUS_BUILDER_ENV ?? '').split(/[\s,]+/).filter(Boolean), read: [], allowHosts: [],
    });
  }
  if (settings.buildersFile) for (const b of fromFile(settings.buildersFile)) out.set(b.name, b);
  return out;
}

/** The builder a repo runs: the one it names, else the installation's default. */
export function chooseBuilder(settings: Settings, repoChoice: string | null, env: Record<string, string | undefined> = process.env): BuilderDefinition | { error: string } {
  const builders = operatorBuilders(settings, env);
  const name = repoChoice ?? settings.builder ?? (settings.builderCommand ? 'command' : 'claude-code');
  const b = builders.get(name);
  if (!b) return { error: `builder "${name}" is not defined on this installation (defined: ${[...builders.keys()].join(', ')})` };
  return b;
}

/** The argv for one run of a builder. Issue text never reaches it: the prompt is a file. */
export function builderArgv(b: BuilderDefinition, o: { promptFile: string; inputDir: string; maxTurns: number; model?: string }): string[] {
  if (b.command === null) return defaultBuilderCommand({ promptFile: o.promptFile, inputDir: o.inputDir, maxTurns: o.maxTurns, allowedTools: b.allowedTools, model: o.model });
  return expandBuilderCommand(b.command, { promptFile: o.promptFile, inputDir: o.inputDir, maxTurns: String(o.maxTurns), model: o.model ?? '' });
}
