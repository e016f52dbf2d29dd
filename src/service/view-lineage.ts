/**
 * The lineage of the view's rows as the lineage route reads it: the view's
 * lineage store in the local tasks' LevelDB (through the serving thread's
 * store view), and the view's changelog searched for the record of a row.
 */
import { changelogTopicName, repartitionTopicName } from '../processor/compile.js';
import { laterOf, lineageKey, lineageStoreName } from '../processor/lineage.js';
import type { ClusterAdmin } from '../kafka/client.js';
import { findRecordOffset } from '../kafka/record-finder.js';
import type { ViewLineage } from '../serving/routes/users-lineage.js';
import type { StoreView } from '../serving/streams-view-source.js';
import { VIEW_LINEAGE_PARTS, VIEW_STORE } from '../../topology/user-information.js';

export function viewLineage(
  applicationId: string,
  /** The source topics of the view's task, in the compiled topology's order (the lineage store's key suffix). */
  inputTopics: readonly string[],
  /** undefined until the engine has started. */
  view: () => StoreView | undefined,
  /** A connected admin client, made on first use. */
  admin: () => Promise<ClusterAdmin>,
): ViewLineage {
  const store = lineageStoreName(VIEW_STORE);
  const changelogTopic = changelogTopicName(applicationId, VIEW_STORE);
  const feedingStores = new Map(
    VIEW_LINEAGE_PARTS.map((p) => [repartitionTopicName(applicationId, p.grouping), lineageStoreName(p.store)]),
  );
  return {
    parts: VIEW_LINEAGE_PARTS.map((p) => ({
      field: p.field,
      inputTopic: repartitionTopicName(applicationId, p.grouping),
    })),
    changelogTopic,
    // The later of the row's record of the part and the feeding store's: the store saw every change of
    // the part, the row only those made while it existed.
    read(key, partition, inputTopic) {
      const index = inputTopics.indexOf(inputTopic);
      const current = view();
      if (index < 0 || !current) return undefined;
      const partKey = lineageKey(key, index);
      const feeding = feedingStores.get(inputTopic);
      return laterOf(
        current.readActiveIn(store, partKey, partition),
        feeding === undefined ? undefined : current.readActiveIn(feeding, partKey, partition),
      );
    },
    async changelogOffset(key, partition, value, since) {
      const cluster = await admin();
      // Changelog records carry the time of their commit, which is after the source's commit time.
      const from = (await cluster.offsetsForTime(changelogTopic, since)).get(partition);
      if (from === undefined || from < 0n) return undefined;
      return findRecordOffset(cluster, `${applicationId}-lineage`, {
        topic: changelogTopic,
        partition,
        from,
        key,
        value,
      });
    },
  };
}
