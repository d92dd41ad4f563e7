/**
 * A coding-agent CLI Damascus knows how to drive (Claude Code, Codex, opencode). A preset says how to start it
 * headless, which credentials it may receive, which hosts it talks to, and how to read what it prints.
 */
export type Env = Record<string, string | undefined>;

/** Why a run stopped, as read from the CLI's own output. */
export type AgentStop =
  /** It finished its task (whatever the result). */
  | 'completed'
  /** It stopped at its turn limit. */
  | 'turn_limit'
  /** Its model API failed: rate limit, 5xx, authentication. Infrastructure, not the agent's fault. */
  | 'model_api'
  /** Anything else the CLI called an error. */
  | 'error';

/** What a CLI reported about one run, so far (while it runs) or in the end. */
export interface AgentReport {
  /** Model round trips (turns) so far; null when the CLI says nothing about it. */
  turns: number | null;
  /** Money spent as the CLI reported it, or estimated from its token counts with the price table; null = unknown. */
  costUsd: number | null;
  /** Where costUsd came from. */
  costSource: 'reported' | 'tokens' | null;
  inputTokens: number | null;
  outputTokens: number | null;
  model: string | null;
  /** What it is doing now, one short line ("Edit src/a.ts"). */
  activity: string | null;
  /** Its final message. */
  result: string | null;
  /** Set once the CLI printed its final report; null while it runs or when it never did. */
  stop: AgentStop | null;
  /** The CLI's error message (model API errors included), when it gave one. */
  error: string | null;
}

export function emptyReport(): AgentReport {
  return {
    turns: null,
    costUsd: null,
    costSource: null,
    inputTokens: null,
    outputTokens: null,
    model: null,
    activity: null,
    result: null,
    stop: null,
    error: null,
  };
}

/** Reads a CLI's stdout line by line (its JSON-lines stream) into a report. */
export interface OutputReader {
  /** One line of stdout (without the newline). */
  line(text: string): void;
  /** The report so far. */
  report(): AgentReport;
}

export interface PresetRunOptions {
  /** The prompt file (absolute). Issue text never goes into argv: the argv only names this file. */
  promptFile: string;
  /** Directory of the input files (read-only to the agent). */
  inputDir: string;
  /** The worktree (the CLI's working directory). */
  cwd: string;
  /** The run's private HOME: presets write their CLI's configuration there. */
  home: string;
  maxTurns: number;
  model: string | null;
  /** Tools the agent may use (where the CLI takes a list). */
  allowedTools: readonly string[];
  /** The operator's environment (read for base URLs and which credentials exist; never copied wholesale). */
  env: Env;
}

export interface BuilderPreset {
  name: string;
  /** The program on PATH. */
  program: string;
  /** Arguments that print its version, and the oldest version known to work with this preset. */
  versionArgs: string[];
  minVersion: string;
  /** Secret-looking variables this CLI may receive (its model credentials and endpoints). */
  credentialEnv: string[];
  /** At least one of these must be set for a run to make sense; a message saying what to set when none is. */
  missingCredentials(env: Env): string | null;
  /** Hosts (URLs or host:port) it must reach: its model API. */
  allowHosts(env: Env): string[];
  /** The argv (program first) and configuration files to write under HOME (path relative to HOME → content). */
  prepare(o: PresetRunOptions): { argv: string[]; homeFiles: Record<string, string>; env: Record<string, string> };
  /** The CLI stops itself at maxTurns (and says so); otherwise Damascus stops it when its reader counts that many. */
  limitsTurns?: boolean;
  /** A fresh reader for one run's stdout; `model` is the one asked for (null: the CLI's default), for CLIs that do not say. */
  reader(model: string | null): OutputReader;
}
