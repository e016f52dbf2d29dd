// Which transactions of other producers are hanging, and how each is ended (exactly_once_v2, where a
// task's previous owner wrote with its instance's producer). The Kafka requests are stood in for;
// the requests themselves are tested on the broker in test/integration/kafka-hanging-transactions.test.ts.
import t, { type Test } from 'tap';
import type * as HangingModule from '../../src/kafka/hanging-transactions.js';
import type { ActiveProducer, PartitionRef, TransactionState } from '../../src/kafka/transaction-admin.js';
import * as transactionLog from '../../src/kafka/transaction-log.js';
import { TransactionStatus, type TransactionLogEntry } from '../../src/kafka/transaction-log.js';
import { createLogger } from '../../src/util/logger.js';

const broker = { host: '127.0.0.1', port: 1 };
const open = (producerId: bigint, producerEpoch: number, start: bigint): ActiveProducer => ({
  producerId,
  producerEpoch,
  coordinatorEpoch: 3,
  currentTxnStartOffset: start,
  lastTimestamp: 1_000_000,
  lastSequence: 0,
});
const state = (s: string, producerId: bigint, producerEpoch: number, partitions: string[] = []): TransactionState => ({
  errorCode: 0,
  state: s,
  producerId,
  producerEpoch,
  partitions: new Set(partitions),
});
const entry = (
  producerId: bigint,
  producerEpoch: number,
  status: TransactionStatus,
  partitions: string[],
): TransactionLogEntry => ({
  transactionalId: `id-${producerId}`,
  producerId,
  producerEpoch,
  status,
  partitions: new Set(partitions),
});

/** The module with the Kafka requests stood in for: what the partitions show at each look, the coordinators' states, the log. */
async function hangingModule(
  t: Test,
  looks: Array<Map<string, ActiveProducer[]>>,
  states: Record<string, TransactionState>,
  log: TransactionLogEntry[] | Error,
  markers: Array<{ producerId: bigint; producerEpoch: number; commit: boolean; partitions: string[] }>,
) {
  let look = 0;
  return t.mockImport<typeof HangingModule>('../../src/kafka/hanging-transactions.js', {
    '../../src/kafka/transaction-admin.js': {
      describeProducers: async (_leader: unknown, refs: PartitionRef[]) => {
        const now = looks[Math.min(look++, looks.length - 1)]!;
        return new Map(refs.map((r) => [`${r.topic}:${r.partition}`, now.get(`${r.topic}:${r.partition}`) ?? []]));
      },
      listTransactions: async (_broker: unknown, ids: bigint[]) =>
        ids
          .filter((id) => states[`id-${id}`])
          .map((producerId) => ({ transactionalId: `id-${producerId}`, producerId, state: 'x' })),
      findTransactionCoordinator: async () => broker,
      describeTransaction: async (_coordinator: unknown, transactionalId: string) => states[transactionalId],
      writeTxnMarkers: async (
        _leader: unknown,
        m: { producerId: bigint; producerEpoch: number; commit: boolean },
        refs: PartitionRef[],
      ) => {
        markers.push({ ...m, partitions: refs.map((r) => `${r.topic}:${r.partition}`) });
      },
    },
    '../../src/kafka/transaction-log.js': {
      ...transactionLog,
      readTransactionLog: async (_admin: unknown, ids: string[]) => {
        if (log instanceof Error) throw log;
        return log.filter((e) => ids.includes(e.transactionalId));
      },
    },
  });
}

const admin = {
  brokers: async () => [{ nodeId: 1, ...broker }],
  topicMetadata: async () => [
    { name: 't', partitions: [0, 1, 2, 3, 4, 5, 6, 7].map((partition) => ({ partition, leader: 1 })) },
  ],
} as unknown as Parameters<typeof HangingModule.endHangingTransactions>[0]; // only the two calls above are used
const partitions = [0, 1, 2, 3, 4, 5, 6, 7].map((partition) => ({ topic: 't', partition }));

