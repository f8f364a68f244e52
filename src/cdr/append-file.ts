/**
 * A file opened for appending whose size is tracked here, so that a batch that fails halfway can be cut
 * back to where it began, and the fsync of the file and of its directory entry that make a write durable.
 */
import { open, type FileHandle } from 'node:fs/promises';

export interface AppendFile {
  readonly path: string;
  readonly handle: FileHandle;
  /** Bytes in the file: a failed batch is cut back to this. */
  size: number;
}

export async function openAppendFile(path: string): Promise<AppendFile> {
  const handle = await open(path, 'a+');
  try {
    const { size } = await handle.stat();
    return { path, handle, size };
  } catch (err) {
    await handle.close().catch(() => {});
    throw err;
  }
}

async function writeAll(handle: FileHandle, data: Buffer): Promise<void> {
  for (let off = 0; off < data.length; ) {
    const { bytesWritten } = await handle.write(data, off, data.length - off, null);
    off += bytesWritten;
  }
}

export async function appendToFile(file: AppendFile, data: Buffer): Promise<void> {
  if (data.length > 0) await writeAll(file.handle, data);
  file.size += data.length;
}

export async function truncateFile(file: AppendFile, size: number): Promise<void> {
  await file.handle.truncate(size);
  file.size = size;
}

/** Closing happens on the way out of a failure or at shutdown, where a close error has nothing left to protect. */
export async function closeFileQuietly(file: AppendFile): Promise<void> {
  await file.handle.close().catch(() => {});
}

/** Makes a new directory entry durable; not every platform can open a directory, which is then skipped. */
export async function syncDirectory(path: string): Promise<void> {
  let dir: FileHandle | undefined;
  try {
    dir = await open(path, 'r');
    await dir.sync();
  } catch {
    // best effort: EISDIR/EPERM on platforms without directory fsync
  } finally {
    await dir?.close().catch(() => {});
  }
}
