/**
 * Freshness on the wire: how far the view's partition provably reflects the
 * source database, and read-your-writes. A position is a PostgreSQL LSN: an
 * answer at position P reflects every transaction the database committed
 * before P. Callers pass the LSN of their commit (`SELECT pg_current_wal_lsn()`
 * after it) as `X-Min-Position` or `?minPosition=`, and `?maxStalenessMs=`.
 */
import { Gauge, Histogram, type Registry } from 'prom-client';

/** What an answer of a partition reflects at least. */
export interface ViewPosition {
  /** Every source transaction committed before this LSN is reflected. */
  lsn: bigint;
  /** Commit time in the source (ms) of the newest transaction the connector had read at that LSN. */
  committedAt: number | undefined;
  /** When the connector was seen at that LSN (ms): the answer is at most `now - observedAt` stale. */
  observedAt: number;
}

export interface FreshnessWant {
  /** The answer must reflect every transaction committed before this LSN. */
  minLsn?: bigint;
  /** The answer must reflect the database as of at most this long ago. */
  maxStalenessMs?: number;
}

export interface PartitionFreshness {
  /** Undefined until a first position is established for the partition. */
  position: ViewPosition | undefined;
  /** Records left to read in the partition's input at the last fetches. */
  lagRecords: bigint | undefined;
}

/** The view's positions, per partition of the view held on this instance. */
export interface Freshness {
  of(partition: number): PartitionFreshness;
  /** The position this instance's standby copy of the partition proves (undefined: none proven). */
  ofStandby(partition: number): ViewPosition | undefined;
  /** Resolves once the partition's answers meet `want` (true), or when `timeoutMs` has passed (false). */
  waitFor(partition: number, want: FreshnessWant, timeoutMs: number): Promise<boolean>;
}

export function satisfies(position: ViewPosition | undefined, want: FreshnessWant, now = Date.now()): boolean {
  if (want.minLsn !== undefined && (!position || position.lsn < want.minLsn)) return false;
  if (want.maxStalenessMs !== undefined && (!position || now - position.observedAt > want.maxStalenessMs)) return false;
  return true;
}

const LSN = /^([0-9A-F]{1,8})\/([0-9A-F]{1,8})$/i;

/** A PostgreSQL LSN in its text form (`16/B374D848`), or undefined when it is not one. */
export function parseLsn(text: string): bigint | undefined {
  const match = LSN.exec(text.trim());
  if (!match) return undefined;
  return (BigInt(`0x${match[1]}`) << 32n) | BigInt(`0x${match[2]}`);
}

export function formatLsn(lsn: bigint): string {
  return `${(lsn >> 32n).toString(16).toUpperCase()}/${(lsn & 0xffffffffn).toString(16).toUpperCase()}`;
}

/** The headers an answer of the partition carries (names in lower case, as Node writes them). */
export function freshnessHeaders(freshness: PartitionFreshness, now = Date.now()): Record<string, string> {
  const headers: Record<string, string> = {};
  const { position, lagRecords } = freshness;
  if (position) {
    const text = positionText(position);
    headers['x-uis-position'] = text.lsn;
    headers['x-uis-staleness-ms'] = String(Math.max(0, now - position.observedAt));
    if (text.committedAt !== undefined) headers['x-uis-position-committed-at'] = text.committedAt;
  }
  if (lagRecords !== undefined) headers['x-uis-lag-records'] = lagRecords.toString();
  return headers;
}

/** A position's header values, worked out once per position (a position lasts about a second, many answers). */
const positionTexts = new WeakMap<ViewPosition, { lsn: string; committedAt: string | undefined }>();
function positionText(position: ViewPosition): { lsn: string; committedAt: string | undefined } {
  let text = positionTexts.get(position);
  if (!text) {
    text = {
      lsn: formatLsn(position.lsn),
      committedAt: position.committedAt === undefined ? undefined : new Date(position.committedAt).toISOString(),
    };
    positionTexts.set(position, text);
  }
  return text;
}

/** The freshness headers, as forwarded answers carry them along. */
export const FRESHNESS_HEADERS = [
  'x-uis-position',
  'x-uis-position-committed-at',
  'x-uis-staleness-ms',
  'x-uis-lag-records',
] as const;

/**
 * Per partition held here: its position as a number (LSNs fit a double's 53 bits for the first
 * 8 PiB of WAL), its staleness and its input lag; collected when scraped.
 */
export function registerFreshnessMetrics(registry: Registry, freshness: Freshness, partitions: () => number): void {
  const each = (set: (partition: number, now: PartitionFreshness) => void) => {
    for (let partition = 0; partition < partitions(); partition++) set(partition, freshness.of(partition));
  };
  new Gauge({
    name: 'uis_view_position_lsn',
    help: 'Source position (PostgreSQL LSN as a number) the view partition held here reflects every transaction before.',
    labelNames: ['partition'],
    registers: [registry],
    collect() {
      this.reset();
      each((p, f) => f.position && this.set({ partition: String(p) }, Number(f.position.lsn)));
    },
  });
  new Gauge({
    name: 'uis_view_staleness_seconds',
    help: 'How long ago the view partition held here was last known to reflect the source database.',
    labelNames: ['partition'],
    registers: [registry],
    collect() {
      this.reset();
      const now = Date.now();
      each((p, f) => f.position && this.set({ partition: String(p) }, Math.max(0, now - f.position.observedAt) / 1000));
    },
  });
  new Gauge({
    name: 'uis_view_input_lag_records',
    help: "Records the view partition's task held here had left to read in its input at its last fetches.",
    labelNames: ['partition'],
    registers: [registry],
    collect() {
      this.reset();
      each((p, f) => f.lagRecords !== undefined && this.set({ partition: String(p) }, Number(f.lagRecords)));
    },
  });
}

/** How long establishing the view position takes (`ViewPositions`' rounds), by result (ok, failed). */
export function positionRoundMetric(registry: Registry): (seconds: number, ok: boolean) => void {
  const histogram = new Histogram({
    name: 'uis_view_position_round_seconds',
    help: "Rounds establishing the view's position: Kafka Connect's offsets, then the group's commits through the topology.",
    labelNames: ['result'],
    buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers: [registry],
  });
  return (seconds, ok) => histogram.observe({ result: ok ? 'ok' : 'failed' }, seconds);
}
