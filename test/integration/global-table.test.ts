// A global table on the real broker: restored whole before processing, followed while running
// (updates and deletes reach the joins), and continued from its stored positions after a restart,
// with what was written to its topic meanwhile. Beside it, a global store kept by a processor of
// ours (addGlobalStore), restored and followed through that processor.
import t from 'tap';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Fastify from 'fastify';
import { StreamsBuilder } from '../../src/dsl/builder.js';
import { storeRoutes } from '../../src/query/store-routes.js';
import { Serdes } from '../../src/serdes/index.js';
import type { StreamRecord } from '../../src/processor/api.js';
import type { KeyValueStore } from '../../src/processor/types.js';
import { connectedProducer, createTopics, readTopic } from '../support/kafka.js';
import { eventually, uniqueName } from '../support/stack.js';
import { streamsOnStack } from '../support/streams.js';

const S = { keySerde: Serdes.string, valueSerde: Serdes.string };

t.test('a global table is restored, followed and continued after a restart', async (t) => {
  const prefix = uniqueName('global');
  const topics = {
    profiles: `${prefix}-profiles`,
    events: `${prefix}-events`,
    out: `${prefix}-out`,
    renames: `${prefix}-renames`,
  };
  await createTopics([topics.profiles, topics.events, topics.out, topics.renames], 3);
  const stateDir = mkdtempSync(join(tmpdir(), 'uis-global-'));
  t.teardown(() => rmSync(stateDir, { recursive: true, force: true }));
  const producer = await connectedProducer();
  t.teardown(() => producer.disconnect());

  const profiles = (rows: Array<[string, string | null]>) =>
    producer.send({ topic: topics.profiles, messages: rows.map(([key, value]) => ({ key, value })) });
  // Many rows over every partition: the restore reads them in bulk.
  await profiles(Array.from({ length: 300 }, (_, i) => [`p${i}`, `v0-${i}`] as [string, string]));
  // A global store kept by a processor of ours (addGlobalStore): how many renames each key had.
  const renames = (keys: string[]) =>
    producer.send({ topic: topics.renames, messages: keys.map((key) => ({ key, value: 'renamed' })) });
  await renames(['r1', 'r1', 'r2', 'r1']);
  const renamesOf = (key: string) => {
    const bytes = streams.getGlobal('renames', Buffer.from(key));
    return bytes === undefined ? undefined : (JSON.parse(bytes.toString()) as number);
  };

  const fatal = (error: Error) => fatalErrors.push(error);
  const fatalErrors: Error[] = [];
  const start = async () => {
    const builder = new StreamsBuilder();
    const table = builder.globalTable(topics.profiles, { ...S, storeName: 'profiles' });
    const counts = { keySerde: Serdes.string, valueSerde: Serdes.json<number>('renames') };
    builder.addGlobalStore({ storeName: 'renames', ...counts }, topics.renames, S, () => {
      let store: KeyValueStore<string, number>;
      return {
        init: (context) => void (store = context.getStateStore<string, number>('renames')),
        process: ({ key, value }: StreamRecord<string, string>) => {
          if (value === 'poison') throw new Error(`cannot take ${key}`);
          store.put(key, (store.get(key) ?? 0) + 1);
        },
      };
    });
    builder
      .stream(topics.events, S)
      .join(
        table,
        (_key, value) => value.split('|')[0]!,
        (event, profile) => `${event}@${profile}`,
      )
      .to(topics.out, S);
    const streams = streamsOnStack(builder.build(), { applicationId: prefix, stateDir }, { onFatal: fatal });
    await streams.start();
    return streams;
  };
  /**
   * Events all have one key, so one task reads them in order; each value is "<profile>|<id>" and the
   * join writes "<profile>|<id>@<row>". Sends one for `profile` and waits for its output.
   */
  let sent = 0;
  const send = async (profile: string) => {
    const event = `${profile}|e${sent++}`;
    await producer.send({ topic: topics.events, messages: [{ key: 'events', value: event }] });
    return event;
  };
  const outputOf = async (event: string) => {
    const seen: string[] = [];
    await readTopic(topics.out, (m) => {
      const value = m.value!.toString();
      if (value.startsWith(`${event}@`)) seen.push(value.slice(event.length + 1));
    });
    return seen;
  };
  const joinsTo = async (profile: string, expected: string | null) => {
    const event = await send(profile);
    if (expected === null) {
      // An inner join without a row gives nothing: the next event's output proves this one was processed.
      const next = await send('p1');
      await eventually(`${next} joined`, 60_000, async () => ((await outputOf(next)).length > 0 ? true : undefined));
      t.same(await outputOf(event), [], `${profile} has no row: no output`);
      return;
    }
    await eventually(`${event} joined with ${expected}`, 60_000, async () =>
      (await outputOf(event)).length > 0 ? true : undefined,
    );
    t.same(await outputOf(event), [expected], `${profile} joins its row ${expected}`);
  };

  let streams = await start();
  t.same([renamesOf('r1'), renamesOf('r2')], [3, 1], "restored through the store's processor");
  await joinsTo('p7', 'v0-7');
  await joinsTo('p299', 'v0-299');

  // Followed while running: each update reaches the join eventually (global tables are not
  // synchronized with the stream, as in Kafka Streams), so the event is sent again until it does.
  await profiles([['p7', 'v1-7']]);
  await eventually('the update of p7 to reach the join', 60_000, async () => {
    const event = await send('p7');
    await new Promise((resolve) => setTimeout(resolve, 300));
    return (await outputOf(event)).includes('v1-7') ? true : undefined;
  });

  await renames(['r2']);
  await eventually('the processor to follow its topic', 60_000, async () => (renamesOf('r2') === 2 ? true : undefined));

  await streams.stop();
  // Written while no instance runs: the restart's restore starts from the stored positions.
  await profiles([
    ['p8', 'v2-8'],
    ['p9', null],
  ]);
  await renames(['r1', 'r3']);
  streams = await start();
  t.same(
    [renamesOf('r1'), renamesOf('r2'), renamesOf('r3')],
    [4, 2, 1],
    'after the restart, only the records written meanwhile went through the processor',
  );
  t.teardown(() => streams.stop());
  await joinsTo('p8', 'v2-8');
  await joinsTo('p9', null);
  await joinsTo('p7', 'v1-7');

  // The global store over HTTP (src/query/store-routes.ts): any key, and ranges, from this instance.
  const app = Fastify();
  t.teardown(() => app.close());
  await app.register(storeRoutes, { streams });
  const get = async (url: string) => {
    const answer = await app.inject({ method: 'GET', url });
    return { status: answer.statusCode, body: answer.json() as Record<string, unknown> };
  };
  t.same((await get('/stores/profiles/keys/p8')).body, { key: 'p8', value: 'v2-8' }, 'a row of the global store');
  t.equal((await get('/stores/profiles/keys/p9')).status, 404, 'a deleted row is gone');
  const page = (await get('/stores/profiles/range?prefix=p29&limit=20')).body as {
    rows: Array<{ key: string }>;
    partial: boolean;
  };
  t.same(
    page.rows.map((r) => r.key),
    ['p29', ...Array.from({ length: 10 }, (_, i) => `p29${i}`)],
    'a prefix range of the global store, whole from one instance',
  );
  t.equal(page.partial, false);

  // The store's processor throws on a record: the instance stops (as Kafka Streams' client does when its
  // global thread dies), the store left before that record.
  await producer.send({ topic: topics.renames, messages: [{ key: 'r2', value: 'poison' }] });
  await eventually('the instance to stop', 60_000, async () => (streams.state === 'stopped' ? true : undefined));
  t.match(
    fatalErrors.map((e) => e.message),
    [/processor of global store renames failed on .*-renames-\d@\d+: cannot take r2/],
  );
  t.pass('restored, followed, continued');
});
