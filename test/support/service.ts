// Starts the User Information Service in this process, against the local stack, for integration tests.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig, type ServiceConfig } from '../../src/service/config.js';
import { startService, startReplica, type RunningService } from '../../src/service/service.js';
import { createLogger, type LogLevel } from '../../src/util/logger.js';
import { stack, eventually } from './stack.js';

export interface TestService extends RunningService {
  url: string;
  config: ServiceConfig;
}

export async function startTestService(
  applicationId: string,
  port: number,
  options: { replica?: boolean; flags?: Record<string, string> } = {},
): Promise<TestService> {
  const flags = new Map<string, string>([
    ['application-id', applicationId],
    ['port', String(port)],
    ['brokers', stack.kafkaBrokers.join(',')],
    ['schema-registry', stack.registryUrl],
    ['state-dir', mkdtempSync(join(tmpdir(), `uis-${port}-`))],
    ['commit-interval-ms', '50'],
    ...Object.entries(options.flags ?? {}),
  ]);
  const config = loadConfig(flags, {});
  const logger = createLogger((process.env.TEST_LOG_LEVEL ?? 'error') as LogLevel, { port });
  const service = options.replica ? await startReplica(config, logger) : await startService(config, logger);
  return { ...service, url: `http://127.0.0.1:${port}`, config };
}

export async function waitReady(services: TestService[], timeoutMs = 120_000): Promise<void> {
  await eventually('every instance ready', timeoutMs, async () => {
    const answers = await Promise.all(
      services.map((s) =>
        fetch(`${s.url}/health/ready`)
          .then((r) => r.status)
          .catch(() => 0),
      ),
    );
    return answers.every((status) => status === 200) ? true : undefined;
  });
}

const cli = new URL('../../src/cli/main.ts', import.meta.url).pathname;

/** Runs `uis run` in a process of its own (for tests that kill or freeze it), against the local stack. */
export function spawnInstance(applicationId: string, port: number, stateDir: string): ChildProcess {
  return spawn(
    process.execPath,
    [
      '--import',
      'tsx',
      cli,
      'run',
      '--application-id',
      applicationId,
      '--port',
      String(port),
      '--state-dir',
      stateDir,
      '--commit-interval-ms',
      '50',
      '--log-level',
      process.env.TEST_LOG_LEVEL ?? 'error',
    ],
    {
      stdio: ['ignore', 'ignore', 'inherit'],
      env: { ...process.env, KAFKA_BROKERS: stack.kafkaBrokers.join(','), SCHEMA_REGISTRY_URL: stack.registryUrl },
    },
  );
}
