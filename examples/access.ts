// The access kAPI, the way an external driver (a mediated device, say) uses
// it, through the selftest mock:
//   map memory into an IOAS, create an access, pin pages through it, read and
//   write guest memory through it, then unmap the IOVA while it is still
//   pinned: the kernel calls the access's unmap callback, the mock drops the
//   pin, and releasing it afterwards is ENOENT.
//
//   iommufd run examples/access.ts [--backend sim|native]
import { DmaBuffer, IommufdError, MOCK_APERTURE_START, type Iommufd, type RunContext } from 'iommufd';

const PAGE = 4096;

function check(ok: boolean, what: string): void {
  if (!ok) throw new Error(`check failed: ${what}`);
}

export default function accessWalkthrough(fd: Iommufd, ctx: RunContext): void {
  ctx.requires('CREATE_ACCESS', 'ACCESS_PAGES', 'ACCESS_RW', 'DESTROY_ACCESS_PAGES', 'MD_CHECK_REFS');

  using buffer = DmaBuffer.alloc(16 * PAGE); // page-aligned memory the kernel can pin
  buffer.bytes.forEach((_, i) => (buffer.bytes[i] = i & 0xff));
  const ioas = fd.allocIoas();
  const iova = ioas.mapFixed(MOCK_APERTURE_START, buffer); // IOMMU_IOAS_MAP
  ctx.log(`mapped ${buffer.length} bytes at IOVA 0x${iova.toString(16)}`);
  fd.checkRefs(buffer, 0); // no domain, no access: nothing is pinned yet

  using access = fd.createAccess(ioas, { needsPinPages: true }); // TEST_OP_CREATE_ACCESS
  const pinned = access.pinPages(iova, buffer.length, { verify: { memory: buffer } }); // TEST_OP_ACCESS_PAGES
  fd.checkRefs(buffer, 1); // TEST_OP_MD_CHECK_REFS: every page pinned once
  ctx.log(`pinned ${buffer.length / PAGE} pages through access fd ${access.fd} (pin id ${pinned.id})`);

  // TEST_OP_ACCESS_RW: the access reads and writes through the IOVA.
  const read = access.read(iova + 4000n, 200); // crosses a page boundary
  check(Buffer.from(read).equals(buffer.bytes.subarray(4000, 4200)), 'the access reads what the buffer holds');
  access.write(iova + 8192n, Uint8Array.of(0xde, 0xad, 0xbe, 0xef), { slowPath: true });
  check(buffer.bytes[8192] === 0xde && buffer.bytes[8195] === 0xef, 'a write through the access lands in the buffer');
  ctx.log('read 200 bytes and wrote 4 through the access');

  // Unmap under the pin: the unmap callback makes the access drop it.
  check(ioas.unmap(iova, buffer.length) === BigInt(buffer.length), 'the whole range is unmapped');
  fd.checkRefs(buffer, 0);
  try {
    pinned.unpin(); // TEST_OP_DESTROY_ACCESS_PAGES
    throw new Error('releasing a pin the kernel already dropped succeeded');
  } catch (e) {
    if (!(e instanceof IommufdError) || e.code !== 'ENOENT') throw e;
  }
  ctx.log('unmapped under the pin: the kernel dropped the pin, releasing it again is ENOENT');
}
