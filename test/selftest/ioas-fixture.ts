// FIXTURE(iommufd_ioas) of the kernel selftest, shared by the files that port its
// tests (ioas-*.test.ts): an fd, one IOAS, 0-2 mock domains attached to it, and the
// temporary memory limit of the variant.
import { Iommufd, IommufdError, MOCK_APERTURE_START, type Ioas, type MockDevice } from '../../lib/index.js';
import { openIommufd } from '../backend.js';
import { fixture, kernelLacks, teardownIommufd } from './harness.js';

/** MOCK_FLAGS_DEVICE_PASID of kernels newer than 6.12 (the shipped selftest uses it). */
export const MOCK_FLAGS_DEVICE_PASID = 1 << 2;
/** MOCK_PASID_WIDTH of those kernels: the max_pasid_log2 their PASID-capable mock reports. */
export const MOCK_PASID_WIDTH = 20;
/** test_ioctl_set_default_memory_limit(): 64 KiB of scratch for page batches. */
export const DEFAULT_MEMORY_LIMIT = 65536;

export interface IoasVariant {
  mockDomains: number;
  /** 0: the default limit; else SET_TEMP_MEMORY_LIMIT to this many bytes. */
  memoryLimit: number;
  pasidCapable: boolean;
}

export const IOAS_VARIANTS: Record<string, IoasVariant> = {
  no_domain: { mockDomains: 0, memoryLimit: 0, pasidCapable: false },
  mock_domain: { mockDomains: 1, memoryLimit: 0, pasidCapable: true },
  two_mock_domain: { mockDomains: 2, memoryLimit: 0, pasidCapable: false },
  mock_domain_limit: { mockDomains: 1, memoryLimit: 16, pasidCapable: false },
};

export interface IoasSelf {
  fd: Iommufd;
  ioas: Ioas;
  /** The mock devices in creation order; the selftest keeps the last one's ids. */
  mocks: MockDevice[];
  /** self->stdev_id / hwpt_id / device_id: the last mock device's, 0 without one. */
  stdevId: number;
  hwptId: number;
  deviceId: number;
  /** MOCK_APERTURE_START with a mock domain (the mock's aperture), else 0. */
  baseIova: bigint;
  /**
   * The PASID-capable mock device's id for the `mock_domain` variant, or null when
   * the kernel lacks MOCK_FLAGS_DEVICE_PASID (6.12 answers EINVAL for the flag).
   */
  devicePasidId: number | null;
}

export const iommufd_ioas = fixture<IoasSelf, IoasVariant>(
  'iommufd_ioas',
  IOAS_VARIANTS,
  (variant) => {
    const fd = openIommufd();
    const self: IoasSelf = {
      fd,
      ioas: fd.allocIoas(),
      mocks: [],
      stdevId: 0,
      hwptId: 0,
      deviceId: 0,
      baseIova: 0n,
      devicePasidId: null,
    };
    fd.setTempMemoryLimit(variant.memoryLimit || DEFAULT_MEMORY_LIMIT);
    for (let i = 0; i !== variant.mockDomains; i++) {
      const mock = fd.mockDomain(self.ioas);
      self.mocks.push(mock);
      self.stdevId = mock.stdevId;
      self.hwptId = mock.hwptId;
      self.deviceId = mock.idevId;
      self.baseIova = MOCK_APERTURE_START;
    }
    if (variant.pasidCapable) self.devicePasidId = pasidDevice(fd, self.ioas);
    return self;
  },
  (self) => {
    self.fd.setTempMemoryLimit(DEFAULT_MEMORY_LIMIT);
    teardownIommufd(self.fd);
  },
);

/** A PASID-capable mock device's idev id, or null when the kernel has no such flag. */
function pasidDevice(fd: Iommufd, ioas: Ioas): number | null {
  try {
    return fd.mockDomain(ioas, { flags: MOCK_FLAGS_DEVICE_PASID }).idevId;
  } catch (e) {
    if (e instanceof IommufdError && e.code === 'EINVAL') return null;
    throw e;
  }
}

/** Skip (as "kernel lacks MOCK_FLAGS_DEVICE_PASID") when the variant wanted a PASID device the kernel can't make. */
export function requirePasidDevice(self: IoasSelf, ctx: { skip: (note?: string) => void }): number {
  if (self.devicePasidId === null) kernelLacks(ctx, 'MOCK_FLAGS_DEVICE_PASID');
  return self.devicePasidId;
}
