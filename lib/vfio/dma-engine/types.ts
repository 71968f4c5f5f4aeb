// The DMA-engine interface: "copy N bytes from IOVA a to IOVA b through the
// device". It is what lets a validation prove, with the device itself doing
// the memory accesses, that a mapping really translates, that permissions
// hold and that unmapped IOVAs are blocked.

export interface DmaCopyOptions {
  /** Give up on a transfer the device has not finished after this long; default per engine. */
  timeoutMs?: number;
}

export interface DmaCopyResult {
  /** Device transfers issued (an engine may split a copy into chunks, each read then write). */
  transfers: number;
  /** Wall-clock time the copy took. */
  elapsedMs: number;
}

export interface DmaEngine extends Disposable {
  /** e.g. 'edu'. */
  readonly name: string;
  /** The highest IOVA (inclusive) the device can address: its DMA mask. */
  readonly maxIova: bigint;
  /**
   * Copy `length` bytes from `srcIova` to `dstIova` through the device: the
   * device reads the source and writes the destination with its own DMA, so
   * both go through the IOMMU translation of whatever it is attached to.
   * A blocked transfer does not fail the call (devices rarely report it): the
   * caller compares memory. Copies are serialised per engine.
   */
  copy(srcIova: bigint | number, dstIova: bigint | number, length: number, options?: DmaCopyOptions): Promise<DmaCopyResult>;
  /** Stop using the device (unmaps its registers); the VfioDevice stays open. */
  close(): void;
}

/** The device did not finish a transfer in time. */
export class DmaTimeoutError extends Error {
  override readonly name = 'DmaTimeoutError';
}
