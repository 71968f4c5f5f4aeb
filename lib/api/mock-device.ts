import type { Backend, MockDomainIds } from '../backend/contract.js';
import { ClosedError, IommufdError } from '../base/errors.js';
import { Hwpt, type Owner } from './hwpt.js';
import { Ioas } from './ioas.js';
import { type Memory, type RangeOptions, userRange } from '../memory/memory.js';
import { expectInstance, expectRecord, setOwner, toOptions, toU32, toU64 } from '../base/validate.js';

export interface IopfOptions {
  pasid?: number;
  grpid?: number;
  /** IOMMU_PGFAULT_PERM_* bits. */
  perm?: number;
  addr: bigint | number;
}

/**
 * A mock device of CONFIG_IOMMUFD_TEST attached to a mock domain
 * (IOMMU_TEST_OP_MOCK_DOMAIN[_FLAGS]): the selftest device object, the
 * hardware page table it is attached to, and its bound device id.
 */
export class MockDevice implements MockDomainIds, Disposable {
  readonly stdevId: number;
  readonly idevId: number;
  /**
   * Created with `hugeIova`: its mock domains use huge IO pages, and
   * Iommufd.allocHwpt() for it on an IOAS asks for them where the kernel needs
   * that said per HWPT (MOCK_IOMMUPT_HUGE of 7.3).
   */
  readonly hugeIova: boolean;
  readonly #backend: Backend;
  readonly #owner: Owner | undefined;
  #hwptId: number;
  /**
   * The MOCK_IOMMUPT_HUGE HWPT made for this device where the kernel has no
   * MOCK_FLAGS_DEVICE_HUGE_IOVA: like 6.12's automatic domain, it goes when the
   * device leaves it (replace, destroy) unless something else uses it.
   */
  #ownedHwptId: number | undefined;
  #destroyed = false;

  /** @internal Created by Iommufd.mockDomain(). */
  constructor(backend: Backend, ids: MockDomainIds, owner?: Owner, huge?: { ownedHwptId?: number }) {
    setOwner(this, backend);
    this.#backend = backend;
    this.stdevId = ids.stdevId;
    this.#hwptId = ids.hwptId;
    this.idevId = ids.idevId;
    this.#owner = owner;
    this.hugeIova = huge !== undefined;
    this.#ownedHwptId = huge?.ownedHwptId;
  }

  /** destroy() ran, or the iommufd was closed. */
  get destroyed(): boolean {
    return this.#destroyed || this.#owner?.closed === true;
  }

  /** The HWPT the device is attached to now. */
  get hwptId(): number {
    return this.#hwptId;
  }

