// eventq.c (6.12: fault.c) in the simulator: the fault queue (IOMMU_FAULT_QUEUE_ALLOC,
// read() and write() of its fd) and 7.3's vEVENTQ (IOMMU_VEVENTQ_ALLOC, read()
// of its fd, iommufd_viommu_report_event() of driver.c), their fds' release and
// the objects' destroy ops. The fds themselves are files.ts's.

import type { Fault } from '../backend/contract.js';
import {
  IOMMUFD_PAGE_RESP_INVALID as PAGE_RESP_INVALID,
  IOMMUFD_PAGE_RESP_SUCCESS as PAGE_RESP_SUCCESS,
  IOMMU_VEVENTQ_TYPE_DEFAULT as VEVENTQ_TYPE_DEFAULT,
} from '../uapi/constants.js';
import { UAPI_LAYOUTS } from '../uapi/layout.js';
import { firstUnmapped } from '../base/user-pages.js';
import { fail } from './io-pagetable.js';
import { FaultObj, ObjType, type SimContext, type Vevent, type ViommuObj, VeventqObj } from './objects.js';

const VEVENT_HEADER_SIZE = UAPI_LAYOUTS['7.3'].structs.iommufd_vevent_header.size;
/** eventq.c's VEVENTQ_MAX_DEPTH: a kernel-private bound, in no uapi header. */
export const VEVENTQ_MAX_DEPTH = 1 << 19;
/** INT_MAX: the vEVENT sequence wraps there (iommufd_vevent_handler()). */
const INT_MAX = 0x7fff_ffff;

/** iommufd_fault_destroy() */
export function faultDestroy(fault: FaultObj): void {
  fault.deliver = [];
  fault.response.clear();
}

/** iommufd_fault_alloc(); the caller makes the fd, which holds the object and the context. */
export function faultAlloc(ctx: SimContext): FaultObj {
  const fault = new FaultObj();
  ctx.add(fault);
  fault.users++; // the file's reference
  ctx.accessCreated(); // iommufd_ctx_get()
  fault.finalized = true;
  return fault;
}

/** iommufd_fault_fops_read(): whole groups, as many as fit in maxFaults (at least one slot). */
export function faultRead(fault: FaultObj, maxFaults: number): Fault[] {
  const count = maxFaults === 0 ? 1 : maxFaults;
  const out: Fault[] = [];
  while (fault.deliver.length > 0) {
    const group = fault.deliver[0]!;
    if (group.faults.length > count - out.length) {
      if (out.length === 0) fail('EINVAL');
      break;
    }
    fault.deliver.shift();
    const cookie = fault.allocCookie(group);
    for (const f of group.faults)
      out.push({ flags: f.flags, devId: group.idev.id, pasid: f.pasid, grpid: f.grpid, perm: f.perm, addr: f.addr, length: 0, cookie });
  }
  return out;
}

/** iommufd_fault_fops_write() */
export function faultRespond(fault: FaultObj, responses: { cookie: number; code: number }[]): number {
  let done = 0;
  for (const r of responses) {
    // xa_erase() of the cookie, then iopf_group_response() + iopf_free_group()
    const group = r.code === PAGE_RESP_SUCCESS || r.code === PAGE_RESP_INVALID ? fault.eraseCookie(r.cookie) : undefined;
    if (!group) {
      if (done === 0) fail('EINVAL');
      break;
    }
    done++;
  }
  return done;
}

/** iommufd_eventq_fops_release() (6.12: iommufd_fault_fops_release()): the fd's references go. */
export function eventqRelease(ctx: SimContext, obj: FaultObj | VeventqObj): void {
  obj.users--;
  ctx.accessGone();
}

/** iommufd_veventq_destroy() */
export function veventqDestroy(veventq: VeventqObj): void {
  veventq.deliver.length = 0;
  veventq.viommu.users--;
  veventq.viommu.veventqs.splice(veventq.viommu.veventqs.indexOf(veventq), 1);
}

/** iommufd_veventq_alloc(); the caller makes the fd (iommufd_eventq_init()). */
export function veventqAlloc(ctx: SimContext, flags: number, viommuId: number, type: number, depth: number): VeventqObj {
  if (flags || type === VEVENTQ_TYPE_DEFAULT) fail('EOPNOTSUPP');
  if (!depth || depth > VEVENTQ_MAX_DEPTH) fail('EINVAL');
  const viommu = ctx.get<ViommuObj>(viommuId, ObjType.VIOMMU);
  if (viommu.veventqs.some((q) => q.eventType === type)) fail('EEXIST');
  const veventq = new VeventqObj(viommu, type, depth);
  ctx.add(veventq);
  viommu.users++;
  viommu.veventqs.push(veventq);
  veventq.users++; // the file's reference
  veventq.finalized = true;
  return veventq;
}

/**
 * iommufd_veventq_fops_read(): whole vEVENTs (header and payload) while they
 * fit in `buffer`; EINVAL for a buffer below one header, or when the first
 * event does not fit. Returns the bytes written.
 */
export function veventqRead(veventq: VeventqObj, buffer: Uint8Array): number {
  const count = buffer.length;
  if (count < VEVENT_HEADER_SIZE) fail('EINVAL');
  const view = new DataView(buffer.buffer, buffer.byteOffset, buffer.byteLength);
  let done = 0;
  while (veventq.deliver.length > 0) {
    const cur = veventq.deliver[0]!;
    if (done >= count || VEVENT_HEADER_SIZE > count - done) break;
    const lost = cur === veventq.lostEventsHeader;
    if (!lost && VEVENT_HEADER_SIZE + cur.data.length > count - done) {
      if (done === 0) fail('EINVAL');
      break;
    }
    // copy_to_user(): EFAULT where the process has no page (nothing consumed).
    const at = buffer.byteOffset + done;
    if (firstUnmapped(buffer.buffer, at, at + VEVENT_HEADER_SIZE + cur.data.length) >= 0) {
      if (done === 0) fail('EFAULT');
      break;
    }
    view.setUint32(done, cur.flags, true);
    view.setUint32(done + 4, cur.sequence, true);
    buffer.set(cur.data, done + VEVENT_HEADER_SIZE);
    veventq.deliver.shift();
    if (!lost) veventq.numEvents--;
    done += VEVENT_HEADER_SIZE + cur.data.length;
  }
  return done;
}

/** iommufd_viommu_report_event() + iommufd_vevent_handler() */
export function reportEvent(viommu: ViommuObj, type: number, data: Uint8Array): void {
  const veventq = viommu.veventqs.find((q) => q.eventType === type) ?? fail('EOPNOTSUPP');
  let vevent: Vevent;
  if (veventq.numEvents === veventq.depth) vevent = veventq.lostEventsHeader;
  else {
    vevent = { flags: 0, sequence: 0, data };
    veventq.numEvents++;
  }
  // The lost-events header, queued last, makes way for what comes next (itself again, renumbered).
  const list = veventq.deliver;
  if (list[list.length - 1] === veventq.lostEventsHeader) list.pop();
  list.push(vevent);
  vevent.sequence = veventq.sequence;
  veventq.sequence = (veventq.sequence + 1) & INT_MAX;
}

