import { pino, type Logger } from 'pino';

export type { Logger };

/**
 * The one logger. JSON lines on stderr (stdout stays for command output). Secrets are redacted by
 * key wherever they appear in a logged object.
 */
export function createLogger(level = process.env.DAMASCUS_LOG_LEVEL ?? 'info', name = 'damascus'): Logger {
  return pino(
    {
      name,
      level,
      redact: {
        paths: [
          'token',
          '*.token',
          'secret',
          '*.secret',
          'authorization',
          '*.authorization',
          'headers.authorization',
          'apiKey',
          '*.apiKey',
          'password',
          '*.password',
        ],
        censor: '[redacted]',
      },
    },
    pino.destination({ fd: 2, sync: false }),
  );
}
