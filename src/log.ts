import { pino, type Logger, type LevelWithSilent } from 'pino';

export type { Logger };

/**
 * The root logger. Components get `child({component})` loggers injected; nothing else calls pino.
 * Credentials in URLs are redacted at the source (config.redactUrl), so no redact paths are needed here.
 */
export function createLogger(level: LevelWithSilent = 'info', destination?: pino.DestinationStream): Logger {
  return pino(
    {
      level,
      base: { service: 'superset-ha' },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
    },
    destination ?? pino.destination({ dest: 1, sync: false }),
  );
}
