#!/usr/bin/env bash
# Inside the VM (bench/suite.mjs): the kernel's C selftest and our port of it, timed
# one after another in the same guest. One "@@bench NAME rc=N ms=N SUMMARY" line each.
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
timed c-iommufd '^# Totals' "$cdir/iommufd"
timed c-fail-nth '^# Totals' "$cdir/iommufd_fail_nth"
timed port-iommufd '^selftest-kernel: ' node scripts/run-vitest.mjs selftest-kernel
timed port-fail-nth '^kernel: ' node scripts/run-vitest.mjs kernel test/kernel/fail-nth-selftest.test.ts
