// A file read by byte ranges: in memory, a Blob (a File the user chose, a file in the browser's Origin Private File
// System, or on Node a file opened with fs.openAsBlob), so that a multi-gigabyte checkpoint is read tensor by tensor
// and never held whole.
export interface ByteSource {
  /** How messages name the file. */
  readonly name: string;
  readonly size: number;
  read(offset: number, length: number): Promise<Uint8Array>;
  /** The same, at once, where the bytes are in memory already. */
  readSync?(offset: number, length: number): Uint8Array;
}

export function memorySource(bytes: Uint8Array | ArrayBuffer, name: string): ByteSource {
  const u8 = bytes instanceof Uint8Array ? bytes : new Uint8Array(bytes);
  const readSync = (offset: number, length: number) => u8.subarray(offset, offset + length);
  return { name, size: u8.byteLength, readSync, read: async (offset, length) => readSync(offset, length) };
}

export function blobSource(blob: Blob, name: string): ByteSource {
  return {
    name,
    size: blob.size,
    read: async (offset, length) => new Uint8Array(await blob.slice(offset, offset + length).arrayBuffer()),
  };
}
