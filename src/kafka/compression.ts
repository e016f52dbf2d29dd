/**
 * Decompresses the records of a compressed record batch, for the fetch loop and the restore's reads.
 * The codec is the batch attributes' lowest three bits: gzip and zstd through node:zlib (zstd from
 * Node 22.15 on), snappy and LZ4 through @platformatic/wasm-utils (WebAssembly, no native build).
 * A topic's compression is its producers' choice, or the broker's when the topic sets compression.type.
 */
import zlib from 'node:zlib';
import { lz4Decompress, snappyDecompress } from '@platformatic/wasm-utils';

/** Thrown for a codec this process cannot decompress. */
export class UnsupportedCodecError extends Error {
  override name = 'UnsupportedCodecError';
}

// zstdDecompressSync exists from Node 22.15; @types/node 20 does not declare it.
const zstdDecompressSync = (zlib as { zstdDecompressSync?: (data: Buffer) => Buffer }).zstdDecompressSync;

/** The records of a batch compressed with `codec` (1 to 4), decompressed. */
export function decompressRecords(codec: number, data: Buffer): Buffer {
  switch (codec) {
    case 1:
      return zlib.gunzipSync(data);
    case 2:
      return unsnappy(data);
    case 3:
      return lz4Decompress(data);
    case 4:
      if (!zstdDecompressSync)
        throw new UnsupportedCodecError(`zstd needs Node 22.15 or later (this is ${process.version})`);
      return zstdDecompressSync(data);
    default:
      throw new UnsupportedCodecError(`unknown compression codec ${codec}`);
  }
}

/** xerial's framing (what Kafka's Java producer writes): a 16-byte header, then length-prefixed blocks. */
const XERIAL_MAGIC = Buffer.from([0x82, 0x53, 0x4e, 0x41, 0x50, 0x50, 0x59, 0x00]);
const XERIAL_HEADER = 16;

/** Snappy as Kafka writes it: xerial-framed blocks (the Java client), or one raw block (some others). */
function unsnappy(data: Buffer): Buffer {
  if (data.length < XERIAL_HEADER || !data.subarray(0, XERIAL_MAGIC.length).equals(XERIAL_MAGIC))
    return snappyDecompress(data);
  const blocks: Buffer[] = [];
  let at = XERIAL_HEADER;
  while (at + 4 <= data.length) {
    const length = data.readInt32BE(at);
    blocks.push(snappyDecompress(data.subarray(at + 4, at + 4 + length)));
    at += 4 + length;
  }
  return blocks.length === 1 ? blocks[0]! : Buffer.concat(blocks);
}
