import type { Processor } from '../types.js';

/** A processor that passes its output to the processors of its child nodes. */
export abstract class ForwardingProcessor implements Processor {
  readonly children: Processor[] = [];

  abstract process(key: unknown, value: unknown, timestamp: number): void;

  protected forward(key: unknown, value: unknown, timestamp: number): void {
    for (const child of this.children) child.process(key, value, timestamp);
  }
}
