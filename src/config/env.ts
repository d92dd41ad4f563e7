import { readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { isAbsolute, join } from 'node:path';
import type { SandboxSettings } from './sandboxSettings.js';

/** A setting that cannot be used as given. Carries the variable's name, never its value. */
export class ConfigError extends Error {
  override name = 'ConfigError';
}

export interface Settings {
  databaseUrl: string;
  redisUrl: string;
  giteaUrl: string | undefined;
  giteaToken: string | undefined;
  webhookSecret: string | undefined;
  callbackSecret: string | undefined;
  port: number;
  dataDir: string;
  concurrency: number;
  heartbeatMs: number;
  leaseMs: number;
  shutdownGraceMs: number;
  errorBackoffMs: number;
  errorBackoffMaxMs: number;
  triggerLabel: string;
  queuePrefix: string;
  relaySweepMs: number;
  reconcileSweepMs: number;
  /** Settled webhook deliveries and delivered outbox events older than this many days are removed; 0 keeps them (DAMASCUS_RETENTION_DAYS). */
  retentionDays: number;
  dashboardToken: string | undefined;
  /** How long a dashboard session cookie lasts (DAMASCUS_DASHBOARD_SESSION_HOURS). */
  dashboardSessionHours: number;
  /** The address the HTTP servers listen on (DAMASCUS_BIND). */
  bindHost: string;
  botLogin: string | undefined;
  publicUrl: string | undefined;
  phasesModule: string | undefined;
  llmBaseUrl: string | undefined;
  llmApiKey: string | undefined;
  llmModel: string | undefined;
  builderCommand: string | undefined;
  /** The builder a repo gets unless its `.gitea/damascus.yml` names another the operator defined (DAMASCUS_BUILDER). */
  builder: string | undefined;
  /** Named builders the operator defines (DAMASCUS_BUILDERS_FILE, JSON or YAML). */
  buildersFile: string | undefined;
  /** Preset builders offered besides the default (DAMASCUS_BUILDERS: claude-code, codex, opencode, comma-separated). */
  builders: string[];
  /** Least time between two progress edits of a running build's status comment (DAMASCUS_PROGRESS_INTERVAL_MS). */
  progressIntervalMs: number;
  sandbox: SandboxSettings;
  /** Ceilings on what a repo's `.gitea/damascus.yml` may ask for. */
  ceilings: { agentMinutes: number; agentTurns: number; ciMinutes: number };
  /** The runner label the review workflow asks for (`runs-on`), as `damascus setup` writes it. */
  runsOn: string;
  logLevel: string;
}

type Env = Record<string, string | undefined>;

/** A positive number, fractions allowed (DAMASCUS_AGENT_MAX_MINUTES=0.5 is thirty seconds). */
function positiveNumber(env: Env, name: string, fallback: number): number {
  const raw = env[name];
  if (raw === undefined || raw.trim() === '') return fallback;
  const n = Number(raw);
  if (!Number.isFinite(n) || n <= 0) throw new ConfigError(`${name} must be a positive number (got ${JSON.stringify(raw)})`);
  return n;
}

function positiveInt(env: Env, name: string, fallback: number): number {
  const raw = env[name];
  if (raw === undefined || raw.trim() === '') return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n <= 0) {
    throw new ConfigError(`${name} must be a positive whole number (got ${JSON.stringify(raw)})`);
  }
  return n;
}

/** DAMASCUS_RETENTION_DAYS: whole days, 0 to keep every row (why a day is long enough: docs/OPERATIONS.md "Retention"). */
function retentionDays(env: Env): number {
  const raw = env.DAMASCUS_RETENTION_DAYS;
  if (raw === undefined || raw.trim() === '') return 30;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 0) {
    throw new ConfigError(`DAMASCUS_RETENTION_DAYS must be a whole number of days, 0 to keep everything (got ${JSON.stringify(raw)})`);
  }
  return n;
}

function optional(env: Env, name: string): string | undefined {
  const v = env[name];
  return v === undefined || v === '' ? undefined : v;
}

/**
 * A secret from `NAME`, or else from the file `NAME_FILE` names (Docker secrets, or a file a provisioning
 * step wrote), with its trailing newline removed. An unreadable or empty file is an error that names the
 * variable and the path, never the value.
 */
