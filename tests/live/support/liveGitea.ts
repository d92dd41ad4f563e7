/**
 * A real Gitea given by environment, for the live suite (npm run test:live):
 *   DAMASCUS_LIVE_GITEA_URL       the server, e.g. http://127.0.0.1:3000
 *   DAMASCUS_LIVE_ADMIN_TOKEN     a site admin's token with scope `all`, or instead
 *   DAMASCUS_LIVE_ADMIN_USER and DAMASCUS_LIVE_ADMIN_PASSWORD (a token is made with them for the run)
 *   DAMASCUS_LIVE_RUNNER_LABEL    a label of an online act_runner the review job can run on
 * Each run makes its own users, organisation and repositories, with unique names, through the admin API. Nothing
 * here is a Damascus code path: Damascus itself only ever gets the bot's token.
 */
import { randomBytes } from 'node:crypto';
import { createGiteaClient } from '../../../src/gitea/client.js';
import type { CalibrationWorld } from '../../support/calibration.js';

export interface LiveEnv {
  url: string;
  runnerLabel: string;
  admin: { token: string } | { user: string; password: string };
}

/** The live environment, or why it is not there (the suite then skips with that one line). */
export function liveEnv(): LiveEnv | string {
  const url = (process.env.DAMASCUS_LIVE_GITEA_URL ?? '').replace(/\/+$/, '');
  const runnerLabel = process.env.DAMASCUS_LIVE_RUNNER_LABEL ?? '';
  const token = process.env.DAMASCUS_LIVE_ADMIN_TOKEN ?? '';
  const user = process.env.DAMASCUS_LIVE_ADMIN_USER ?? '';
  const password = process.env.DAMASCUS_LIVE_ADMIN_PASSWORD ?? '';
  const missing = [
    url === '' ? 'DAMASCUS_LIVE_GITEA_URL' : '',
    token === '' && (user === '' || password === '') ? 'DAMASCUS_LIVE_ADMIN_TOKEN (or DAMASCUS_LIVE_ADMIN_USER and DAMASCUS_LIVE_ADMIN_PASSWORD)' : '',
    runnerLabel === '' ? 'DAMASCUS_LIVE_RUNNER_LABEL' : '',
  ].filter(Boolean);
  if (missing.length > 0) return `live suite skipped: set ${missing.join(', ')} to check Damascus against your own Gitea`;
  return { url, runnerLabel, admin: token !== '' ? { token } : { user, password } };
}

export interface LiveUser {
  login: string;
  password: string;
}

export class LiveGitea {
  private adminToken = '';
  readonly run = randomBytes(3).toString('hex');

  constructor(readonly env: LiveEnv) {}

  get url(): string {
    return this.env.url;
  }

  /** The admin token (made from the admin's login for this run when only that was given). */
  async start(): Promise<void> {
    if ('token' in this.env.admin) {
      this.adminToken = this.env.admin.token;
      return;
    }
    const { user, password } = this.env.admin;
    const res = await this.basic('POST', `/users/${encodeURIComponent(user)}/tokens`, user, password, {
      name: `damascus-live-${this.run}-${Date.now()}`,
      scopes: ['all'],
    });
    this.adminToken = (res as { sha1: string }).sha1;
  }

