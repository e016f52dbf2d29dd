/**
 * The service's settings: each from a flag, else an environment variable,
 * else a default; all checked at start, with a message that says what to fix.
 */
import { RECORD_ERROR_POLICIES, type RecordErrorKind, type RecordErrorPolicy } from '../processor/errors.js';
import { readFileSync } from 'node:fs';
import { isAbsolute, resolve } from 'node:path';
import type { LogLevel } from '../util/logger.js';
import { DEFAULT_KAFKA_CLIENT, KAFKA_CLIENTS, type KafkaClientKind } from '../kafka/client.js';
import type { KafkaSecurity } from '../kafka/security.js';
import { KAFKA_SECURITY_OPTIONS, readKafkaSecurity, type KafkaSecurityOption } from './kafka-security-config.js';

export interface ServiceConfig {
  brokers: string[];
  schemaRegistryUrl: string;
  applicationId: string;
  cdcTopicPrefix: string;
  outputTopic: string;
  stateDir: string;
  host: string;
  port: number;
  /** Where /health/* and /metrics are served instead of the public port; undefined: on the public port. */
  adminPort: number | undefined;
  advertisedEndpoint: string;
  partitions: number;
  commitIntervalMs: number;
  catchUpCommitIntervalMs: number;
  cacheMaxEntries: number;
  numStandbyReplicas: number;
  standbyMaxStalenessMs: number;
  /** The longest a read may wait for the freshness it asks for (minPosition, maxStalenessMs). */
  maxReadWaitMs: number;
  /** How often the view's position against the source database is established (with --connect-url). */
  positionIntervalMs: number;
  batchMaxIds: number;
  rateLimitMax: number;
  rateLimitWindowMs: number;
  sessionTimeoutMs: number;
  storeCacheMiB: number;
  storeRowCacheMiB: number;
  storeWriteBufferMiB: number;
  bulkRestoreMiB: number;
  bulkRestoreTasks: number;
  restoreFetchMiB: number;
  processingGuarantee: 'exactly_once' | 'exactly_once_v2';
  kafkaClient: KafkaClientKind;
  /** TLS and SASL for every Kafka connection (undefined: PLAINTEXT); from the --kafka-security-* options. Its password is never logged. */
  kafkaSecurity: KafkaSecurity | undefined;
  groupInstanceId: string | undefined;
  /** Read from --forward-secret-file: authenticates forwarded requests between instances. Never logged. */
  forwardSecret: string | undefined;
  /** HTTP basic auth user for the schema registry (with schemaRegistryPassword). */
  schemaRegistryUsername: string | undefined;
  /** Read from --schema-registry-password-file, or UIS_SCHEMA_REGISTRY_PASSWORD. Never logged. */
  schemaRegistryPassword: string | undefined;
  engineThread: 'worker' | 'main';
  engineNice: number;
  /** The engine thread's V8 old-generation limit in MiB (0: V8's own); only with engineThread 'worker'. */
  engineHeapMiB: number;
  /** The engine thread's V8 young generation in MiB (0: V8's own); only with engineThread 'worker'. */
  engineYoungMiB: number;
  /** Keep each view row's lineage (GET /users/:userId/lineage). */
  lineage: boolean;
  /** Snappy compression of LevelDB's table blocks. */
  storeCompression: boolean;
  /** Snappy compression of the tables a restore's bulk load writes. */
  restoreCompression: boolean;
  /** What becomes of a record that fails, per kind of error (--on-*-error). */
  errorPolicies: Record<RecordErrorKind, RecordErrorPolicy>;
  corsOrigins: string[];
  connectUrl: string | undefined;
  connector: string;
  logLevel: LogLevel;
}

export interface Option {
  flag: string;
  env: string;
  default: string | undefined;
  help: string;
}

/** The schema registry password itself, for deployments that hand secrets over in the environment. */
export const SCHEMA_REGISTRY_PASSWORD_ENV = 'UIS_SCHEMA_REGISTRY_PASSWORD';

/** Every option: one per setting, and the security settings that make up `kafkaSecurity`. */
/** The three error-policy options, which together make ServiceConfig.errorPolicies. */
type ErrorPolicyOption = 'onDeserializationError' | 'onProcessingError' | 'onProductionError';
type OptionKey =
  Exclude<keyof ServiceConfig, 'kafkaSecurity' | 'errorPolicies'> | KafkaSecurityOption | ErrorPolicyOption;

