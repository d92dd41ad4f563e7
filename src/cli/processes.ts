import { hostname } from 'node:os';
import type { Command } from 'commander';
import type { Server } from 'node:http';
import { openDb, type Sql } from '../db/connection.js';
import { ensureLeaseSlots } from '../db/ops/ensureLeaseSlots.js';
import { DependencyState } from '../shared/health.js';
import { checkBuilders, describeBuilderStatus } from '../agent/builderCheck.js';
import { probeSandbox } from '../agent/sandbox.js';
import { healthRoutes, postgresCheck, redisCheck, sandboxCheck, type ReadinessCheck } from '../http/health.js';
import { createHttpServer, isLoopbackHost, listen, type Route } from '../http/server.js';
import type { Logger } from '../shared/log.js';
import { createMetrics, type Metrics } from '../shared/metrics.js';
import { registerStateGauges } from '../http/stateGauges.js';
import { connectRedis } from '../queue/redis.js';
import { enqueueIssueConfirm, enqueueRelay, enqueueTicks, openQueues, type IssueKey } from '../queue/queues.js';
import { createGiteaClient } from '../gitea/client.js';
import { GiteaStartup } from '../gitea/startup.js';
import { webhookRoute } from '../http/webhooks.js';
import { reviewResultsRoute } from '../http/reviewResults.js';
import { createPermissionCache } from '../gitea/permissions.js';
import { processInbox } from '../inbox/inbox.js';
import { relayOutbox } from '../mirror/relay.js';
import { reconcile, reconcileIssue } from '../reconcile/reconcile.js';
import { sendJson } from '../http/server.js';
import { startScheduler } from '../queue/scheduler.js';
import { startWorker, type RunningWorker } from '../queue/worker.js';
import type { Settings } from '../config/env.js';
import { backoffPolicy, commandContext } from './context.js';
import { configuredPhases } from './phases.js';

type Stopper = (graceMs: number) => Promise<void>;

/** Run until SIGTERM/SIGINT, then stop everything within the grace period and exit 0. */
function runUntilSignal(log: Logger, settings: Settings, stoppers: Stopper[]): void {
  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal, graceMs: settings.shutdownGraceMs }, 'shutting down');
    const hardExit = setTimeout(() => {
      log.error('shutdown did not finish in time; exiting');
      process.exit(1);
    }, settings.shutdownGraceMs + 15_000);
    hardExit.unref();
    for (const s of stoppers) {
      try {
        await s(settings.shutdownGraceMs);
      } catch (err) {
        log.warn({ err: (err as Error).message }, 'error while shutting down');
      }
    }
    log.info('stopped');
    log.flush?.();
    setTimeout(() => process.exit(0), 50);
  };
  process.on('SIGTERM', () => void stop('SIGTERM'));
  process.on('SIGINT', () => void stop('SIGINT'));
}

/** Wait for PostgreSQL at start-up instead of crashing: the process stays up and says why it waits. */
async function whenPostgresReady(log: Logger, action: () => Promise<void>): Promise<void> {
  const pg = new DependencyState('postgres', log);
  for (let delay = 500; ; delay = Math.min(delay * 2, 10_000)) {
    try {
      await action();
      pg.ok();
      return;
    } catch (err) {
      pg.failed(err);
      await new Promise((r) => setTimeout(r, delay));
    }
  }
}

function openProcessDb(settings: Settings, role: string): Sql {
  return openDb(settings.databaseUrl, { max: settings.concurrency + 4, applicationName: `damascus-${role}` });
}

async function serveHttp(routes: Route[], port: number, host: string, log: Logger): Promise<{ server: Server; port: number }> {
  const server = createHttpServer(routes, log);
  const bound = await listen(server, port, host);
  log.info({ host, port: bound }, `listening on ${host}:${bound}`);
  return { server, port: bound };
}

function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    server.closeIdleConnections();
  });
}

interface Parts {
  worker?: RunningWorker;
  stoppers: Stopper[];
  checks: ReadinessCheck[];
  metrics: Metrics;
}

