/**
 * The deployment files, parsed (no Docker engine here): the compose stack, the runner's config, the
 * provisioning script, the image and the CI workflow say what docs/OPERATIONS.md promises.
 */
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:net';
import { parse } from 'yaml';
import { loadSettings } from '../../src/config/env.js';
import { keyValues, parseDockerfile, readDockerfile, shellCommands, stagesOf, type DockerStage } from '../support/dockerfile.js';

type Service = {
  image?: string;
  build?: unknown;
  command?: string[];
  restart?: string;
  healthcheck?: { test?: string[] };
  environment?: Record<string, string>;
  depends_on?: Record<string, { condition: string }>;
  volumes?: string[];
  ports?: (string | { published?: number | string; target?: number; host_ip?: string })[];
  networks?: string[] | Record<string, unknown>;
};
type Compose = {
  services: Record<string, Service>;
  volumes?: Record<string, unknown>;
  networks?: Record<string, { name?: string; internal?: boolean }>;
};

// Compose resolves YAML merge keys (`<<: *damascus`), which YAML 1.2 parsers leave alone unless asked.
const compose = parse(readFileSync('docker-compose.yml', 'utf8'), { merge: true }) as Compose;
const s = compose.services;
const runnerConfig = parse(readFileSync('deploy/act_runner.yaml', 'utf8')) as {
  runner: { labels?: string[] };
  cache?: { enabled?: boolean };
  container: { network?: string; docker_host?: string; privileged?: boolean; valid_volumes?: string[] };
};
const provisionScript = readFileSync('deploy/provision.sh', 'utf8');
const docker = readDockerfile('Dockerfile');
/** The image's last stage: what runs. */
const runtime = docker.stages.at(-1)!;
/** The user the image runs as: the last USER of its last stage. */
const finalUser = () => runtime.instructions.filter((i) => i.keyword === 'USER').at(-1)?.args;
/** Every command of a stage's shell-form RUN instructions. */
const runCommands = (stage: DockerStage) => stage.instructions.filter((i) => i.keyword === 'RUN' && i.exec === null).flatMap((i) => shellCommands(i.args));

const ONE_SHOT = ['bootstrap', 'provision'];
const DAMASCUS = ['bootstrap', 'serve', 'worker', 'scheduler'];
/** The `_FILE` settings of src/config/env.ts → the file deploy/provision.sh writes for each. */
const PROVISIONED_FILES = {
  GITEA_TOKEN_FILE: 'gitea-token',
  DAMASCUS_WEBHOOK_SECRET_FILE: 'webhook-secret',
  DAMASCUS_CALLBACK_SECRET_FILE: 'callback-secret',
  DAMASCUS_DASHBOARD_TOKEN_FILE: 'dashboard-token',
} as const;
/** The passwords of PostgreSQL and Redis: provisioned files only (no plain variable, which would disagree with the servers). */
const PROVISIONED_PASSWORDS = {
  DATABASE_PASSWORD_FILE: 'postgres-password',
  REDIS_PASSWORD_FILE: 'redis-password',
} as const;

/** The networks a service joins (compose puts one without `networks:` on `default`). */
function networksOf(svc: Service): string[] {
  if (!svc.networks) return ['default'];
  return (Array.isArray(svc.networks) ? svc.networks : Object.keys(svc.networks)).sort();
}

/** Where `service` mounts the named volume `volume`, and whether read-only. */
function mountOf(service: string, volume: string): { target: string; readOnly: boolean } | undefined {
  for (const v of s[service]!.volumes ?? []) {
    const [source, target, mode] = v.split(':');
    if (source === volume && target) return { target, readOnly: mode === 'ro' };
  }
  return undefined;
}

