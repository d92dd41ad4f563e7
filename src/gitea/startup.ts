import type { Logger } from '../shared/log.js';
import type { GiteaClient } from './client.js';

/**
 * Start-up checks against Gitea, run in the background and retried until they pass, so a server
 * whose Gitea is down still starts and accepts webhooks; /readyz reports what is missing meanwhile.
 */
export class GiteaStartup {
  botLogin: string | null;
  version: string | null = null;
  missingFeatures: string[] = [];
  problem: string | null = 'not checked yet';
  private stopped = false;

  constructor(
    private readonly gitea: GiteaClient | null,
    private readonly log: Logger,
    botLoginSetting?: string,
  ) {
    this.botLogin = botLoginSetting ?? null;
    if (!gitea) this.problem = 'GITEA_URL and GITEA_TOKEN are not set';
  }

  /** Resolves once the checks passed (or never, until stop()); callers need not await it. */
  async run(): Promise<void> {
    if (!this.gitea) return;
    for (let delay = 1000; !this.stopped; delay = Math.min(delay * 2, 30_000)) {
      try {
        const server = await this.gitea.checkServer();
        this.version = server.version;
        this.missingFeatures = server.missing;
        if (server.missing.length) this.log.warn({ version: server.version, missing: server.missing }, 'this Gitea lacks endpoints Damascus needs');
        if (!this.botLogin) this.botLogin = (await this.gitea.getCurrentUser()).login;
        this.problem = null;
        this.log.info({ version: this.version, bot: this.botLogin }, 'Gitea checks passed');
        return;
      } catch (err) {
        const message = `Gitea is not reachable yet: ${(err as Error).message}`;
        if (this.problem !== message) this.log.warn(message);
        this.problem = message;
        await new Promise((r) => setTimeout(r, delay).unref());
      }
    }
  }

  stop(): void {
    this.stopped = true;
  }
}
