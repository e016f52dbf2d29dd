// One kafkajs admin client serves the whole engine, and its calls run concurrently. Unpatched,
// fetchTopicMetadata({ topics }) replaced the client's cached metadata with just those topics, and a
// concurrent offsets call for another topic then found no partitions: committed offsets came back
// empty (a task took that for "nothing committed" and reprocessed its input on top of its restored
// state, counting it twice) and fetchTopicOffsets threw "Cannot destructure property 'partitions' of
// 'low.pop(...)'". patches/kafkajs keeps the cache listing every topic asked about; this drives the
// interleaving that showed it (both answers arriving while the event loop is busy).
import t from 'tap';
import { committedOffsets, endOffsets } from '../../src/kafka/admin.js';
import { KafkajsAdmin } from '../../src/kafka/kafkajs/admin.js';
import { createTopics, kafka } from '../support/kafka.js';
import { uniqueName } from '../support/stack.js';

const PARTITIONS = 4;
const ROUNDS = 100;

/** Blocks the event loop, so that the answers to requests in flight arrive together. */
function busy(ms: number): void {
  const end = Date.now() + ms;
  while (Date.now() < end);
}

async function turns(n: number): Promise<void> {
  for (let i = 0; i < n; i++) await new Promise((resolve) => setImmediate(resolve));
}

t.test('offsets calls answer for every partition while metadata of other topics is fetched', async (t) => {
  const [topic, other, third, groupId] = ['meta-race', 'meta-other', 'meta-third', 'meta-race-group'].map(uniqueName);
  await createTopics([topic!, other!, third!], PARTITIONS);
  const admin = kafka.admin();
  await admin.connect();
  t.teardown(() => admin.disconnect());
  const cluster = new KafkajsAdmin(admin); // the engine's view of the same kafkajs client
  const partitions = [...Array(PARTITIONS).keys()];
  await admin.setOffsets({
    groupId: groupId!,
    topic: topic!,
    partitions: partitions.map((p) => ({ partition: p, offset: '5' })),
  });

  const calls: Record<string, () => Promise<string>> = {
    'kafkajs fetchOffsets': async () => {
      const [result] = await admin.fetchOffsets({ groupId: groupId!, topics: [topic!] });
      return (result?.partitions ?? [])
        .map((p) => `${p.partition}:${p.offset}`)
        .sort()
        .join(',');
    },
    'kafkajs fetchTopicOffsets': async () =>
      (await admin.fetchTopicOffsets(topic!))
        .map((p) => `${p.partition}:${p.high}`)
        .sort()
        .join(','),
    committedOffsets: async () =>
      [...(await committedOffsets(cluster, groupId!, topic!))]
        .map(([p, o]) => `${p}:${o}`)
        .sort()
        .join(','),
    endOffsets: async () =>
      [...(await endOffsets(cluster, topic!))]
        .map(([p, o]) => `${p}:${o}`)
        .sort()
        .join(','),
  };
  const expected: Record<string, string> = {
    'kafkajs fetchOffsets': partitions.map((p) => `${p}:5`).join(','),
    'kafkajs fetchTopicOffsets': partitions.map((p) => `${p}:0`).join(','),
    committedOffsets: partitions.map((p) => `${p}:5`).join(','),
    endOffsets: partitions.map((p) => `${p}:0`).join(','),
  };
  for (const [name, call] of Object.entries(calls)) {
    const wrong: string[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      await admin.fetchTopicMetadata({ topics: [other!] }); // the cache now lists `other` and not `third`
      const answer = call().catch((error: unknown) => `error: ${String(error)}`);
      await turns(round % 5); // the offsets call's own requests go out at varying points
      const concurrent = admin.fetchTopicMetadata({ topics: [third!] });
      busy(30);
      const [got] = await Promise.all([answer, concurrent]);
      if (got !== expected[name]) wrong.push(got);
    }
    t.same(wrong, [], `${name}: all ${ROUNDS} answers list every partition (wrong: ${wrong.length})`);
  }
});
