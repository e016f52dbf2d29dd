// Key layout inside a task's backend:
//   "s" 0x00 <store name> 0x00 <key bytes>   a store's row
//   "c" 0x00 <changelog topic>               the changelog offset the stores are restored up to
const SEP = Buffer.from([0]);

export function storePrefix(storeName: string): Buffer {
  return Buffer.concat([Buffer.from('s'), SEP, Buffer.from(storeName), SEP]);
}

export function checkpointKey(changelogTopic: string): Buffer {
  return Buffer.concat([Buffer.from('c'), SEP, Buffer.from(changelogTopic)]);
}

export const CHECKPOINT_PREFIX = Buffer.concat([Buffer.from('c'), SEP]);
