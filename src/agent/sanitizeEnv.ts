type Env = Record<string, string | undefined>;

/** Damascus's own secrets, dropped by name whatever the pattern says. */
const ALWAYS_DROP = new Set([
  'GITEA_TOKEN',
  'DAMASCUS_WEBHOOK_SECRET',
  'DAMASCUS_CALLBACK_SECRET',
  'DAMASCUS_DASHBOARD_TOKEN',
  'DATABASE_URL',
  'REDIS_URL',
  'LLM_API_KEY',
  'PGPASSWORD',
  'DAMASCUS_SETUP_TOKEN',
  'DATABASE_PASSWORD',
  'REDIS_PASSWORD',
]);
const SECRET_NAME = /TOKEN|SECRET|PASSWORD|PASSWD|API_KEY|APIKEY|PRIVATE_KEY|CREDENTIAL/i;

function isSecretName(name: string): boolean {
  return ALWAYS_DROP.has(name) || SECRET_NAME.test(name);
}

export interface SanitizeOptions {
  /** Secret-looking names the agent needs for itself (e.g. ANTHROPIC_API_KEY). Damascus's own never pass. */
  allow?: readonly string[];
  /** The per-run HOME (so the agent reads no user config and writes none back). */
  home: string;
}

/**
 * The environment a coding agent runs with: no Gitea token, no Damascus secrets, no database or Redis URL,
 * nothing that looks like a credential unless explicitly allowed; a private HOME; no auto-updater.
 */
export function sanitizeAgentEnv(env: Env, options: SanitizeOptions): Record<string, string> {
  const allow = new Set(options.allow ?? []);
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(env)) {
    if (value === undefined) continue;
    if (ALWAYS_DROP.has(name)) continue;
    if (SECRET_NAME.test(name) && !allow.has(name)) continue;
    out[name] = value;
  }
  out.HOME = options.home;
  out.DISABLE_AUTOUPDATER = '1';
  return out;
}

/** The values of every secret-looking variable in env (long enough to be worth scrubbing), longest first. */
export function secretValues(env: Env): string[] {
  const values = Object.entries(env)
    .filter(([name, value]) => value !== undefined && value.length >= 6 && isSecretName(name))
    .map(([, value]) => value as string);
  return [...new Set(values)].sort((a, b) => b.length - a.length);
}

/** Text with every occurrence of the given secret values replaced: for anything that may reach a comment or a log. */
export function redactSecrets(text: string, secrets: readonly string[]): string {
  let out = text;
  for (const s of secrets) if (s !== '') out = out.split(s).join('[redacted]');
  return out;
}
