// Where the integration tests find the running local stack (stack/env.sh has the same defaults).
import { DEFAULT_KAFKA_CLIENT, type KafkaClientKind } from '../../src/kafka/client.js';

const stateDir = process.env.UIS_STACK_DIR ?? new URL('../../.stack', import.meta.url).pathname;
const saslUser = process.env.KAFKA_SASL_USER ?? 'uis';

export const stack = {
  kafkaBrokers: (process.env.KAFKA_BROKERS ?? `127.0.0.1:${process.env.KAFKA_PORT ?? '9092'}`).split(','),
  registryUrl:
    process.env.SCHEMA_REGISTRY_URL ?? `http://127.0.0.1:${process.env.REGISTRY_PORT ?? '8081'}/apis/ccompat/v7`,
  cdcTopicPrefix: process.env.CDC_TOPIC_PREFIX ?? 'cdc',
  /** The Kafka client the engine runs on in these tests (UIS_KAFKA_CLIENT, as the service reads it). */
  kafkaClient: (process.env.UIS_KAFKA_CLIENT ?? DEFAULT_KAFKA_CLIENT) as KafkaClientKind,
  prometheusUrl: `http://127.0.0.1:${process.env.PROMETHEUS_PORT ?? '9090'}`,
  alertmanagerUrl: `http://127.0.0.1:${process.env.ALERTMANAGER_PORT ?? '9093'}`,
  connectUrl: `http://127.0.0.1:${process.env.CONNECT_PORT ?? '8083'}`,
  /** The stack's state dir (stack/env.sh): Prometheus reads scrape targets from prometheus/targets/ in it. */
  stateDir,
  /** The second schema registry, which requires HTTP basic authentication (stack/services/registry.sh). */
  registryAuth: {
    url:
      process.env.SCHEMA_REGISTRY_AUTH_URL ??
      `http://127.0.0.1:${process.env.REGISTRY_AUTH_PORT ?? '8085'}/apis/ccompat/v7`,
    username: process.env.REGISTRY_AUTH_USER ?? 'uis',
    passwordFile:
      process.env.REGISTRY_AUTH_PASSWORD_FILE ??
      `${stateDir}/registry/auth/${process.env.REGISTRY_AUTH_USER ?? 'uis'}.password`,
  },
  /** The broker's second listener: SASL_SSL, SCRAM-SHA-512 over TLS (stack/services/kafka.sh). */
  kafkaSasl: {
    brokers: (process.env.KAFKA_SASL_BROKERS ?? `127.0.0.1:${process.env.KAFKA_SASL_PORT ?? '9094'}`).split(','),
    username: saslUser,
    passwordFile: process.env.KAFKA_SASL_PASSWORD_FILE ?? `${stateDir}/kafka/sasl/${saslUser}.password`,
    caFile: process.env.KAFKA_SSL_CA_FILE ?? `${stateDir}/kafka/tls/ca.pem`,
  },
  postgres: {
    host: '127.0.0.1',
    port: Number(process.env.PG_PORT ?? '5432'),
    database: process.env.PG_DB ?? 'twitter',
    user: process.env.PG_USER ?? 'uis',
    password: process.env.PG_PASSWORD ?? 'uis',
  },
};

/** A name no other test run has used, for topics, groups and subjects. */
export function uniqueName(prefix: string): string {
  return `${prefix}-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}`;
}

/** Polls `check` until it returns a value other than undefined, or fails after `timeoutMs`. */
export async function eventually<T>(what: string, timeoutMs: number, check: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}
