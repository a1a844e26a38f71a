import { parseArgs } from 'node:util';
import { App } from './app.ts';
import { ADMIN_USAGE, adminMain } from './cli/admin.ts';
import { loadConfig } from './config.ts';
import { ErrorCode, errorFields, isSidecarError } from './errors.ts';
import { createLogger } from './log.ts';
import { pinTickObjectShape } from './tick-shape.ts';

const USAGE = `usage: superset-ha run --config FILE
       superset-ha check-config --config FILE
       superset-ha drill <scenario...|all> [--target demo|FILE] [--duration S] [--rate R] [--out DIR]
${ADMIN_USAGE}
Environment overrides: SHA_<SECTION>__<FIELD>, e.g. SHA_ZOOKEEPER__CONNECT=zk-0:2181,zk-1:2181
`;

async function main(argv: string[]): Promise<number> {
  if (argv[0] === 'config' || argv[0] === 'zk') return adminMain(argv);
  if (argv[0] === 'drill') {
    // Its own options and its own module: the sidecar never loads the drill's dependencies (vega).
    const { drillMain } = await import('./drills/cli.ts');
    try {
      return await drillMain(argv.slice(1));
    } catch (err) {
      process.stderr.write(`superset-ha drill: ${isSidecarError(err) ? err.code : 'error'}: ${(err as Error).message}\n`);
      return isSidecarError(err) && err.code === ErrorCode.USAGE ? 2 : 1;
    }
  }
  let parsed;
  try {
    parsed = parseArgs({ args: argv, allowPositionals: true, options: { config: { type: 'string', short: 'c' }, help: { type: 'boolean', short: 'h' } } });
  } catch (err) {
    process.stderr.write(`superset-ha: ${ErrorCode.USAGE}: ${(err as Error).message}\n${USAGE}`);
    return 2;
  }
  const [command] = parsed.positionals;
  if (parsed.values.help || command === undefined) {
    process.stdout.write(USAGE);
    return command === undefined && !parsed.values.help ? 2 : 0;
  }
  if ((command !== 'run' && command !== 'check-config') || parsed.values.config === undefined) {
    const why = command !== 'run' && command !== 'check-config' ? `unknown command "${command}"` : '--config FILE is required';
    process.stderr.write(`superset-ha: ${ErrorCode.USAGE}: ${why}\n${USAGE}`);
    return 2;
  }

  let config;
  try {
    config = loadConfig(parsed.values.config);
  } catch (err) {
    // Printed plainly (not as JSON) since a human is reading it, with a stable code for scripts.
    const code = isSidecarError(err) ? err.code : ErrorCode.CONFIG_INVALID;
    process.stderr.write(`superset-ha: ${code}: ${(err as Error).message}\n`);
    return 2;
  }
  if (command === 'check-config') {
    process.stdout.write('config ok\n');
    return 0;
  }

  // Before traffic: keeps nextTick on V8's fast path however many full GCs follow (tick-shape.ts).
  const pinned = pinTickObjectShape();
  const log = createLogger(config.log.level);
  if (!pinned) {
    // Only speed is at stake (~4 µs of CPU per proxied request once three full GCs have run), but say so once.
    log.warn({ code: ErrorCode.NEXTTICK_UNPINNED }, 'could not catch a process.nextTick entry to pin (a Node without TickObject async hooks, or nextTick replaced): nextTick may slow down after full GCs');
  }
  const app = new App(config, log, undefined, (exitCode = 0) => {
    log.flush();
    process.exit(exitCode);
  });
  let signals = 0;
  const stop = (signal: string) => {
    if (++signals > 1) {
      log.warn({ event: 'forced_exit', signal }, 'second signal: exiting without draining');
      log.flush();
      process.exit(130);
    }
    log.info({ event: 'signal', signal }, 'shutting down: deregister, then stop');
    app.close().then(
      () => {
        log.flush();
        process.exit(0);
      },
      (err: unknown) => {
        log.error(errorFields(err), 'shutdown failed');
        log.flush();
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  try {
    await app.start();
  } catch (err) {
    log.fatal(errorFields(err), 'start failed');
    await app.close().catch(() => undefined);
    log.flush();
    return 1;
  }
  return -1; // keep running
}

const code = await main(process.argv.slice(2));
if (code >= 0) process.exitCode = code;
