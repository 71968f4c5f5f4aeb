import type { Backend, MockDomainIds } from './backend.js';
import { type Memory, type RangeOptions, userRange } from './memory.js';
import { toU64 } from './validate.js';

/**
 * A mock device of CONFIG_IOMMUFD_TEST attached to a mock domain
 * (IOMMU_TEST_OP_MOCK_DOMAIN): the selftest device object, its hardware page
 * table and its bound device id.
 */
export class MockDevice implements MockDomainIds {
  readonly stdevId: number;
  readonly hwptId: number;
  readonly idevId: number;
  readonly #backend: Backend;

  /** @internal Created by Iommufd.mockDomain(). */
  constructor(backend: Backend, ids: MockDomainIds) {
    this.#backend = backend;
    this.stdevId = ids.stdevId;
    this.hwptId = ids.hwptId;
    this.idevId = ids.idevId;
  }

  /**
   * IOMMU_TEST_OP_MD_CHECK_MAP: the mock domain translates [iova, iova + length)
   * to exactly the pages of `memory` in the given window. Throws EINVAL otherwise.
   */
  checkMap(iova: bigint | number, memory: Memory, range: RangeOptions = {}): void {
    this.#backend.mdCheckMap(this.hwptId, toU64(iova, 'iova'), userRange(memory, range));
  }

  /** Destroy the mock device, which detaches it and frees its automatic domain. */
  destroy(): void {
    this.#backend.destroy(this.stdevId);
  }
}
