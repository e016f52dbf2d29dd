/**
 * Where the HTTP layer gets a view row: from a local store, or the name of the
 * group member that owns it, or why it cannot be answered right now; and, for
 * requests that accept a stale answer, the standby copies of it.
 */
export type Lookup =
  /** `value` undefined: the row does not exist (a true 404). */
  | { kind: 'local'; partition: number; value: Buffer | undefined }
  | { kind: 'remote'; partition: number; owner: string; standby: StandbyCopies }
  | { kind: 'unavailable'; partition: number | undefined; reason: string; standby: StandbyCopies };

/** An answer from a standby copy: exact as of a moment at most `stalenessMs` ago. */
export interface StandbyRead {
  /** undefined: the row does not exist in the copy. */
  value: Buffer | undefined;
  /** Changelog records the copy had not read yet at the last fetch (undefined: not known). */
  lagRecords: bigint | undefined;
  /** How long ago the copy was last at the end of its changelogs. */
  stalenessMs: number;
}

export interface StandbyCopies {
  /** This instance's standby copy of the key, if it is at most `maxStalenessMs` behind its changelogs. */
  readLocal(maxStalenessMs: number): StandbyRead | undefined;
  /** host:port of other members that keep a standby copy. */
  hosts: string[];
}

export const noStandby: StandbyCopies = { readLocal: () => undefined, hosts: [] };

export interface ViewSource {
  /** host:port this instance is reached at. */
  readonly endpoint: string;
  lookup(key: Buffer): Lookup;
  /** Is `endpoint` a current member of the group? Requests are only ever forwarded to members. */
  isMember(endpoint: string): boolean;
  readiness(): { ready: boolean; reason?: string };
}
