#!/usr/bin/env bash
# Inside the VM (bench/suite.mjs): the kernel's C selftest and our port of it, timed
# one after another in the same guest. One "@@bench NAME rc=N ms=N SUMMARY" line each,
# and for the port vitest's split of its time ("@@phases NAME ...").
# Usage: bench/suite-in-vm.sh C_SELFTEST_DIR
set -u
cdir="$1"
cd "$(dirname "$0")/.."
timed() {
  local name="$1" summary="$2" start end rc
  shift 2
  start=$(date +%s%N)
  "$@" >"/tmp/bench-$name.log" 2>&1
  rc=$?
  end=$(date +%s%N)
  echo "@@bench $name rc=$rc ms=$(((end - start) / 1000000)) $(grep -E "$summary" "/tmp/bench-$name.log" | tail -1)"
}
# The guest reads the host's files over 9p; a first read costs host I/O, which icount
# cannot count (an idle guest's clock jumps to its next timer). So both sides run
# with the files they read already in the guest's page cache; this read is timed apart.
warm() { cat "$(command -v node)" "$cdir"/* >/dev/null; find node_modules/ dist lib test native/build -type f ! -path '*/typescript/*' -exec cat {} + >/dev/null; }
timed warm-cache '^$' warm
timed c-iommufd '^# Totals' "$cdir/iommufd"
timed c-fail-nth '^# Totals' "$cdir/iommufd_fail_nth"
phases() { echo "@@phases $1 $(grep -E 'Duration' "/tmp/bench-$1.log" | tail -1 | sed 's/.*Duration//')"; }
timed port-iommufd '^selftest-kernel: [0-9]+ passed' node scripts/run-vitest.mjs selftest-kernel
phases port-iommufd
timed port-fail-nth '^kernel: [0-9]+ passed' node scripts/run-vitest.mjs kernel test/kernel/fail-nth-selftest.test.ts
phases port-fail-nth
