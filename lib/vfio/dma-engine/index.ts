// DMA engines: devices that can copy memory on command, used to prove IOMMU
// translations with real device DMA. Add an engine here to make validation
// (runValidation) use it for that device.
import type { VfioDevice } from '../device.js';
import { EduDmaEngine, type EduOptions } from './edu.js';
import type { DmaEngine } from './types.js';

export * from './types.js';
export * from './edu.js';

/** The known engine for this (bound) device, opened; null when there is none. */
export function openDmaEngine(device: VfioDevice, options: EduOptions = {}): DmaEngine | null {
  const ids = device.pciIds();
  if (EduDmaEngine.matches(ids)) return EduDmaEngine.open(device, options);
  return null;
}