  /** An admin API call; throws with Gitea's answer unless 2xx. */
  async admin<T = unknown>(method: string, path: string, body?: unknown): Promise<T> {
    const res = await fetch(`${this.url}/api/v1${path}`, {
      method,
      headers: { Authorization: `token ${this.adminToken}`, 'Content-Type': 'application/json', Accept: 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    if (!res.ok) throw new Error(`live Gitea: ${method} ${path} → ${res.status} ${text.slice(0, 300)}`);
    return (text === '' ? undefined : JSON.parse(text)) as T;
  }

  private async basic(method: string, path: string, user: string, password: string, body: unknown): Promise<unknown> {
    const res = await fetch(`${this.url}/api/v1${path}`, {
      method,
      headers: { Authorization: `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`, 'Content-Type': 'application/json' },
      body: JSON.stringify(body),
    });
    const text = await res.text();
    if (!res.ok) throw new Error(`live Gitea: ${method} ${path} (as ${user}) → ${res.status} ${text.slice(0, 300)}`);
    return JSON.parse(text);
  }

  /** A new (non-admin) user of this run. */
  async user(prefix: string): Promise<LiveUser> {
    const login = `${prefix}-${this.run}`;
    const password = `${randomBytes(12).toString('hex')}Aa1!`;
    await this.admin('POST', '/admin/users', { username: login, email: `${login}@example.invalid`, password, must_change_password: false });
    return { login, password };
  }

  /** A token of `u`'s with these scopes (made with u's password, as Gitea requires). */
  async token(u: LiveUser, scopes: string[]): Promise<string> {
    const res = await this.basic('POST', `/users/${encodeURIComponent(u.login)}/tokens`, u.login, u.password, {
      name: `damascus-live-${randomBytes(4).toString('hex')}`,
      scopes,
    });
    return (res as { sha1: string }).sha1;
  }

  /** An organisation whose Owners team holds `owner` (what Actions secrets need). */
  async org(prefix: string, owner: LiveUser): Promise<string> {
    const name = `${prefix}-${this.run}`;
    await this.admin('POST', `/admin/users/${encodeURIComponent(owner.login)}/orgs`, { username: name, visibility: 'public' });
    return name;
  }

  /** A repository of `org` with a first commit (README), plus `files` committed on main. */
  async repo(org: string, name: string, files: Record<string, string> = {}): Promise<{ owner: string; name: string }> {
    await this.admin('POST', `/orgs/${encodeURIComponent(org)}/repos`, { name, auto_init: true, default_branch: 'main', private: false, readme: 'Default' });
    const ops = Object.entries(files).map(([path, content]) => ({ operation: 'create', path, content: Buffer.from(content).toString('base64') }));
    if (ops.length > 0) await this.admin('POST', `/repos/${org}/${name}/contents`, { branch: 'main', message: 'live test files', files: ops });
    return { owner: org, name };
  }

  async collaborator(repo: { owner: string; name: string }, login: string, permission: 'read' | 'write' | 'admin'): Promise<void> {
    await this.admin('PUT', `/repos/${repo.owner}/${repo.name}/collaborators/${encodeURIComponent(login)}`, { permission });
  }
}

/** The live Gitea as a CalibrationWorld: the bot owns one org (Owners team) and is an admin collaborator elsewhere. */
export async function liveCalibrationWorld(g: LiveGitea): Promise<CalibrationWorld> {
  const bot = await g.user('calbot');
  const botToken = await g.token(bot, ['write:repository', 'write:issue', 'read:user', 'write:user']);
  const ownedOrg = await g.org('calown', bot);
  const adminUser = await g.user('calorg');
  const otherOrg = await g.org('caloth', adminUser);
  return {
    url: g.url,
    bot: createGiteaClient({ baseUrl: g.url, token: botToken, retries: 0 }),
    botLogin: bot.login,
    botToken,
    async repo(name, opts) {
      if (opts.botPermission === 'owner') return g.repo(ownedOrg, name, opts.files);
      const r = await g.repo(otherOrg, name, opts.files);
      await g.collaborator(r, bot.login, 'admin');
      return r;
    },
    async writer(repo) {
      const u = await g.user(`w${randomBytes(2).toString('hex')}`);
      await g.collaborator(repo, u.login, 'write');
      const token = await g.token(u, ['write:issue', 'write:repository', 'read:user']);
      return { login: u.login, token, client: createGiteaClient({ baseUrl: g.url, token, retries: 0 }) };
    },
    async botTokenWith(scopes) {
      return g.token(bot, scopes);
    },
  };
}
