// IOMMU_GET_HW_INFO driver data, decoded. For Intel VT-d the kernel reports the
// raw Capability (CAP_REG, offset 0x08) and Extended Capability (ECAP_REG,
// offset 0x10) registers; the fields below follow the register layout of the
// Intel VT-d specification (rev. 4.x, section 11.4.2 / 11.4.3), which is also
// what drivers/iommu/intel/iommu.h decodes (cap_* / ecap_* macros).
import type { HwInfoResult } from '../api/iommufd.js';
import {
  IOMMU_HW_CAP_DIRTY_TRACKING,
  IOMMU_HW_CAP_PCI_PASID_EXEC,
  IOMMU_HW_CAP_PCI_PASID_PRIV,
  IOMMU_HW_CAP_PCI_ATS_NOT_SUPPORTED,
  IOMMU_HW_INFO_TYPE_INTEL_VTD,
  IOMMU_HW_INFO_TYPE_NONE,
  IOMMU_HW_INFO_TYPE_SELFTEST,
} from '../uapi/constants.js';

/** IOMMU_HW_INFO_TYPE_ARM_SMMUV3, defined by the uapi of Linux 6.14 and later. */
export const IOMMU_HW_INFO_TYPE_ARM_SMMUV3 = 2;
/** struct iommu_hw_info_vtd flags: no read-only mappings on a nest-parent domain (Sapphire Rapids erratum 772415). */
export const IOMMU_HW_INFO_VTD_ERRATA_772415_SPR17 = 1 << 0;

const bit = (reg: bigint, n: number): boolean => ((reg >> BigInt(n)) & 1n) === 1n;
const field = (reg: bigint, lo: number, width: number): number => Number((reg >> BigInt(lo)) & ((1n << BigInt(width)) - 1n));

/** CAP_REG, field by field. */
export interface VtdCap {
  /** ND: number of domain ids supported (2^(4 + 2*ND)). */
  numDomains: number;
  /** AFL: advanced fault logging. */
  advancedFaultLogging: boolean;
  /** RWBF: required write-buffer flushing. */
  requiredWriteBufferFlushing: boolean;
  /** PLMR / PHMR: protected low / high memory regions. */
  protectedLowMemoryRegion: boolean;
  protectedHighMemoryRegion: boolean;
  /** CM: caching mode (set by virtual IOMMUs: not-present entries may be cached). */
  cachingMode: boolean;
  /** SAGAW: supported adjusted guest address widths, as bits of page-table levels (39 = 3-level, 48 = 4-level, 57 = 5-level). */
  sagaw: number;
  supportedAddressWidths: number[];
  /** MGAW: maximum guest address width in bits. */
  maxGuestAddressWidth: number;
  /** ZLR: zero-length reads. */
  zeroLengthRead: boolean;
  /** FRO: fault-recording register offset, in bytes from the register base. */
  faultRecordingOffset: number;
  /** SLLPS: second-stage large page support: 2 MiB, 1 GiB (and reserved bits). */
  sllps: number;
  secondStageLargePages: ('2M' | '1G' | '512G' | '1T')[];
  /** PSI: page-selective invalidation. */
  pageSelectiveInvalidation: boolean;
  /** NFR: number of fault-recording registers. */
  numFaultRecordingRegisters: number;
  /** MAMV: maximum address mask value for page-selective invalidation. */
  maxAddressMaskValue: number;
  /** DWD / DRD: write / read draining. */
  writeDraining: boolean;
  readDraining: boolean;
  /** FS1GP: first-stage 1 GiB pages. */
  firstStage1GPages: boolean;
  /** PI: posted interrupts. */
  postedInterrupts: boolean;
  /** FS5LP: first-stage 5-level paging. */
  firstStage5LevelPaging: boolean;
  /** ECMDS: enhanced command support. */
  enhancedCommand: boolean;
  /** ESIRTPS / ESRTPS: enhanced set interrupt-remap-table / root-table pointer. */
  enhancedSetIrtp: boolean;
  enhancedSetRtp: boolean;
}

