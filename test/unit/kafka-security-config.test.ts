// The service's Kafka security options: PLAINTEXT by default, SSL and SASL_SSL checked at start,
// the password from a file or the environment and never in a message.
import t from 'tap';
import { ConfigError, loadConfig } from '../../src/service/config.js';
import { describeSecurity } from '../../src/kafka/security.js';

const PEM = '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n';
const PASSWORD = 'hunter2-the-password';

const load = (flags: Record<string, string>, env: NodeJS.ProcessEnv = {}) =>
  loadConfig(new Map(Object.entries(flags)), env);

/** The message a configuration stops with ('' if it loads). */
const problem = (flags: Record<string, string>, env: NodeJS.ProcessEnv = {}) => {
  try {
    load(flags, env);
    return '';
  } catch (error) {
    t.type(error, ConfigError);
    return String(error);
  }
};

t.test('PLAINTEXT by default, unchanged', async (t) => {
  t.equal(load({}).kafkaSecurity, undefined);
  t.equal(load({ 'kafka-security-protocol': 'PLAINTEXT' }).kafkaSecurity, undefined);
  t.same(describeSecurity(undefined), { protocol: 'PLAINTEXT' });
  t.match(
    problem({ 'kafka-security-protocol': 'SASL_PLAINTEXT' }),
    /must be PLAINTEXT, SSL, SASL_SSL, got "SASL_PLAINTEXT"/,
  );
});

t.test('SASL_SSL: from flags, files and the environment', async (t) => {
  const dir = t.testdir({ password: `${PASSWORD}\n`, 'ca.pem': PEM, empty: '', 'not-pem': 'hello' });
  const flags = {
    'kafka-security-protocol': 'SASL_SSL',
    'kafka-sasl-username': 'uis',
    'kafka-sasl-password-file': `${dir}/password`,
    'kafka-ssl-ca-file': `${dir}/ca.pem`,
  };
  t.same(
    load(flags).kafkaSecurity,
    {
      tls: { ca: PEM },
      sasl: { mechanism: 'SCRAM-SHA-512', username: 'uis', password: PASSWORD },
    },
    'SCRAM-SHA-512 by default; the trailing newline is not part of the password',
  );
  t.equal(load({ ...flags, 'kafka-sasl-mechanism': 'scram-sha-256' }).kafkaSecurity?.sasl?.mechanism, 'SCRAM-SHA-256');
  t.same(
    load(
      {},
      {
        UIS_KAFKA_SECURITY_PROTOCOL: 'SASL_SSL',
        UIS_KAFKA_SASL_USERNAME: 'uis',
        UIS_KAFKA_SASL_PASSWORD: PASSWORD,
      },
    ).kafkaSecurity,
    { tls: {}, sasl: { mechanism: 'SCRAM-SHA-512', username: 'uis', password: PASSWORD } },
    "all from the environment, the password itself too; without a CA file, Node's CAs",
  );
  t.same(
    describeSecurity(load(flags).kafkaSecurity),
    { protocol: 'SASL_SSL', mechanism: 'SCRAM-SHA-512', username: 'uis' },
    'what logs show',
  );
  t.notMatch(JSON.stringify(describeSecurity(load(flags).kafkaSecurity)), PASSWORD);

  t.match(
    problem({ ...flags, 'kafka-sasl-username': '' }),
    /--kafka-sasl-username \(or UIS_KAFKA_SASL_USERNAME\) is required with SASL_SSL/,
  );
  const { 'kafka-sasl-username': _u, ...noUser } = flags;
  t.match(problem(noUser), /kafka-sasl-username .* is required with SASL_SSL/, 'no user: the start stops');
  const { 'kafka-sasl-password-file': _p, ...noPassword } = flags;
  t.match(
    problem(noPassword),
    /--kafka-sasl-password-file \(or UIS_KAFKA_SASL_PASSWORD_FILE\), or UIS_KAFKA_SASL_PASSWORD, is required/,
  );
  t.match(problem(flags, { UIS_KAFKA_SASL_PASSWORD: PASSWORD }), /give the SASL password once/);
  t.match(problem({ ...flags, 'kafka-sasl-password-file': `${dir}/missing` }), /cannot read .*missing \(ENOENT\)/);
  t.match(problem({ ...flags, 'kafka-sasl-password-file': `${dir}/empty` }), /empty is empty/);
  t.match(problem({ ...flags, 'kafka-ssl-ca-file': `${dir}/not-pem` }), /holds no PEM certificate/);
  t.match(
    problem({ ...flags, 'kafka-sasl-mechanism': 'GSSAPI' }),
    /must be SCRAM-SHA-512, SCRAM-SHA-256, PLAIN, got "GSSAPI"/,
  );
  for (const message of [problem(noUser), problem(flags, { UIS_KAFKA_SASL_PASSWORD: PASSWORD })])
    t.notMatch(message, PASSWORD, 'no message repeats the password');
});

t.test('SSL: TLS only; SASL settings without SASL_SSL stop the start', async (t) => {
  const dir = t.testdir({ password: PASSWORD, 'ca.pem': PEM });
  t.same(load({ 'kafka-security-protocol': 'SSL', 'kafka-ssl-ca-file': `${dir}/ca.pem` }).kafkaSecurity, {
    tls: { ca: PEM },
  });
  t.same(describeSecurity({ tls: {} }), { protocol: 'SSL' });
  t.match(
    problem({ 'kafka-security-protocol': 'SSL', 'kafka-sasl-username': 'uis' }),
    /--kafka-sasl-username .* needs --kafka-security-protocol SASL_SSL \(it is SSL\)/,
  );
  t.match(
    problem({ 'kafka-sasl-password-file': `${dir}/password` }),
    /needs --kafka-security-protocol SASL_SSL \(it is PLAINTEXT\)/,
  );
  t.match(
    problem({}, { UIS_KAFKA_SASL_PASSWORD: PASSWORD }),
    /UIS_KAFKA_SASL_PASSWORD needs --kafka-security-protocol SASL_SSL/,
  );
  t.match(problem({ 'kafka-ssl-ca-file': `${dir}/ca.pem` }), /needs --kafka-security-protocol SSL or SASL_SSL/);
});
