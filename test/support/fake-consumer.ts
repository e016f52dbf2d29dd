// A fake kafkajs consumer for unit tests of our readers (changelog-reader): it records
// seeks, keeps the eachBatch handler for the test to call, and emits the events the test chooses.
type Listener = (event: { payload: unknown }) => void;

export function fakeConsumer<Payload>() {
  const listeners = new Map<string, Listener[]>();
  const consumer = {
    events: { GROUP_JOIN: 'join', END_BATCH_PROCESS: 'end-batch', FETCH: 'fetch', CRASH: 'crash' },
    eachBatch: undefined as undefined | ((payload: Payload) => Promise<void>),
    seeks: [] as Array<{ topic: string; partition: number; offset: string }>,
    on: (event: string, listener: Listener) => listeners.set(event, [...(listeners.get(event) ?? []), listener]),
    emit: (event: string, payload: unknown) => listeners.get(event)?.forEach((l) => l({ payload })),
    connect: async (): Promise<undefined> => undefined,
    subscribe: async () => undefined,
    run: async (options: { eachBatch: (payload: Payload) => Promise<void> }) =>
      void (consumer.eachBatch = options.eachBatch),
    seek: (seek: { topic: string; partition: number; offset: string }) => void consumer.seeks.push(seek),
    pause: () => undefined,
    resume: () => undefined,
    disconnect: async () => undefined,
  };
  return consumer;
}
