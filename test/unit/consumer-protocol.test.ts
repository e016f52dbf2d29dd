// The consumer protocol's member data, as our assignor and group plan encode and read it, is
// byte for byte what kafkajs writes and reads, so members on either client join the same group.
import t from 'tap';
import { AssignerProtocol } from 'kafkajs';
import {
  decodeAssignment,
  decodeSubscription,
  encodeAssignment,
  encodeSubscription,
} from '../../src/kafka/consumer-protocol.js';

t.test('a subscription encodes as kafkajs encodes it, and reads back', async (t) => {
  const subscription = {
    version: 2,
    topics: ['cdc.public.users', 'app-repartition'],
    userData: Buffer.from('{"v":2}'),
  };
  const ours = encodeSubscription(subscription);
  t.same(ours, AssignerProtocol.MemberMetadata.encode(subscription));
  t.same(decodeSubscription(ours), subscription);
  t.same(decodeSubscription(encodeSubscription({ ...subscription, userData: null }))?.userData, null);
  t.equal(decodeSubscription(Buffer.alloc(0)), undefined, 'a member with no metadata');
});

t.test('an assignment encodes as kafkajs encodes it, and kafkajs reads ours', async (t) => {
  const assignment = {
    version: 2,
    partitions: { users: [0, 3, 5], tweets: [1] },
    userData: Buffer.from('{"standby":[]}'),
  };
  const ours = encodeAssignment(assignment);
  t.same(ours, AssignerProtocol.MemberAssignment.encode({ ...assignment, assignment: assignment.partitions }));
  t.same(AssignerProtocol.MemberAssignment.decode(ours)?.assignment, assignment.partitions);
  t.same(decodeAssignment(ours), assignment);
  t.same(decodeAssignment(encodeAssignment({ version: 0, partitions: {}, userData: null })), {
    version: 0,
    partitions: {},
    userData: null,
  });
});

t.test('fields later versions append after the user data are left alone', async (t) => {
  const base = encodeSubscription({ version: 3, topics: ['a'], userData: Buffer.from('u') });
  const owned = Buffer.from([0, 0, 0, 0]); // an empty owned-partitions array (version 1 and later)
  t.same(decodeSubscription(Buffer.concat([base, owned])), { version: 3, topics: ['a'], userData: Buffer.from('u') });
});
