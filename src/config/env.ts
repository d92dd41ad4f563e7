import { readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { isAbsolute, join } from 'node:path';
import * as v from 'valibot';
import { check } from '../shared/schema.js';
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

/** A variable's text read by `read`; null refuses it with "NAME must be <what> (got "<the text>")". */
function textAs<T>(what: string, read: (text: string) => T | null) {
  return v.pipe(
    v.string(),
    v.rawTransform<string, T>(({ dataset, addIssue, NEVER }) => {
      const value = read(dataset.value);
      if (value === null) addIssue({ message: `{key} must be ${what} (got ${JSON.stringify(dataset.value)})` });
      return value ?? NEVER;
    }),
  );
}

const positive = (integer: boolean) =>
  textAs(integer ? 'a positive whole number' : 'a positive number', (text) => {
    const n = Number(text);
    return Number.isFinite(n) && n > 0 && (!integer || Number.isInteger(n)) ? n : null;
  });
const POSITIVE_WHOLE = positive(true);
/** Fractions allowed (DAMASCUS_AGENT_MAX_MINUTES=0.5 is thirty seconds). */
const POSITIVE_NUMBER = positive(false);

const AGENT_USER = textAs('"uid:gid" of a user other than root', (text) => {
  const m = /^(\d{1,10})(?::(\d{1,10}))?$/.exec(text.trim());
  const user = m && { uid: Number(m[1]), gid: Number(m[2] ?? m[1]) };
  return user && user.uid !== 0 && user.gid !== 0 ? user : null;
});
const SANDBOX_MODE = textAs('"on" or "off"', (text) => {
  const mode = text.toLowerCase();
  return mode === 'on' || mode === 'off' ? mode === 'on' : null;
});
const ABSOLUTE_PATHS = v.pipe(
  v.string(),
  v.transform((text) => text.split(':').filter((p) => p !== '')),
  v.array(
    v.pipe(
      v.string(),
      v.check(isAbsolute, ({ input }) => `{key} holds ${JSON.stringify(input)}, which is not an absolute path`),
    ),
  ),
);

/** A variable read by its schema; undefined when unset or blank (what `${VAR:-}` gives in compose). */
function setting<T>(env: Env, name: string, schema: v.GenericSchema<string, T>): T | undefined {
  const raw = env[name];
  if (raw === undefined || raw.trim() === '') return undefined;
  const checked = check(schema, raw, name);
  if (!checked.ok) throw new ConfigError(checked.error);
  return checked.value;
}

function positiveInt(env: Env, name: string, fallback: number): number {
  return setting(env, name, POSITIVE_WHOLE) ?? fallback;
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

function sandboxSettings(env: Env): SandboxSettings {
  return {
    enabled: setting(env, 'DAMASCUS_SANDBOX', SANDBOX_MODE) ?? true,
    agentUser: setting(env, 'DAMASCUS_AGENT_USER', AGENT_USER) ?? { uid: 65534, gid: 65534 },
    readPaths: setting(env, 'DAMASCUS_AGENT_READ', ABSOLUTE_PATHS) ?? [],
    writePaths: setting(env, 'DAMASCUS_AGENT_WRITE', ABSOLUTE_PATHS) ?? [],
    allowHosts: (optional(env, 'DAMASCUS_AGENT_ALLOW_HOSTS') ?? '')
      .split(',')
      .map((h) => h.trim())
      .filter((h) => h !== ''),
    tmpSizeMb: positiveInt(env, 'DAMASCUS_AGENT_TMP_MB', 1024),
    limits: {
      processes: positiveInt(env, 'DAMASCUS_AGENT_MAX_PROCESSES', 1024),
      fileSizeMb: positiveInt(env, 'DAMASCUS_AGENT_MAX_FILE_MB', 1024),
      openFiles: positiveInt(env, 'DAMASCUS_AGENT_MAX_OPEN_FILES', 4096),
      memoryMb: setting(env, 'DAMASCUS_AGENT_MEMORY_MB', POSITIVE_WHOLE) ?? null,
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
    builders: (optional(env, 'DAMASCUS_BUILDERS') ?? '')
      .split(',')
      .map((b) => b.trim())
      .filter((b) => b !== ''),
    progressIntervalMs: positiveInt(env, 'DAMASCUS_PROGRESS_INTERVAL_MS', 15_000),
    sandbox: sandboxSettings(env),
    ceilings: {
      agentMinutes: setting(env, 'DAMASCUS_AGENT_MAX_MINUTES', POSITIVE_NUMBER) ?? 120,
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
  const values = [s.giteaToken, s.webhookSecret, s.callbackSecret, s.llmApiKey, s.dashboardToken, passwordOf(s.databaseUrl), passwordOf(s.redisUrl)].filter(
    (v): v is string => typeof v === 'string' && v.length >= 6,
  );
  return [...new Set(values)];
}
