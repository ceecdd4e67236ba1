/**
 * A check SQLite does not make: whether its write-ahead log lost committed transactions.
 * SQLite reads the log's frames in order and stops, silently, at the first whose checksum
 * fails (or ignores the whole log when its header's fails); a bit flipped in the middle of the
 * log drops every commit after it and the database still opens clean (integrity_check reads
 * only what SQLite kept). A torn tail, from a crash in the middle of a write, loses nothing
 * that was committed. Nor does a power cut in the middle of a commit: the store commits with
 * synchronous=FULL, so a transaction's frames reach the disk together only at its commit's
 * sync, and the cut may keep its commit frame but not an earlier one; SQLite rolls that
 * transaction back, and nobody was told it had committed. What shows a loss: after the
 * break, two commit frames of the same log (same salts) that chain from the frames before
 * them. The second transaction was written only after the first's sync had returned, so the
 * break is damage to frames that had reached the disk.
 * The format: https://www.sqlite.org/fileformat.html#the_write_ahead_log
 */
import { readFileSync } from 'node:fs';

const HEADER_BYTES = 32;
const FRAME_HEADER_BYTES = 24;
const MAGIC_LITTLE_ENDIAN = 0x377f0682;
const MAGIC_BIG_ENDIAN = 0x377f0683;

/** SQLite's WAL checksum over `bytes` (a multiple of 8 long), continuing from `[s0, s1]`. */
function checksum(bytes: Buffer, bigEndian: boolean, [first, second]: readonly [number, number]): [number, number] {
  let s0 = first;
  let s1 = second;
  for (let offset = 0; offset < bytes.length; offset += 8) {
    const x0 = bigEndian ? bytes.readUInt32BE(offset) : bytes.readUInt32LE(offset);
    const x1 = bigEndian ? bytes.readUInt32BE(offset + 4) : bytes.readUInt32LE(offset + 4);
    s0 = (s0 + x0 + s1) >>> 0;
    s1 = (s1 + x1 + s0) >>> 0;
  }
  return [s0, s1];
}

/**
 * The number of the first damaged frame of the write-ahead log at `path` (from 1; 0 for its
 * header) when committed transactions follow it, which SQLite would drop without a word; null
 * when the log is whole, ends in a torn write or a commit cut by a power loss, or is absent.
 */
export function walFrameLosingCommits(path: string): number | null {
  let bytes: Buffer;
  try {
    bytes = readFileSync(path);
  } catch (error) {
    if (error instanceof Error && 'code' in error && error.code === 'ENOENT') return null;
    throw error;
  }
  if (bytes.length < HEADER_BYTES) return null;
  const magic = bytes.readUInt32BE(0);
  if (magic !== MAGIC_LITTLE_ENDIAN && magic !== MAGIC_BIG_ENDIAN) return null;
  const bigEndian = magic === MAGIC_BIG_ENDIAN;
  const pageSize = bytes.readUInt32BE(8);
  if (pageSize < 512 || pageSize > 65_536 || (pageSize & (pageSize - 1)) !== 0) return null;
  const frameBytes = FRAME_HEADER_BYTES + pageSize;
  const storedHeaderSum: [number, number] = [bytes.readUInt32BE(24), bytes.readUInt32BE(28)];
  const [h0, h1] = checksum(bytes.subarray(0, 24), bigEndian, [0, 0]);
  const headerWhole = h0 === storedHeaderSum[0] && h1 === storedHeaderSum[1];
  // A damaged header hides the whole log from SQLite: its frames then name their log's salts.
  const saltsAt = headerWhole || bytes.length < HEADER_BYTES + frameBytes ? 16 : HEADER_BYTES + 8;
  const salts = [bytes.readUInt32BE(saltsAt), bytes.readUInt32BE(saltsAt + 4)];
  // Each frame's checksum continues from the one stored before it (the header's for the first),
  // so a frame after a damaged one is still checked against what its writer chained it to.
  let previous = storedHeaderSum;
  let broken: number | null = headerWhole ? null : 0;
  let commitsAfterBreak = 0;
  for (let offset = HEADER_BYTES, frame = 1; offset + frameBytes <= bytes.length; offset += frameBytes, frame += 1) {
    const stored: [number, number] = [bytes.readUInt32BE(offset + 16), bytes.readUInt32BE(offset + 20)];
    const sameLog = bytes.readUInt32BE(offset + 8) === salts[0] && bytes.readUInt32BE(offset + 12) === salts[1];
    const summed = Buffer.concat([bytes.subarray(offset, offset + 8), bytes.subarray(offset + FRAME_HEADER_BYTES, offset + frameBytes)]);
    const [s0, s1] = checksum(summed, bigEndian, previous);
    const valid = sameLog && s0 === stored[0] && s1 === stored[1];
    if (!valid) broken ??= frame;
    else if (broken !== null && bytes.readUInt32BE(offset + 4) !== 0) {
      commitsAfterBreak += 1;
      if (commitsAfterBreak === 2) return broken;
    }
    previous = stored;
  }
  return null;
}
