#!/usr/bin/env bash
# Build (or reuse) the iommufd test kernel from Debian's linux-source-6.12 package.
# Prints the path of the bzImage on stdout; progress goes to stderr.
# The result is cached outside the repo, keyed by source version + config fragment.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
fragment="$here/kernel.config"
tarball="${IOMMUFD_KERNEL_TARBALL:-/usr/src/linux-source-6.12.tar.xz}"
cache="${IOMMUFD_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/iommufd}"
jobs="${IOMMUFD_JOBS:-$(nproc)}"

log() { printf '[kernel] %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

[ -f "$tarball" ] || die "$tarball not found. Install it with: apt-get install linux-source-6.12"
for tool in make gcc flex bison bc; do
  command -v "$tool" >/dev/null || die "'$tool' is missing. Install with: apt-get install build-essential flex bison bc libelf-dev libssl-dev"
done

version="$(dpkg-query -W -f='${Version}' linux-source-6.12 2>/dev/null || stat -c %s-%Y "$tarball")"
key="$(printf '%s\n' "$version" | cat - "$fragment" "$here/build-kernel.sh" | sha256sum | cut -c1-16)"
out="$cache/kernel-$key"
mkdir -p "$cache"
# One build per key at a time: a second caller waits, then finds the result cached.
exec 9>"$cache/kernel-$key.lock"
flock 9
if [ -f "$out/bzImage" ]; then
  log "cached kernel $out/bzImage (linux-source $version)"
  echo "$out/bzImage"
  exit 0
fi

src="$cache/src/$version"
if [ ! -f "$src/Makefile" ]; then
  log "extracting $tarball ..."
  rm -rf "$src.tmp" && mkdir -p "$src.tmp"
  tar -xf "$tarball" -C "$src.tmp" --strip-components=1
  rm -rf "$src" && mv "$src.tmp" "$src"
fi

build="$out.build"
mkdir -p "$build"
log "configuring (tinyconfig + scripts/kernel.config) in $build"
make -s -C "$src" O="$build" tinyconfig >/dev/null
"$src/scripts/kconfig/merge_config.sh" -m -O "$build" "$build/.config" "$fragment" >/dev/null
make -s -C "$src" O="$build" olddefconfig >/dev/null

# A dependency we did not satisfy silently drops an option: refuse to build such a kernel.
missing=""
while IFS= read -r line; do
  case "$line" in CONFIG_*=*) grep -qxF "$line" "$build/.config" || missing="$missing $line" ;; esac
done < "$fragment"
[ -z "$missing" ] || die "options did not survive olddefconfig:$missing"

log "building bzImage with $jobs jobs (about 4 minutes on 2 cores; full log: $build/build.log)"
start=$SECONDS
make -C "$src" O="$build" -j"$jobs" bzImage >"$build/build.log" 2>&1 &
pid=$!
while kill -0 "$pid" 2>/dev/null; do
  sleep 10
  objs=$(grep -c '^  CC ' "$build/build.log" || true)
  log "  ... $((SECONDS - start)) s, $objs files compiled"
done
if ! wait "$pid"; then
  tail -n 40 "$build/build.log" >&2
  die "kernel build failed (log: $build/build.log)"
fi
mkdir -p "$out"
cp "$build/arch/x86/boot/bzImage" "$out/bzImage.tmp" && mv "$out/bzImage.tmp" "$out/bzImage"
cp "$build/.config" "$out/config"
log "built in $((SECONDS - start)) s: $out/bzImage"
echo "$out/bzImage"