// What the partitions show at the first look, and at the second look just before the markers.
const firstLook = new Map<string, ActiveProducer[]>([
  ['t:0', [open(10n, 0, 5n)]], // under way: left alone
  ['t:1', [open(11n, 0, 7n), open(14n, 0, -1n)]], // aborted by its coordinator's timeout (epoch bumped)
  ['t:2', [open(12n, 2, 9n)]], // committed, markers lost
  ['t:3', [open(13n, 0, 4n)]], // no transactional id known: left alone
  ['t:4', [open(15n, 0, 2n)]], // ended meanwhile, and another began: left alone
  ['t:5', [open(16n, 1, 8n)]], // same epoch, another transaction under way, no decision on t:5 logged
  ['t:6', [open(17n, 0, 3n)]], // committed, then the producer moved to a new epoch (the churn test's case)
  ['t:7', [open(18n, 0, 6n)]], // committed, then a later transaction of the same epoch aborted
]);
const secondLook = new Map<string, ActiveProducer[]>([
  ['t:1', [open(11n, 0, 7n)]],
  ['t:2', [open(12n, 2, 9n)]],
  ['t:4', [open(15n, 0, 30n)]],
  ['t:5', [open(16n, 1, 8n)]],
  ['t:6', [open(17n, 0, 3n)]],
  ['t:7', [open(18n, 0, 6n)]],
]);
const states: Record<string, TransactionState> = {
  'id-10': state('Ongoing', 10n, 0, ['t:0']),
  'id-11': state('CompleteAbort', 11n, 1),
  'id-12': state('CompleteCommit', 12n, 2),
  'id-14': state('Empty', 14n, 0),
  'id-15': state('CompleteAbort', 15n, 1),
  'id-16': state('Ongoing', 16n, 1, ['t:9']),
  'id-17': state('Empty', 17n, 1),
  'id-18': state('CompleteAbort', 18n, 0),
};
const log = [
  entry(11n, 0, TransactionStatus.Ongoing, ['t:1']),
  entry(11n, 1, TransactionStatus.PrepareAbort, ['t:1']), // the timeout's abort carries the next epoch
  entry(12n, 2, TransactionStatus.PrepareCommit, ['t:2', 't:9']),
  entry(16n, 1, TransactionStatus.Ongoing, ['t:9']),
  entry(17n, 0, TransactionStatus.PrepareCommit, ['t:6', 't:8']),
  entry(17n, 0, TransactionStatus.CompleteCommit, []),
  entry(17n, 1, TransactionStatus.Empty, []),
  entry(18n, 0, TransactionStatus.PrepareCommit, ['t:7']),
  entry(18n, 0, TransactionStatus.Ongoing, ['t:8']),
  entry(18n, 0, TransactionStatus.PrepareAbort, ['t:8']),
];

t.test(
  'only transactions their coordinator no longer has under way are ended, as its log says they were decided',
  async (t) => {
    const markers: Array<{ producerId: bigint; producerEpoch: number; commit: boolean; partitions: string[] }> = [];
    const { endHangingTransactions } = await hangingModule(t, [firstLook, secondLook], states, log, markers);
    const ended = await endHangingTransactions(admin, partitions, createLogger('error'));
    t.same(
      ended.map((h) => [h.partition, h.commit]),
      [
        [1, false],
        [2, true],
        [6, true],
        [7, true],
      ],
      'the timed-out transaction is aborted; the committed ones committed, also after the producer moved on',
    );
    t.same(
      markers.map((m) => [m.producerId, m.producerEpoch, m.commit, m.partitions]),
      [
        [11n, 0, false, ['t:1']],
        [12n, 2, true, ['t:2']],
        [17n, 0, true, ['t:6']],
        [18n, 0, true, ['t:7']],
      ],
      'markers with the open transaction epoch, nothing for the others',
    );
  },
);

t.test(
  'where the transaction log cannot be read, only a decided transaction of the current epoch is ended',
  async (t) => {
    const markers: Array<{ producerId: bigint; producerEpoch: number; commit: boolean; partitions: string[] }> = [];
    const { endHangingTransactions } = await hangingModule(
      t,
      [firstLook, secondLook],
      states,
      new Error('TOPIC_AUTHORIZATION_FAILED'),
      markers,
    );
    const ended = await endHangingTransactions(admin, partitions, createLogger('error'));
    t.same(
      ended.map((h) => [h.partition, h.commit]),
      [
        [2, true],
        [7, false],
      ],
      'the moved-on producers (t:1, t:6) are left; t:7 gets the weaker rule (its epoch ended in an abort)',
    );
  },
);

