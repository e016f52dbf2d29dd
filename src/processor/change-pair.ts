/**
 * The value of a repartition record: a row's new and old contribution to its
 * group, each optional. Layout: [flags][u32 length of new][new][old], where
 * flag bit 0 = new present, bit 1 = old present.
 */
import { DeserializationError } from '../serdes/serde.js';

export interface ChangePair {
  readonly newValue: Buffer | null;
  readonly oldValue: Buffer | null;
}

export function encodeChangePair(newValue: Buffer | null, oldValue: Buffer | null): Buffer {
  const newLength = newValue?.length ?? 0;
  const out = Buffer.allocUnsafe(5 + newLength + (oldValue?.length ?? 0));
  out[0] = (newValue ? 1 : 0) | (oldValue ? 2 : 0);
  out.writeUInt32BE(newLength, 1);
  if (newValue) newValue.copy(out, 5);
  if (oldValue) oldValue.copy(out, 5 + newLength);
  return out;
}

export function decodeChangePair(bytes: Buffer): ChangePair {
  if (bytes.length < 5) throw new DeserializationError('change-pair', `expected at least 5 bytes, got ${bytes.length}`);
  const flags = bytes[0]!;
  const newLength = bytes.readUInt32BE(1);
  if (flags > 3 || 5 + newLength > bytes.length) throw new DeserializationError('change-pair', 'malformed header');
  return {
    newValue: flags & 1 ? bytes.subarray(5, 5 + newLength) : null,
    oldValue: flags & 2 ? bytes.subarray(5 + newLength) : null,
  };
}
