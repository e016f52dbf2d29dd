// The engine's own connections over TLS and SASL (src/kafka/broker-socket.ts), against a fake broker that
// speaks SaslHandshake v1, SaslAuthenticate v2 and FindCoordinator v3 over TLS.
import { readFileSync } from 'node:fs';
import { createServer, type TLSSocket } from 'node:tls';
import type { AddressInfo } from 'node:net';
import t, { type Test } from 'tap';
import { findCoordinator } from '../../src/kafka/group-transactions.js';
import type { KafkaSecurity } from '../../src/kafka/security.js';
import { BrokerConnection, KafkaAuthenticationError, Reader, Writer } from '../../src/kafka/wire.js';
import { scramServer } from '../support/scram-server.js';

const fixtures = new URL('../fixtures/tls/', import.meta.url);
const cert = readFileSync(new URL('cert.pem', fixtures), 'utf8');
const key = readFileSync(new URL('key.pem', fixtures), 'utf8');

interface FakeBroker {
  port: number;
  /** Requests other than authentication answered, per connection opened. */
  served: number[];
}

/** A broker that knows one user; `impostor`: it does not know the password but pretends to. */
async function fakeBroker(
  t: Test,
  options: { mechanisms: string[]; password: string; impostor?: boolean },
): Promise<FakeBroker> {
  const broker: FakeBroker = { port: 0, served: [] };
  const server = createServer({ key, cert }, (socket: TLSSocket) => {
    const index = broker.served.push(0) - 1;
    let authenticated = false;
    let mechanism = '';
    const scram = scramServer(options.impostor ? 'something else' : options.password);
    let step = 0;
    let buffered = Buffer.alloc(0);
    const send = (correlation: number, flexible: boolean, body: Buffer) => {
      const header = new Writer().int32(correlation);
      const payload = Buffer.concat([(flexible ? header.noTags() : header).buffer, body]);
      socket.write(Buffer.concat([new Writer().int32(payload.length).buffer, payload]));
    };
    const authenticateAnswer = (error: number, message: string | null, bytes: Buffer) => {
      const w = new Writer().int16(error);
      if (message === null) w.uvarint(0);
      else w.compactString(message);
      return w
        .uvarint(bytes.length + 1)
        .push(bytes)
        .int64(0n)
        .noTags().buffer;
    };
    socket.on('data', (chunk: Buffer) => {
      buffered = Buffer.concat([buffered, chunk]);
      while (buffered.length >= 4 && buffered.length >= 4 + buffered.readInt32BE(0)) {
        const r = new Reader(buffered.subarray(4, 4 + buffered.readInt32BE(0)));
        buffered = buffered.subarray(4 + buffered.readInt32BE(0));
        const apiKey = r.int16();
        r.int16(); // version
        const correlation = r.int32();
        r.nullableString(); // client id
        if (apiKey === 17) {
          mechanism = r.nullableString() ?? '';
          const known = options.mechanisms.includes(mechanism);
          const w = new Writer().int16(known ? 0 : 33).int32(options.mechanisms.length);
          for (const m of options.mechanisms) w.string(m);
          send(correlation, false, w.buffer);
          continue;
        }
        r.skipTags();
        if (apiKey === 36) {
          const length = r.uvarint() - 1;
          const bytes = r.b.subarray(r.at, r.at + length).toString();
          if (mechanism === 'PLAIN') {
            authenticated = bytes === `\0uis\0${options.password}`;
            send(
              correlation,
              true,
              authenticateAnswer(authenticated ? 0 : 58, authenticated ? null : 'bad', Buffer.alloc(0)),
            );
          } else if (step++ === 0) {
            send(correlation, true, authenticateAnswer(0, null, Buffer.from(scram.first(bytes))));
          } else {
            let final = scram.final(bytes);
            if (options.impostor) final = `v=${Buffer.alloc(64, 7).toString('base64')}`;
            if (final === undefined) {
              send(
                correlation,
                true,
                authenticateAnswer(58, 'Authentication failed due to invalid credentials', Buffer.alloc(0)),
              );
              socket.end();
              continue;
            }
            authenticated = true;
            send(correlation, true, authenticateAnswer(0, null, Buffer.from(final)));
          }
          continue;
        }
        // Kafka closes a connection that sends a request before authenticating.
        if (!authenticated || apiKey !== 10) return void socket.destroy();
        broker.served[index]!++;
        send(
          correlation,
          true,
          new Writer().int32(0).int16(0).uvarint(0).int32(1).compactString('127.0.0.1').int32(broker.port).noTags()
            .buffer,
        );
      }
    });
    socket.on('error', () => undefined);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  broker.port = (server.address() as AddressInfo).port;
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())));
  return broker;
}

