import type { BackendRange, BatchEntry, StateBackend } from './backend.js';

/** A backend in memory, for the topology test driver. */
export class MemoryBackend implements StateBackend {
  private readonly map = new Map<string, Buffer>();

  getSync(key: Buffer): Buffer | undefined {
    return this.map.get(key.toString('latin1'));
  }

  async write(batch: readonly BatchEntry[]): Promise<void> {
    for (const { key, value } of batch) {
      if (value === null) this.map.delete(key.toString('latin1'));
      else this.map.set(key.toString('latin1'), value);
    }
  }

  prepare(batch: readonly BatchEntry[]): () => Promise<void> {
    const entries = [...batch];
    return () => this.write(entries);
  }

  async *entries(prefix: Buffer): AsyncIterable<[Buffer, Buffer]> {
    const p = prefix.toString('latin1');
    const keys = [...this.map.keys()].filter((k) => k.startsWith(p)).sort();
    for (const k of keys) yield [Buffer.from(k, 'latin1'), this.map.get(k)!];
  }

  async range(range: BackendRange): Promise<Array<[Buffer, Buffer]>> {
    const inRange = (key: Buffer) =>
      (range.gt === undefined || Buffer.compare(key, range.gt) > 0) &&
      (range.gte === undefined || Buffer.compare(key, range.gte) >= 0) &&
      (range.lt === undefined || Buffer.compare(key, range.lt) < 0) &&
      (range.lte === undefined || Buffer.compare(key, range.lte) <= 0);
    const keys = [...this.map.keys()]
      .map((k) => Buffer.from(k, 'latin1'))
      .filter(inRange)
      .sort(Buffer.compare);
    if (range.reverse) keys.reverse();
    return keys.slice(0, range.limit).map((key) => [key, this.map.get(key.toString('latin1'))!]);
  }

  async clear(prefix: Buffer): Promise<void> {
    const p = prefix.toString('latin1');
    for (const k of [...this.map.keys()]) if (k.startsWith(p)) this.map.delete(k);
  }

  async startBulkLoad(): Promise<void> {}

  async endBulkLoad(): Promise<void> {}

  async close(): Promise<void> {}
}
