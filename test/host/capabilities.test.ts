// requires() feature names (lib/backend/capabilities.ts): a typo is an error, not a skip.
import { expect, test } from 'vitest';
import type { Capabilities } from '../../lib/index.js';
import { missingFeatures } from '../../lib/backend/capabilities.js';

const caps: Capabilities = {
  backend: 'sim',
  kernel: 'sim-6.12',
  ioctls: { IOMMU_IOAS_MAP: true, IOMMU_HWPT_ALLOC: false, VFIO_SET_IOMMU: true },
  testOps: { MOCK_DOMAIN: true, DIRTY: false },
  failNth: false,
};

test('known features: the ones the backend lacks, in order', () => {
  expect(missingFeatures(caps, ['IOMMU_IOAS_MAP', 'MOCK_DOMAIN', 'VFIO_SET_IOMMU'])).toEqual([]);
  expect(missingFeatures(caps, ['DIRTY', 'IOMMU_IOAS_MAP', 'failNth', 'IOMMU_HWPT_ALLOC'])).toEqual(['DIRTY', 'failNth', 'IOMMU_HWPT_ALLOC']);
  expect(missingFeatures({ ...caps, failNth: true }, ['failNth'])).toEqual([]);
});

test('an unknown feature is a TypeError naming it and the valid names, even beside missing ones', () => {
  expect(() => missingFeatures(caps, ['DIRTY', 'TYPO'])).toThrow(TypeError);
  expect(() => missingFeatures(caps, ['TYPO'])).toThrow(
    "requires(): unknown feature 'TYPO'; features are ioctl names (IOMMU_IOAS_MAP, IOMMU_HWPT_ALLOC, VFIO_SET_IOMMU), " +
      "test ops without IOMMU_TEST_OP_ (MOCK_DOMAIN, DIRTY) or 'failNth'",
  );
});

test('a near miss suggests the name it probably meant', () => {
  expect(() => missingFeatures(caps, ['IOMMU_TEST_OP_MOCK_DOMAIN'])).toThrow("unknown feature 'IOMMU_TEST_OP_MOCK_DOMAIN' (did you mean 'MOCK_DOMAIN'?)");
  expect(() => missingFeatures(caps, ['iommu_ioas_map'])).toThrow("(did you mean 'IOMMU_IOAS_MAP'?)");
  expect(() => missingFeatures(caps, ['IOMMU_IOAS_MAPP', 'failnth'])).toThrow(
    "unknown feature 'IOMMU_IOAS_MAPP' (did you mean 'IOMMU_IOAS_MAP'?), 'failnth' (did you mean 'failNth'?)",
  );
  expect(() => missingFeatures(caps, ['ACCESS'])).toThrow(/unknown feature 'ACCESS';/);
});