describe('docker-compose.yml', () => {
  test('the services of the stack are all there', () => {
    expect(Object.keys(s).sort()).toEqual(['bootstrap', 'gitea', 'postgres', 'provision', 'redis', 'runner', 'scheduler', 'serve', 'worker']);
  });

  test('every long-running service has a health check and a restart policy; the one-shots restart on failure only', () => {
    for (const [name, svc] of Object.entries(s)) {
      if (ONE_SHOT.includes(name)) continue;
      expect([name, Array.isArray(svc.healthcheck?.test) && svc.healthcheck!.test!.length > 1]).toEqual([name, true]);
      expect([name, svc.restart]).toEqual([name, 'unless-stopped']);
    }
    for (const name of ONE_SHOT) expect([name, s[name]!.restart]).toEqual([name, 'on-failure']);
  });

  test('PostgreSQL 16 and Redis 7 with append-only persistence on volumes', () => {
    expect(s.postgres!.image).toMatch(/^postgres:16(\b|$)/);
    expect(s.redis!.image).toMatch(/^redis:7(\b|$)/);
    expect(s.redis!.command!.join(' ')).toMatch(/--appendonly yes/);
    expect(s.redis!.volumes).toContain('redis-data:/data');
    expect(s.postgres!.volumes![0]).toMatch(/^postgres-data:/);
  });

  test('Gitea with Actions on; webhooks allowed to reach serve; the CLI reaches the server from another container', () => {
    const env = s.gitea!.environment!;
    expect(s.gitea!.image).toBe('gitea/gitea:1.26.3');
    expect(env.GITEA__actions__ENABLED).toBe('true');
    expect(env.GITEA__security__INSTALL_LOCK).toBe('true');
    // `provision` runs `gitea actions generate-runner-token` in its own container: the internal API must not be localhost.
    expect(new URL(env.GITEA__server__LOCAL_ROOT_URL!).host).toBe(`gitea:${env.GITEA__server__HTTP_PORT}`);
  });

  test("provision: Gitea's own image and data, after Gitea is healthy, running deploy/provision.sh as the git user", () => {
    const p = s.provision!;
    expect(p.image).toBe(s.gitea!.image);
    expect(p.depends_on).toEqual({ gitea: { condition: 'service_healthy' } });
    // the same data volume at the same place as the server, so the CLI sees the server's app.ini and database
    const data = mountOf('gitea', 'gitea-data')!;
    expect(mountOf('provision', 'gitea-data')).toEqual(data);
    expect(p.environment!.GITEA_CONFIG!.startsWith(`${data.target}/`)).toBe(true);
    expect(p.environment!.GITEA_RUN_AS).toBe('git');
    expect(p.environment!.GITEA_BIN).toBe('/usr/local/bin/gitea');
    // the script, mounted read-only, is what runs
    const script = (p.volumes ?? []).find((v) => v.startsWith('./deploy/provision.sh:'));
    expect(script).toMatch(/^\.\/deploy\/provision\.sh:\/[^:]+:ro$/);
    expect(p.command).toEqual(['/bin/sh', script!.split(':')[1]]);
    // it writes into the provision volume (read-write here only), and gives the files to the image's node user (uid 1000)
    expect(mountOf('provision', 'provision')).toEqual({ target: p.environment!.PROVISION_DIR, readOnly: false });
    expect(p.environment!.PROVISION_OWNER).toMatch(/^1000(:1000)?$/);
    expect(finalUser()).toBe('node');
    expect(p.environment!.DAMASCUS_BOT_USER).toBe('${DAMASCUS_BOT_USER:-damascus-bot}');
    expect(Object.keys(compose.volumes ?? {})).toContain('provision');
  });

  test('the runner and every Damascus service wait for provision and mount its volume read-only', () => {
    for (const name of ['runner', ...DAMASCUS]) {
      expect([name, s[name]!.depends_on?.provision?.condition]).toEqual([name, 'service_completed_successfully']);
      expect([name, mountOf(name, 'provision')?.readOnly]).toEqual([name, true]);
    }
  });

  test('the Damascus services read the provisioned files through the _FILE settings, and a plain variable can override each', () => {
    for (const name of DAMASCUS) {
      const env = s[name]!.environment!;
      const dir = mountOf(name, 'provision')!.target;
      for (const [fileVar, file] of Object.entries(PROVISIONED_FILES)) {
        expect([name, fileVar, env[fileVar]]).toEqual([name, fileVar, `${dir}/${file}`]);
        const plain = fileVar.replace(/_FILE$/, '');
        // empty when unset, which env.ts treats as unset, so the file is read
        expect([name, plain, env[plain]]).toEqual([name, plain, `\${${plain}:-}`]);
      }
    }
    for (const file of Object.values(PROVISIONED_FILES)) expect(provisionScript).toContain(file);
    for (const name of DAMASCUS) {
      const env = s[name]!.environment!;
      for (const [fileVar, file] of Object.entries(PROVISIONED_PASSWORDS)) {
        expect([name, fileVar, env[fileVar]]).toEqual([name, fileVar, `${mountOf(name, 'provision')!.target}/${file}`]);
        expect([name, env[fileVar.replace(/_FILE$/, '')]]).toEqual([name, undefined]);
      }
    }
  });

  test('the runner registers with the provisioned token unless GITEA_RUNNER_REGISTRATION_TOKEN is set', () => {
    const env = s.runner!.environment!;
    // act_runner's run.sh reads the _FILE only when the plain variable is empty
    expect(env.GITEA_RUNNER_REGISTRATION_TOKEN).toBe('${GITEA_RUNNER_REGISTRATION_TOKEN:-}');
    expect(env.GITEA_RUNNER_REGISTRATION_TOKEN_FILE).toBe(`${mountOf('runner', 'provision')!.target}/runner-registration-token`);
    expect(provisionScript).toContain('runner-registration-token');
    expect(s.runner!.image).toMatch(/^gitea\/act_runner:/);
    expect(s.runner!.depends_on!.gitea!.condition).toBe('service_healthy');
    expect(s.runner!.volumes).toContain('./deploy/act_runner.yaml:/config.yaml:ro');
    expect(env.CONFIG_FILE).toBe('/config.yaml');
    // the runner itself starts job containers through the host's Docker
    expect(s.runner!.volumes).toContain('/var/run/docker.sock:/var/run/docker.sock');
  });

  test('serve, worker, scheduler and bootstrap run one image; bootstrap runs init and the others wait for it', () => {
    const roles = { bootstrap: 'init', serve: 'serve', worker: 'worker', scheduler: 'scheduler' } as const;
    const images = new Set(Object.keys(roles).map((r) => s[r]!.image));
    expect(images.size).toBe(1);
    for (const [name, cmd] of Object.entries(roles)) {
      expect([name, s[name]!.command![0]]).toEqual([name, cmd]);
      expect(s[name]!.environment!.DATABASE_URL).toMatch(/@postgres:5432\/damascus$/);
      expect(s[name]!.environment!.REDIS_URL).toBe('redis://redis:6379');
    }
    for (const name of ['serve', 'worker', 'scheduler']) expect(s[name]!.depends_on!.bootstrap!.condition).toBe('service_completed_successfully');
    expect(s.bootstrap!.depends_on).toEqual({
      postgres: { condition: 'service_healthy' },
      provision: { condition: 'service_completed_successfully' },
    });
    // the worker's health check needs its metrics port
    expect(s.worker!.command).toEqual(['worker', '--metrics-port', '9464']);
    expect(s.worker!.healthcheck!.test!.join(' ')).toContain('127.0.0.1:9464/healthz');
  });
});

