#!/usr/bin/env node
/**
 * uis: run the User Information Service, a read replica, print the topology,
 * rebuild local state, or reset the application. `uis --help` lists every option.
 */
import { compileTopology } from '../processor/compile.js';
import { describeMermaid, describeText } from '../processor/describe.js';
import { ConfigError, loadConfig, optionsHelp, parseArgs } from '../service/config.js';
import { ResetRefusedError } from '../runtime/reset.js';
import {
  rebuildState,
  replayDeadLetterTopic,
  resetState,
  startReplica,
  startService,
  topologyFor,
  type RunningService,
} from '../service/service.js';
import { createLogger } from '../util/logger.js';

const HELP = `uis — the User Information Service

Usage: uis <command> [options]

Commands:
  run             process the CDC topics and serve GET /users/:userId (join the group
                  named by --application-id; run more instances to share the work)
  replica         serve every user from the output topic, without processing
  describe        print the topology (add --mermaid for a Mermaid flowchart)
  rebuild-state   rebuild the local stores from their changelogs, then exit
  reset           so the next start processes every input from the beginning: delete the
                  application's internal topics, its consumer group (committed offsets) and
                  this machine's state directory of it; input, output and dead-letter topics
                  stay. Stop every instance first. --dry-run lists what it would delete
  replay-dead-letters
                  write the dead letters (<application-id>-dead-letters) back to the topics they
                  were read from, once their cause is fixed; exactly once: a second run replays
                  only newer ones. --source-topic T and --reason R choose some (the others are
                  passed over for good); --dry-run counts what it would write
  help            this text

Options (a flag wins over its environment variable):
${optionsHelp()}

HTTP: GET /users/:userId, /health/live, /health/ready, /metrics, /openapi.json.
Stop with SIGTERM or Ctrl-C: the current batch finishes, tasks commit, stores close.`;

/** Flags some commands take besides the service's options. */
const COMMAND_FLAGS: Record<string, string[]> = {
  describe: ['mermaid'],
  reset: ['dry-run'],
  'replay-dead-letters': ['dry-run', 'source-topic', 'reason'],
};

async function main(argv: string[]): Promise<number> {
  const { flags, positional } = parseArgs(argv);
  const command = positional[0] ?? 'help';
  if (command === 'help' || flags.has('help')) {
    process.stdout.write(HELP + '\n');
    return 0;
  }
  if (!['run', 'replica', 'describe', 'rebuild-state', 'reset', 'replay-dead-letters'].includes(command)) {
    process.stderr.write(`uis: unknown command "${command}" (see uis --help)\n`);
    return 2;
  }
  let config;
  try {
    config = loadConfig(flags, process.env, COMMAND_FLAGS[command] ?? []);
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`uis: ${error.message}\n`);
      return 2;
    }
    throw error;
  }
  const logger = createLogger(config.logLevel, { service: 'uis', command });

  if (command === 'describe') {
    const topology = compileTopology(topologyFor(config), config.applicationId);
    process.stdout.write((flags.has('mermaid') ? describeMermaid(topology) : describeText(topology)) + '\n');
    return 0;
  }
  if (command === 'reset') {
    const dryRun = flags.has('dry-run');
    try {
      const plan = await resetState(config, logger, dryRun);
      const lines = [
        dryRun ? 'would delete (dry run; nothing deleted):' : 'deleted:',
        ...plan.topics.map((t) => `  topic ${t}`),
        ...(plan.group ? [`  consumer group ${plan.group} (its committed offsets)`] : []),
        ...(plan.stateDirectory ? [`  state directory ${plan.stateDirectory}`] : []),
      ];
      if (lines.length === 1) lines.push('  nothing: the application has no internal topics, group or local state');
      process.stdout.write(lines.join('\n') + '\n');
      return 0;
    } catch (error) {
      if (!(error instanceof ResetRefusedError)) throw error;
      process.stderr.write(`uis: reset refused: ${error.message}\n`);
      return 2;
    }
  }
  if (command === 'replay-dead-letters') {
    const value = (flag: string) => {
      const text = flags.get(flag);
      return text !== undefined && text !== '' && text !== 'true' ? text : undefined;
    };
    const dryRun = flags.has('dry-run');
    const result = await replayDeadLetterTopic(config, logger, {
      dryRun,
      ...(value('source-topic') ? { sourceTopic: value('source-topic') } : {}),
      ...(value('reason') ? { reason: value('reason') } : {}),
    });
    const lines = [
      `${result.read} dead letter(s) read; ${dryRun ? 'would replay (dry run; nothing written)' : 'replayed'}:`,
      ...[...result.replayed].map(([topic, n]) => `  ${n} to ${topic}`),
      `${result.passedOver} passed over (filtered out, or their topic is gone)`,
    ];
    process.stdout.write(lines.join('\n') + '\n');
    return 0;
  }
  if (command === 'rebuild-state') {
    const records = await rebuildState(config, logger);
    logger.info('local state rebuilt', { records, stateDir: config.stateDir });
    return 0;
  }

  // Signals are handled from the start: one that arrives while the service is starting stops it
  // cleanly as soon as it has started (its tasks commit, it leaves the group).
  let requestStop!: (signal: string) => void;
  const stopSignal = new Promise<string>((resolve) => (requestStop = resolve));
  const onSignal = (signal: string) => {
    logger.info('stopping', { signal });
    process.once(signal, () => process.exit(1)); // a second signal stops at once
    requestStop(signal);
  };
  process.once('SIGTERM', () => onSignal('SIGTERM'));
  process.once('SIGINT', () => onSignal('SIGINT'));

  let fatal: Error | undefined;
  const onFatal = (error: Error) => {
    fatal = error;
    logger.error('the engine stopped for good; stopping', { error: error.message });
    requestStop('fatal');
  };
  let service: RunningService;
  try {
    service = command === 'run' ? await startService(config, logger, onFatal) : await startReplica(config, logger);
  } catch (error) {
    logger.error('could not start', { error, hint: startHint(error) });
    return 1;
  }
  await stopSignal;
  await service.stop().catch((error) => logger.error('stopping failed', { error }));
  return fatal ? 1 : 0;
}

function startHint(error: unknown): string | undefined {
  const text = String((error as Error)?.message ?? error);
  if (/EADDRINUSE/.test(text)) return 'the HTTP port is in use: choose another with --port';
  if (/SASL|authentication failed/i.test(text))
    return 'Kafka refused the credentials: check --kafka-sasl-username, the password (--kafka-sasl-password-file) and --kafka-sasl-mechanism';
  if (/certificate|TLS/i.test(text))
    return "Kafka's TLS certificate is not trusted or not for this address: check --kafka-ssl-ca-file and --brokers";
  if (/Connection|ECONNREFUSED|broker/i.test(text))
    return 'is Kafka running at --brokers? (npm run stack:up starts the local stack)';
  if (/does not exist/.test(text))
    return 'are the CDC topics there? (npm run stack:up creates them and the Debezium connector)';
  return undefined;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (error) => {
    process.stderr.write(`uis: ${(error as Error)?.stack ?? String(error)}\n`);
    process.exit(1);
  },
);
