// Dead letters go back to the topic they were read from once their cause is fixed, with their own
// headers, exactly once (a second replay writes nothing), and a dry run writes nothing.
import t from 'tap';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { StreamsBuilder } from '../../src/dsl/builder.js';
import { replayDeadLetters } from '../../src/runtime/dead-letter-replay.js';
import { KafkaStreams } from '../../src/runtime/kafka-streams.js';
import { DeserializationError, Serdes, type Serde } from '../../src/serdes/index.js';
import { createLogger, type LogLevel } from '../../src/util/logger.js';
import { connectedProducer, createTopics, readTopic } from '../support/kafka.js';
import { eventually, stack, uniqueName } from '../support/stack.js';

const logger = createLogger((process.env.TEST_LOG_LEVEL ?? 'error') as LogLevel);

/** Reads values in braces only, or (fixed) any value. */
function valueSerde(fixed: boolean): Serde<string> {
  return {
    name: fixed ? 'any' : 'braced',
    serialize: (value) => Buffer.from(value),
    deserialize: (bytes) => {
      const text = bytes.toString();
      if (!fixed && !text.startsWith('{')) throw new DeserializationError('braced', `not braced: ${text}`);
      return text;
    },
  };
}

async function records(topic: string) {
  const seen: Array<{ key: string; value: string; headers: Record<string, string> }> = [];
  await readTopic(topic, (m) =>
    seen.push({
      key: m.key?.toString() ?? '',
      value: m.value?.toString() ?? '',
      headers: Object.fromEntries(Object.entries(m.headers ?? {}).map(([k, v]) => [k, String(v)])),
    }),
  );
  return seen;
}

t.test('dead letters are written back once fixed, exactly once', async (t) => {
  const prefix = uniqueName('dlq');
  const input = `${prefix}-in`;
  const output = `${prefix}-out`;
  await createTopics([input, output], 2);
  const stateDir = mkdtempSync(join(tmpdir(), 'uis-dlq-'));
  t.teardown(() => rmSync(stateDir, { recursive: true, force: true }));
  const settings = {
    applicationId: prefix,
    brokers: stack.kafkaBrokers,
    stateDir,
    endpoint: '127.0.0.1:1',
    commitIntervalMs: 50,
    kafkaClient: stack.kafkaClient,
  };
  const app = (fixed: boolean) => {
    const builder = new StreamsBuilder();
    builder
      .stream(input, { keySerde: Serdes.string, valueSerde: valueSerde(fixed) })
      .to(output, { keySerde: Serdes.string, valueSerde: Serdes.string });
    return new KafkaStreams(builder.build(), settings, { logger });
  };

  const strict = app(false);
  await strict.start();
  const producer = await connectedProducer();
  t.teardown(() => producer.disconnect());
  await producer.send({
    topic: input,
    messages: [
      { key: 'k1', value: '{fine}' },
      { key: 'k2', value: 'broken', headers: { origin: 'test' } },
      { key: 'k3', value: 'also broken' },
    ],
  });
  const deadLetters = `${prefix}-dead-letters`;
  await eventually('two dead letters', 60_000, async () =>
    (await records(deadLetters)).length === 2 ? true : undefined,
  );
  const letters = await records(deadLetters);
  t.equal(letters.find((l) => l.key === 'k2')?.headers.origin, 'test', "a dead letter keeps the record's own headers");
  await strict.stop();

  const dryRun = await replayDeadLetters(settings, logger, { dryRun: true });
  t.equal(dryRun.read, 2);
  t.same(Object.fromEntries(dryRun.replayed), { [input]: 2 });
  t.equal((await records(input)).length, 3, 'a dry run writes nothing');

  const filtered = await replayDeadLetters(settings, logger, { dryRun: true, reason: 'NoSuchReason' });
  t.same(Object.fromEntries(filtered.replayed), {}, 'a reason filter that matches nothing replays nothing');
  t.equal(filtered.passedOver, 2);

  const fixed = app(true);
  t.teardown(() => fixed.stop());
  await fixed.start();
  const replay = await replayDeadLetters(settings, logger, { dryRun: false, sourceTopic: input });
  t.same(Object.fromEntries(replay.replayed), { [input]: 2 });
  const inputRecords = await records(input);
  t.equal(inputRecords.length, 5, 'the two dead letters were written back');
  t.same(
    inputRecords
      .filter((r) => r.key !== 'k1')
      .map((r) => JSON.stringify([r.key, r.value, r.headers]))
      .sort(),
    [
      ['k2', 'broken', { origin: 'test' }],
      ['k2', 'broken', { origin: 'test' }],
      ['k3', 'also broken', {}],
      ['k3', 'also broken', {}],
    ].map((r) => JSON.stringify(r)),
    'each as it was: its own headers, without the dlq.* ones',
  );
  await eventually('the replayed records processed', 60_000, async () =>
    (await records(output)).length === 3 ? true : undefined,
  );
  t.same((await records(output)).map((r) => r.value).sort(), ['also broken', 'broken', '{fine}']);

  const again = await replayDeadLetters(settings, logger, { dryRun: false });
  t.equal(again.read, 0, 'a second replay finds nothing new');
  t.equal((await records(input)).length, 5, 'and writes nothing');
});