const PASSWORD = 'the-right-password';
const scram512 = (password = PASSWORD): KafkaSecurity => ({
  tls: { ca: cert },
  sasl: { mechanism: 'SCRAM-SHA-512', username: 'uis', password },
});

t.test('SCRAM-SHA-512 over TLS: one-shot calls and a persistent connection', async (t) => {
  const broker = await fakeBroker(t, { mechanisms: ['SCRAM-SHA-512'], password: PASSWORD });
  const address = { host: '127.0.0.1', port: broker.port, security: scram512() };
  const coordinator = await findCoordinator(address, 'group-a', 'group');
  t.same(
    coordinator,
    { host: '127.0.0.1', port: broker.port, security: address.security },
    'answered, and the address it gives keeps the security',
  );

  const connection = new BrokerConnection(address, 'test');
  t.teardown(() => connection.close());
  const request = new Writer().compactString('group-b').int8(0).noTags().buffer;
  for (let i = 0; i < 3; i++) {
    const r = await connection.request(10, 3, request, 5000, true);
    r.int32();
    t.equal(r.int16(), 0, `request ${i + 1} on the authenticated connection`);
  }
  t.same(broker.served, [1, 3], 'authenticated once per connection, before its first request');
});

t.test('what stops a connection, with a clear error', async (t) => {
  const broker = await fakeBroker(t, { mechanisms: ['SCRAM-SHA-512'], password: PASSWORD });
  const at = (security: KafkaSecurity) => ({ host: '127.0.0.1', port: broker.port, security });
  await t.rejects(
    findCoordinator(at(scram512('wrong')), 'g', 'group'),
    {
      name: 'KafkaAuthenticationError',
      message: /refused SASL SCRAM-SHA-512 authentication of user "uis": Authentication failed/,
    },
    'a wrong password',
  );
  await t.rejects(
    findCoordinator(
      at({ ...scram512(), sasl: { mechanism: 'SCRAM-SHA-256', username: 'uis', password: PASSWORD } }),
      'g',
      'group',
    ),
    {
      name: 'KafkaAuthenticationError',
      message: /does not accept SASL mechanism SCRAM-SHA-256 \(it offers SCRAM-SHA-512/,
    },
    'a mechanism the broker does not offer',
  );
  await t.rejects(
    findCoordinator(at({ ...scram512(), tls: {} }), 'g', 'group'),
    { name: 'KafkaAuthenticationError', message: /TLS to 127\.0\.0\.1:\d+ failed: self.signed/ },
    "a certificate not signed by a trusted CA (Node's bundle)",
  );
  const connection = new BrokerConnection(at(scram512('wrong')), 'test');
  await t.rejects(connection.request(10, 3, Buffer.alloc(0), 5000, true), KafkaAuthenticationError);
  t.ok(connection.failed, 'a persistent connection that could not authenticate counts as failed');

  const impostor = await fakeBroker(t, { mechanisms: ['SCRAM-SHA-512'], password: PASSWORD, impostor: true });
  await t.rejects(
    findCoordinator({ host: '127.0.0.1', port: impostor.port, security: scram512() }, 'g', 'group'),
    { name: 'KafkaAuthenticationError', message: /signature is wrong/ },
    'a broker that does not know the credentials cannot pass for one that does',
  );
});

t.test('PLAIN over TLS', async (t) => {
  const broker = await fakeBroker(t, { mechanisms: ['PLAIN'], password: PASSWORD });
  const security: KafkaSecurity = {
    tls: { ca: cert },
    sasl: { mechanism: 'PLAIN', username: 'uis', password: PASSWORD },
  };
  t.equal((await findCoordinator({ host: '127.0.0.1', port: broker.port, security }, 'g', 'group')).port, broker.port);
});
