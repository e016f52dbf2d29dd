// A processor of the Processor API (../api.ts) as a node of a task.
import type { AnyFn } from '../../dsl/graph.js';
import type { Processor as ApiProcessor, ProcessorContext as ApiContext, StreamRecord } from '../api.js';
import type { Punctuation } from '../punctuation.js';
import type { KeyValueStore, Processor, ProcessorContext } from '../types.js';
import { applicationHeaders } from '../record-headers.js';
import { ForwardingProcessor } from './node.js';

/** The task's clocks, as its processors see them. */
export interface TaskTime {
  /** The largest timestamp among the records the task has processed; -1 before the first. */
  readonly streamTime: number;
  readonly punctuation: Punctuation;
  now(): number;
}

export class UserProcessor extends ForwardingProcessor {
  /** Children by node name, for `forward(record, childName)`. */
  readonly named = new Map<string, Processor>();
  private readonly processor: ApiProcessor<unknown, unknown, unknown, unknown>;
  private readonly context: ApiContext<unknown, unknown>;

  constructor(
    private readonly id: string,
    supplier: AnyFn,
    private readonly task: ProcessorContext,
    stores: readonly string[],
    time: TaskTime,
    /** The instance's global stores by name, read-only (undefined: no such global store). */
    globalStore: (name: string) => KeyValueStore<unknown, unknown> | undefined = () => undefined,
    /** processValues: records may only be forwarded with the key of the record being processed. */
    private readonly fixedKey = false,
  ) {
    super();
    this.processor = supplier() as ApiProcessor<unknown, unknown, unknown, unknown>;
    const connected = new Set(stores);
    this.context = {
      taskId: task.taskId,
      partition: task.partition,
      recordMetadata: () => {
        const { topic, partition, offset } = task.origin;
        return topic === '' ? undefined : { topic, partition, offset };
      },
      currentStreamTimeMs: () => time.streamTime,
      currentSystemTimeMs: () => time.now(),
      forward: (record, childName) => this.forwardRecord(record, childName),
      getStateStore: <K, V>(name: string): KeyValueStore<K, V> => {
        const global = connected.has(name) ? undefined : globalStore(name);
        if (global) return global as KeyValueStore<K, V>;
        if (!connected.has(name)) {
          throw new Error(
            `processor ${id}: the store "${name}" is not connected to it (stores: ${[...connected].join(', ') || 'none'})`,
          );
        }
        return task.store(name);
      },
      schedule: (intervalMs, type, punctuator) => time.punctuation.schedule(type, intervalMs, punctuator, time.now()),
    };
  }

  /** Called once the task's stores are restored, before its first record (as Kafka Streams does). */
  init(): void {
    this.processor.init?.(this.context);
  }

  /** The key of the record being processed (processValues' forwards must keep it). */
  private currentKey: unknown;
  private processing = false;

  process(key: unknown, value: unknown, timestamp: number): void {
    this.currentKey = key;
    this.processing = true;
    try {
      this.processRecord(key, value, timestamp);
    } finally {
      this.processing = false;
    }
  }

  private processRecord(key: unknown, value: unknown, timestamp: number): void {
    this.processor.process({
      key,
      value,
      timestamp,
      headers: this.task.forwardedHeaders ?? applicationHeaders(this.task.origin.headers) ?? [],
    });
  }

  close(): void {
    this.processor.close?.();
  }

  private forwardRecord(record: StreamRecord<unknown, unknown>, childName: string | undefined): void {
    if (this.fixedKey && (!this.processing || !Object.is(record.key, this.currentKey))) {
      throw new Error(
        `processor ${this.id} (processValues) may only forward records with the key of the record it is processing`,
      );
    }
    let targets: readonly Processor[] = this.children;
    if (childName !== undefined) {
      const child = this.named.get(childName);
      if (!child) throw new Error(`processor ${this.id}: no child named "${childName}"`);
      targets = [child];
    }
    const outer = this.task.forwardedHeaders;
    this.task.forwardedHeaders = record.headers;
    try {
      for (const target of targets) target.process(record.key, record.value, record.timestamp);
    } finally {
      this.task.forwardedHeaders = outer;
    }
  }
}
