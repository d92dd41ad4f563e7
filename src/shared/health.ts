import type { Logger } from './log.js';

/**
 * Tracks whether a dependency (PostgreSQL, Redis, Gitea) is reachable and logs only when that
 * changes, so an outage gives one "down" line and one "up" line instead of a line per retry.
 */
export class DependencyState {
  private up: boolean | null = null;
  private lastError: string | null = null;
  constructor(
    readonly name: string,
    private readonly log: Logger,
  ) {}

  ok(): void {
    if (this.up !== true) {
      if (this.up === false) this.log.info({ dependency: this.name }, `${this.name} is reachable again`);
      this.up = true;
      this.lastError = null;
    }
  }

  failed(err: unknown): void {
    const message = (err as Error)?.message ?? String(err);
    this.lastError = message;
    if (this.up !== false) {
      this.log.warn({ dependency: this.name, err: message }, `${this.name} is unreachable; retrying quietly until it is back`);
      this.up = false;
    }
  }

  get isUp(): boolean {
    return this.up === true;
  }

  get error(): string | null {
    return this.lastError;
  }
}