/** ECAP_REG, field by field. */
export interface VtdEcap {
  /** C: page-walk coherency. */
  coherent: boolean;
  /** QI: queued invalidation. */
  queuedInvalidation: boolean;
  /** DT: device-TLB (ATS). */
  deviceTlb: boolean;
  /** IR: interrupt remapping. */
  interruptRemapping: boolean;
  /** EIM: extended (x2APIC) interrupt mode. */
  extendedInterruptMode: boolean;
  /** PT: pass-through translation. */
  passThrough: boolean;
  /** SC: snoop control. */
  snoopControl: boolean;
  /** IRO: IOTLB register offset, in bytes from the register base. */
  iotlbRegisterOffset: number;
  /** MHMV: maximum handle mask value. */
  maxHandleMaskValue: number;
  /** MTS: memory type support. */
  memoryTypes: boolean;
  /** NEST: nested translation. */
  nested: boolean;
  /** PRS: page requests. */
  pageRequests: boolean;
  /** ERS: execute requests. */
  executeRequests: boolean;
  /** SRS: supervisor requests. */
  supervisorRequests: boolean;
  /** NWFS: no write flag. */
  noWriteFlag: boolean;
  /** EAFS: extended accessed flag. */
  extendedAccessedFlag: boolean;
  /** PSS: PASID size supported, in bits (PSS + 1). */
  pasidBits: number;
  /** PASID: process address space ids. */
  pasid: boolean;
  /** DIT: device-TLB invalidation throttling. */
  deviceTlbInvalidationThrottling: boolean;
  /** PDS: page-request drain. */
  pageRequestDrain: boolean;
  /** SMTS: scalable-mode translation. */
  scalableMode: boolean;
  /** VCS: virtual command. */
  virtualCommand: boolean;
  /** SSADS (SLADS): second-stage accessed/dirty bits: what dirty tracking needs. */
  secondStageAccessedDirty: boolean;
  /** SSTS (SLTS): second-stage translation. */
  secondStageTranslation: boolean;
  /** FSTS (FLTS): first-stage translation. */
  firstStageTranslation: boolean;
  /** SMPWC: scalable-mode page-walk coherency. */
  scalableModePageWalkCoherency: boolean;
  /** RPS: RID_PASID. */
  ridPasid: boolean;
  /** PMS: performance monitoring. */
  performanceMonitoring: boolean;
}

export function decodeVtdCap(cap: bigint): VtdCap {
  const sagaw = field(cap, 8, 5);
  const sllps = field(cap, 34, 4);
  return {
    numDomains: 2 ** (4 + 2 * field(cap, 0, 3)),
    advancedFaultLogging: bit(cap, 3),
    requiredWriteBufferFlushing: bit(cap, 4),
    protectedLowMemoryRegion: bit(cap, 5),
    protectedHighMemoryRegion: bit(cap, 6),
    cachingMode: bit(cap, 7),
    sagaw,
    supportedAddressWidths: [
      [1, 39],
      [2, 48],
      [3, 57],
    ].flatMap(([b, width]) => ((sagaw >> b!) & 1 ? [width!] : [])),
    maxGuestAddressWidth: field(cap, 16, 6) + 1,
    zeroLengthRead: bit(cap, 22),
    faultRecordingOffset: field(cap, 24, 10) * 16,
    sllps,
    secondStageLargePages: (['2M', '1G', '512G', '1T'] as const).filter((_, i) => (sllps >> i) & 1),
    pageSelectiveInvalidation: bit(cap, 39),
    numFaultRecordingRegisters: field(cap, 40, 8) + 1,
    maxAddressMaskValue: field(cap, 48, 6),
    writeDraining: bit(cap, 54),
    readDraining: bit(cap, 55),
    firstStage1GPages: bit(cap, 56),
    postedInterrupts: bit(cap, 59),
    firstStage5LevelPaging: bit(cap, 60),
    enhancedCommand: bit(cap, 61),
    enhancedSetIrtp: bit(cap, 62),
    enhancedSetRtp: bit(cap, 63),
  };
}

export function decodeVtdEcap(ecap: bigint): VtdEcap {
  return {
    coherent: bit(ecap, 0),
    queuedInvalidation: bit(ecap, 1),
    deviceTlb: bit(ecap, 2),
    interruptRemapping: bit(ecap, 3),
    extendedInterruptMode: bit(ecap, 4),
    passThrough: bit(ecap, 6),
    snoopControl: bit(ecap, 7),
    iotlbRegisterOffset: field(ecap, 8, 10) * 16,
    maxHandleMaskValue: field(ecap, 20, 4),
    memoryTypes: bit(ecap, 25),
    nested: bit(ecap, 26),
    pageRequests: bit(ecap, 29),
    executeRequests: bit(ecap, 30),
    supervisorRequests: bit(ecap, 31),
    noWriteFlag: bit(ecap, 33),
    extendedAccessedFlag: bit(ecap, 34),
    pasidBits: bit(ecap, 40) ? field(ecap, 35, 5) + 1 : 0,
    pasid: bit(ecap, 40),
    deviceTlbInvalidationThrottling: bit(ecap, 41),
    pageRequestDrain: bit(ecap, 42),
    scalableMode: bit(ecap, 43),
    virtualCommand: bit(ecap, 44),
    secondStageAccessedDirty: bit(ecap, 45),
    secondStageTranslation: bit(ecap, 46),
    firstStageTranslation: bit(ecap, 47),
    scalableModePageWalkCoherency: bit(ecap, 48),
    ridPasid: bit(ecap, 49),
    performanceMonitoring: bit(ecap, 51),
  };
}

