#!/bin/bash
# PID 1 of the test VM started by scripts/vm.mjs.
#
# The guest root is the host's / shared read-only over 9p. This script makes the
# few writable places node/npm/vitest need, runs the command described in
# /run/vm/command.sh (written by vm.mjs into the writable "vmout" share), stores
# its exit code next to it and reboots (qemu runs with -no-reboot, so it exits).
#
# PID 1 must never exit (the kernel would panic), so there is no `set -e`: every
# step is allowed to fail and we always end in reboot().

export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
# Keep in sync with vm.mjs.
START_MARKER='@@IOMMUFD-VM-START@@'
END_MARKER='@@IOMMUFD-VM-END@@'
OUT=/run/vm

say() { echo "[vm-init] $*" >/dev/console; }

# Immediate reboot; with -no-reboot qemu exits. Data on the 9p share is already
# on the host once sync returns, so skipping an orderly shutdown is safe.
reboot() {
  sync
  echo b >/proc/sysrq-trigger
  while :; do sleep 1; done
}

mounted() { grep -q " $1 " /proc/mounts; }

setup_mounts() {
  mount -t proc proc /proc
  mount -t sysfs sysfs /sys
  mounted /dev || mount -t devtmpfs devtmpfs /dev
  mount -t tmpfs -o mode=755 tmpfs /run
  mkdir -p /dev/shm && mount -t tmpfs -o mode=1777 tmpfs /dev/shm
  mount -t debugfs debugfs /sys/kernel/debug
  mkdir -p /dev/hugepages && mount -t hugetlbfs hugetlbfs /dev/hugepages
  mkdir -p "$OUT" && mount -t 9p -o trans=virtio,version=9p2000.L,msize=512000 vmout "$OUT"
}

# Writable scratch space for HOME, TMPDIR and the npm cache: a tmpfs on /tmp and
# /var/tmp, unless the command's directory lives there (a CI clone in /tmp
# would vanish under the tmpfs); then a tmpfs under /run serves instead.
setup_scratch() {
  SCRATCH=/tmp
  case "$VM_CWD/" in
    /tmp/* | /var/tmp/*) SCRATCH=/run/scratch; mkdir -p "$SCRATCH"; chmod 1777 "$SCRATCH" ;;
    *)
      mount -t tmpfs -o mode=1777 tmpfs /tmp
      mount -t tmpfs -o mode=1777 tmpfs /var/tmp
      ;;
  esac
}

setup_system() {
  # A pool of 2 MiB pages so MAP_HUGETLB tests can run: the selftest's 128 MiB
  # dirty-tracking variant alone takes 64; the command may change it (it runs as root).
  echo 96 >/proc/sys/vm/nr_hugepages 2>/dev/null
  # Some tests may bind to 127.0.0.1.
  ip link set lo up 2>/dev/null
  hostname iommufd-vm 2>/dev/null
  # Boot messages went to the console log; from here on only warnings and worse.
  echo 5 >/proc/sys/kernel/printk
}

# `npx iommufd` in a checkout of this package: npm runs a package's own bin by linking the
# checkout into its npx cache and chmod()ing the bin file, which fails on the read-only root
# (EROFS). A tmpfs copy of that one file, bound over it, takes the chmod (same contents).
writable_own_bin() {
  local own="$VM_CWD/bin/iommufd.js" copy=/run/vm-own-bin/iommufd.js
  [ -f "$own" ] && grep -q '"name": "iommufd"' "$VM_CWD/package.json" 2>/dev/null || return 0
  mkdir -p "${copy%/*}" && cp -p "$own" "$copy" && mount --bind "$copy" "$own"
}

run_command() {
  local rc
  # command.sh sets VM_CWD, VM_ARGV and VM_ENV (NAME=VALUE words from --env).
  if ! mounted "$OUT" || ! source "$OUT/command.sh"; then
    say "cannot read $OUT/command.sh"
    return
  fi
  setup_scratch
  writable_own_bin
  export HOME="$SCRATCH" TMPDIR="$SCRATCH" npm_config_cache="$SCRATCH/.npm" npm_config_update_notifier=false
  # The checkout is read-only here: `npx iommufd` must not run lifecycle scripts (it would
  # try `prepare`/tsc when npm finds the lock file stale, and exit 2 without a word).
  export npm_config_ignore_scripts=true
  # After the defaults, so --env can override them.
  [ "${#VM_ENV[@]}" -eq 0 ] || export "${VM_ENV[@]}"
  printf '%s\n' "$START_MARKER" >/dev/console
  # Output goes through cat so the command sees a pipe, not a 0x0-sized serial tty
  # (vitest & co. would otherwise draw interactive progress into the CI log).
  (cd "$VM_CWD" && exec "${VM_ARGV[@]}") </dev/null 2>&1 | cat >/dev/console
  rc=${PIPESTATUS[0]}
  printf '\n%s\n' "$END_MARKER" >/dev/console
  echo "$rc" >"$OUT/exit-code"
}

setup_mounts
setup_system
run_command
reboot
