// The file descriptors the simulator hands out, in place of the process's fd
// table (no kernel iommufd file): access, fault queue and vEVENTQ fds, and the
// mock's dma-buf fds. Process-wide, like the fds they stand for.

import { fstatSync } from 'node:fs';
import type { TestDmabuf } from './mock-domain.js';
import type { AccessObj, FaultObj, SimContext, VeventqObj } from './objects.js';

/** The file of a fault queue fd (iommufd_fault_fops). */
export interface FaultFile {
  fault: FaultObj;
  ctx: SimContext;
}

/** The file of a vEVENTQ fd (iommufd_veventq_fops). */
export interface VeventqFile {
  veventq: VeventqObj;
  ctx: SimContext;
}

/** Access, fault queue and vEVENTQ "fds": the kernel hands out real fds; the simulator its own numbers from 3 up. */
export const simFds = new Map<number, AccessObj | FaultFile | VeventqFile>();
const FIRST_FD = 3;

export function allocFd(file: AccessObj | FaultFile | VeventqFile): number {
  let fd = FIRST_FD;
  while (simFds.has(fd)) fd++;
  simFds.set(fd, file);
  return fd;
}

/**
 * Mock dma-buf "fds". Their numbers start far above any descriptor the process
 * can have (the kernel's default fs.nr_open is 2^20), so a real descriptor
 * given to mapFile() as a number never names a simulated dma-buf.
 */
export const simDmabufs = new Map<number, TestDmabuf>();
const FIRST_DMABUF_FD = 2 ** 30;

export function allocDmabufFd(dmabuf: TestDmabuf): number {
  let fd = FIRST_DMABUF_FD;
  while (simDmabufs.has(fd)) fd++;
  simDmabufs.set(fd, dmabuf);
  return fd;
}

/** Whether `fd` is an open descriptor of this process (fstat() succeeds). */
export function isOpenDescriptor(fd: number): boolean {
  try {
    fstatSync(fd);
    return true;
  } catch {
    return false;
  }
}
