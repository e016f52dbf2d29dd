/**
 * The view's windowed companion: how each user's tweet count changed per hour (tweets written less
 * tweets deleted), the last 24 hours kept, served at GET /users/:userId/activity. Built from the
 * tweet count's changes in the view's own tasks, so a user's activity lives where the user's row does
 * (same partition, same owner, no repartition):
 *
 *   tweet-count ─ toStream ─ processValues(count changes) ─ groupByKey ─ hourly windows ─ sum ─> tweet-activity
 *
 * Each change of a user's count counts at its time (the source commit time of the tweet or delete
 * that made it). Changes held together before a commit (the record cache) reach it as one, at the
 * time of the last: so the net change is what is exact (written and deleted within one commit
 * interval cancel out), not the number of tweets written.
 */
import type { KStream } from '../src/dsl/kstream.js';
import type { StreamsBuilder } from '../src/dsl/builder.js';
import { TimeWindows } from '../src/dsl/windows.js';
import type { Processor, ProcessorContext, StreamRecord } from '../src/processor/api.js';
import { longNumberSerde } from '../src/serdes/long-number.js';
import type { Serde } from '../src/serdes/serde.js';

export const ACTIVITY_STORE = 'tweet-activity';
/** The last tweet count each user's activity has seen. */
const SEEN_STORE = 'tweet-count-seen';
export const HOUR_MS = 3_600_000;
/** How long activity is kept: the 24 hours served plus the hour under way. */
export const ACTIVITY_RETENTION_MS = 25 * HOUR_MS;
/** A tweet committed this late for its hour (source commit time) still counts there. */
const GRACE_MS = 5 * 60_000;

const counts = longNumberSerde as Serde<number>;

/** Forwards by how much a user's tweet count changed, when it changed. */
class CountChanges implements Processor<string, number | null, string, number> {
  private context!: ProcessorContext<string, number>;

  init(context: ProcessorContext<string, number>): void {
    this.context = context;
  }

  process(record: StreamRecord<string, number | null>): void {
    const seen = this.context.getStateStore<string, number>(SEEN_STORE);
    const before = seen.get(record.key) ?? 0;
    const now = record.value ?? 0;
    if (now === before) return;
    seen.put(record.key, now);
    this.context.forward({ ...record, value: now - before });
  }
}

/** Adds the activity store to the view's tasks, fed by the tweet count's changes. */
export function addTweetActivity(
  builder: StreamsBuilder,
  tweetCountChanges: KStream<string, number | null>,
  userIdSerde: Serde<string>,
): void {
  builder.addStateStore({ storeName: SEEN_STORE, keySerde: userIdSerde, valueSerde: counts });
  tweetCountChanges
    .processValues(() => new CountChanges(), { name: 'tweet-count-changes', stores: [SEEN_STORE] })
    .groupByKey({ keySerde: userIdSerde, valueSerde: counts })
    .windowedBy(TimeWindows.ofSizeAndGrace(HOUR_MS, GRACE_MS))
    .reduce((sum, n) => sum + (n ?? 0), {
      storeName: ACTIVITY_STORE,
      valueSerde: counts,
      retentionMs: ACTIVITY_RETENTION_MS,
    });
}
