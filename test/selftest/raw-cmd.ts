// Struct bytes for fd.rawIoctl() in the selftest ports (the C tests' stack structs).

/** A command buffer: little-endian field setters over `length` zeroed bytes. */
export class Cmd {
  readonly bytes: Uint8Array;
  readonly view: DataView;
  /** `length` zeroed bytes, or a view over existing bytes (e.g. the global buffer). */
  constructor(lengthOrBytes: number | Uint8Array) {
    this.bytes = typeof lengthOrBytes === 'number' ? new Uint8Array(lengthOrBytes) : lengthOrBytes;
    this.view = new DataView(this.bytes.buffer, this.bytes.byteOffset, this.bytes.byteLength);
  }
  u16(at: number, v?: number): number {
    if (v !== undefined) this.view.setUint16(at, v, true);
    return this.view.getUint16(at, true);
  }
  u32(at: number, v?: number): number {
    if (v !== undefined) this.view.setUint32(at, v, true);
    return this.view.getUint32(at, true);
  }
  u64(at: number, v?: bigint): bigint {
    if (v !== undefined) this.view.setBigUint64(at, v, true);
    return this.view.getBigUint64(at, true);
  }
}
