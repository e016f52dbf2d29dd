/**
 * One holder at a time per task directory: a task's LevelDB is used either by
 * its active task or by its standby on this instance, never both. A waiter
 * gets the directory as soon as the holder releases it (e.g. a standby
 * promoted to active: the active opens the standby's store once it closed).
 */
export class DirectoryLocks {
  private readonly tails = new Map<string, Promise<void>>();

  /** Waits for the directory of `taskId`; call the returned function to release it (once). */
  async acquire(taskId: string): Promise<() => void> {
    const previous = this.tails.get(taskId) ?? Promise.resolve();
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    const tail = previous.then(() => held);
    this.tails.set(taskId, tail);
    await previous;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      release();
      if (this.tails.get(taskId) === tail) this.tails.delete(taskId);
    };
  }
}