t.test('a task waits for the markers of decided transactions, not for transactions still under way', async (t) => {
  // Looks at the changelog partitions: a commit's marker still on its way to c:0 (its coordinator is
  // writing them), a zombie's transaction under way on c:1 the whole time.
  const looks = [
    new Map([
      ['c:0', [open(20n, 4, 10n)]],
      ['c:1', [open(21n, 0, 3n)]],
    ]),
    new Map([
      ['c:0', [open(20n, 4, 10n)]],
      ['c:1', [open(21n, 0, 3n)]],
    ]),
    new Map([['c:1', [open(21n, 0, 3n)]]]),
  ];
  const load = async (stuck: boolean) => {
    let look = 0;
    const module = await t.mockImport<typeof HangingModule>('../../src/kafka/hanging-transactions.js', {
      '../../src/kafka/transaction-admin.js': {
        describeProducers: async (_leader: unknown, refs: PartitionRef[]) => {
          const now = looks[stuck ? 0 : Math.min(look++, looks.length - 1)]!;
          return new Map(refs.map((r) => [`${r.topic}:${r.partition}`, now.get(`${r.topic}:${r.partition}`) ?? []]));
        },
        listTransactions: async (_broker: unknown, ids: bigint[]) =>
          ids.map((producerId) => ({ transactionalId: `id-${producerId}`, producerId, state: 'x' })),
        findTransactionCoordinator: async () => broker,
        describeTransaction: async (_coordinator: unknown, transactionalId: string) =>
          ({
            'id-20': state('PrepareCommit', 20n, 4, ['c:0']),
            'id-21': state('Ongoing', 21n, 0, ['c:1']),
          })[transactionalId],
        writeTxnMarkers: async () => t.fail('no marker is written here'),
      },
    });
    return { module, looks: () => look };
  };
  const admin = {
    brokers: async () => [{ nodeId: 1, ...broker }],
    topicMetadata: async () => [{ name: 'c', partitions: [0, 1].map((partition) => ({ partition, leader: 1 })) }],
  } as unknown as Parameters<typeof HangingModule.awaitDecidedMarkers>[0]; // only the two calls above are used
  const changelogs = [0, 1].map((partition) => ({ topic: 'c', partition }));

  const waiting = await load(false);
  await waiting.module.awaitDecidedMarkers(admin, changelogs, 5_000, 1);
  t.equal(waiting.looks(), 3, 'returns at the first look without the committing transaction, the zombie still open');

  const stuck = await load(true);
  await t.rejects(
    stuck.module.awaitDecidedMarkers(admin, changelogs, 20, 1),
    /markers of decided transactions still missing after 20 ms on c-0 \(producer 20\)/,
    'a marker that never comes fails the task start (it is retried)',
  );
});

t.test(
  "before a failed transaction is aborted, the producer's unmarked committed records are committed where the failed one did not write",
  async (t) => {
    const at = (producerId: bigint, epoch: number, start: bigint, lastSequence: number): ActiveProducer => ({
      ...open(producerId, epoch, start),
      lastSequence,
    });
    const look = new Map<string, ActiveProducer[]>([
      ['t:0', [at(30n, 2, 5n, 9)]], // committed records open (from 5, committed up to 8); nothing written since
      ['t:1', [at(30n, 2, 20n, 6)]], // only the failed transaction's records (from 20, after the committed end 12)
      ['t:2', [at(30n, 2, 3n, 12)]], // the failed one's records joined the committed ones (sequence moved on)
      ['t:3', [at(31n, 0, 3n, 1)]], // another producer
      ['t:4', []], // marked as it should be
    ]);
    const markers: Array<{ producerId: bigint; producerEpoch: number; commit: boolean; partitions: string[] }> = [];
    const { secureCommitted } = await hangingModule(t, [look], {}, [], markers);
    const ended = await secureCommitted(
      admin,
      {
        producerId: 30n,
        producerEpoch: 2,
        partitions: new Map([
          ['t:0', { lastSequence: 9, end: 9n }],
          ['t:1', { lastSequence: 4, end: 12n }],
          ['t:2', { lastSequence: 10, end: 7n }],
          ['t:3', { lastSequence: 1, end: 4n }],
          ['t:4', { lastSequence: 3, end: 6n }],
        ]),
      },
      createLogger('error'),
    );
    t.same(
      ended.map((h) => [h.partition, h.commit]),
      [[0, true]],
      "committed where only committed records are open; the failed transaction's own and joined ones are left",
    );
    t.same(
      markers.map((m) => [m.producerId, m.producerEpoch, m.commit, m.partitions]),
      [[30n, 2, true, ['t:0']]],
    );
  },
);