  /** That HWPT as an object (for dirty tracking and the mock's checks). */
  get hwpt(): Hwpt {
    this.#checkAlive();
    return new Hwpt(this.#backend, this.#hwptId, this.#owner);
  }

  /**
   * IOMMU_TEST_OP_MD_CHECK_MAP: the mock domain translates [iova, iova + length)
   * to exactly the pages of `memory` in the given window. Throws EINVAL otherwise.
   */
  checkMap(iova: bigint | number, memory: Memory, range: RangeOptions = {}): void {
    range = toOptions(range, 'range');
    this.#checkAlive();
    this.#backend.mdCheckMap(this.#hwptId, toU64(iova, 'iova'), userRange(memory, range));
  }

  /** IOMMU_TEST_OP_MOCK_DOMAIN_REPLACE: attach to another IOAS or HWPT. Returns the new HWPT id. */
  replace(target: Ioas | Hwpt | number): number {
    this.#checkAlive();
    const ptId = typeof target === 'number' ? toU32(target, 'ptId') : expectInstance<Ioas | Hwpt>(target, [Ioas, Hwpt], 'target', 'an Ioas, a Hwpt or an id', this.#backend).id;
    this.#hwptId = this.#backend.mockDomainReplace(this.stdevId, ptId);
    if (this.#ownedHwptId !== undefined && this.#ownedHwptId !== this.#hwptId) this.#dropOwnedHwpt();
    return this.#hwptId;
  }

  // ---- PASIDs (7.3's PASID test ops; a device made with MOCK_FLAGS_DEVICE_PASID) ----

  /**
   * IOMMU_TEST_OP_PASID_ATTACH: attach `pasid` to a HWPT allocated with
   * IOMMU_HWPT_ALLOC_PASID (paging or nested). EBUSY if the PASID is attached
   * already (use replacePasid()), EINVAL for an IOAS or a HWPT without that flag,
   * or while the RID is on one without it. Returns the HWPT id.
   */
  attachPasid(pasid: number, target: Hwpt | Ioas | number): number {
    this.#checkAlive();
    return this.#backend.pasidAttach(this.stdevId, toPasid(pasid), this.#ptId(target));
  }

  /** IOMMU_TEST_OP_PASID_REPLACE: move an attached `pasid` to another HWPT (EINVAL if not attached). */
  replacePasid(pasid: number, target: Hwpt | Ioas | number): number {
    this.#checkAlive();
    return this.#backend.pasidReplace(this.stdevId, toPasid(pasid), this.#ptId(target));
  }

  /** IOMMU_TEST_OP_PASID_DETACH: detach `pasid`; nothing happens if it is not attached. */
  detachPasid(pasid: number): void {
    this.#checkAlive();
    this.#backend.pasidDetach(this.stdevId, toPasid(pasid));
  }

  /**
   * IOMMU_TEST_OP_PASID_CHECK_HWPT: `pasid` is attached to `hwpt` (null: to
   * nothing). Throws EINVAL otherwise.
   */
  checkPasidHwpt(pasid: number, hwpt: Hwpt | number | null): void {
    this.#checkAlive();
    const hwptId = hwpt === null ? 0 : typeof hwpt === 'number' ? toU32(hwpt, 'hwpt') : expectInstance<Hwpt>(hwpt, [Hwpt], 'hwpt', 'a Hwpt, an id or null', this.#backend).id;
    this.#backend.pasidCheckHwpt(this.stdevId, toPasid(pasid), hwptId);
  }

  #ptId(target: Hwpt | Ioas | number): number {
    return typeof target === 'number' ? toU32(target, 'ptId') : expectInstance<Ioas | Hwpt>(target, [Ioas, Hwpt], 'target', 'an Ioas, a Hwpt or an id', this.#backend).id;
  }

  // ---- vIOMMU test ops (7.3's mock) ----

  /**
   * IOMMU_TEST_OP_DEV_CHECK_CACHE: the device's cache entry `cacheId` holds
   * `value` (IOMMU_TEST_DEV_CACHE_DEFAULT until a vIOMMU invalidation clears it).
   * Throws EINVAL otherwise.
   */
  checkCache(cacheId: number, value: number): void {
    this.#checkAlive();
    this.#backend.devCheckCache(this.idevId, toU32(cacheId, 'cacheId'), toU32(value, 'value'));
  }

  /**
   * IOMMU_TEST_OP_TRIGGER_VEVENT: the device reports a vEVENT carrying its
   * virtual id to the selftest vEVENTQ of its vIOMMU. ENOENT unless it is
   * attached to a nested HWPT of a vIOMMU; EOPNOTSUPP without such a queue.
   */
  triggerVevent(): void {
    this.#checkAlive();
    this.#backend.triggerVevent(this.idevId);
  }

  /** IOMMU_TEST_OP_TRIGGER_IOPF: the device reports an I/O page fault. */
  triggerIopf(options: IopfOptions): void {
    this.#checkAlive();
    expectRecord(options, 'options');
    this.#backend.triggerIopf(
      this.idevId,
      toU32(options.pasid ?? 0, 'pasid'),
      toU32(options.grpid ?? 0, 'grpid'),
      toU32(options.perm ?? 0, 'perm'),
      toU64(options.addr, 'addr'),
    );
  }

  /** Destroy the mock device, which detaches it and frees its automatic domain. */
  destroy(): void {
    this.#checkAlive();
    this.#backend.destroy(this.stdevId);
    this.#destroyed = true;
    // Attached until now, so the id is still that HWPT's.
    if (this.#ownedHwptId !== undefined && this.#ownedHwptId === this.#hwptId) this.#dropOwnedHwpt();
  }

  /** Destroy the device's own huge HWPT, as iommufd_hw_pagetable_put() does an automatic domain. */
  #dropOwnedHwpt(): void {
    const id = this.#ownedHwptId!;
    this.#ownedHwptId = undefined;
    try {
      this.#backend.destroy(id);
    } catch (e) {
      // Another device or HWPT uses it: it stays, as an automatic domain would, until the fd closes.
      if (!(e instanceof IommufdError && e.code === 'EBUSY')) throw e;
    }
  }

  /** destroy(), unless it is gone already (destroyed, or its iommufd closed). */
  [Symbol.dispose](): void {
    if (!this.destroyed) this.destroy();
  }

  #checkAlive(): void {
    if (this.destroyed) throw new ClosedError(`mock device ${this.stdevId} has been destroyed or its iommufd closed`);
  }
}

/** A PASID for the PASID ops: a u32 other than 0 (IOMMU_NO_PASID, the RID: see replace()). */
function toPasid(pasid: number): number {
  toU32(pasid, 'pasid');
  if (pasid === 0) throw new RangeError('pasid 0 is IOMMU_NO_PASID, the device itself: use replace() for it');
  return pasid;
}
