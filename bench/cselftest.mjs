// The kernel's own C selftest (tools/testing/selftests/iommu: iommufd and
// iommufd_fail_nth) built from a kernel version's Debian source, so bench:suite
// can time it in the same VM as our port. Cached next to the test kernels.
//
// The tree's test is compiled as kselftest's lib.mk would (-D_GNU_SOURCE, -O2,
// the tree's exported uAPI headers first). Where it does not compile, it is
// patched, and only there: PATCHES says what and why, per version.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { cpSync, existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { KERNELS } from '../scripts/kernels.mjs';

const PROGRAMS = ['iommufd', 'iommufd_fail_nth'];

/**
 * Debian's 6.12 carries a selftest newer than its driver: it sets
 * iommu_hw_info.in_data_type (a 7.x field) and names IOMMU_HW_INFO_TYPE_DEFAULT,
 * IOMMU_HW_INFO_FLAG_INPUT_TYPE, MOCK_FLAGS_DEVICE_PASID and MOCK_PASID_WIDTH, none
 * of which 6.12's headers have. The patch drops the field (6.12 has no input type,
 * so the request is the same) and defines the four names with 7.3's values; the driver
 * then refuses the flags as it would refuse any unknown one (our port skips those
 * instances with "kernel lacks INPUT_TYPE/PASID").
 */
const PATCHES = {
  '6.12': {
    defines: ['IOMMU_HW_INFO_TYPE_DEFAULT 0', 'IOMMU_HW_INFO_FLAG_INPUT_TYPE (1 << 0)', 'MOCK_FLAGS_DEVICE_PASID (1 << 2)', 'MOCK_PASID_WIDTH 20'],
    edits: [{ file: 'iommu/iommufd_utils.h', drop: /^\s*\.in_data_type = data_type,\n/m }],
  },
};

const cacheDir = () => process.env.IOMMUFD_CACHE ?? join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'iommufd');

function run(cmd, args, what) {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${what} failed (exit ${r.status}):\n${(r.stderr || r.stdout || '').slice(-2000)}`);
  return r.stdout;
}

/** The extracted source tree build-kernel.sh keeps for `version` (extracting it if needed). */
function sourceTree(version) {
  const tarball = KERNELS[version].tarball;
  if (!existsSync(tarball)) throw new Error(`${tarball} not found (${KERNELS[version].install})`);
  const sum = run('sha256sum', [tarball], 'sha256sum').slice(0, 16);
  const src = join(cacheDir(), 'src', sum);
  if (!existsSync(join(src, 'Makefile'))) {
    mkdirSync(`${src}.tmp`, { recursive: true });
    run('tar', ['-xf', tarball, '-C', `${src}.tmp`, '--strip-components=1'], `extracting ${tarball}`);
    rmSync(src, { recursive: true, force: true });
    renameSync(`${src}.tmp`, src);
  }
  return { src, sum };
}

/**
 * Build (or reuse) the C selftest of `version`. Returns the directory holding the
 * programs and the patch applied (null when the tree compiled as it is).
 */
export function buildCSelftest(version) {
  // The tests link libcap (lib.mk's LDLIBS); not part of the test rig's packages.
  if (!existsSync('/usr/include/sys/capability.h')) throw new Error('the C selftest needs libcap: apt-get install libcap-dev');
  const { src, sum } = sourceTree(version);
  // Keyed by the tree and by this file (its flags and patches).
  const recipe = createHash('sha256').update(readFileSync(new URL(import.meta.url))).digest('hex').slice(0, 12);
  const out = join(cacheDir(), `cselftest-${sum}-${recipe}`);
  const patch = PATCHES[version] ?? null;
  if (PROGRAMS.every((p) => existsSync(join(out, p)))) return { dir: out, patch };

  const work = `${out}.build`;
  rmSync(work, { recursive: true, force: true });
  // The tree's uAPI headers as `make headers` exports them (no .config needed).
  run('make', ['-s', '-C', src, `O=${join(work, 'obj')}`, 'headers'], `make headers in ${src}`);
  // A copy laid out like the tree, so the test's relative includes still resolve
  // and a patch never touches the shared source.
  const tests = join(work, 'tools/testing/selftests');
  for (const rel of ['tools/testing/selftests/iommu', 'tools/testing/selftests/kselftest_harness.h', 'tools/testing/selftests/kselftest.h'])
    cpSync(join(src, rel), join(work, rel), { recursive: true });
  const iommufdDir = join(work, 'drivers/iommu/iommufd');
  mkdirSync(iommufdDir, { recursive: true });
  cpSync(join(src, 'drivers/iommu/iommufd/iommufd_test.h'), join(iommufdDir, 'iommufd_test.h'));

  // -I the selftests directory, as lib.mk adds: 7.3's test includes "kselftest_harness.h" from there.
  const flags = ['-D_GNU_SOURCE=', '-Wall', '-O2', '-Wno-unused-function', '-isystem', join(work, 'obj/usr/include'), '-I', tests];
  if (patch) {
    for (const { file, drop } of patch.edits) {
      const path = join(tests, file);
      const text = readFileSync(path, 'utf8');
      if (!drop.test(text)) throw new Error(`cselftest patch for ${version}: ${file} no longer has ${drop}`);
      writeFileSync(path, text.replace(drop, ''));
    }
    const compat = join(work, 'compat.h');
    writeFileSync(compat, patch.defines.map((d) => `#define ${d}\n`).join(''));
    flags.push('-include', compat);
  }
  mkdirSync(out, { recursive: true });
  for (const p of PROGRAMS) run('gcc', [...flags, join(tests, 'iommu', `${p}.c`), '-o', join(out, p), '-lcap'], `compiling ${p}.c of ${version}`);
  rmSync(work, { recursive: true, force: true });
  return { dir: out, patch };
}