/** The job schedulers with the process's settings (`damascus scheduler`, and `damascus start`'s part). */
function startSchedulerPart(settings: Settings, log: Logger): ReturnType<typeof startScheduler> {
  return startScheduler({
    redisUrl: settings.redisUrl,
    prefix: settings.queuePrefix,
    heartbeatMs: settings.heartbeatMs,
    relaySweepMs: settings.relaySweepMs,
    reconcileSweepMs: settings.reconcileSweepMs,
    log,
  });
}

/**
 * The worker's parts: the phases (a DAMASCUS_PHASES_MODULE, else the built-in ones when Gitea is
 * configured), and, with Gitea, the relay job (comment inbox, then outbox → Gitea) and the reconcile sweep.
 */
async function startWorkerPart(settings: Settings, log: Logger, sql: Sql, metrics: Metrics): Promise<RunningWorker> {
  const gitea = settings.giteaUrl && settings.giteaToken ? createGiteaClient({ baseUrl: settings.giteaUrl, token: settings.giteaToken, log }) : null;
  const startup = new GiteaStartup(gitea, log, settings.botLogin);
  void startup.run();
  const phases = await configuredPhases(settings, sql, log, gitea);
  if (!settings.phasesModule && gitea) {
    // Said once at start, not first on a build: without a sandbox the built-in agent refuses to run.
    void probeSandbox(settings.sandbox).then((s) => {
      if (s.mode === 'off') log.warn({ sandbox: s.detail }, 'the coding agent runs WITHOUT a sandbox');
      else if (!s.ok) log.error({ sandbox: s.detail }, 'no sandbox can be made: every build will end in an error');
      else log.info({ sandbox: s.detail }, 'coding agent sandbox ready');
    });
    // Likewise a builder whose CLI is missing, too old or without credentials: said now, not on the first build.
    void builderReadiness(settings).then((problem) => {
      if (problem) log.error({ builders: problem }, 'a coding agent cannot run: its builds will end in an error');
    });
  }
  if (Object.keys(phases).length === 0) log.warn('no phases are configured (GITEA_URL/GITEA_TOKEN or DAMASCUS_PHASES_MODULE): ticks will claim nothing');
  await whenPostgresReady(log, () => ensureLeaseSlots(sql, settings.concurrency));
  const permissions = gitea ? createPermissionCache({ gitea }) : null;
  const botLogin = () => {
    if (!startup.botLogin) throw new Error(`the bot's login is not known yet (${startup.problem ?? 'checking Gitea'})`);
    return startup.botLogin;
  };
  const worker = await startWorker({
    sql,
    redisUrl: settings.redisUrl,
    prefix: settings.queuePrefix,
    phases,
    workerId: `${hostname()}:${process.pid}`,
    cap: settings.concurrency,
    leaseMs: settings.leaseMs,
    backoff: backoffPolicy(settings),
    log,
    metrics,
    retentionDays: settings.retentionDays,
    relay:
      gitea && permissions
        ? async (queues) => {
            const inbox = await processInbox({ sql, gitea, log, botLogin: botLogin(), permissions });
            if (inbox.processed > 0) await enqueueTicks(queues, Math.max(1, inbox.resumedItemIds.length), 'inbox');
            // A crashed relay's claimed events are due again after claimMs: keep it short.
            return relayOutbox({ sql, gitea, log, botLogin: botLogin(), metrics, claimMs: 30_000, statusWarnings: sandboxWarnings(settings) });
          }
        : undefined,
    reconcile: gitea
      ? async (queues, job) => {
          if (job.name === 'confirm-issue') {
            const k = job.data as IssueKey;
            const out = await reconcileIssue({ sql, gitea, triggerLabel: settings.triggerLabel }, k.owner, k.name, k.number);
            if (out.status === 'recorded' && !(out.result.kind === 'ignored' && out.result.reason === 'trigger label unchanged')) {
              log.info({ issue: `${k.owner}/${k.name}#${k.number}`, effect: out.effect }, 'issue read back after a label change');
              if (out.wake) await enqueueTicks(queues, 1, 'confirm');
              if (out.relay) await enqueueRelay(queues);
            }
            return out;
          }
          const report = await reconcile({ sql, gitea, triggerLabel: settings.triggerLabel, log, botLogin: startup.botLogin });
          if (report.wake) await enqueueTicks(queues, report.created, 'reconcile');
          if (report.comments > 0 || report.cancelled > 0 || report.refreshed > 0) await enqueueRelay(queues);
          return report;
        }
      : undefined,
  });
  // The reconcile sweep also runs once at start: webhooks sent while Damascus was down are lost.
  if (gitea) await worker.queues.reconcile.add('reconcile-on-start', {}, { removeOnComplete: true, removeOnFail: 10 });
  log.info({ cap: settings.concurrency, gitea: gitea !== null }, 'worker started');
  return worker;
}

