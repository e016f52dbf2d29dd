/**
 * The service's Kafka security settings (--kafka-security-protocol and the rest): read from flags,
 * environment and files into the one KafkaSecurity object every Kafka client is created with.
 * The password comes from a file or the environment, never from a flag (flags show in `ps`),
 * and no problem message repeats it.
 */
import { readFileSync } from 'node:fs';
import { SASL_MECHANISMS, SECURITY_PROTOCOLS, type KafkaSecurity, type SaslMechanism } from '../kafka/security.js';
import type { Option } from './config.js';

export type KafkaSecurityOption =
  'kafkaSecurityProtocol' | 'kafkaSaslMechanism' | 'kafkaSaslUsername' | 'kafkaSaslPasswordFile' | 'kafkaSslCaFile';

/** The password itself, for deployments that hand secrets over in the environment. */
export const KAFKA_SASL_PASSWORD_ENV = 'UIS_KAFKA_SASL_PASSWORD';

export const KAFKA_SECURITY_OPTIONS: Record<KafkaSecurityOption, Option> = {
  kafkaSecurityProtocol: {
    flag: 'kafka-security-protocol',
    env: 'UIS_KAFKA_SECURITY_PROTOCOL',
    default: 'PLAINTEXT',
    help: "PLAINTEXT, SSL (TLS) or SASL_SSL (TLS, then SASL authentication): how every Kafka connection is made (the local stack's SASL_SSL listener is on 9094)",
  },
  kafkaSaslMechanism: {
    flag: 'kafka-sasl-mechanism',
    env: 'UIS_KAFKA_SASL_MECHANISM',
    default: 'SCRAM-SHA-512',
    help: `with SASL_SSL: ${SASL_MECHANISMS.join(', ')}`,
  },
  kafkaSaslUsername: {
    flag: 'kafka-sasl-username',
    env: 'UIS_KAFKA_SASL_USERNAME',
    default: undefined,
    help: 'with SASL_SSL: the SASL user',
  },
  kafkaSaslPasswordFile: {
    flag: 'kafka-sasl-password-file',
    env: 'UIS_KAFKA_SASL_PASSWORD_FILE',
    default: undefined,
    help: `with SASL_SSL: a file holding the SASL password (or the password itself in ${KAFKA_SASL_PASSWORD_ENV}); never logged`,
  },
  kafkaSslCaFile: {
    flag: 'kafka-ssl-ca-file',
    env: 'UIS_KAFKA_SSL_CA_FILE',
    default: undefined,
    help: "with SSL or SASL_SSL: PEM certificates to trust for the brokers instead of Node's bundled CAs (the local stack's: .stack/kafka/tls/ca.pem)",
  },
};

interface Reading {
  raw(key: KafkaSecurityOption): string | undefined;
  where(key: KafkaSecurityOption): string;
  env: NodeJS.ProcessEnv;
  problems: string[];
}

/** The settings, or undefined for PLAINTEXT; adds to `problems` what is wrong or contradictory. */
export function readKafkaSecurity({ raw, where, env, problems }: Reading): KafkaSecurity | undefined {
  const given = (key: KafkaSecurityOption) => {
    const text = raw(key);
    return text !== undefined && text !== '' && text !== KAFKA_SECURITY_OPTIONS[key].default;
  };
  const protocolText = (raw('kafkaSecurityProtocol') ?? '').toUpperCase();
  const protocol = SECURITY_PROTOCOLS.find((p) => p === protocolText);
  if (!protocol) {
    problems.push(
      `${where('kafkaSecurityProtocol')} must be ${SECURITY_PROTOCOLS.join(', ')}, got "${raw('kafkaSecurityProtocol')}"`,
    );
    return undefined;
  }
  const saslKeys: KafkaSecurityOption[] = ['kafkaSaslMechanism', 'kafkaSaslUsername', 'kafkaSaslPasswordFile'];
  const passwordInEnv = env[KAFKA_SASL_PASSWORD_ENV] !== undefined && env[KAFKA_SASL_PASSWORD_ENV] !== '';
  if (protocol !== 'SASL_SSL') {
    // A setting that would be ignored is a mistake worth stopping for: the operator meant something.
    for (const key of saslKeys.filter(given))
      problems.push(`${where(key)} needs --kafka-security-protocol SASL_SSL (it is ${protocol})`);
    if (passwordInEnv)
      problems.push(`${KAFKA_SASL_PASSWORD_ENV} needs --kafka-security-protocol SASL_SSL (it is ${protocol})`);
  }
  if (protocol === 'PLAINTEXT') {
    if (given('kafkaSslCaFile'))
      problems.push(`${where('kafkaSslCaFile')} needs --kafka-security-protocol SSL or SASL_SSL`);
    return undefined;
  }
  const ca = caFile(raw('kafkaSslCaFile'), where('kafkaSslCaFile'), problems);
  const security: KafkaSecurity = { tls: ca !== undefined ? { ca } : {} };
  if (protocol === 'SASL_SSL') {
    const mechanism = mechanismOf(raw('kafkaSaslMechanism') ?? '', where('kafkaSaslMechanism'), problems);
    const username = raw('kafkaSaslUsername') ?? '';
    if (username === '') problems.push(`${where('kafkaSaslUsername')} is required with SASL_SSL`);
    const password = passwordOf(raw('kafkaSaslPasswordFile'), where('kafkaSaslPasswordFile'), env, problems);
    if (mechanism && password !== undefined) security.sasl = { mechanism, username, password };
  }
  return security;
}

function mechanismOf(text: string, where: string, problems: string[]): SaslMechanism | undefined {
  const mechanism = SASL_MECHANISMS.find((m) => m === text.toUpperCase());
  if (!mechanism) problems.push(`${where} must be ${SASL_MECHANISMS.join(', ')}, got "${text}"`);
  return mechanism;
}

function passwordOf(
  path: string | undefined,
  where: string,
  env: NodeJS.ProcessEnv,
  problems: string[],
): string | undefined {
  const fromEnv = env[KAFKA_SASL_PASSWORD_ENV];
  const hasFile = path !== undefined && path !== '';
  if (hasFile && fromEnv !== undefined && fromEnv !== '') {
    problems.push(`give the SASL password once: ${where} or ${KAFKA_SASL_PASSWORD_ENV}, not both`);
    return undefined;
  }
  if (!hasFile) {
    if (fromEnv !== undefined && fromEnv !== '') return fromEnv;
    problems.push(`${where}, or ${KAFKA_SASL_PASSWORD_ENV}, is required with SASL_SSL`);
    return undefined;
  }
  let password: string;
  try {
    password = readFileSync(path, 'utf8').replace(/\r?\n$/, '');
  } catch (error) {
    problems.push(`${where}: cannot read ${path} (${(error as NodeJS.ErrnoException).code ?? 'error'})`);
    return undefined;
  }
  if (password === '') problems.push(`${where}: ${path} is empty`);
  return password;
}

function caFile(path: string | undefined, where: string, problems: string[]): string | undefined {
  if (path === undefined || path === '') return undefined;
  let pem: string;
  try {
    pem = readFileSync(path, 'utf8');
  } catch (error) {
    problems.push(`${where}: cannot read ${path} (${(error as NodeJS.ErrnoException).code ?? 'error'})`);
    return undefined;
  }
  if (!pem.includes('-----BEGIN CERTIFICATE-----')) {
    problems.push(`${where}: ${path} holds no PEM certificate (-----BEGIN CERTIFICATE-----)`);
    return undefined;
  }
  return pem;
}