export const OPTIONS: Record<OptionKey, Option> = {
  brokers: {
    flag: 'brokers',
    env: 'KAFKA_BROKERS',
    default: '127.0.0.1:9092',
    help: 'Kafka bootstrap servers, host:port[,host:port...]',
  },
  schemaRegistryUrl: {
    flag: 'schema-registry',
    env: 'SCHEMA_REGISTRY_URL',
    default: 'http://127.0.0.1:8081/apis/ccompat/v7',
    help: 'Confluent-compatible schema registry URL (the output topic is Avro)',
  },
  schemaRegistryUsername: {
    flag: 'schema-registry-username',
    env: 'UIS_SCHEMA_REGISTRY_USERNAME',
    default: undefined,
    help: 'user for HTTP basic authentication at the schema registry (with --schema-registry-password-file)',
  },
  schemaRegistryPassword: {
    flag: 'schema-registry-password-file',
    env: 'UIS_SCHEMA_REGISTRY_PASSWORD_FILE',
    default: undefined,
    help: `a file holding the schema registry password (or the password itself in ${SCHEMA_REGISTRY_PASSWORD_ENV}); never logged`,
  },
  applicationId: {
    flag: 'application-id',
    env: 'UIS_APPLICATION_ID',
    default: 'user-information-service',
    help: 'consumer group and prefix of internal topics; instances with the same id share the work',
  },
  cdcTopicPrefix: {
    flag: 'cdc-topic-prefix',
    env: 'CDC_TOPIC_PREFIX',
    default: 'cdc',
    help: "Debezium's topic.prefix (topics <prefix>.public.<table>)",
  },
  outputTopic: {
    flag: 'output-topic',
    env: 'UIS_OUTPUT_TOPIC',
    default: 'user-information',
    help: 'compacted topic the view is published to',
  },
  stateDir: {
    flag: 'state-dir',
    env: 'UIS_STATE_DIR',
    default: '.uis-state',
    help: 'directory for the local LevelDB stores',
  },
  host: { flag: 'host', env: 'UIS_HTTP_HOST', default: '127.0.0.1', help: 'HTTP listen address' },
  port: { flag: 'port', env: 'UIS_HTTP_PORT', default: '3000', help: 'HTTP listen port' },
  adminPort: {
    flag: 'admin-port',
    env: 'UIS_ADMIN_PORT',
    default: undefined,
    help: 'serve /health/* and /metrics on this port (same host) and not on the public one (0: the OS chooses; default: on the public port)',
  },
  advertisedEndpoint: {
    flag: 'advertised-endpoint',
    env: 'UIS_ADVERTISED_ENDPOINT',
    default: undefined,
    help: 'host:port other instances forward requests to (default: host:port)',
  },
  partitions: {
    flag: 'partitions',
    env: 'UIS_PARTITIONS',
    default: '4',
    help: 'partitions of the internal repartition topics',
  },
  commitIntervalMs: {
    flag: 'commit-interval-ms',
    env: 'UIS_COMMIT_INTERVAL_MS',
    default: '25',
    help: 'least time between two commits of a task (an update waits up to this long per sub-topology); 0: as soon as the previous one ended',
  },
  catchUpCommitIntervalMs: {
    flag: 'catch-up-commit-interval-ms',
    env: 'UIS_CATCH_UP_COMMIT_INTERVAL_MS',
    default: '0',
    help: "tasks' commit interval while the instance has 20,000 records or more left to read: held changes collapse over it, fewer join evaluations in a backlog (0: always --commit-interval-ms)",
  },
  cacheMaxEntries: {
    flag: 'cache-max-entries',
    env: 'UIS_CACHE_MAX_ENTRIES',
    default: '10000',
    help: 'changes per task held back until the next commit, newest per key (0: forward each change)',
  },
  numStandbyReplicas: {
    flag: 'num-standby-replicas',
    env: 'UIS_NUM_STANDBY_REPLICAS',
    default: '0',
    help: "standby copies of each task's state kept current on other instances, for fast takeover",
  },
  batchMaxIds: {
    flag: 'batch-max-ids',
    env: 'UIS_BATCH_MAX_IDS',
    default: '100',
    help: 'the most ids one POST /users:batchGet may ask for (1-1000)',
  },
  rateLimitMax: {
    flag: 'rate-limit-max',
    env: 'UIS_RATE_LIMIT_MAX',
    default: '0',
    help: 'requests one client address may make per --rate-limit-window-ms; beyond, 429 with Retry-After (0: no limit). Health, metrics and forwards between instances are not counted',
  },
  rateLimitWindowMs: {
    flag: 'rate-limit-window-ms',
    env: 'UIS_RATE_LIMIT_WINDOW_MS',
    default: '1000',
    help: 'the window of --rate-limit-max, in ms',
  },
  standbyMaxStalenessMs: {
    flag: 'standby-max-staleness-ms',
    env: 'UIS_STANDBY_MAX_STALENESS_MS',
    default: '0',
    help: 'when the owner cannot answer, a standby copy at most this far behind may (0: only if the request says Cache-Control: max-stale)',
  },
  maxReadWaitMs: {
    flag: 'max-read-wait-ms',
    env: 'UIS_MAX_READ_WAIT_MS',
    default: '10000',
    help: 'the longest a read asking for minPosition or maxStalenessMs waits for it (its ?wait= is capped to this)',
  },
  positionIntervalMs: {
    flag: 'position-interval-ms',
    env: 'UIS_POSITION_INTERVAL_MS',
    default: '1000',
    help: 'how often the view position (x-uis-position) is established against the source database (needs --connect-url); reads asking for more do it at once',
  },
  sessionTimeoutMs: {
    flag: 'session-timeout-ms',
    env: 'UIS_SESSION_TIMEOUT_MS',
    default: '10000',
    help: 'how long the group waits for an instance that stopped answering before moving its tasks',
  },
  storeCacheMiB: {
    flag: 'store-cache-mib',
    env: 'UIS_STORE_CACHE_MIB',
    default: '8',
    help: "LevelDB block cache of each task's store, in MiB (anonymous memory per open store)",
  },
  storeRowCacheMiB: {
    flag: 'store-row-cache-mib',
    env: 'UIS_STORE_ROW_CACHE_MIB',
    default: '0',
    help: "rows each task keeps on the engine's heap after reading or writing them, in MiB, so hot keys skip LevelDB (0: none)",
  },
  storeWriteBufferMiB: {
    flag: 'store-write-buffer-mib',
    env: 'UIS_STORE_WRITE_BUFFER_MIB',
    default: '4',
    help: "LevelDB memtable per state store, in MiB: a task's LevelDB gets this times its store count (up to two at once)",
  },
  bulkRestoreMiB: {
    flag: 'bulk-restore-mib',
    env: 'UIS_BULK_RESTORE_MIB',
    default: '32',
    help: "LevelDB memtable of a task's store while it restores 50,000 records or more, in MiB (0: the usual one); see --bulk-restore-tasks",
  },
  bulkRestoreTasks: {
    flag: 'bulk-restore-tasks',
    env: 'UIS_BULK_RESTORE_TASKS',
    default: '1',
    help: 'tasks restoring 50,000 records or more that restore at once (each with a --bulk-restore-mib memtable, up to two at once)',
  },
  restoreFetchMiB: {
    flag: 'restore-fetch-mib',
    env: 'UIS_RESTORE_FETCH_MIB',
    default: '32',
    help: 'changelog bytes a restore holds per broker before writing them, in MiB: less memory, slower restores (8 fits a 256 MiB limit at 250k users)',
  },
  processingGuarantee: {
    flag: 'processing-guarantee',
    env: 'UIS_PROCESSING_GUARANTEE',
    default: 'exactly_once_v2',
    help: 'exactly_once_v2: one transactional producer per instance (KIP-447, as Kafka Streams); exactly_once: a kafkajs transactional producer per task',
  },
  kafkaClient: {
    flag: 'kafka-client',
    env: 'UIS_KAFKA_CLIENT',
    default: DEFAULT_KAFKA_CLIENT,
    help: 'platformatic (the default): @platformatic/kafka group membership with our own fetch loop; or kafkajs (decisions 0010, 0012)',
  },
  ...KAFKA_SECURITY_OPTIONS,
  forwardSecret: {
    flag: 'forward-secret-file',
    env: 'UIS_FORWARD_SECRET_FILE',
    default: undefined,
    help: 'a file holding a secret (16 bytes or more) shared by every instance of the application: requests forwarded between instances are signed with it, and a forwarded marker without a valid signature is ignored',
  },
  groupInstanceId: {
    flag: 'group-instance-id',
    env: 'UIS_GROUP_INSTANCE_ID',
    default: undefined,
    help: "static membership (Kafka's group.instance.id; --kafka-client platformatic): a name unique to this instance and kept across its restarts; a restart within the session timeout then moves no task",
  },
  engineThread: {
    flag: 'engine-thread',
    env: 'UIS_ENGINE_THREAD',
    default: 'worker',
    help: 'worker: the engine runs on its own thread, so HTTP never waits for processing; main: on the serving thread',
  },
  engineNice: {
    flag: 'engine-nice',
    env: 'UIS_ENGINE_NICE',
    default: '19',
    help: "with --engine-thread worker: the engine thread's nice value (0-19) once the instance has first caught up (until then 0); higher lets a request preempt processing at once when they share a core (decisions 0018, 0026)",
  },
  engineHeapMiB: {
    flag: 'engine-heap-mib',
    env: 'UIS_ENGINE_HEAP_MIB',
    default: '0',
    help: "with --engine-thread worker: the engine thread's V8 heap limit (old generation) in MiB, so it collects garbage before growing past it; reaching it stops the process (0: V8's own limit)",
  },
  engineYoungMiB: {
    flag: 'engine-young-mib',
    env: 'UIS_ENGINE_YOUNG_MIB',
    default: '0',
    help: "with --engine-thread worker: the engine thread's V8 young generation in MiB, where its short-lived objects are made and collected (0: V8's own)",
  },
  lineage: {
    flag: 'lineage',
    env: 'UIS_LINEAGE',
    default: 'off',
    help: 'on: keep which source change last moved each part of a row (GET /users/:userId/lineage; decision 0016), at a cost in processing rate; off: none (that route answers 501). A different topology: switching needs `uis reset` or a new application id',
  },
  storeCompression: {
    flag: 'store-compression',
    env: 'UIS_STORE_COMPRESSION',
    default: 'off',
    help: "on: LevelDB compresses its table blocks (snappy); off: larger files, and reads that miss LevelDB's block cache skip decompressing",
  },
  restoreCompression: {
    flag: 'restore-compression',
    env: 'UIS_RESTORE_COMPRESSION',
    default: 'on',
    help: "on: a restore's bulk load writes snappy-compressed tables (fewer bytes to write and compact), rewritten as --store-compression says when LevelDB compacts them; off: uncompressed",
  },
  onDeserializationError: {
    flag: 'on-deserialization-error',
    env: 'UIS_ON_DESERIALIZATION_ERROR',
    default: 'dead-letter',
    help: 'a record whose key or value cannot be read: dead-letter (to <application-id>-dead-letters, then the next record), skip (logged and counted in streams_skipped_records_total) or fail (the service stops before it)',
  },
  onProcessingError: {
    flag: 'on-processing-error',
    env: 'UIS_ON_PROCESSING_ERROR',
    default: 'dead-letter',
    help: 'a record the topology rejects or fails on: dead-letter, skip or fail (as --on-deserialization-error)',
  },
  onProductionError: {
    flag: 'on-production-error',
    env: 'UIS_ON_PRODUCTION_ERROR',
    default: 'dead-letter',
    help: 'a record whose output cannot be serialized for its topic: dead-letter, skip or fail (as --on-deserialization-error)',
  },
  corsOrigins: {
    flag: 'cors-origins',
    env: 'UIS_CORS_ORIGINS',
    default: '',
    help: 'comma-separated origins allowed by CORS (default: none, CORS closed)',
  },
  connectUrl: {
    flag: 'connect-url',
    env: 'CONNECT_URL',
    default: undefined,
    help: 'Kafka Connect REST URL; when set, readiness waits for the initial Debezium snapshot, and answers carry the view position (read-your-writes)',
  },
  connector: {
    flag: 'connector',
    env: 'CONNECTOR_NAME',
    default: 'uis-postgres',
    help: 'name of the Debezium connector',
  },
  logLevel: { flag: 'log-level', env: 'UIS_LOG_LEVEL', default: 'info', help: 'debug, info, warn or error' },
};

