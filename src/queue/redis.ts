import { Redis } from 'ioredis';
import { DependencyState } from '../shared/health.js';
import type { Logger } from '../shared/log.js';

export interface RedisHandle {
  /** For BullMQ: blocking commands wait as long as they need (no command timeout, no retry limit). */
  connection: Redis;
  state: DependencyState;
  close(): Promise<void>;
}

/**
 * One ioredis connection for BullMQ. It reconnects forever with capped backoff; state changes
 * are logged once each. `onReady` runs after every (re)connect: the scheduler re-upserts its job
 * schedulers there, because a Redis without persistence forgets them.
 */
export function connectRedis(url: string, log: Logger, name: string, onReady?: () => void): RedisHandle {
  const state = new DependencyState(`redis (${name})`, log);
  const connection = new Redis(url, {
    maxRetriesPerRequest: null,
    enableReadyCheck: true,
    connectionName: `damascus-${name}`,
    retryStrategy: (times) => Math.min(100 * 2 ** Math.min(times, 6), 5_000),
    keepAlive: 10_000,
  });
  connection.on('ready', () => {
    state.ok();
    onReady?.();
  });
  connection.on('error', (err) => state.failed(err));
  connection.on('close', () => {
    if (state.isUp) state.failed(new Error('connection closed'));
  });
  return {
    connection,
    state,
    async close() {
      try {
        await connection.quit();
      } catch {
        connection.disconnect();
      }
    },
  };
}
