/**
 * The deployment files, parsed (no Docker engine here): the compose stack, the image and the CI
 * workflow say what docs/OPERATIONS.md promises.
 */
import { readFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { CORE_SCHEMA, load, mergeTag } from 'js-yaml';

type Service = {
  image?: string; build?: unknown; command?: string[]; restart?: string; healthcheck?: { test?: string[] };
  environment?: Record<string, string>; depends_on?: Record<string, { condition: string }>; volumes?: string[];
};
type Compose = { services: Record<string, Service>; volumes?: Record<string, unknown>; configs?: Record<string, { content?: string }> };

// Compose resolves YAML merge keys (`<<: *damascus`); js-yaml 5 does so only with the merge tag.
const compose = load(readFileSync('docker-compose.yml', 'utf8'), { schema: CORE_SCHEMA.withTags(mergeTag) }) as Compose;
const s = compose.services;

describe('docker-compose.yml', () => {
  test('the services of the stack are all there', () => {
    expect(Object.keys(s).sort()).toEqual(['bootstrap', 'gitea', 'postgres', 'redis', 'runner', 'scheduler', 'serve', 'worker']);
  });

  test('every long-running service has a health check and a restart policy; the one-shot bootstrap restarts on failure only', () => {
    for (const [name, svc] of Object.entries(s)) {
      if (name === 'bootstrap') continue;
      expect([name, Array.isArray(svc.healthcheck?.test) && svc.healthcheck!.test!.length > 1]).toEqual([name, true]);
      expect([name, svc.restart]).toEqual([name, 'unless-stopped']);
    }
    expect(s.bootstrap!.restart).toBe('on-failure');
  });

  test('PostgreSQL 16 and Redis 7 with append-only persistence on volumes', () => {
    expect(s.postgres!.image).toMatch(/^postgres:16(\b|$)/);
    expect(s.redis!.image).toMatch(/^redis:7(\b|$)/);
    expect(s.redis!.command!.join(' ')).toMatch(/--appendonly yes/);
    expect(s.redis!.volumes).toContain('redis-data:/data');
    expect(s.postgres!.volumes![0]).toMatch(/^postgres-data:/);
  });

  test('Gitea with Actions on and webhooks allowed to reach the bot; a runner registered against it', () => {
    const env = s.gitea!.environment!;
    expect(env.GITEA__actions__ENABLED).toBe('true');
    expect(env.GITEA__webhook__ALLOWED_HOST_LIST!.split(',')).toEqual(expect.arrayContaining(['serve', 'private']));
    expect(s.runner!.image).toMatch(/^gitea\/act_runner:/);
    expect(s.runner!.environment!.GITEA_INSTANCE_URL).toBe('http://gitea:3000');
    expect(s.runner!.depends_on!.gitea!.condition).toBe('service_healthy');
    expect(readFileSync('deploy/act_runner.yaml', 'utf8')).toMatch(/network: damascus/);
    expect((compose.services['runner'] as { volumes?: string[] }).volumes).toContain('./deploy/act_runner.yaml:/config.yaml:ro');
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
    expect(s.bootstrap!.depends_on).toEqual({ postgres: { condition: 'service_healthy' } });
    // the worker's health check needs its metrics port
    expect(s.worker!.command).toEqual(['worker', '--metrics-port', '9464']);
    expect(s.worker!.healthcheck!.test!.join(' ')).toContain('127.0.0.1:9464/healthz');
  });
});

describe('Dockerfile', () => {
  const text = readFileSync('Dockerfile', 'utf8');
  test('multi-stage on Node 20 slim, git installed, a non-root user, damascus as entrypoint, the agent as a build argument', () => {
    expect(text).toMatch(/^ARG NODE_IMAGE=node:20-[a-z]+-slim$/m);
    expect((text.match(/^FROM /gm) ?? []).length).toBeGreaterThanOrEqual(2);
    expect(text).toMatch(/apt-get install[^\n]*\bgit\b/);
    expect(text).toMatch(/^USER node$/m);
    expect(text).toMatch(/^ENTRYPOINT \[.*"damascus"\]$/m);
    expect(text).toMatch(/^ARG AGENT_PACKAGE=/m);
    expect(text).toMatch(/npm install -g [^\n]*"\$AGENT_PACKAGE"/);
    expect(text).toMatch(/^COPY schema \.\/schema$/m);
  });
});

describe('.gitea/workflows/ci.yml', () => {
  const wf = load(readFileSync('.gitea/workflows/ci.yml', 'utf8')) as {
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

describe('docker compose config', () => {
  test('the compose file validates with the compose CLI (no engine needed)', () => {
    // Debian's docker-compose (installed by .ci/run) or the compose plugin, whichever is here.
    const cli = [['docker', ['compose']], ['docker-compose', []]] as const;
    let ran = false;
    for (const [bin, pre] of cli) {
      const probe = spawnSync(bin, [...pre, 'version'], { encoding: 'utf8' });
      if (probe.error || probe.status !== 0) continue;
      const r = spawnSync(bin, [...pre, '-f', 'docker-compose.yml', 'config', '--quiet'], { encoding: 'utf8', env: { ...process.env, GITEA_RUNNER_REGISTRATION_TOKEN: 'x' } });
      expect({ bin, status: r.status, stderr: r.stderr.trim() }).toEqual({ bin, status: 0, stderr: '' });
      ran = true;
      break;
    }
    if (!ran) throw new Error('no compose CLI here: install Debian\'s docker-compose (apt-get install docker-compose) to validate docker-compose.yml');
  });
});

