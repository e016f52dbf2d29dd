// The package as another team gets it: `npm pack`, the tarball installed into an empty project, the
// word-count example compiled there against the package's declarations (strict TypeScript, imports
// from the package name only) and run on the stack, where its output equals the test driver's, both
// taken from the installed package.
import t from 'tap';
import { execFile, spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { counts } from '../../examples/word-count.js';
import { connectedProducer, createTopics, readTopic } from '../support/kafka.js';
import { eventually, stack, uniqueName } from '../support/stack.js';

const run = promisify(execFile);
const root = resolve(import.meta.dirname, '../..');
const packageName = (JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { name: string }).name;

const LINES: Array<[string, string | null]> = [
  ['l1', 'the quick brown fox'],
  ['l2', 'jumps over the lazy dog'],
  ['l3', null],
  ['l4', 'The dog sleeps'],
];

/** The consumer's program: `driver` prints the test driver's counts; `run` runs the topology on Kafka. */
const APP = `
import { KafkaStreams, TopologyTestDriver, type StreamsSettings } from '${packageName}';
import { counts, lines, wordCount } from './word-count.js';

const [mode, brokers, applicationId, input, output, stateDir] = process.argv.slice(2);
const topics = { lines: input!, counts: output! };
if (mode === 'driver') {
  const driver = new TopologyTestDriver(wordCount(topics));
  const given: Array<[string, string | null]> = JSON.parse(process.env.LINES!);
  for (const [key, line] of given) driver.pipe(topics.lines, lines, key, line);
  console.log(JSON.stringify(Object.fromEntries(driver.readCompacted(topics.counts, counts))));
} else {
  const settings: StreamsSettings = {
    applicationId: applicationId!,
    brokers: brokers!.split(','),
    stateDir: stateDir!,
    endpoint: '127.0.0.1:1',
    commitIntervalMs: 50,
  };
  const streams = new KafkaStreams(wordCount(topics), settings);
  await streams.start();
  console.log('started');
  process.once('SIGTERM', () => void streams.stop().then(() => process.exit(0)));
}
`;

t.test('npm pack: the tarball installed in an empty project runs the word-count example', async (t) => {
  const work = mkdtempSync(join(tmpdir(), 'uis-package-'));
  t.teardown(() => rmSync(work, { recursive: true, force: true }));

  await run('npm', ['pack', '--pack-destination', work, '--loglevel=error'], { cwd: root, maxBuffer: 64 << 20 });
  const tarball = readdirSync(work).find((f) => f.endsWith('.tgz'));
  t.ok(tarball, 'npm pack wrote a tarball');
  const { stdout: listing } = await run('tar', ['-tzf', join(work, tarball!)], { maxBuffer: 64 << 20 });
  const files = listing.split('\n');
  t.ok(files.includes('package/dist/src/index.d.ts'), 'declarations are in the package');
  t.notOk(
    files.some((f) => /^package\/(src|test|bench|patches)\//.test(f)),
    'no sources, tests, benchmarks or patches',
  );
  t.ok(
    files.includes('package/node_modules/kafkajs/src/consumer/consumerGroup.js'),
    'kafkajs is bundled (with its patches)',
  );
  // patch-package patches only the project it runs in, so the patched clients travel inside the package.
  const bundled = async (file: string) =>
    (await run('tar', ['-xzOf', join(work, tarball!), `package/node_modules/${file}`], { maxBuffer: 64 << 20 })).stdout;
  t.match(await bundled('kafkajs/src/consumer/consumerGroup.js'), /uis patch/, 'the bundled kafkajs is patched');
  t.match(
    await bundled('@platformatic/kafka/dist/clients/consumer/consumer.js'),
    /Patched \(user-information-service\)/,
    'the bundled @platformatic/kafka is patched',
  );

  const project = join(work, 'consumer');
  await run('mkdir', ['-p', project]);
  writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'consumer', private: true, type: 'module' }));
  await run(
    'npm',
    ['install', '--no-audit', '--no-fund', '--prefer-offline', '--loglevel=error', join(work, tarball!)],
    { cwd: project, maxBuffer: 64 << 20 },
  );

  // Every example, with its imports of the engine's sources turned into imports of the package: they
  // compile only if everything they use is public. The word count then runs.
  const examples = readdirSync(join(root, 'examples')).filter((f) => f.endsWith('.ts'));
  for (const file of examples) {
    const source = readFileSync(join(root, 'examples', file), 'utf8');
    writeFileSync(join(project, file), source.replace(/from '\.\.\/src\/[^']+'/g, `from '${packageName}'`));
  }
  t.ok(examples.includes('word-count.ts') && examples.length >= 3, `the examples: ${examples.join(', ')}`);
  writeFileSync(join(project, 'app.ts'), APP);
  writeFileSync(
    join(project, 'tsconfig.json'),
    JSON.stringify({
      compilerOptions: {
        target: 'ES2022',
        module: 'NodeNext',
        moduleResolution: 'NodeNext',
        strict: true,
        outDir: 'out',
        types: ['node'],
        typeRoots: [join(root, 'node_modules/@types')],
        skipLibCheck: true,
      },
      files: ['app.ts', ...examples],
    }),
  );
  const tsc = join(root, 'node_modules/typescript/bin/tsc');
  const compiled = await run(process.execPath, [tsc, '-p', project], { cwd: project }).then(
    () => '',
    (error: { stdout?: string }) => error.stdout ?? String(error),
  );
  t.equal(compiled, '', 'the examples compile against the package declarations');
  if (compiled) return;

  const prefix = uniqueName('pkg-wc');
  const topics = { lines: `${prefix}-lines`, counts: `${prefix}-counts` };
  const app = join(project, 'out/app.js');
  const args = [stack.kafkaBrokers.join(','), prefix, topics.lines, topics.counts, join(work, 'state')];
  const { stdout: driverOut } = await run(process.execPath, [app, 'driver', ...args], {
    cwd: project,
    env: { ...process.env, LINES: JSON.stringify(LINES) },
  });
  const expected = JSON.parse(driverOut) as Record<string, number>;
  t.equal(expected.the, 3, 'the installed test driver counted "the" three times');

  await createTopics([topics.lines, topics.counts], 2);
  const child = spawn(process.execPath, [app, 'run', ...args], { cwd: project, stdio: ['ignore', 'pipe', 'pipe'] });
  let childOut = '';
  child.stdout.on('data', (chunk: Buffer) => (childOut += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (childOut += chunk.toString()));
  const exited = new Promise<number | null>((done) => child.once('exit', (code) => done(code)));
  t.teardown(() => void child.kill('SIGKILL'));
  await eventually('the installed engine to start', 60_000, async () =>
    childOut.includes('started') ? true : undefined,
  );

  const producer = await connectedProducer();
  t.teardown(() => producer.disconnect());
  await producer.send({
    topic: topics.lines,
    messages: LINES.map(([key, value]) => ({ key, value })),
  });
  const table: Record<string, number> = {};
  await eventually('the installed engine to count as the driver did', 90_000, async () => {
    await readTopic(topics.counts, (m) => {
      table[m.key!.toString()] = counts.valueSerde.deserialize(m.value!);
    });
    return JSON.stringify(Object.entries(table).sort()) === JSON.stringify(Object.entries(expected).sort())
      ? true
      : undefined;
  });
  t.same(table, expected, 'the counts on Kafka equal the driver counts');
  child.kill('SIGTERM');
  t.equal(await exited, 0, 'the app stops cleanly on SIGTERM');
  t.match(childOut, /"msg":"stopped"/, 'and says so');
});
