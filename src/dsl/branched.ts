import type { AnyFn, TopologyGraph } from './graph.js';
import { KStream } from './kstream.js';
import { checkName } from './names.js';

/** A branch's name and what to do with its stream. */
export interface Branched<K, V> {
  /** The branch's key in the result, after the split's prefix; default its number (from 1; the default branch "0"). */
  name?: string;
  /**
   * Builds on the branch's stream; the stream it returns is the branch's entry in the result
   * (none: the branch is left out, as with Kafka Streams' Branched.withConsumer).
   */
  chain?: (branch: KStream<K, V>) => KStream<K, V> | void;
}

/**
 * A stream being split by predicates (KStream.split): add branches in order, then end with
 * defaultBranch or noDefaultBranch, which give the branches' streams by name.
 */
export class BranchedKStream<K, V> {
  private readonly branches: Array<{ predicate: AnyFn; branched: Branched<K, V> }> = [];
  private ended = false;

  constructor(
    private readonly graph: TopologyGraph,
    private readonly parentId: string,
    private readonly splitId: string,
    /** Put before each branch's name in the result (Kafka Streams' split(Named.as(prefix))). */
    private readonly prefix = '',
  ) {}

  /** Records that satisfy `predicate` and no earlier branch's go to this branch. */
  branch(predicate: (key: K, value: V) => boolean, branched: Branched<K, V> = {}): this {
    if (this.ended) throw new Error(`topology: split ${this.splitId} has ended; branch before defaultBranch`);
    this.branches.push({ predicate, branched });
    return this;
  }

  /** Records that satisfy no branch go to this one; returns every branch's stream by name. */
  defaultBranch(branched: Branched<K, V> = {}): Record<string, KStream<K, V>> {
    return this.end({ predicate: () => true, branched: { name: '0', ...branched } });
  }

  /** Records that satisfy no branch are dropped; returns every branch's stream by name. */
  noDefaultBranch(): Record<string, KStream<K, V>> {
    return this.end(undefined);
  }

  private end(fallback: { predicate: AnyFn; branched: Branched<K, V> } | undefined): Record<string, KStream<K, V>> {
    if (this.ended) throw new Error(`topology: split ${this.splitId} has already ended`);
    this.ended = true;
    const branches = fallback ? [...this.branches, fallback] : this.branches;
    this.graph.add({
      kind: 'split',
      id: this.splitId,
      parents: [this.parentId],
      emitsChanges: false,
      predicates: branches.map((b) => b.predicate),
    });
    const result: Record<string, KStream<K, V>> = {};
    branches.forEach(({ branched }, index) => {
      const own = checkName('branch', branched.name ?? String(index + 1));
      const name = this.prefix + own;
      if (name in result) throw new Error(`topology: split ${this.splitId} has two branches named "${name}"`);
      const id = `${this.splitId}-${own}`;
      this.graph.add({ kind: 'branch', id, parents: [this.splitId], emitsChanges: false, index });
      const stream = new KStream<K, V>(this.graph, id);
      const chained = branched.chain ? branched.chain(stream) : stream;
      if (chained) result[name] = chained;
    });
    return result;
  }
}
