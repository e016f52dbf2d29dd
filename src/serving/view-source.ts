/**
 * Where the HTTP layer gets a view row: from a local store, or the name of the
 * group member that owns it, or why it cannot be answered right now.
 */
export type Lookup =
  /** `value` undefined: the row does not exist (a true 404). */
  | { kind: 'local'; partition: number; value: Buffer | undefined }
  | { kind: 'remote'; partition: number; owner: string }
  | { kind: 'unavailable'; partition: number | undefined; reason: string };

export interface ViewSource {
  /** host:port this instance is reached at. */
  readonly endpoint: string;
  lookup(key: Buffer): Lookup;
  /** Is `endpoint` a current member of the group? Requests are only ever forwarded to members. */
  isMember(endpoint: string): boolean;
  readiness(): { ready: boolean; reason?: string };
}