export class ConfigError extends Error {
  override name = 'ConfigError';
}

/** Reads `--flag value` / `--flag=value` arguments; returns them by flag name and the positional rest. */
export function parseArgs(argv: readonly string[]): { flags: Map<string, string>; positional: string[] } {
  const flags = new Map<string, string>();
  const positional: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (!arg.startsWith('--')) {
      positional.push(arg);
      continue;
    }
    const eq = arg.indexOf('=');
    if (eq > 0) flags.set(arg.slice(2, eq), arg.slice(eq + 1));
    else if (argv[i + 1] !== undefined && !argv[i + 1]!.startsWith('--')) flags.set(arg.slice(2), argv[++i]!);
    else flags.set(arg.slice(2), 'true');
  }
  return { flags, positional };
}

export function loadConfig(
  flags: ReadonlyMap<string, string>,
  env: NodeJS.ProcessEnv,
  extraFlags: readonly string[] = [],
): ServiceConfig {
  const known = new Set([...Object.values(OPTIONS).map((o) => o.flag), ...extraFlags]);
  const unknown = [...flags.keys()].filter((f) => !known.has(f));
  if (unknown.length) throw new ConfigError(`unknown option ${unknown.map((f) => `--${f}`).join(', ')} (see --help)`);

  const problems: string[] = [];
  const raw = (key: OptionKey): string | undefined => {
    const o = OPTIONS[key];
    return flags.get(o.flag) ?? env[o.env] ?? o.default;
  };
  const where = (key: OptionKey) => `--${OPTIONS[key].flag} (or ${OPTIONS[key].env})`;
  const integer = (key: OptionKey, min: number, max: number): number => {
    const text = raw(key) ?? '';
    const value = Number(text);
    if (!/^\d+$/.test(text) || value < min || value > max) {
      problems.push(`${where(key)} must be a whole number from ${min} to ${max}, got "${text}"`);
    }
    return value;
  };
  const hostPort = /^[A-Za-z0-9.-]+:\d{1,5}$/;

  const brokers = (raw('brokers') ?? '')
    .split(',')
    .map((b) => b.trim())
    .filter(Boolean);
  if (brokers.length === 0 || !brokers.every((b) => hostPort.test(b))) {
    problems.push(`${where('brokers')} must be host:port[,host:port...], got "${raw('brokers')}"`);
  }
  const url = (key: OptionKey): string | undefined => {
    const text = raw(key);
    if (text === undefined || text === '') return undefined;
    let parsed: URL;
    try {
      parsed = new URL(text);
      if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') throw new Error('not http');
    } catch {
      problems.push(`${where(key)} must be an http(s) URL, got "${text}"`);
      return undefined;
    }
    // Credentials in a URL end up in logs and process listings; and the message must not repeat them.
    if (parsed.username || parsed.password) {
      problems.push(
        `${where(key)} must not contain credentials (user:password@)` +
          (key === 'schemaRegistryUrl'
            ? `: use ${where('schemaRegistryUsername')} and ${where('schemaRegistryPassword')}`
            : ''),
      );
      return undefined;
    }
    return text.replace(/\/+$/, '');
  };
  const name = (key: OptionKey): string => {
    const text = raw(key) ?? '';
    if (!/^[A-Za-z0-9._-]{1,200}$/.test(text))
      problems.push(`${where(key)} may only contain letters, digits, '.', '_' and '-', got "${text}"`);
    return text;
  };

  /** A secret read from the file an option names (trailing newline dropped); never echoed in a problem. */
  const secretFile = (key: OptionKey, minBytes = 16): string | undefined => {
    const path = raw(key);
    if (path === undefined || path === '') return undefined;
    let secret: string;
    try {
      secret = readFileSync(path, 'utf8').replace(/\r?\n$/, '');
    } catch (error) {
      problems.push(`${where(key)}: cannot read ${path} (${(error as NodeJS.ErrnoException).code ?? 'error'})`);
      return undefined;
    }
    if (Buffer.byteLength(secret) < minBytes)
      problems.push(`${where(key)}: the secret in ${path} must be ${minBytes} bytes or more`);
    return secret;
  };

  /** The schema registry's basic auth: both the user and a password (from a file or the environment), or neither. */
  const registryCredentials = (): { username?: string; password?: string } => {
    const username = raw('schemaRegistryUsername') || undefined;
    const fromFile = secretFile('schemaRegistryPassword', 1);
    const fromEnv = env[SCHEMA_REGISTRY_PASSWORD_ENV] || undefined;
    if (fromFile !== undefined && fromEnv !== undefined)
      problems.push(
        `give the schema registry password once: ${where('schemaRegistryPassword')} or ${SCHEMA_REGISTRY_PASSWORD_ENV}`,
      );
    const password = fromFile ?? fromEnv;
    if ((username === undefined) !== (password === undefined))
      problems.push(
        `schema registry authentication needs both ${where('schemaRegistryUsername')} and ${where('schemaRegistryPassword')} (or ${SCHEMA_REGISTRY_PASSWORD_ENV})`,
      );
    return { username, password };
  };

  const guarantee = (): ServiceConfig['processingGuarantee'] => {
    const text = raw('processingGuarantee') ?? '';
    if (text === 'exactly_once' || text === 'exactly_once_v2') return text;
    problems.push(`${where('processingGuarantee')} must be exactly_once or exactly_once_v2, got "${text}"`);
    return 'exactly_once';
  };

  const kafkaClient = (): KafkaClientKind => {
    const text = raw('kafkaClient') ?? '';
    const known = KAFKA_CLIENTS.find((kind) => kind === text);
    if (known) return known;
    problems.push(`${where('kafkaClient')} must be ${KAFKA_CLIENTS.join(' or ')}, got "${text}"`);
    return 'kafkajs';
  };

  const onOff = (key: 'lineage' | 'storeCompression' | 'restoreCompression'): boolean => {
    const text = raw(key) ?? '';
    if (text === 'on' || text === 'off') return text === 'on';
    problems.push(`${where(key)} must be on or off, got "${text}"`);
    return true;
  };

  const errorPolicy = (key: ErrorPolicyOption): RecordErrorPolicy => {
    const text = raw(key) ?? '';
    const known = RECORD_ERROR_POLICIES.find((policy) => policy === text);
    if (known) return known;
    problems.push(`${where(key)} must be ${RECORD_ERROR_POLICIES.join(', ')}, got "${text}"`);
    return 'dead-letter';
  };

  const engineThread = (): ServiceConfig['engineThread'] => {
    const text = raw('engineThread') ?? '';
    if (text === 'worker' || text === 'main') return text;
    problems.push(`${where('engineThread')} must be worker or main, got "${text}"`);
    return 'worker';
  };

  const host = raw('host') ?? '';
  if (!/^[A-Za-z0-9.:-]+$/.test(host)) problems.push(`${where('host')} must be a host name or address, got "${host}"`);
  const port = integer('port', 0, 65535);
  // Port 0: the OS picks a free port; the endpoint is advertised once it is known (after listening).
  const advertisedEndpoint = raw('advertisedEndpoint') ?? `${host}:${port}`;
  if (!hostPort.test(advertisedEndpoint))
    problems.push(`${where('advertisedEndpoint')} must be host:port, got "${advertisedEndpoint}"`);
  const logLevel = raw('logLevel') as LogLevel;
  if (!['debug', 'info', 'warn', 'error'].includes(logLevel))
    problems.push(`${where('logLevel')} must be debug, info, warn or error`);
  const stateDir = raw('stateDir') ?? '';
  if (!stateDir) problems.push(`${where('stateDir')} must name a directory`);

  const registry = registryCredentials();
  const config: ServiceConfig = {
    brokers,
    schemaRegistryUrl: url('schemaRegistryUrl') ?? '',
    applicationId: name('applicationId'),
    cdcTopicPrefix: name('cdcTopicPrefix'),
    outputTopic: name('outputTopic'),
    stateDir: isAbsolute(stateDir) ? stateDir : resolve(stateDir),
    host,
    port,
    adminPort: raw('adminPort') === undefined || raw('adminPort') === '' ? undefined : integer('adminPort', 0, 65535),
    advertisedEndpoint,
    partitions: integer('partitions', 1, 1000),
    commitIntervalMs: integer('commitIntervalMs', 0, 60_000),
    catchUpCommitIntervalMs: integer('catchUpCommitIntervalMs', 0, 60_000),
    cacheMaxEntries: integer('cacheMaxEntries', 0, 10_000_000),
    numStandbyReplicas: integer('numStandbyReplicas', 0, 10),
    standbyMaxStalenessMs: integer('standbyMaxStalenessMs', 0, 86_400_000),
    maxReadWaitMs: integer('maxReadWaitMs', 0, 600_000),
    positionIntervalMs: integer('positionIntervalMs', 100, 3_600_000),
    batchMaxIds: integer('batchMaxIds', 1, 1000),
    rateLimitMax: integer('rateLimitMax', 0, 10_000_000),
    rateLimitWindowMs: integer('rateLimitWindowMs', 100, 3_600_000),
    sessionTimeoutMs: integer('sessionTimeoutMs', 6000, 300_000),
    storeCacheMiB: integer('storeCacheMiB', 1, 1024),
    storeRowCacheMiB: integer('storeRowCacheMiB', 0, 1024),
    storeWriteBufferMiB: integer('storeWriteBufferMiB', 1, 1024),
    bulkRestoreMiB: integer('bulkRestoreMiB', 0, 4096),
    bulkRestoreTasks: integer('bulkRestoreTasks', 1, 1000),
    restoreFetchMiB: integer('restoreFetchMiB', 1, 1024),
    processingGuarantee: guarantee(),
    kafkaClient: kafkaClient(),
    kafkaSecurity: readKafkaSecurity({ raw, where, env, problems }),
    groupInstanceId: raw('groupInstanceId') ? name('groupInstanceId') : undefined,
    forwardSecret: secretFile('forwardSecret'),
    schemaRegistryUsername: registry.username,
    schemaRegistryPassword: registry.password,
    engineThread: engineThread(),
    engineNice: integer('engineNice', 0, 19),
    engineHeapMiB: integer('engineHeapMiB', 0, 65_536),
    engineYoungMiB: integer('engineYoungMiB', 0, 4_096),
    lineage: onOff('lineage'),
    storeCompression: onOff('storeCompression'),
    restoreCompression: onOff('restoreCompression'),
    errorPolicies: {
      deserialization: errorPolicy('onDeserializationError'),
      processing: errorPolicy('onProcessingError'),
      production: errorPolicy('onProductionError'),
    },
    corsOrigins: (raw('corsOrigins') ?? '')
      .split(',')
      .map((o) => o.trim())
      .filter(Boolean),
    connectUrl: url('connectUrl'),
    connector: name('connector'),
    logLevel,
  };
  if (!config.schemaRegistryUrl && !problems.some((p) => p.includes('schema-registry'))) {
    problems.push(`${where('schemaRegistryUrl')} is required`);
  }
  if (config.groupInstanceId !== undefined && config.kafkaClient !== 'platformatic')
    problems.push(`${where('groupInstanceId')} needs --kafka-client platformatic (kafkajs has no static membership)`);
  // Other instances learn an instance's endpoint at rebalances, and a static member's restart has none.
  if (config.groupInstanceId !== undefined && port === 0 && raw('advertisedEndpoint') === undefined)
    problems.push(
      `${where('groupInstanceId')} needs an endpoint kept across restarts: set --port (not 0) or --advertised-endpoint`,
    );
  // Forwards from other instances are not counted, which needs them told apart from clients' requests.
  if (config.rateLimitMax > 0 && config.forwardSecret === undefined && raw('forwardSecret') === undefined)
    problems.push(
      `${where('rateLimitMax')} needs ${where('forwardSecret')}, so forwards between instances are not limited as a client`,
    );
  // Below this V8 spends its time collecting, and the engine's own structures alone come near it.
  if (config.engineHeapMiB !== 0 && config.engineHeapMiB < 64)
    problems.push(`${where('engineHeapMiB')} must be 0 (V8's own limit) or at least 64, got ${config.engineHeapMiB}`);
  if (config.engineYoungMiB !== 0 && config.engineYoungMiB < 8)
    problems.push(`${where('engineYoungMiB')} must be 0 (V8's own) or at least 8, got ${config.engineYoungMiB}`);
  if (config.engineYoungMiB !== 0 && config.engineThread === 'main')
    problems.push(
      `${where('engineYoungMiB')} needs --engine-thread worker (a process's is set with node's --max-semi-space-size)`,
    );
  if (config.engineHeapMiB !== 0 && config.engineThread === 'main')
    problems.push(
      `${where('engineHeapMiB')} needs --engine-thread worker (a process's main heap is set with node's --max-old-space-size)`,
    );
  for (const origin of config.corsOrigins) {
    if (!/^https?:\/\/[^/\s]+$/.test(origin))
      problems.push(`${where('corsOrigins')}: "${origin}" is not an origin like https://example.com`);
  }
  if (problems.length) throw new ConfigError(`invalid configuration:\n  - ${problems.join('\n  - ')}`);
  return config;
}

export function optionsHelp(): string {
  return Object.values(OPTIONS)
    .map(
      (o) =>
        `  --${o.flag.padEnd(22)} ${o.help}\n  ${' '.repeat(24)} env ${o.env}${o.default !== undefined && o.default !== '' ? `, default ${o.default}` : ''}`,
    )
    .join('\n');
}