describe('deploy/act_runner.yaml', () => {
  const c = runnerConfig.container;
  test("jobs get no Docker socket, no host volumes, no privileges, and run on the jobs network, not the stack's", () => {
    expect(c.docker_host).toBe('-');
    expect(c.privileged).toBe(false);
    expect(c.valid_volumes).toEqual([]);
    expect(compose.networks?.jobs?.name).toBeTruthy();
    expect(c.network).toBe(compose.networks!.jobs!.name);
    expect(c.network).not.toBe(compose.networks!.default!.name);
  });

  test('the cache server is off', () => {
    expect(runnerConfig.cache?.enabled).toBe(false);
  });

  test('the runner offers the label the review workflow asks for, on an image with node 20, git and bash', () => {
    const labels = new Map(
      (runnerConfig.runner.labels ?? []).map((l) => {
        const i = l.indexOf(':');
        return [l.slice(0, i), l.slice(i + 1)] as const;
      }),
    );
    for (const name of DAMASCUS) {
      const runsOn = s[name]!.environment!.DAMASCUS_RUNS_ON;
      expect([name, runsOn]).toEqual([name, 'damascus']);
    }
    // Debian-based node:20 (not -slim or -alpine): git and bash are in the image, so a job downloads nothing
    expect(labels.get('damascus')).toMatch(/^docker:\/\/node:20(\.\d+)*-(bookworm|bullseye)$/);
  });
});

describe('the URLs of the stack agree', () => {
  const env = (svc: string) => s[svc]!.environment!;
  test('Damascus and the runner reach Gitea inside the network; people reach it through the published port', () => {
    const httpPort = env('gitea').GITEA__server__HTTP_PORT;
    const internal = `http://gitea:${httpPort}`;
    for (const name of DAMASCUS) expect([name, env(name).GITEA_URL]).toEqual([name, internal]);
    expect(env('runner').GITEA_INSTANCE_URL).toBe(internal);
    expect(env('gitea').GITEA__server__ROOT_URL).toBe('${GITEA_ROOT_URL:-http://localhost:3000/}');
    expect(s.gitea!.ports).toContain(`3000:${httpPort}`);
  });

  test('Gitea and the job containers reach Damascus at serve, and Gitea may deliver webhooks there', () => {
    for (const name of DAMASCUS) expect([name, env(name).DAMASCUS_PUBLIC_URL]).toEqual([name, '${DAMASCUS_PUBLIC_URL:-http://serve:8787}']);
    const imageEnv = Object.assign({}, ...runtime.instructions.filter((i) => i.keyword === 'ENV').map((i) => keyValues(i.args))) as Record<string, string>;
    expect(imageEnv.DAMASCUS_PORT).toBe('8787');
    expect(runtime.instructions.filter((i) => i.keyword === 'EXPOSE').map((i) => i.args)).toEqual(['8787']);
    expect(env('gitea').GITEA__webhook__ALLOWED_HOST_LIST).toBe('${GITEA_WEBHOOK_ALLOWED_HOST_LIST:-serve}');
  });
});

