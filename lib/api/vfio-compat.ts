import type { Backend, VfioIommuInfo } from '../backend/contract.js';
import { ClosedError } from '../base/errors.js';
import { MappingRefs } from '../memory/mapping-refs.js';
import { type Memory, type RangeOptions, mappableRange, userRange } from '../memory/memory.js';
import { IOMMU_VFIO_IOAS_GET, VFIO_DMA_MAP_FLAG_READ, VFIO_DMA_MAP_FLAG_WRITE, VFIO_DMA_UNMAP_FLAG_ALL } from '../uapi/constants.js';
import { toOptions, toU32, toU64 } from '../base/validate.js';

export interface VfioMapOptions extends RangeOptions {
  /** Default true. */
  read?: boolean;
  /** Default true. */
  write?: boolean;
}

/**
 * The VFIO type1 container ioctls that iommufd answers on /dev/iommu
 * (vfio_compat.c). Mappings land in the IOAS chosen by IOMMU_VFIO_IOAS (or
 * one VFIO_SET_IOMMU creates) and keep their memory alive like Ioas mappings.
 */
export class VfioCompat {
  readonly #backend: Backend;
  // Per IOAS id: the compat ioctls act on whichever IOAS IOMMU_VFIO_IOAS set
  // last, so an unmap after a switch must not drop what the first IOAS maps.
  readonly #mappings = new Map<number, MappingRefs>();
  #gone = false;

  /** @internal Created by Iommufd.vfio. */
  constructor(backend: Backend) {
    this.#backend = backend;
  }

  /** VFIO_GET_API_VERSION. */
  apiVersion(): number {
    this.#checkAlive();
    return this.#backend.vfioGetApiVersion();
  }

  /** VFIO_CHECK_EXTENSION: nonzero when supported. */
  checkExtension(extension: number): number {
    this.#checkAlive();
    return this.#backend.vfioCheckExtension(toU32(extension, 'extension'));
  }

  /** VFIO_SET_IOMMU with VFIO_TYPE1_IOMMU or VFIO_TYPE1v2_IOMMU. */
  setIommu(type: number): void {
    this.#checkAlive();
    this.#backend.vfioSetIommu(toU32(type, 'type'));
  }

  /** VFIO_IOMMU_GET_INFO with its capability chain parsed. */
  info(): VfioIommuInfo {
    this.#checkAlive();
    return this.#backend.vfioIommuGetInfo();
  }

  /** VFIO_IOMMU_MAP_DMA of `memory` (a window of it) at `iova`. */
  mapDma(iova: bigint | number, memory: Memory, options: VfioMapOptions = {}): void {
    options = toOptions(options);
    this.#checkAlive();
    const at = toU64(iova, 'iova');
    const range = mappableRange(memory, options);
    let flags = 0;
    if (options.read ?? true) flags |= VFIO_DMA_MAP_FLAG_READ;
    if (options.write ?? true) flags |= VFIO_DMA_MAP_FLAG_WRITE;
    this.#backend.vfioMapDma(flags, range, at);
    this.#refs(this.#compatIoas()).add(at, range.length, memory);
  }

  /** VFIO_IOMMU_UNMAP_DMA of [iova, iova + size). Returns the bytes unmapped. */
  unmapDma(iova: bigint | number, size: bigint | number, flags = 0): bigint {
    this.#checkAlive();
    const at = toU64(iova, 'iova');
    const length = toU64(size, 'size');
    const unmapped = this.#backend.vfioUnmapDma(toU32(flags, 'flags'), at, length);
    this.#mappings.get(this.#compatIoas())?.forgetInside(at, length);
    return unmapped;
  }

  /** VFIO_IOMMU_UNMAP_DMA with VFIO_DMA_UNMAP_FLAG_ALL. */
  unmapAll(): bigint {
    this.#checkAlive();
    const unmapped = this.#backend.vfioUnmapDma(VFIO_DMA_UNMAP_FLAG_ALL, 0n, 0n);
    this.#mappings.get(this.#compatIoas())?.forgetAll();
    return unmapped;
  }

  /** @internal The references of what these ioctls mapped into IOAS `ioasId` (for IOAS_COPY from it). */
  refsOf(ioasId: number): MappingRefs | undefined {
    return this.#mappings.get(ioasId);
  }

  /** @internal The iommufd closed; see Ioas.gone() for `keepRefs`. */
  gone(keepRefs = false): MappingRefs[] {
    this.#gone = true;
    const all = [...this.#mappings.values()];
    if (keepRefs) return all;
    for (const refs of all) refs.forgetAll();
    return [];
  }

  // The IOAS a compat ioctl that just succeeded acted on (get_compat_ioas()).
  #compatIoas(): number {
    return this.#backend.vfioIoas(IOMMU_VFIO_IOAS_GET, 0);
  }

  #refs(ioasId: number): MappingRefs {
    let refs = this.#mappings.get(ioasId);
    if (!refs) this.#mappings.set(ioasId, (refs = new MappingRefs()));
    return refs;
  }

  #checkAlive(): void {
    if (this.#gone) throw new ClosedError('the iommufd of these VFIO compat ioctls is closed');
  }
}
