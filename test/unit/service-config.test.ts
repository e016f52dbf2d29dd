// The service's configuration: the processing guarantee, the commit interval, static membership, restore memory.
import t from 'tap';
import { ConfigError, loadConfig } from '../../src/service/config.js';

const load = (flags: Record<string, string>) => loadConfig(new Map(Object.entries(flags)), {});

t.test('the commit interval by default, and set', async (t) => {
  t.equal(load({}).processingGuarantee, 'exactly_once_v2', 'exactly_once_v2 by default (decision 0008)');
  t.equal(
    load({}).commitIntervalMs,
    25,
    '25 ms by default: the engine has its own thread, so a fresher view costs HTTP little',
  );
  t.equal(load({ 'commit-interval-ms': '0' }).commitIntervalMs, 0, '0: as soon as the previous commit ended');
  t.equal(load({ 'commit-interval-ms': '250', 'processing-guarantee': 'exactly_once' }).commitIntervalMs, 250);
  t.throws(() => load({ 'commit-interval-ms': 'soon' }), ConfigError, 'anything else stops the start');
  t.throws(() => load({ 'processing-guarantee': 'at_least_once' }), /exactly_once or exactly_once_v2/);
});

t.test('static membership: a group instance id, only on a client that has it', async (t) => {
  t.equal(load({}).groupInstanceId, undefined, 'dynamic membership by default');
  t.equal(load({}).kafkaClient, 'platformatic', 'platformatic is the default client');
  t.equal(
    load({ 'group-instance-id': 'uis-0', port: '3000' }).groupInstanceId,
    'uis-0',
    'taken on the default client (platformatic)',
  );
  t.throws(
    () => load({ 'kafka-client': 'kafkajs', 'group-instance-id': 'uis-0' }),
    /UIS_GROUP_INSTANCE_ID\) needs --kafka-client platformatic/,
    'kafkajs has none: the start stops and says what to fix',
  );
  t.throws(() => load({ 'kafka-client': 'platformatic', 'group-instance-id': 'uis 0' }), /may only contain/);
  t.throws(
    () => load({ 'kafka-client': 'platformatic', 'group-instance-id': 'uis-0', port: '0' }),
    /needs an endpoint kept across restarts/,
    'port 0 would change the endpoint at each restart, which other instances would not learn',
  );
  t.equal(
    load({
      'kafka-client': 'platformatic',
      'group-instance-id': 'uis-0',
      port: '0',
      'advertised-endpoint': 'uis-0:3000',
    }).groupInstanceId,
    'uis-0',
    'an advertised endpoint will do',
  );
});

t.test("the restore's fetched bytes held per broker: 32 MiB by default, and set", async (t) => {
  t.equal(load({}).restoreFetchMiB, 32);
  t.equal(load({ 'restore-fetch-mib': '8' }).restoreFetchMiB, 8);
  t.throws(() => load({ 'restore-fetch-mib': '0' }), ConfigError, 'at least 1 MiB');
});

t.test('error policies per kind: dead-letter by default, each set alone, anything else refused', async (t) => {
  t.same(load({}).errorPolicies, {
    deserialization: 'dead-letter',
    processing: 'dead-letter',
    production: 'dead-letter',
  });
  t.same(load({ 'on-deserialization-error': 'skip', 'on-production-error': 'fail' }).errorPolicies, {
    deserialization: 'skip',
    processing: 'dead-letter',
    production: 'fail',
  });
  t.throws(
    () => load({ 'on-processing-error': 'ignore' }),
    /--on-processing-error \(or UIS_ON_PROCESSING_ERROR\) must be fail, skip, dead-letter, got "ignore"/,
  );
});

t.test('the forward secret: read from its file, at least 16 bytes, never echoed in an error', async (t) => {
  const dir = t.testdir({ good: 'a secret of more than 16 bytes\n', short: 'too short\n' });
  t.equal(load({}).forwardSecret, undefined, 'none by default');
  t.equal(
    load({ 'forward-secret-file': `${dir}/good` }).forwardSecret,
    'a secret of more than 16 bytes',
    'the trailing newline is not part of it',
  );
  t.throws(() => load({ 'forward-secret-file': `${dir}/missing` }), /cannot read .*missing \(ENOENT\)/);
  const error = (() => {
    try {
      load({ 'forward-secret-file': `${dir}/short` });
    } catch (caught) {
      return String(caught);
    }
    return '';
  })();
  t.match(error, /must be 16 bytes or more/);
  t.notMatch(error, /too short/, 'the secret itself is not in the message');
});

t.test('schema registry credentials: both or neither, the password from a file or the environment', async (t) => {
  const dir = t.testdir({ password: 'pw-in-a-file\n' });
  const withEnv = (flags: Record<string, string>, env: NodeJS.ProcessEnv) =>
    loadConfig(new Map(Object.entries(flags)), env);
  t.same([load({}).schemaRegistryUsername, load({}).schemaRegistryPassword], [undefined, undefined], 'none by default');
  const fromFile = load({ 'schema-registry-username': 'uis', 'schema-registry-password-file': `${dir}/password` });
  t.same([fromFile.schemaRegistryUsername, fromFile.schemaRegistryPassword], ['uis', 'pw-in-a-file']);
  const fromEnv = withEnv({ 'schema-registry-username': 'uis' }, { UIS_SCHEMA_REGISTRY_PASSWORD: 'pw-in-env' });
  t.equal(fromEnv.schemaRegistryPassword, 'pw-in-env');
  t.throws(() => load({ 'schema-registry-username': 'uis' }), /needs both --schema-registry-username/);
  t.throws(() => withEnv({}, { UIS_SCHEMA_REGISTRY_PASSWORD: 'pw-in-env' }), /needs both/, 'a password without a user');
  t.throws(
    () =>
      withEnv(
        { 'schema-registry-username': 'uis', 'schema-registry-password-file': `${dir}/password` },
        { UIS_SCHEMA_REGISTRY_PASSWORD: 'pw-in-env' },
      ),
    /give the schema registry password once/,
  );
  const error = (() => {
    try {
      load({ 'schema-registry': 'http://uis:hunter2@127.0.0.1:8085/apis/ccompat/v7' });
    } catch (caught) {
      return String(caught);
    }
    return '';
  })();
  t.match(error, /must not contain credentials \(user:password@\): use --schema-registry-username/);
  t.notMatch(error, /hunter2/, 'the message does not repeat the password');
});

t.test("the engine thread's heap limit: V8's own by default, at least 64 MiB, only on a worker", async (t) => {
  t.equal(load({}).engineHeapMiB, 0, "0 (V8's own limit) by default");
  t.equal(load({ 'engine-heap-mib': '96' }).engineHeapMiB, 96);
  t.equal(load({}).engineYoungMiB, 0, "the young generation is V8's own by default");
  t.equal(load({ 'engine-young-mib': '192' }).engineYoungMiB, 192);
  t.throws(() => load({ 'engine-young-mib': '4' }), /at least 8, got 4/, 'too small a young generation');
  t.throws(() => load({ 'engine-young-mib': '64', 'engine-thread': 'main' }), /needs --engine-thread worker/);
  t.throws(() => load({ 'engine-heap-mib': '32' }), /at least 64, got 32/, 'too small to run the engine');
  t.throws(() => load({ 'engine-heap-mib': 'lots' }), /whole number/);
  t.throws(
    () => load({ 'engine-heap-mib': '128', 'engine-thread': 'main' }),
    /needs --engine-thread worker/,
    "the main thread's heap is node's --max-old-space-size",
  );
});
