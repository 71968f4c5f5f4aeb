// Which backend the scenario tests run on: the vitest project sets
// IOMMUFD_TEST_BACKEND (`kernel` -> native inside the VM, `sim` -> simulator).
import { Iommufd } from '../lib/index.js';

export type TestBackend = 'native' | 'sim';

export const BACKEND: TestBackend = (process.env.IOMMUFD_TEST_BACKEND as TestBackend | undefined) ?? 'native';

export function openIommufd(): Iommufd {
  return Iommufd.open({ backend: BACKEND as 'native' });
}
