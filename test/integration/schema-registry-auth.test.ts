// The schema registry with HTTP basic authentication: the stack's second Apicurio requires it
// (stack/services/registry.sh). With the right credentials the service registers its schema there
// and writes the output topic with that schema's id; with a wrong password, or none, it stops at
// start with a message that says so and never shows the password; credentials in the URL are refused.
import t from 'tap';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readSchemaId } from '../../src/serdes/avro.js';
import { readTable } from '../support/kafka.js';
import { runCli, startTestService, waitReady } from '../support/service.js';
import { eventually, stack, uniqueName } from '../support/stack.js';

t.setTimeout(300_000);

const { url, username, passwordFile } = stack.registryAuth;
const password = readFileSync(passwordFile, 'utf8').trim();
const basic = `Basic ${Buffer.from(`${username}:${password}`).toString('base64')}`;

t.test('the registry refuses requests without its credentials', async (t) => {
  t.equal((await fetch(`${url}/subjects`)).status, 401);
  const wrong = `Basic ${Buffer.from(`${username}:not-${password}`).toString('base64')}`;
  t.equal((await fetch(`${url}/subjects`, { headers: { authorization: wrong } })).status, 401);
  t.equal((await fetch(`${url}/subjects`, { headers: { authorization: basic } })).status, 200);
});

t.test('with its credentials the service registers its schema there and writes with it', async (t) => {
  const outputTopic = uniqueName('out-registry-auth');
  const service = await startTestService(uniqueName('registry-auth'), {
    flags: {
      'schema-registry': url,
      'schema-registry-username': username,
      'schema-registry-password-file': passwordFile,
      'output-topic': outputTopic,
    },
  });
  t.teardown(() => service.stop());
  await waitReady([service], 180_000);
  const latest = await fetch(`${url}/subjects/${outputTopic}-value/versions/latest`, {
    headers: { authorization: basic },
  });
  t.equal(latest.status, 200, 'the subject is in the authenticated registry');
  const { id } = (await latest.json()) as { id: number };
  const rows = await eventually('output records', 60_000, async () => {
    const table = await readTable(outputTopic, 10_000);
    return table.size > 0 ? table : undefined;
  });
  const ids = new Set([...rows.values()].map((value) => readSchemaId('test', value)));
  t.same([...ids], [id], "every output record carries that registry's schema id");
  const opened = await fetch(`${stack.registryUrl}/subjects/${outputTopic}-value/versions/latest`);
  t.equal(opened.status, 404, 'the open registry never saw it');
});

t.test('a wrong password, or none, stops the start with the reason and without the password', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'uis-registry-auth-'));
  const wrongFile = join(dir, 'wrong.password');
  const wrongPassword = `wrong-${password}`;
  writeFileSync(wrongFile, wrongPassword, { mode: 0o600 });
  const run = (extra: string[]) =>
    runCli([
      'run',
      ...['--application-id', uniqueName('registry-auth-bad'), '--port', '0', '--state-dir', dir],
      ...['--schema-registry', url, '--log-level', 'debug', ...extra],
    ]);
  for (const [what, extra] of [
    ['a wrong password', ['--schema-registry-username', username, '--schema-registry-password-file', wrongFile]],
    ['no credentials', []],
  ] as const) {
    const result = await run([...extra]);
    t.not(result.code, 0, `${what}: the process stops`);
    const output = result.stdout + result.stderr;
    t.match(output, /schema registry refused to register .* \(HTTP 401\)/, `${what}: it says the registry refused it`);
    t.notOk(output.includes(wrongPassword) || output.includes(password), `${what}: no password in the output`);
  }
  const inUrl = await runCli(['run', '--schema-registry', url.replace('http://', `http://${username}:${password}@`)]);
  t.not(inUrl.code, 0);
  t.match(inUrl.stderr, /must not contain credentials.*--schema-registry-username/);
  t.notOk(inUrl.stdout.includes(password) || inUrl.stderr.includes(password), 'the message does not repeat it');
});