describe('Dockerfile', () => {
  test('the parser reads instructions as Docker does: continuations, comments inside them, exec form', () => {
    const parsed = parseDockerfile(
      '# syntax=docker/dockerfile:1\nFROM a AS one\nrun echo x \\\n# a comment inside\n && echo y\n\nENTRYPOINT ["tini", "--"]\nCMD not [json\n',
    );
    expect(parsed).toEqual([
      { keyword: 'FROM', args: 'a AS one', exec: null, line: 2 },
      { keyword: 'RUN', args: 'echo x  && echo y', exec: null, line: 3 },
      { keyword: 'ENTRYPOINT', args: '["tini", "--"]', exec: ['tini', '--'], line: 7 },
      { keyword: 'CMD', args: 'not [json', exec: null, line: 8 },
    ]);
    expect(stagesOf(parsed).map((st) => [st.image, st.name, st.instructions.length])).toEqual([['a', 'one', 3]]);
    expect(shellCommands('if [ -n "$X" ]; then npm i "$X" && npm cache clean; fi')).toEqual([
      ['if', '[', '-n', '"$X"', ']'],
      ['npm', 'i', '"$X"'],
      ['npm', 'cache', 'clean'],
      ['fi'],
    ]);
    expect(keyValues('A=1 \\\n B="two words" C=\'\' D')).toEqual({ A: '1', B: 'two words', C: '' });
  });

  test('multi-stage on Node 20 slim, git installed, a non-root user, damascus as entrypoint, the agent as a build argument', () => {
    const globalArgs = Object.assign(
      {},
      ...docker.instructions
        .slice(
          0,
          docker.instructions.findIndex((i) => i.keyword === 'FROM'),
        )
        .filter((i) => i.keyword === 'ARG')
        .map((i) => keyValues(i.args)),
    ) as Record<string, string>;
    expect(globalArgs.NODE_IMAGE).toMatch(/^node:20-[a-z]+-slim$/);
    expect(docker.stages.map((st) => [st.name, st.image])).toEqual([
      ['build', '${NODE_IMAGE}'],
      ['deps', '${NODE_IMAGE}'],
      ['runtime', '${NODE_IMAGE}'],
    ]);
    const installs = runCommands(runtime).filter((c) => c[0] === 'apt-get' && c[1] === 'install');
    expect(installs).toHaveLength(1);
    expect(installs[0]).toEqual(expect.arrayContaining(['git', 'ca-certificates', 'tini', 'bubblewrap']));
    expect(finalUser()).toBe('node');
    const entrypoints = runtime.instructions.filter((i) => i.keyword === 'ENTRYPOINT');
    expect(entrypoints.map((i) => i.exec)).toEqual([['/usr/bin/tini', '--', 'damascus']]);
    expect(runtime.instructions.filter((i) => i.keyword === 'CMD').map((i) => i.exec)).toEqual([['start']]);
    const agentArg = runtime.instructions
      .filter((i) => i.keyword === 'ARG')
      .map((i) => keyValues(i.args))
      .find((kv) => 'AGENT_PACKAGE' in kv);
    expect(agentArg).toEqual({ AGENT_PACKAGE: '' });
    const globalInstall = runCommands(runtime).filter((c) => c.slice(0, 3).join(' ') === 'npm install -g');
    expect(globalInstall).toHaveLength(1);
    expect(globalInstall[0]!.at(-1)).toBe('"$AGENT_PACKAGE"');
    expect(runtime.instructions.filter((i) => i.keyword === 'COPY').map((i) => i.args)).toContain('schema ./schema');
  });
});

describe('.gitea/workflows/ci.yml', () => {
  const wf = parse(readFileSync('.gitea/workflows/ci.yml', 'utf8')) as {
    jobs: Record<string, { services: Record<string, { image: string }>; steps: { run?: string; uses?: string }[] }>;
  };
  test('PostgreSQL and Redis as services, chromium installed, npm test run', () => {
    const job = wf.jobs.test!;
    expect(job.services.postgres!.image).toMatch(/^postgres:16/);
    expect(job.services.redis!.image).toMatch(/^redis:7/);
    const runs = job.steps.map((st) => st.run ?? '').join('\n');
    expect(runs).toMatch(/apt-get install[^\n]*chromium/);
    expect(runs).toMatch(/^npm ci$/m);
    expect(runs).toMatch(/^npm test$/m);
  });
});

/** A port nothing listens on now, on 127.0.0.1. */
async function freePort(): Promise<number> {
  const probe = createServer();
  const port = await new Promise<number>((resolve) => probe.listen(0, '127.0.0.1', () => resolve((probe.address() as { port: number }).port)));
  await new Promise((resolve) => probe.close(resolve));
  return port;
}

/** Debian's docker-compose (installed by .ci/run) or the compose plugin, whichever is here. */
function composeCli(): { bin: string; pre: string[] } {
  for (const [bin, pre] of [
    ['docker', ['compose']],
    ['docker-compose', []],
  ] as const) {
    const probe = spawnSync(bin, [...pre, 'version'], { encoding: 'utf8' });
    if (!probe.error && probe.status === 0) return { bin, pre: [...pre] };
  }
  throw new Error("no compose CLI here: install Debian's docker-compose (apt-get install docker-compose) to validate docker-compose.yml");
}