export function registerProcessCommands(program: Command): void {
  program
    .command('worker')
    .description('run BullMQ workers: each tick claims one item and runs one phase (SIGTERM: finish within the grace period)')
    .option('--metrics-port <port>', 'also serve /healthz, /readyz and /metrics on this port')
    .action(async (opts: { metricsPort?: string }) => {
      const { settings, log } = commandContext();
      const sql = openProcessDb(settings, 'worker');
      const metrics = createMetrics();
      registerStateGauges(metrics.registry, { sql, cap: settings.concurrency });
      const worker = await startWorkerPart(settings, log, sql, metrics);
      const stoppers: Stopper[] = [];
      if (opts.metricsPort) {
        const checks = [postgresCheck(sql), redisCheck(() => worker.redis.connection.ping()), ...agentSandboxChecks(settings)];
        const { server } = await serveHttp(healthRoutes(checks, metrics), Number(opts.metricsPort), settings.bindHost, log);
        stoppers.push(() => closeServer(server));
      }
      stoppers.push(
        (grace) => worker.shutdown(grace),
        () => sql.end({ timeout: 5 }),
      );
      runUntilSignal(log, settings, stoppers);
    });

  program
    .command('scheduler')
    .description('keep the heartbeat, relay-sweep, reconcile-sweep and retention-sweep job schedulers in Redis (any number may run)')
    .action(async () => {
      const { settings, log } = commandContext();
      const scheduler = startSchedulerPart(settings, log);
      runUntilSignal(log, settings, [() => scheduler.close()]);
    });

  program
    .command('serve')
    .description('serve HTTP: /healthz, /readyz, /metrics (webhooks, review results and the dashboard as they are configured)')
    .action(async () => {
      const { settings, log } = commandContext();
      const parts = await startServeParts(settings, log);
      runUntilSignal(log, settings, parts.stoppers);
    });

  program
    .command('start')
    .description('server, worker and scheduler in one process, for a single machine')
    .action(async () => {
      const { settings, log } = commandContext();
      const parts = await startServeParts(settings, log, true);
      runUntilSignal(log, settings, parts.stoppers);
    });
}

/** What every status comment says when the operator turned the agent's sandbox off. */
function sandboxWarnings(settings: Settings): string[] {
  return settings.sandbox.enabled
    ? []
    : ['the coding agent runs without a sandbox on this installation (DAMASCUS_SANDBOX=off): it can reach everything Damascus can'];
}

/** The sandbox check, for a process that runs the built-in build phase (the coding agent). */
function agentSandboxChecks(settings: Settings): ReadinessCheck[] {
  if (settings.phasesModule || !settings.giteaUrl || !settings.giteaToken) return [];
  return [sandboxCheck(() => probeSandbox(settings.sandbox)), { name: 'builder', check: () => builderReadiness(settings) }];
}

/** Whether the builders' CLIs run and have credentials, checked once per process (the CLIs do not change under it). */
let builderProblem: Promise<string | null> | null = null;
function builderReadiness(settings: Settings): Promise<string | null> {
  builderProblem ??= checkBuilders(settings).then((all) => {
    const bad = all.filter((b) => b.problem !== null);
    return bad.length > 0 ? bad.map(describeBuilderStatus).join('; ') : null;
  });
  return builderProblem;
}

