// The addon sizes every command by the table of the running kernel (native/layout.cc).
import { release } from 'node:os';
import { expect, test } from 'vitest';
import { addon } from '../../lib/native/binding.js';
import { UAPI_LAYOUTS } from '../../lib/uapi/layout.js';

test("the addon uses the uAPI table of the running kernel's version", () => {
  const [major, minor] = release().split('.').map(Number) as [number, number];
  // The newest table not newer than the kernel (the oldest for older kernels).
  const tables = Object.keys(UAPI_LAYOUTS);
  const fits = tables.filter((v) => {
    const [a, b] = v.split('.').map(Number) as [number, number];
    return a < major || (a === major && b <= minor);
  });
  expect(addon().uapiVersion()).toBe(fits.at(-1) ?? tables[0]);
});