describe('docker compose config', () => {
  const work = mkdtempSync(join(tmpdir(), 'damascus-compose-'));
  afterAll(() => rmSync(work, { recursive: true, force: true }));
  const emptyEnvFile = join(work, 'empty.env');
  writeFileSync(emptyEnvFile, '');

  /** `compose config` with only `vars` set (no .env, none of this machine's variables), parsed. */
  function resolved(vars: Record<string, string> = {}): { status: number | null; stderr: string; config?: Compose } {
    const { bin, pre } = composeCli();
    const r = spawnSync(bin, [...pre, '-f', 'docker-compose.yml', '--env-file', emptyEnvFile, 'config'], {
      encoding: 'utf8',
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: work, ...vars },
    });
    return { status: r.status, stderr: r.stderr.trim(), config: r.status === 0 ? (parse(r.stdout) as Compose) : undefined };
  }

  test('the compose file validates with the compose CLI (no engine needed) with no variable set', () => {
    const r = resolved();
    expect({ status: r.status, stderr: r.stderr }).toEqual({ status: 0, stderr: '' });
  });

  test("resolved: the URLs default as documented, and the webhook host list contains the public URL's host", () => {
    const c = resolved().config!;
    const gitea = c.services.gitea!.environment!;
    const serve = c.services.serve!.environment!;
    expect(gitea.GITEA__server__ROOT_URL).toBe('http://localhost:3000/');
    expect(serve.GITEA_URL).toBe('http://gitea:3000');
    expect(serve.DAMASCUS_PUBLIC_URL).toBe('http://serve:8787');
    expect(gitea.GITEA__webhook__ALLOWED_HOST_LIST!.split(',')).toContain(new URL(serve.DAMASCUS_PUBLIC_URL!).hostname);
    // the browser's URL is not the one containers use
    expect(new URL(gitea.GITEA__server__ROOT_URL!).origin).not.toBe(new URL(serve.GITEA_URL!).origin);
  });

  test('resolved and loaded by Damascus: an unset secret reads the provisioned file; a set one wins over it', () => {
    // The provision volume, as a temporary directory: the services' /provision/... paths are mapped into it.
    const dir = join(work, 'provision');
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'gitea-token'), 'token-from-file\n');
    writeFileSync(join(dir, 'webhook-secret'), 'webhook-from-file\n');
    writeFileSync(join(dir, 'callback-secret'), 'callback-from-file\n');
    const settingsOf = (c: Compose) => {
      const env = { ...c.services.serve!.environment! };
      const target = mountOf('serve', 'provision')!.target;
      for (const k of Object.keys(PROVISIONED_FILES)) env[k] = env[k]!.replace(`${target}/`, `${dir}/`);
      for (const k of Object.keys(PROVISIONED_PASSWORDS)) delete env[k];
      delete env.DAMASCUS_DASHBOARD_TOKEN_FILE;
      return loadSettings(env);
    };
    const unset = settingsOf(resolved().config!);
    expect([unset.giteaToken, unset.webhookSecret, unset.callbackSecret]).toEqual(['token-from-file', 'webhook-from-file', 'callback-from-file']);
    expect(unset.runsOn).toBe('damascus');
    const set = settingsOf(resolved({ GITEA_TOKEN: 'token-from-env' }).config!);
    expect([set.giteaToken, set.webhookSecret]).toEqual(['token-from-env', 'webhook-from-file']);
  });

  // ---- issue 14, item 3: what CI jobs (the code under review) can reach, and the stack's own secrets ----

  test('attack surface of a CI job: no Docker socket, and a network of its own, internal, with only Gitea and serve on it', () => {
    const c = resolved().config!;
    const runner = runnerConfig.container;
    expect(runner.docker_host).toBe('-');
    const [jobsKey, jobs] = Object.entries(c.networks ?? {}).find(([, n]) => n.name === runner.network) ?? [];
    expect(jobsKey).toBeDefined();
    expect(jobsKey).not.toBe('default');
    expect(jobs!.internal).toBe(true);
    const onJobs = Object.entries(c.services)
      .filter(([, svc]) => networksOf(svc).includes(jobsKey!))
      .map(([name]) => name)
      .sort();
    expect(onJobs).toEqual(['gitea', 'serve']);
    // the socket is the runner's alone
    for (const [name, svc] of Object.entries(c.services)) {
      const socket = (svc.volumes ?? []).some((v) => String(typeof v === 'string' ? v : (v as { source?: string }).source).includes('docker.sock'));
      expect([name, socket]).toEqual([name, name === 'runner']);
    }
  });

  test('no default database password: PostgreSQL and Damascus take the one provision generated', () => {
    const c = resolved().config!;
    const pg = c.services.postgres!;
    expect(pg.environment!.POSTGRES_PASSWORD).toBeUndefined();
    expect(pg.environment!.POSTGRES_PASSWORD_FILE).toBe('/provision/postgres-password');
    expect(pg.depends_on?.provision?.condition).toBe('service_completed_successfully');
    for (const name of DAMASCUS) {
      const env = c.services[name]!.environment!;
      expect([name, new URL(env.DATABASE_URL!).password]).toEqual([name, '']);
      expect([name, env.DATABASE_PASSWORD_FILE]).toEqual([name, pg.environment!.POSTGRES_PASSWORD_FILE]);
    }
    // an operator who sets the old variable gets no password into the stack from it
    expect(resolved({ POSTGRES_PASSWORD: 'damascus' }).config!.services.postgres!.environment!.POSTGRES_PASSWORD).toBeUndefined();
  });

  test('Damascus puts the provisioned passwords into its PostgreSQL and Redis URLs, and the dashboard token from its file', () => {
    const c = resolved().config!;
    const dir = join(work, 'provision-passwords');
    mkdirSync(dir, { recursive: true });
    const files = {
      'postgres-password': 'pg0123abcd',
      'redis-password': 'rd4567efgh',
      'dashboard-token': 'dash89ijkl',
      'gitea-token': 't',
      'webhook-secret': 'w',
      'callback-secret': 'c',
    };
    for (const [f, v] of Object.entries(files)) writeFileSync(join(dir, f), `${v}\n`);
    for (const name of DAMASCUS) {
      const env = Object.fromEntries(
        Object.entries(c.services[name]!.environment!).map(([k, v]) => [k, k.endsWith('_FILE') ? v.replace('/provision/', `${dir}/`) : v]),
      );
      const settings = loadSettings(env);
      expect([name, new URL(settings.databaseUrl).password, new URL(settings.databaseUrl).host]).toEqual([name, 'pg0123abcd', 'postgres:5432']);
      expect([name, new URL(settings.redisUrl).password]).toEqual([name, 'rd4567efgh']);
      expect([name, settings.dashboardToken]).toEqual([name, 'dash89ijkl']);
    }
  });

  test('Redis requires the provisioned password; deploy/redis-start.sh passes it on stdin, on no command line', async () => {
    const redis = resolved().config!.services.redis!;
    expect(redis.command!.slice(0, 4)).toEqual(['sh', '/redis-start.sh', 'docker-entrypoint.sh', 'redis-server']);
    expect(s.redis!.volumes).toContain('./deploy/redis-start.sh:/redis-start.sh:ro');
    expect(redis.environment!.REDIS_PASSWORD_FILE).toBe('/provision/redis-password');
    expect(redis.depends_on?.provision?.condition).toBe('service_completed_successfully');
    const health = redis.healthcheck!.test!.join(' ');
    expect(health).toContain('REDISCLI_AUTH=');
    expect(health).toContain('PONG');

    // the script for real, with this machine's redis-server on a free loopback port
    const password = randomBytes(16).toString('hex');
    const passwordFile = join(work, 'redis-password');
    writeFileSync(passwordFile, `${password}\n`);
    const dataDir = mkdtempSync(join(work, 'redis-'));
    const port = await freePort();
    const child = spawn(
      'sh',
      ['deploy/redis-start.sh', 'redis-server', ...redis.command!.slice(4), '--port', String(port), '--bind', '127.0.0.1', '--dir', dataDir],
      {
        env: { PATH: process.env.PATH ?? '/usr/bin:/bin', REDIS_PASSWORD_FILE: passwordFile },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let output = '';
    child.stdout!.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (output += d.toString()));
    try {
      const cli = (auth?: string) =>
        spawnSync('redis-cli', ['-p', String(port), 'ping'], {
          encoding: 'utf8',
          env: { PATH: process.env.PATH ?? '', ...(auth ? { REDISCLI_AUTH: auth } : {}) },
        }).stdout.trim();
      for (let i = 0; i < 100 && cli(password) !== 'PONG'; i++) await new Promise((r) => setTimeout(r, 50));
      expect(cli(password)).toBe('PONG');
      expect(cli()).toMatch(/NOAUTH/);
      expect(cli('wrong-password')).toMatch(/WRONGPASS|NOAUTH/);
      expect(readFileSync(`/proc/${child.pid}/cmdline`, 'utf8')).not.toContain(password);
      expect(output).not.toContain(password);
    } finally {
      child.kill('SIGTERM');
      await new Promise((r) => child.once('exit', r));
    }
    // a missing password file stops it before redis-server starts
    const none = spawnSync('sh', ['deploy/redis-start.sh', 'redis-server'], {
      encoding: 'utf8',
      env: { PATH: process.env.PATH ?? '', REDIS_PASSWORD_FILE: join(work, 'absent') },
    });
    expect([none.status, none.stderr]).toEqual([1, expect.stringMatching(/missing or empty/)]);
  });

  test("the dashboard: published on the host's loopback only, and serve, listening on every interface, holds a token", () => {
    const c = resolved().config!;
    for (const [name, svc] of Object.entries(c.services)) {
      for (const p of svc.ports ?? []) {
        const text = typeof p === 'string' ? p : `${p.host_ip ?? ''}:${p.published}:${p.target}`;
        if (!/(^|:)8787(\/tcp)?$/.test(text)) continue;
        expect([name, text]).toEqual([name, expect.stringMatching(/^127\.0\.0\.1:8787:8787(\/tcp)?$/)]);
      }
    }
    expect((c.services.serve!.ports ?? []).length).toBeGreaterThan(0);
    const env = c.services.serve!.environment!;
    expect(env.DAMASCUS_BIND).toBe('0.0.0.0');
    expect(env.DAMASCUS_DASHBOARD_TOKEN_FILE).toBe('/provision/dashboard-token');
    expect(provisionScript).toMatch(/for name in [^\n]*\bdashboard-token\b/);
  });
});

