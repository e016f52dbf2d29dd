// Bad configuration stops `stack.sh up` with a message naming the service and what to fix.
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync, chmodSync, mkdirSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const root = new URL('../..', import.meta.url).pathname;

function stackUp(env: Record<string, string>) {
  const stateDir = mkdtempSync(join(tmpdir(), 'uis-stack-test-'));
  const result = spawnSync('bash', [join(root, 'stack/stack.sh'), 'up'], {
    encoding: 'utf8',
    timeout: 120_000,
    env: {
      ...process.env,
      UIS_STACK_DIR: stateDir,
      UIS_DIST_DIR: join(root, '.stack/dist'),
      STACK_NO_INSTALL: '1',
      ...env,
    },
  });
  spawnSync('bash', [join(root, 'stack/stack.sh'), 'reset'], { env: { ...process.env, UIS_STACK_DIR: stateDir } });
  rmSync(stateDir, { recursive: true, force: true });
  return result;
}

t.test('a port in use names the service, the port and the setting', async (t) => {
  const blocker = createServer().listen(0, '127.0.0.1');
  await new Promise((resolve) => blocker.once('listening', resolve));
  t.teardown(() => blocker.close());
  const port = (blocker.address() as AddressInfo).port;
  const result = stackUp({ PG_PORT: String(port) });
  t.equal(result.status, 1);
  t.match(result.stderr, `postgres: port ${port} is already in use`);
  t.match(result.stderr, 'PG_PORT=<port>');
});

t.test('Java missing or too old names the services that need it', async (t) => {
  const fakeBin = mkdtempSync(join(tmpdir(), 'uis-fake-java-'));
  t.teardown(() => rmSync(fakeBin, { recursive: true, force: true }));
  writeFileSync(join(fakeBin, 'java'), '#!/bin/sh\necho \'openjdk version "11.0.2"\' >&2\n');
  chmodSync(join(fakeBin, 'java'), 0o755);
  mkdirSync(join(fakeBin, 'no-jvms'));
  const result = stackUp({ PATH: `${fakeBin}:${process.env.PATH}`, STACK_JVM_ROOT: join(fakeBin, 'no-jvms') });
  t.equal(result.status, 1);
  t.match(result.stderr, /missing: Java 17 or newer for kafka and connect/);
});

t.test('a service that does not come up is named with its log file', async (t) => {
  const result = stackUp({ PG_PORT: '99999' });
  t.equal(result.status, 1);
  t.match(result.stderr, /postgres exited during start\. Its log: \S+\/logs\/postgres\.log/);
  t.match(result.stderr, /99999/, 'the log tail shows the cause');
});