/** What the capabilities word of IOMMU_GET_HW_INFO says, by name. */
export interface HwCapabilities {
  raw: bigint;
  dirtyTracking: boolean;
  pciPasidExec: boolean;
  pciPasidPriv: boolean;
  /** IOMMU_HW_CAP_PCI_ATS_NOT_SUPPORTED (7.3; 6.12 never sets it). */
  pciAtsNotSupported: boolean;
}

export function decodeHwCapabilities(raw: bigint): HwCapabilities {
  return {
    raw,
    dirtyTracking: (raw & BigInt(IOMMU_HW_CAP_DIRTY_TRACKING)) !== 0n,
    pciPasidExec: (raw & BigInt(IOMMU_HW_CAP_PCI_PASID_EXEC)) !== 0n,
    pciPasidPriv: (raw & BigInt(IOMMU_HW_CAP_PCI_PASID_PRIV)) !== 0n,
    pciAtsNotSupported: (raw & BigInt(IOMMU_HW_CAP_PCI_ATS_NOT_SUPPORTED)) !== 0n,
  };
}

interface DecodedBase {
  /** The IOMMU_HW_INFO_TYPE_* number. */
  typeNumber: number;
  maxPasidLog2: number;
  capabilities: HwCapabilities;
  /** The driver data as the kernel wrote it. */
  data: Uint8Array;
}

export type DecodedHwInfo =
  | (DecodedBase & {
      type: 'intel-vtd';
      flags: number;
      /** IOMMU_HW_INFO_VTD_ERRATA_772415_SPR17: read-only mappings are refused on a nest-parent domain (the 6.12 driver always sets it). */
      errata772415: boolean;
      capReg: bigint;
      ecapReg: bigint;
      cap: VtdCap;
      ecap: VtdEcap;
    })
  | (DecodedBase & {
      type: 'arm-smmuv3';
      flags: number;
      /** SMMU_IDR0..5, SMMU_IIDR, SMMU_AIDR as the kernel reports them (raw). */
      idr: number[];
      iidr: number;
      aidr: number;
    })
  | (DecodedBase & { type: 'selftest'; flags: number; testReg: number })
  | (DecodedBase & { type: 'none' })
  | (DecodedBase & { type: 'unknown' });

/**
 * Decode the driver data of IOMMU_GET_HW_INFO: VT-d registers into named
 * fields; the other types the uapi defines into their registers; anything
 * else raw, with its type number.
 */
export function decodeHwInfo(info: HwInfoResult): DecodedHwInfo {
  const data = info.data;
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const base: DecodedBase = {
    typeNumber: info.dataType,
    maxPasidLog2: info.maxPasidLog2,
    capabilities: decodeHwCapabilities(info.capabilities),
    data,
  };
  const need = (n: number): void => {
    if (data.byteLength < n)
      throw new RangeError(`hw info type ${info.dataType} needs ${n} bytes of data, got ${data.byteLength}`);
  };
  switch (info.dataType) {
    case IOMMU_HW_INFO_TYPE_INTEL_VTD: {
      need(24);
      const flags = view.getUint32(0, true);
      const capReg = view.getBigUint64(8, true);
      const ecapReg = view.getBigUint64(16, true);
      return {
        ...base,
        type: 'intel-vtd',
        flags,
        errata772415: (flags & IOMMU_HW_INFO_VTD_ERRATA_772415_SPR17) !== 0,
        capReg,
        ecapReg,
        cap: decodeVtdCap(capReg),
        ecap: decodeVtdEcap(ecapReg),
      };
    }
    case IOMMU_HW_INFO_TYPE_ARM_SMMUV3: {
      need(40);
      const idr = Array.from({ length: 6 }, (_, i) => view.getUint32(8 + 4 * i, true));
      return { ...base, type: 'arm-smmuv3', flags: view.getUint32(0, true), idr, iidr: view.getUint32(32, true), aidr: view.getUint32(36, true) };
    }
    case IOMMU_HW_INFO_TYPE_SELFTEST:
      need(8);
      return { ...base, type: 'selftest', flags: view.getUint32(0, true), testReg: view.getUint32(4, true) };
    case IOMMU_HW_INFO_TYPE_NONE:
      return { ...base, type: 'none' };
    default:
      return { ...base, type: 'unknown' };
  }
}
