// TEST_F(iommufd_ioas, fork_gone) and TEST_F(iommufd_ioas, fork_present) of
// tools/testing/selftests/iommu/iommufd.c: a mapping made through the same
// iommufd by another process (another mm), pinned after that process is gone
// or while it still exists.
//
// The C test forks; a Node process cannot, so it spawns a child Node process
// (fixtures/ioas-fork-child.ts, see child-process.ts) that inherits the iommufd
// (fd 3) and the memfd of the global MAP_SHARED buffer (fd 4), adopts the iommufd
// (Iommufd.open({ fd })) and maps that memory from its own address space, as the
// forked child maps its copy of the shared mapping. On the simulator these
// instances are skipped: its iommufd state lives inside this process, which no
// second process can share.
import type { ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { expect } from 'vitest';
import { MOCK_APERTURE_START } from '../../lib/index.js';
import { expectErrno } from '../helpers.js';
import { skipOnSimulator, spawnChild as spawnScript, waitChild } from './child-process.js';
import { BUFFER_SIZE, buffer } from './harness.js';
import { type IoasSelf, iommufd_ioas } from './ioas-fixture.js';
import { checkAccessRw } from './access-rw.js';

const CHILD = fileURLToPath(new URL('./fixtures/ioas-fork-child.ts', import.meta.url));

/** Start the child: it maps the global buffer at MOCK_APERTURE_START of the fixture's IOAS. */
function spawnChild(self: IoasSelf, mode: 'gone' | 'present'): ChildProcess {
  const memfd = buffer().memfd;
  if (memfd === null) throw new Error('the global buffer has no memfd to share');
  return spawnScript(CHILD, [String(self.ioas.id), String(BUFFER_SIZE), mode], [self.fd.fileDescriptor, memfd]);
}

iommufd_ioas.test('fork_gone', async (self, _variant, ctx) => {
  skipOnSimulator(ctx);
  const access = self.fd.createAccess(self.ioas);

  // a mapping made by another mm, which then exits
  const child = spawnChild(self, 'gone');
  expect(await waitChild(child)).toBe(0);

  if (self.stdevId) {
    // the existing domain pinned the pages while the child lived: the new
    // domain is filled from it
    self.fd.mockDomain(self.ioas);
    checkAccessRw(self, access, MOCK_APERTURE_START, 0);
  } else {
    // nothing pinned them, and the mm they belong to is gone
    expectErrno('EFAULT', () => self.fd.mockDomain(self.ioas));
  }

  access.close();
});

iommufd_ioas.test('fork_present', async (self, _variant, ctx) => {
  skipOnSimulator(ctx);
  const access = self.fd.createAccess(self.ioas);

  // a mapping made by another mm that stays alive until its stdin closes
  const child = spawnChild(self, 'present');
  let said = '';
  for await (const chunk of child.stdout!) {
    said += String(chunk);
    if (said.includes('\n')) break;
  }
  expect(said).toBe('mapped\n');

  // pin the pages of the live child's mm
  self.fd.mockDomain(self.ioas);
  checkAccessRw(self, access, MOCK_APERTURE_START, 0);

  child.stdin!.end();
  expect(await waitChild(child)).toBe(0);

  access.close();
});
