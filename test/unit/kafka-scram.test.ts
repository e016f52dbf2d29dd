// SCRAM's client side (src/kafka/scram.ts): RFC 7677's SHA-256 example, and SHA-512 against a server computed here.
import { randomBytes } from 'node:crypto';
import t from 'tap';
import { ScramClient, ScramError } from '../../src/kafka/scram.js';
import { scramServer as server } from '../support/scram-server.js';

t.test("RFC 7677's SCRAM-SHA-256 example, message for message", async (t) => {
  const client = new ScramClient('sha256', 'user', 'pencil', 'rOprNGfwEbeRWgbNEkqO');
  t.equal(client.first(), 'n,,n=user,r=rOprNGfwEbeRWgbNEkqO');
  const final = await client.final(
    'r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096',
  );
  t.equal(
    final,
    'c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=',
  );
  t.doesNotThrow(() => client.verify('v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4='), 'the server signature checks');
  t.throws(
    () => client.verify('v=AAAATRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4='),
    /signature is wrong/,
    'a server that does not know the keys is refused',
  );
});

t.test('SCRAM-SHA-512: a round trip with a server that knows the credentials', async (t) => {
  const broker = server('s3cret, with = and ,');
  const client = new ScramClient('sha512', 'uis', 's3cret, with = and ,');
  const serverFinal = broker.final(await client.final(broker.first(client.first())));
  t.ok(serverFinal, "the server accepts the client's proof");
  t.doesNotThrow(() => client.verify(serverFinal!), "and the client accepts the server's signature");

  const wrong = new ScramClient('sha512', 'uis', 'not the password');
  const other = server('s3cret, with = and ,');
  t.equal(
    other.final(await wrong.final(other.first(wrong.first()))),
    undefined,
    'a wrong password gives a wrong proof',
  );

  const impostor = server('another password');
  const victim = new ScramClient('sha512', 'uis', 's3cret, with = and ,');
  await victim.final(impostor.first(victim.first()));
  const forged = `v=${randomBytes(64).toString('base64')}`;
  t.throws(() => victim.verify(forged), ScramError, 'a server without the keys cannot pass');
});

t.test('what the client refuses from a server', async (t) => {
  const client = () => new ScramClient('sha512', 'a,b=c', 'pw', 'abc');
  t.equal(client().first(), 'n,,n=a=2Cb=3Dc,r=abc', "',' and '=' in the user name are escaped");
  await t.rejects(client().final('r=xyz123,s=AAAA,i=4096'), /does not extend ours/, 'a nonce not built on ours');
  await t.rejects(client().final('r=abc,s=AAAA,i=4096'), /does not extend ours/, 'a nonce the server added nothing to');
  await t.rejects(client().final('r=abcdef,s=AAAA,i=1024'), /fewer than 4096/, 'too few iterations');
  await t.rejects(client().final('e=unknown-user'), /the server refused: unknown-user/);
  await t.rejects(client().final('r=abcdef'), /malformed/);
  t.throws(() => client().verify('v=AAAA'), /before final/);
  t.throws(() => client().verify('e=invalid-proof'), /the server refused: invalid-proof/);
});
