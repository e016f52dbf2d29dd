// Kafka over SASL_SSL (SCRAM-SHA-512 and TLS) against the stack's authenticated listener: the service
// processes and serves with every Kafka connection on it (the client library's and the engine's own:
// exactly_once_v2 commits, the fetch loop, restores), on both clients; a wrong password stops the start.
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import t from 'tap';
import { createKafkaClient, KAFKA_CLIENTS } from '../../src/kafka/client.js';
import { findCoordinator } from '../../src/kafka/group-transactions.js';
import { KafkaAuthenticationError } from '../../src/kafka/wire.js';
import { createLogger } from '../../src/util/logger.js';
import { loadConfig } from '../../src/service/config.js';
import { metricSum, runCli, startInstance, startTestService, stopInstance, waitReady } from '../support/service.js';
import { eventually, stack, uniqueName } from '../support/stack.js';
import { freshIdBase } from '../support/workload.js';

const sasl = stack.kafkaSasl;
const saslFlags = (passwordFile = sasl.passwordFile) => ({
  brokers: sasl.brokers.join(','),
  'kafka-security-protocol': 'SASL_SSL',
  'kafka-sasl-mechanism': 'SCRAM-SHA-512',
  'kafka-sasl-username': sasl.username,
  'kafka-sasl-password-file': passwordFile,
  'kafka-ssl-ca-file': sasl.caFile,
});
const security = loadConfig(new Map(Object.entries(saslFlags())), {}).kafkaSecurity!;
const logger = createLogger('error', { test: 'kafka-sasl-ssl' });

t.test('the cluster lists its brokers on the listener reached, and they carry its security', async (t) => {
  const admin = createKafkaClient({ brokers: sasl.brokers, clientId: 'sasl-test', logger, security }).admin();
  await admin.connect();
  t.teardown(() => admin.disconnect());
  const brokers = await admin.brokers();
  t.ok(brokers.length > 0);
  for (const broker of brokers) {
    t.equal(`${broker.host}:${broker.port}`, sasl.brokers[0], 'the SASL_SSL listener, not PLAINTEXT');
    t.equal(broker.security, security, 'our own connections to it will use TLS and SCRAM');
  }
  // Our own connections: TLS, SaslHandshake, SaslAuthenticate (SCRAM-SHA-512), then the request.
  const coordinator = await findCoordinator(brokers[0]!, uniqueName('sasl-group'), 'group');
  t.equal(`${coordinator.host}:${coordinator.port}`, sasl.brokers[0], 'an authenticated request is answered');
  t.equal(coordinator.security, security, 'and the address it gives is reached the same way');
  const withPassword = (password: string) => ({
    ...brokers[0]!,
    security: { ...security, sasl: { ...security.sasl!, password } },
  });
  await t.rejects(
    findCoordinator(withPassword('wrong'), 'g', 'group'),
    { name: 'KafkaAuthenticationError', message: /refused SASL SCRAM-SHA-512 authentication of user/ },
    'a wrong password is refused, and said so',
  );
  await t.rejects(
    findCoordinator({ ...brokers[0]!, security: { tls: {}, sasl: security.sasl! } }, 'g', 'group'),
    KafkaAuthenticationError,
    "without the stack's CA the self-signed certificate is not trusted",
  );
});

t.test('a wrong password stops the start with a clear error', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'uis-sasl-'));
  writeFileSync(join(dir, 'password'), 'not-the-password\n', { mode: 0o600 });
  for (const client of KAFKA_CLIENTS) {
    const started = startTestService(uniqueName(`sasl-wrong-${client}`), {
      flags: { ...saslFlags(join(dir, 'password')), 'kafka-client': client },
    });
    const error = await started.then(
      async (service) => {
        await service.stop();
        return undefined;
      },
      (caught: unknown) => caught as Error,
    );
    t.match(String(error?.message), /authentication failed|refused SASL/i, `${client}: ${error?.message}`);
    t.notMatch(String(error?.message), 'not-the-password', 'the password is not in the message');
  }
});

for (const client of KAFKA_CLIENTS) {
  t.test(
    `${client}: the service processes, commits (exactly_once_v2), serves and restores over SASL_SSL`,
    async (t) => {
      const app = uniqueName(`sasl-${client}`);
      const flags = { ...saslFlags(), 'kafka-client': client, 'processing-guarantee': 'exactly_once_v2' };
      const first = await startTestService(app, { flags });
      let firstStopped = false;
      t.teardown(() => (firstStopped ? undefined : first.stop()));
      await waitReady([first]);

      const db = new pg.Client(stack.postgres);
      await db.connect();
      t.teardown(() => db.end());
      const userId = freshIdBase().toString();
      const username = uniqueName('sasl-user');
      await db.query('INSERT INTO users (user_id, username, name) VALUES ($1, $2, $3)', [
        userId,
        username,
        'Over SASL',
      ]);
      t.teardown(() => db.query('DELETE FROM users WHERE user_id = $1', [userId]));

      const served = await eventually('the new user served', 60_000, async () => {
        const answer = await fetch(`${first.url}/users/${userId}`);
        return answer.status === 200 ? ((await answer.json()) as { username: string; name: string }) : undefined;
      });
      t.same({ username: served.username, name: served.name }, { username, name: 'Over SASL' }, 'processed and served');
      t.ok(
        (await metricSum(first.url, 'streams_commit_duration_seconds_count')) > 0,
        'tasks committed (the instance producer)',
      );

      await first.stop();
      firstStopped = true;
      // A new state directory: every task is restored from its changelog by our own fetches.
      const second = await startTestService(app, { flags });
      t.teardown(() => second.stop());
      await waitReady([second]);
      t.ok((await metricSum(second.url, 'streams_restore_records_total')) > 0, 'restored from the changelogs');
      const again = await fetch(`${second.url}/users/${userId}`);
      t.equal(again.status, 200, 'the restored view serves the user');
    },
  );
}

t.test('the CLI over SASL_SSL: `uis run` logs the protocol and never the password; `uis reset`', async (t) => {
  const password = readFileSync(sasl.passwordFile, 'utf8').trim();
  const dir = mkdtempSync(join(tmpdir(), 'uis-sasl-cli-'));
  const app = uniqueName('sasl-cli');
  const log = join(dir, 'instance.log');
  writeFileSync(log, '');
  const instance = await startInstance(app, join(dir, 'state'), log, saslFlags());
  t.equal(await stopInstance(instance.child), 0, 'served, then stopped cleanly');
  const lines = readFileSync(log, 'utf8');
  t.match(lines, /"msg":"serving".*"kafka":\{"protocol":"SASL_SSL","mechanism":"SCRAM-SHA-512","username":"uis"\}/);
  t.notOk(lines.includes(password), 'the password is nowhere in the log (info level)');

  const flags = Object.entries(saslFlags()).flatMap(([name, value]) => [`--${name}`, value]);
  const reset = await runCli(['reset', '--application-id', app, '--state-dir', join(dir, 'state'), ...flags]);
  t.equal(reset.code, 0, reset.stderr);
  t.match(reset.stdout, /deleted:[\s\S]*consumer group/, 'internal topics and the group deleted over SASL_SSL');
  t.notOk(reset.stdout.includes(password) || reset.stderr.includes(password));
});