/**
 * deploy/provision.sh against a stand-in for the gitea CLI (a shell script that logs its arguments and keeps
 * its users in a directory), so the script's logic runs in `npm test`. tests/live/provision.live.test.ts
 * runs it against a real Gitea.
 */
describe('deploy/provision.sh with a stand-in gitea', () => {
  const FAKE_GITEA = `#!/bin/sh
state="$FAKE_STATE"
{ printf 'CALL'; for a in "$@"; do printf ' <%s>' "$a"; done; printf '\\n'; } >>"$state/calls"
if [ "$1" = --config ]; then shift 2; fi
case "$1 $2 $3" in
  'admin user list')
    printf 'ID   Username    Email                     IsActive IsAdmin 2FA\\n'
    if [ -f "$state/users" ]; then cat "$state/users"; fi
    ;;
  'admin user create')
    name=''
    while [ $# -gt 0 ]; do if [ "$1" = --username ]; then name=$2; fi; shift; done
    printf '9 %s %s@x true false false\\n' "$name" "$name" >>"$state/users"
    printf "generated random password is 'PASSWORD-%s'\\n" "$name"
    printf "New user '%s' has been successfully created!\\n" "$name"
    ;;
  'admin user generate-access-token')
    printf '2026/01/01 00:00:00 cmd/admin.go:1 [I] a log line on stdout\\n'
    od -An -N20 -tx1 /dev/urandom | tr -d ' \\n'
    printf '\\n2026/01/01 00:00:01 cmd/admin.go:2 [I] and one after it\\n'
    ;;
  'actions generate-runner-token ')
    if [ ! -f "$state/runner" ]; then od -An -N20 -tx1 /dev/urandom | tr -d ' \\n' >"$state/runner"; fi
    cat "$state/runner"
    printf '\\n'
    ;;
  *) echo "stand-in gitea: unexpected arguments" >&2; exit 3 ;;
esac
`;
  let root: string;
  let state: string;
  let out: string;
  let bin: string;
  let config: string;
  beforeEach(() => {
    // spaces in every path: a value that were word-split would break the run
    root = mkdtempSync(join(tmpdir(), 'damascus provision '));
    state = join(root, 'gitea state');
    out = join(root, 'provision out');
    mkdirSync(state);
    mkdirSync(join(root, 'bin dir'));
    bin = join(root, 'bin dir', 'gitea');
    writeFileSync(bin, FAKE_GITEA);
    chmodSync(bin, 0o755);
    mkdirSync(join(root, 'conf dir'));
    config = join(root, 'conf dir', 'app.ini');
    writeFileSync(config, '[security]\nINSTALL_LOCK = true\n');
  });
  afterEach(() => rmSync(root, { recursive: true, force: true }));

  function provision(extra: Record<string, string> = {}) {
    const r = spawnSync('sh', ['deploy/provision.sh'], {
      encoding: 'utf8',
      env: {
        PATH: process.env.PATH ?? '/usr/bin:/bin',
        FAKE_STATE: state,
        GITEA_BIN: bin,
        GITEA_CONFIG: config,
        PROVISION_DIR: out,
        DAMASCUS_BOT_USER: 'the-bot',
        ...extra,
      },
    });
    return { status: r.status, output: `${r.stdout}${r.stderr}` };
  }
  const calls = () => {
    try {
      return readFileSync(join(state, 'calls'), 'utf8').trim().split('\n');
    } catch {
      return [];
    }
  };
  const files = () =>
    Object.fromEntries(
      readdirSync(out)
        .sort()
        .map((f) => [f, readFileSync(join(out, f), 'utf8')]),
    );

  test('the first run makes the bot, its token, the runner token and the secrets; it prints none of them', () => {
    const r = provision();
    expect(r.status).toBe(0);
    const f = files();
    expect(Object.keys(f)).toEqual([
      'callback-secret',
      'dashboard-token',
      'gitea-token',
      'gitea-token.user',
      'postgres-password',
      'redis-password',
      'runner-registration-token',
      'webhook-secret',
    ]);
    expect(f['gitea-token']).toMatch(/^[0-9a-f]{40}\n$/); // not the log lines gitea printed around it
    expect(f['gitea-token.user']).toBe('the-bot\n');
    expect(f['runner-registration-token']).toBe(`${readFileSync(join(state, 'runner'), 'utf8')}\n`);
    expect(f['webhook-secret']).toMatch(/^[0-9a-f]{64}\n$/);
    expect(f['callback-secret']).toMatch(/^[0-9a-f]{64}\n$/);
    expect(f['webhook-secret']).not.toBe(f['callback-secret']);
    for (const name of ['postgres-password', 'redis-password', 'dashboard-token'])
      expect([name, f[name]]).toEqual([name, expect.stringMatching(/^[0-9a-f]{64}\n$/)]);
    expect(new Set(['webhook-secret', 'callback-secret', 'postgres-password', 'redis-password', 'dashboard-token'].map((n) => f[n])).size).toBe(5);
    expect(statSync(out).mode & 0o777).toBe(0o700);
    for (const name of Object.keys(f)) expect([name, statSync(join(out, name)).mode & 0o777]).toEqual([name, 0o600]);
    for (const [name, value] of Object.entries(f)) {
      if (name !== 'gitea-token.user') expect([name, r.output.includes(value.trim())]).toEqual([name, false]);
    }
    expect(r.output).not.toContain('PASSWORD-');
    // one argument each, as given: --config with its spaces, the scopes, a password nobody sees, no admin
    const log = calls();
    expect(log.every((c) => c.startsWith(`CALL <--config> <${config}> `))).toBe(true);
    const create = log.find((c) => c.includes('<admin> <user> <create>'))!;
    expect(create).toContain('<--username> <the-bot>');
    expect(create).toContain('<--must-change-password=false>');
    expect(create).toContain('<--random-password>');
    expect(create).not.toContain('<--admin>');
    const token = log.find((c) => c.includes('<generate-access-token>'))!;
    expect(token).toContain('<--username> <the-bot>');
    expect(token).toContain('<--scopes> <write:repository,write:issue,read:user,write:user>');
    expect(token).toContain('<--raw>');
    expect(token).toMatch(/<--token-name> <damascus-\d{8}T\d{6}Z>/);
  });

  test('a second run changes nothing: no user is created, no token made, no file rewritten', () => {
    expect(provision().status).toBe(0);
    const before = files();
    const mtimes = Object.keys(before).map((n) => statSync(join(out, n)).mtimeMs);
    const callsBefore = calls().length;
    const r = provision();
    expect(r.status).toBe(0);
    expect(files()).toEqual(before);
    expect(Object.keys(before).map((n) => statSync(join(out, n)).mtimeMs)).toEqual(mtimes);
    const again = calls().slice(callsBefore);
    expect(again.some((c) => c.includes('<create>') || c.includes('<generate-access-token>'))).toBe(false);
    expect(r.output).toMatch(/the bot user the-bot exists/);
    expect(r.output).toMatch(/kept gitea-token/);
  });

  test('a token whose user no longer exists in Gitea (its data was reset) is replaced; the secrets stay', () => {
    expect(provision().status).toBe(0);
    const before = files();
    rmSync(join(state, 'users'));
    const r = provision();
    expect(r.status).toBe(0);
    const after = files();
    expect(after['gitea-token']).toMatch(/^[0-9a-f]{40}\n$/);
    expect(after['gitea-token']).not.toBe(before['gitea-token']);
    expect(after['webhook-secret']).toBe(before['webhook-secret']);
    expect(r.output).toMatch(/replaced gitea-token because the user the-bot did not exist/);
  });

  test('a bot name that is not a plain login, or a missing PROVISION_DIR, stops it before gitea runs', () => {
    for (const bad of ['bot; touch pwned', '-x', 'bot name', '.bot', 'bot\nroot']) {
      const r = provision({ DAMASCUS_BOT_USER: bad });
      expect([bad, r.status]).toEqual([bad, 1]);
      expect(r.output).toMatch(/DAMASCUS_BOT_USER must be/);
    }
    const r = provision({ PROVISION_DIR: '' });
    expect(r.status).toBe(1);
    expect(r.output).toMatch(/PROVISION_DIR must name the directory/);
    expect(provision({ PROVISION_DIR: 'relative/dir' }).output).toMatch(/PROVISION_DIR must be an absolute path/);
    expect(calls()).toEqual([]);
  });

  test('an existing user of that name who is a site administrator is refused, and gets no token', () => {
    writeFileSync(join(state, 'users'), '1 The-Bot admin@x true true false\n');
    const r = provision();
    expect(r.status).toBe(1);
    expect(r.output).toMatch(/the user the-bot exists and is a site administrator/);
    expect(calls().some((c) => c.includes('<generate-access-token>'))).toBe(false);
  });
});
