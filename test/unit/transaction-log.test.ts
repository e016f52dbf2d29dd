// Reading Kafka's transaction log: its partitioning, its key and value encodings (versions 0 and 1,
// as the coordinator writes them), and which decision ends a transaction left open on a partition.
// Reading it from the broker is tested in test/integration/kafka-hanging-transactions.test.ts.
import t from 'tap';
import {
  coordinatorPartitionOf,
  decidedOutcome,
  decodeTransactionLogKey,
  decodeTransactionLogValue,
  TransactionStatus,
  type TransactionLogEntry,
} from '../../src/kafka/transaction-log.js';
import { Writer } from '../../src/kafka/wire-codec.js';

t.test("Kafka's partition of a key: Utils.abs(hashCode) % partitions", async (t) => {
  // Java: "my-group".hashCode() == -1906497762, Math.abs gives 1906497762.
  t.equal(coordinatorPartitionOf('my-group', 50), 12);
  // Java: "churn-mx9xjphj-j56uzv".hashCode() == 1936588096.
  t.equal(coordinatorPartitionOf('churn-mx9xjphj-j56uzv', 10), 6);
  // A string whose hash is Integer.MIN_VALUE ("polygenelubricants") goes to partition 0.
  t.equal(coordinatorPartitionOf('polygenelubricants', 7), 0);
});

t.test('keys and values of both versions decode', async (t) => {
  t.equal(decodeTransactionLogKey(new Writer().int16(0).string('app-1').buffer), 'app-1');
  t.equal(decodeTransactionLogKey(new Writer().int16(1).string('x').buffer), undefined, 'a key of another kind');

  const v0 = new Writer()
    .int16(0)
    .int64(2011n)
    .int16(3)
    .int32(60_000)
    .int8(TransactionStatus.PrepareCommit)
    .int32(2)
    .string('a')
    .int32(2)
    .int32(0)
    .int32(4)
    .string('__consumer_offsets')
    .int32(1)
    .int32(6)
    .int64(1n)
    .int64(2n).buffer;
  t.same(decodeTransactionLogValue('app-1', v0), {
    transactionalId: 'app-1',
    producerId: 2011n,
    producerEpoch: 3,
    status: TransactionStatus.PrepareCommit,
    partitions: new Set(['a:0', 'a:4', '__consumer_offsets:6']),
  });

  const v1 = new Writer().int16(1).int64(7n).int16(0).int32(60_000).int8(TransactionStatus.PrepareAbort);
  v1.compactArray([['b', [1, 2]] as const], ([topic, ids]) => {
    v1.compactString(topic)
      .compactArray(ids, (id) => v1.int32(id))
      .noTags();
  });
  v1.int64(1n).int64(2n);
  // Tagged fields: PreviousProducerId (tag 0) and ClientTransactionVersion (tag 2).
  v1.uvarint(2).uvarint(0).uvarint(8).int64(5n).uvarint(2).uvarint(2).int16(1);
  t.same(decodeTransactionLogValue('app-2', v1.buffer), {
    transactionalId: 'app-2',
    producerId: 7n,
    producerEpoch: 0,
    status: TransactionStatus.PrepareAbort,
    partitions: new Set(['b:1', 'b:2']),
  });

  const empty = new Writer().int16(0).int64(7n).int16(0).int32(60_000).int8(TransactionStatus.Empty).int32(-1);
  t.same(decodeTransactionLogValue('app-3', empty.int64(1n).int64(2n).buffer).partitions, new Set(), 'null partitions');
  t.throws(() => decodeTransactionLogValue('app-4', new Writer().int16(2).buffer), /version 2 is not known/);
});

t.test('the last decision that included the partition, at the open epoch or later, ends it', async (t) => {
  const e = (epoch: number, status: TransactionStatus, partitions: string[], producerId = 9n): TransactionLogEntry => ({
    transactionalId: 'x',
    producerId,
    producerEpoch: epoch,
    status,
    partitions: new Set(partitions),
  });
  const log = [
    e(0, TransactionStatus.Ongoing, ['t:0']),
    e(0, TransactionStatus.PrepareCommit, ['t:0', 't:1']),
    e(0, TransactionStatus.CompleteCommit, []),
    e(0, TransactionStatus.Ongoing, ['t:1']),
    e(1, TransactionStatus.PrepareAbort, ['t:1']), // a fence: the abort has the next epoch
    e(1, TransactionStatus.CompleteAbort, []),
    e(1, TransactionStatus.PrepareCommit, ['t:2'], 10n), // another producer id
  ];
  t.equal(decidedOutcome(log, 9n, 0, 't:0'), 'commit');
  t.equal(decidedOutcome(log, 9n, 0, 't:1'), 'abort', 'the later decision on t:1 wins');
  t.equal(decidedOutcome(log, 9n, 1, 't:0'), undefined, 'no decision on t:0 at epoch 1 or later');
  t.equal(decidedOutcome(log, 9n, 0, 't:2'), undefined, "another producer's decision does not count");
  t.equal(decidedOutcome(log, 9n, 0, 't:3'), undefined, 'nothing on t:3');
});