function secret(env: Env, name: string): string | undefined {
  const direct = optional(env, name);
  if (direct !== undefined) return direct;
  const path = optional(env, `${name}_FILE`);
  if (path === undefined) return undefined;
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new ConfigError(`${name}_FILE names ${path}, which cannot be read (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
  const value = text.replace(/\r?\n$/, '');
  if (value === '' || /[\r\n]/.test(value)) throw new ConfigError(`${name}_FILE names ${path}, which must hold one non-empty line`);
  return value;
}

function agentUser(env: Env): { uid: number; gid: number } {
  const raw = optional(env, 'DAMASCUS_AGENT_USER') ?? '65534:65534';
  const m = /^(\d{1,10})(?::(\d{1,10}))?$/.exec(raw.trim());
  if (!m || Number(m[1]) === 0 || Number(m[2] ?? m[1]) === 0) {
    throw new ConfigError(`DAMASCUS_AGENT_USER must be "uid:gid" of a user other than root (got ${JSON.stringify(raw)})`);
  }
  return { uid: Number(m[1]), gid: Number(m[2] ?? m[1]) };
}

function sandboxSettings(env: Env): SandboxSettings {
  const mode = (optional(env, 'DAMASCUS_SANDBOX') ?? 'on').toLowerCase();
  if (mode !== 'on' && mode !== 'off') throw new ConfigError(`DAMASCUS_SANDBOX must be "on" or "off" (got ${JSON.stringify(mode)})`);
  const paths = (name: string): string[] => {
    const list = (optional(env, name) ?? '').split(':').filter((p) => p !== '');
    for (const p of list) if (!isAbsolute(p)) throw new ConfigError(`${name} holds ${JSON.stringify(p)}, which is not an absolute path`);
    return list;
  };
  const memory = optional(env, 'DAMASCUS_AGENT_MEMORY_MB');
  return {
    enabled: mode === 'on',
    agentUser: agentUser(env),
    readPaths: paths('DAMASCUS_AGENT_READ'),
    writePaths: paths('DAMASCUS_AGENT_WRITE'),
    allowHosts: (optional(env, 'DAMASCUS_AGENT_ALLOW_HOSTS') ?? '').split(',').map((h) => h.trim()).filter((h) => h !== ''),
    tmpSizeMb: positiveInt(env, 'DAMASCUS_AGENT_TMP_MB', 1024),
    limits: {
      processes: positiveInt(env, 'DAMASCUS_AGENT_MAX_PROCESSES', 1024),
      fileSizeMb: positiveInt(env, 'DAMASCUS_AGENT_MAX_FILE_MB', 1024),
      openFiles: positiveInt(env, 'DAMASCUS_AGENT_MAX_OPEN_FILES', 4096),
      memoryMb: memory === undefined ? null : positiveInt(env, 'DAMASCUS_AGENT_MEMORY_MB', 1),
    },
  };
}

/**
 * `url` with the password from `NAME` / `NAME_FILE` put in, when one is set (so the password need not sit in the
 * URL variable, a command line or a compose file). A password in the URL itself is replaced.
 */
function withPassword(env: Env, urlName: string, url: string, passwordName: string): string {
  const password = secret(env, passwordName);
  if (password === undefined) return url;
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new ConfigError(`${passwordName} is set, but ${urlName} is not a URL to put it in`);
  }
  u.password = encodeURIComponent(password);
  return u.toString();
}

/**
 * DAMASCUS_SETUP_TOKEN (or _FILE): the stronger token only `damascus setup` and doctor's setup check use. It is not
 * part of Settings, so serve, worker and scheduler never read it, and their environment need not hold it.
 */
export function loadSetupToken(env: Env = process.env): string | undefined {
  return secret(env, 'DAMASCUS_SETUP_TOKEN');
}

/** The one place that reads process settings. Defaults follow DESIGN §6. */
export function loadSettings(env: Env = process.env): Settings {
  return {
    databaseUrl: withPassword(env, 'DATABASE_URL', optional(env, 'DATABASE_URL') ?? 'postgres://postgres@127.0.0.1:5432/damascus', 'DATABASE_PASSWORD'),
    redisUrl: withPassword(env, 'REDIS_URL', optional(env, 'REDIS_URL') ?? 'redis://127.0.0.1:6379', 'REDIS_PASSWORD'),
    giteaUrl: optional(env, 'GITEA_URL'),
    giteaToken: secret(env, 'GITEA_TOKEN'),
    webhookSecret: secret(env, 'DAMASCUS_WEBHOOK_SECRET'),
    callbackSecret: secret(env, 'DAMASCUS_CALLBACK_SECRET'),
    port: positiveInt(env, 'DAMASCUS_PORT', 8787),
    dataDir: optional(env, 'DAMASCUS_DATA_DIR') ?? join(homedir(), '.damascus'),
    concurrency: positiveInt(env, 'DAMASCUS_CONCURRENCY', 4),
    heartbeatMs: positiveInt(env, 'DAMASCUS_HEARTBEAT_MS', 30_000),
    leaseMs: positiveInt(env, 'DAMASCUS_LEASE_MS', 60_000),
    shutdownGraceMs: positiveInt(env, 'DAMASCUS_SHUTDOWN_GRACE_MS', 30_000),
    errorBackoffMs: positiveInt(env, 'DAMASCUS_ERROR_BACKOFF_MS', 15_000),
    errorBackoffMaxMs: positiveInt(env, 'DAMASCUS_ERROR_BACKOFF_MAX_MS', 3_600_000),
    triggerLabel: optional(env, 'DAMASCUS_TRIGGER_LABEL') ?? 'damascus',
    queuePrefix: optional(env, 'DAMASCUS_QUEUE_PREFIX') ?? 'damascus',
    relaySweepMs: positiveInt(env, 'DAMASCUS_RELAY_SWEEP_MS', 15_000),
    reconcileSweepMs: positiveInt(env, 'DAMASCUS_RECONCILE_SWEEP_MS', 300_000),
    retentionDays: retentionDays(env),
    dashboardToken: secret(env, 'DAMASCUS_DASHBOARD_TOKEN'),
    dashboardSessionHours: positiveInt(env, 'DAMASCUS_DASHBOARD_SESSION_HOURS', 12),
    // Every interface by default: Gitea and the runner's jobs must reach the webhook and review-result routes,
    // which carry their own signatures. The dashboard routes refuse when this is not loopback and no token is set.
    bindHost: optional(env, 'DAMASCUS_BIND') ?? '0.0.0.0',
    botLogin: optional(env, 'DAMASCUS_BOT_LOGIN'),
    publicUrl: optional(env, 'DAMASCUS_PUBLIC_URL'),
    phasesModule: optional(env, 'DAMASCUS_PHASES_MODULE'),
    llmBaseUrl: optional(env, 'LLM_BASE_URL'),
    llmApiKey: secret(env, 'LLM_API_KEY'),
    llmModel: optional(env, 'LLM_MODEL'),
    builderCommand: optional(env, 'DAMASCUS_BUILDER_COMMAND'),
    builder: optional(env, 'DAMASCUS_BUILDER'),
    buildersFile: optional(env, 'DAMASCUS_BUILDERS_FILE'),
    builders: (optional(env, 'DAMASCUS_BUILDERS') ?? '').split(',').map((b) => b.trim()).filter((b) => b !== ''),
    progressIntervalMs: positiveInt(env, 'DAMASCUS_PROGRESS_INTERVAL_MS', 15_000),
    sandbox: sandboxSettings(env),
    ceilings: {
      agentMinutes: positiveNumber(env, 'DAMASCUS_AGENT_MAX_MINUTES', 120),
      agentTurns: positiveInt(env, 'DAMASCUS_AGENT_MAX_TURNS', 200),
      ciMinutes: positiveInt(env, 'DAMASCUS_CI_MAX_MINUTES', 180),
    },
    runsOn: optional(env, 'DAMASCUS_RUNS_ON') ?? 'ubuntu-latest',
    logLevel: optional(env, 'DAMASCUS_LOG_LEVEL') ?? 'info',
  };
}

/** Every secret value Damascus holds (however it was given: variable or file), for scrubbing and for refusing a push. */
export function heldSecrets(s: Settings): string[] {
  const passwordOf = (url: string): string | undefined => {
    try {
      return decodeURIComponent(new URL(url).password) || undefined;
    } catch {
      return undefined;
    }
  };
  const values = [s.giteaToken, s.webhookSecret, s.callbackSecret, s.llmApiKey, s.dashboardToken, passwordOf(s.databaseUrl), passwordOf(s.redisUrl)]
    .filter((v): v is string => typeof v === 'string' && v.length >= 6);
  return [...new Set(values)];
}