/** The HTTP server, plus (for `start`) the worker and the scheduler in the same process. */
async function startServeParts(settings: Settings, log: Logger, withWorkerAndScheduler = false): Promise<Parts> {
  const sql = openProcessDb(settings, withWorkerAndScheduler ? 'start' : 'serve');
  const redis = connectRedis(settings.redisUrl, log, 'server');
  const queues = openQueues(redis.connection, settings.queuePrefix);
  const metrics = createMetrics();
  registerStateGauges(metrics.registry, { sql, queues, cap: settings.concurrency });
  const gitea = settings.giteaUrl && settings.giteaToken ? createGiteaClient({ baseUrl: settings.giteaUrl, token: settings.giteaToken, log }) : null;
  const startup = new GiteaStartup(gitea, log, settings.botLogin);
  void startup.run();
  const checks: ReadinessCheck[] = [
    postgresCheck(sql),
    redisCheck(() => redis.connection.ping()),
    { name: 'gitea', check: async () => startup.problem },
    { name: 'webhook secret', check: async () => (settings.webhookSecret ? null : 'DAMASCUS_WEBHOOK_SECRET is not set: webhooks are refused') },
    ...(withWorkerAndScheduler ? agentSandboxChecks(settings) : []),
  ];
  const stoppers: Stopper[] = [];
  let worker: RunningWorker | undefined;
  const routes: Route[] = [...healthRoutes(checks, metrics)];
  if (settings.webhookSecret) {
    routes.push(
      webhookRoute({
        sql,
        secret: settings.webhookSecret,
        triggerLabel: settings.triggerLabel,
        botLogin: () => startup.botLogin,
        log,
        metrics,
        afterCommit: async (outcome, event) => {
          if (outcome.wake) await enqueueTicks(queues, 1, 'webhook');
          if (outcome.relay) await enqueueRelay(queues);
          // A story started, stopped or came back because of a label: read the issue back once its deliveries are in.
          if ((event.kind === 'issue.labels' || event.kind === 'issue.opened') && ['created', 'cancelled', 'reactivated'].includes(outcome.result.kind)) {
            await enqueueIssueConfirm(queues, { owner: event.repo.owner, name: event.repo.name, number: event.issue.number });
          }
        },
      }),
    );
  } else {
    routes.push({ method: 'POST', path: '/api/gitea/webhooks', handler: (_req, res) => sendJson(res, 503, { error: 'DAMASCUS_WEBHOOK_SECRET is not set' }) });
  }
  if (settings.callbackSecret) {
    routes.push(reviewResultsRoute({ sql, callbackSecret: settings.callbackSecret, log, afterCommit: () => enqueueTicks(queues, 1, 'review-result') }));
  } else {
    routes.push({
      method: 'POST',
      path: '/api/v1/review-results',
      handler: (_req, res) => sendJson(res, 503, { error: 'DAMASCUS_CALLBACK_SECRET is not set' }),
    });
  }
  // The dashboard, the items API and the queues view (loaded here so other commands do not pay for them).
  const { dashboardRoutes } = await import('../http/dashboard.js');
  routes.push(
    ...dashboardRoutes({
      sql,
      queues,
      cap: settings.concurrency,
      token: settings.dashboardToken,
      listenHost: settings.bindHost,
      sessionHours: settings.dashboardSessionHours,
    }),
  );
  if (!settings.dashboardToken && !isLoopbackHost(settings.bindHost)) {
    log.warn({ bind: settings.bindHost }, 'the dashboard is closed: DAMASCUS_DASHBOARD_TOKEN is not set and Damascus does not listen on loopback');
  }
  stoppers.push(async () => startup.stop());
  const { server } = await serveHttp(routes, settings.port, settings.bindHost, log);
  stoppers.push(() => closeServer(server));
  if (withWorkerAndScheduler) {
    const scheduler = startSchedulerPart(settings, log);
    worker = await startWorkerPart(settings, log, sql, metrics);
    const w = worker;
    stoppers.push(
      (grace) => w.shutdown(grace),
      () => scheduler.close(),
    );
  }
  stoppers.push(
    () => queues.close(),
    () => redis.close(),
    () => sql.end({ timeout: 5 }),
  );
  return { worker, stoppers, checks, metrics };
}
