// Which kernels the simulator answers like. A leaf: every simulator file may
// ask which kernel it models without importing the backend.

/** The kernels the simulator answers like (the first-class kernels of the test rig). */
export const SIM_KERNELS = ['6.12', '7.3'] as const;
export type SimKernel = (typeof SIM_KERNELS)[number];
/** What `Iommufd.open({ backend: 'sim' })` models when no kernel is named: the newest. */
export const DEFAULT_SIM_KERNEL: SimKernel = '7.3';
