import type { Backend, Fault } from '../backend/contract.js';
import { ClosedError } from '../base/errors.js';
import { IOMMUFD_PAGE_RESP_INVALID, IOMMUFD_PAGE_RESP_SUCCESS } from '../uapi/constants.js';
import { expectRecords, toU32 } from '../base/validate.js';

/** The most faults one FaultQueue.read() takes. */
export const MAX_FAULTS_PER_READ = 65536;

/** A fault queue (IOMMU_FAULT_QUEUE_ALLOC): an object id plus an fd to read faults from. */
export class FaultQueue implements Disposable {
  readonly id: number;
  readonly fd: number;
  readonly #backend: Backend;
  readonly #onClose: (queue: FaultQueue) => void;
  #closed = false;

  /** @internal */
  constructor(backend: Backend, ids: { faultId: number; faultFd: number }, onClose: (queue: FaultQueue) => void) {
    this.#backend = backend;
    this.id = ids.faultId;
    this.fd = ids.faultFd;
    this.#onClose = onClose;
  }

  /** Read the queued faults (whole groups, at most `max`); [] when none. Never blocks. */
  read(max = 64): Fault[] {
    this.#checkOpen();
    const count = toU32(max, 'max');
    // The addon reads into a buffer of `max` entries (native/hwpt.cc, same limit).
    if (count > MAX_FAULTS_PER_READ) throw new RangeError(`max must be at most ${MAX_FAULTS_PER_READ} faults per read, got ${count}`);
    return this.#backend.faultRead(this.fd, count);
  }

  /** Answer fault groups by cookie; returns how many responses the kernel took. */
  respond(responses: { cookie: number; success?: boolean; code?: number }[]): number {
    this.#checkOpen();
    return this.#backend.faultRespond(
      this.fd,
      expectRecords<{ cookie: number; success?: boolean; code?: number }>(responses, 'responses').map((r) => ({
        cookie: toU32(r.cookie, 'cookie'),
        code: toU32(r.code ?? (r.success === false ? IOMMUFD_PAGE_RESP_INVALID : IOMMUFD_PAGE_RESP_SUCCESS), 'code'),
      })),
    );
  }

  /** Close the fd; the object goes when nothing uses it (IOMMU_DESTROY or fd close). */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#onClose(this);
    this.#backend.closeFault(this.fd);
  }

  [Symbol.dispose](): void {
    this.close();
  }

  #checkOpen(): void {
    if (this.#closed) throw new ClosedError(`fault queue fd ${this.fd} is closed`);
  }
}
