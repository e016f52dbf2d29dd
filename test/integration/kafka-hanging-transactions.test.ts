// Ending a transaction Kafka left open, on the real broker. A single broker that restarts can
// abort a transaction without writing its markers (the churn test caught it: the coordinator
// "couldn't find leader endpoint" while the broker did not count itself alive yet); the records
// then hold back read_committed readers and later read as committed. Here the hanging state is
// made by leaving a transaction open (from the partition's side that is the same: records with no
// marker), and the repair must end it as the coordinator decided.
import t, { type Test } from 'tap';
import { createKafkaClient } from '../../src/kafka/client.js';
import {
  endHangingTransactions,
  HangingTransactions,
  offsetsPartitionOf,
} from '../../src/kafka/hanging-transactions.js';
import {
  describeProducers,
  describeTransaction,
  findTransactionCoordinator,
  listTransactions,
} from '../../src/kafka/transaction-admin.js';
import { initProducerId } from '../../src/kafka/group-transactions.js';
import { decidedOutcome, readTransactionLog, TransactionStatus } from '../../src/kafka/transaction-log.js';
import { createLogger } from '../../src/util/logger.js';
import { createTopics, kafka as testKafka, readTable } from '../support/kafka.js';
import { eventually, stack, uniqueName } from '../support/stack.js';

const kafka = createKafkaClient({
  brokers: stack.kafkaBrokers,
  clientId: 'hanging-test',
  logger: createLogger('error'),
});

/** A new two-partition topic, a connected admin client and a fresh transactional id, for one test. */
async function setUp(t: Test, name: string, idPrefix: string) {
  const topic = uniqueName(name);
  await createTopics([topic], 2);
  const transactionalId = uniqueName(idPrefix);
  const admin = kafka.admin();
  await admin.connect();
  t.teardown(() => admin.disconnect());
  return { topic, transactionalId, admin };
}

t.test("the coordinator's decisions are read from its log, and an undecided transaction is not ended", async (t) => {
  const { topic, transactionalId, admin } = await setUp(t, 'hanging', 'task');
  const since = Date.now() - 60_000;

  const producer = testKafka.producer({ transactionalId, maxInFlightRequests: 1, transactionTimeout: 600_000 });
  await producer.connect();
  t.teardown(() => producer.disconnect());
  const committed = await producer.transaction();
  await committed.send({ topic, messages: [{ partition: 0, key: 'kept', value: 'v' }] });
  await committed.commit();
  const open = await producer.transaction();
  await open.send({ topic, messages: [{ partition: 1, key: 'open', value: 'v' }] });

  const hanging = new HangingTransactions(admin, transactionalId, createLogger('error'));
  const state = await hanging.state();
  t.equal(state.state, 'Ongoing', 'the coordinator sees the open transaction');
  const [address] = stack.kafkaBrokers.map((b) => ({ host: b.split(':')[0]!, port: Number(b.split(':')[1]) }));
  const listed = await describeProducers(address!, [{ topic, partition: 1 }]);
  t.ok(
    listed.get(`${topic}:1`)?.some((p) => p.producerId === state.producerId && p.currentTxnStartOffset >= 0n),
    'the partition leader lists our producer with an open transaction',
  );

  // Told (wrongly) that the transaction was aborted, the repair still does not end it: the
  // coordinator's log holds no decision on it, and guessing could lose a committed transaction.
  const ended = await hanging.repair({ ...state, state: 'CompleteAbort' }, [
    { topic, partition: 0 },
    { topic, partition: 1 },
  ]);
  t.same(ended, [], 'nothing is ended');

  // A new incarnation fences the producer: the coordinator aborts the open transaction with the next epoch.
  const fenced = await initProducerId(
    await findTransactionCoordinator(address!, transactionalId),
    transactionalId,
    60_000,
  );
  t.ok(fenced.producerEpoch > state.producerEpoch, 'the new incarnation has a newer epoch');
  const entries = await readTransactionLog(admin, [transactionalId], since, 'hanging-test');
  t.ok(entries.length >= 4, `the log holds the transactional id's states (${entries.length})`);
  t.equal(decidedOutcome(entries, state.producerId, state.producerEpoch, `${topic}:0`), 'commit', 'p0: committed');
  t.equal(
    decidedOutcome(entries, state.producerId, state.producerEpoch, `${topic}:1`),
    'abort',
    'p1: aborted by the fence',
  );
  t.ok(
    entries.some((e) => e.status === TransactionStatus.PrepareAbort && e.producerEpoch === state.producerEpoch + 1),
    'the fence wrote its abort with the next epoch',
  );
  t.same(
    [...(await readTable(topic)).keys()],
    ['kept'],
    'read_committed reads to the end; the aborted record is not there',
  );
});

// Under exactly_once_v2 a task looks at every producer's open transactions on the partitions it
// writes; one its coordinator still has under way there must be left alone (waited for).
t.test("another producer's transaction under way is found and left alone", async (t) => {
  const { topic, transactionalId, admin } = await setUp(t, 'under-way', 'instance');
  const producer = testKafka.producer({ transactionalId, maxInFlightRequests: 1 });
  await producer.connect();
  t.teardown(() => producer.disconnect());
  const open = await producer.transaction();
  await open.send({ topic, messages: [{ partition: 1, key: 'under-way', value: 'v' }] });

  const { producerId } = await new HangingTransactions(admin, transactionalId, createLogger('error')).state();
  const [address] = stack.kafkaBrokers.map((b) => ({ host: b.split(':')[0]!, port: Number(b.split(':')[1]) }));
  const listed = await listTransactions(address!, [producerId]);
  t.same(
    listed.map((l) => [l.transactionalId, l.state]),
    [[transactionalId, 'Ongoing']],
    'ListTransactions finds the transactional id of the producer id',
  );
  const coordinator = await findTransactionCoordinator(address!, transactionalId);
  t.ok(
    (await describeTransaction(coordinator, transactionalId)).partitions.has(`${topic}:1`),
    'DescribeTransactions lists the partition in the transaction',
  );
  const ended = await endHangingTransactions(
    admin,
    [
      { topic, partition: 0 },
      { topic, partition: 1 },
    ],
    createLogger('error'),
  );
  t.same(ended, [], 'nothing is ended');
  await open.commit();
  // commit() returns once the coordinator has decided; the markers, and so the record's visibility, follow.
  const committed = await eventually('the committed record to be readable', 10_000, async () => {
    const keys = [...(await readTable(topic)).keys()];
    return keys.length > 0 ? keys : undefined;
  }).catch(() => [] as string[]);
  t.same(committed, ['under-way'], 'and the transaction commits as its producer decides');
});

t.test('helpers', async (t) => {
  // Java's "my-group".hashCode() is -1906497762; Kafka's Utils.abs (Math.abs) % 50 is 12.
  t.equal(offsetsPartitionOf('my-group', 50), 12);
  const coordinator = await findTransactionCoordinator(
    { host: stack.kafkaBrokers[0]!.split(':')[0]!, port: Number(stack.kafkaBrokers[0]!.split(':')[1]) },
    'any-id',
  );
  t.ok(coordinator.port > 0, 'the transaction coordinator is found');
});
