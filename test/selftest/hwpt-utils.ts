// Helpers in the spirit of the kernel's iommufd_utils.h for the HWPT and device
// side of the ports (ioas-basic, ioas-hwpt): IOTLB checks, hw info, IOPF triggers,
// and Lacking (skip by kernel feature).
import { expect } from 'vitest';
import {
  IOMMU_HW_INFO_SELFTEST_REGVAL,
  IOMMU_PGFAULT_PERM_READ,
  IOMMU_PGFAULT_PERM_WRITE,
  type FaultQueue,
  IOMMU_HW_INFO_TYPE_SELFTEST,
  MOCK_NESTED_DOMAIN_IOTLB_NUM,
  MockDevice,
  type HwInfoOptions,
  type Hwpt,
} from '../../lib/index.js';
import { kernelLacks } from './harness.js';
import type { IoasSelf } from './ioas-fixture.js';

/** sizeof(struct iommu_test_hw_info): u32 flags, u32 test_reg. */
export const TEST_HW_INFO_SIZE = 8;

/** 1 << (ffs(length) - 1): the lowest set bit, the alignment the kernel gives an IOVA of this length. */
export function lowestSetBit(length: number): bigint {
  return BigInt(length & -length);
}

/**
 * The mock device behind self->stdev_id / self->device_id. Without a mock domain
 * (no_domain) those ids are 0, and ops on them fail in the kernel as in the C test.
 */
export function selfMock(self: IoasSelf): MockDevice {
  return (
    self.mocks.at(-1) ??
    new MockDevice(self.fd.backend, { stdevId: self.stdevId, hwptId: self.hwptId, idevId: self.deviceId })
  );
}

/** test_cmd_hwpt_check_iotlb_all(): every IOTLB entry of a nested mock HWPT holds `value`. */
export function checkIotlbAll(hwpt: Hwpt, value: number): void {
  for (let i = 0; i < MOCK_NESTED_DOMAIN_IOTLB_NUM; i++) hwpt.checkIotlb(i, value);
}

/** test_cmd_hwpt_check_iotlb() of each IOTLB entry, against one value each. */
export function checkIotlbs(hwpt: Hwpt, values: readonly number[]): void {
  values.forEach((value, i) => hwpt.checkIotlb(i, value));
}

/**
 * test_cmd_get_hw_info(): IOMMU_GET_HW_INFO into `data` (null: no buffer, as
 * NULL/0), then what _test_cmd_get_hw_info() asserts: the selftest type, the
 * driver's exact length, zeroed trailing bytes, and the fields within the
 * buffer. `data` is filled with 0xff first so zeroing and writes are visible.
 * Returns out_max_pasid_log2.
 */
export function getHwInfo(self: IoasSelf, deviceId: number, data: Uint8Array | null, options: HwInfoOptions = {}): number {
  const buf = data ?? new Uint8Array(0);
  buf.fill(0xff);
  const info = self.fd.hwInfo(deviceId, buf, options);
  expect(info.dataType).toBe(IOMMU_HW_INFO_TYPE_SELFTEST);
  expect(info.dataLen).toBe(TEST_HW_INFO_SIZE);
  if (buf.length > info.dataLen) expect(buf.subarray(info.dataLen).every((b) => b === 0)).toBe(true);
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  if (buf.length >= 8) expect(view.getUint32(4, true)).toBe(IOMMU_HW_INFO_SELFTEST_REGVAL);
  if (buf.length >= 4) expect(view.getUint32(0, true)).toBe(0);
  return info.maxPasidLog2;
}

/**
 * test_cmd_trigger_iopf(): the device reports a fault (pasid 1, group 2, read and
 * write), the fault queue has it to read, and takes the answer for its cookie.
 */
export function triggerIopf(mock: MockDevice, fault: FaultQueue): void {
  mock.triggerIopf({ pasid: 0x1, grpid: 0x2, perm: IOMMU_PGFAULT_PERM_READ | IOMMU_PGFAULT_PERM_WRITE, addr: 0xdeadbeafn });
  const faults = fault.read(1);
  expect(faults.length).toBeGreaterThan(0);
  expect(fault.respond([{ cookie: faults[0]!.cookie, success: true }])).toBeGreaterThan(0);
}

/**
 * Features of newer kernels that a test found missing on the way: the test goes
 * on with what the kernel has and, at its end, skips with every reason found
 * (`kernelLacks()`), so a lacking kernel never reports a pass.
 */
export class Lacking {
  readonly #features: string[] = [];
  constructor(private readonly ctx: { skip: (note?: string) => void }) {}

  note(feature: string): void {
    this.#features.push(feature);
  }

  /** Call last in the test body. */
  finish(): void {
    if (this.#features.length) kernelLacks(this.ctx, this.#features.join(', '));
  }
}
