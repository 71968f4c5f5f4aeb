#!/usr/bin/env bash
# Smoke test of the linux-arm64 prebuilt addon in a packed tarball, on this x64 machine:
# Debian's arm64 node under qemu-user imports the package, and the package's own loader
# must pick prebuilds/linux-arm64/iommufd.node (an addon mmap, the simulator through it).
#
#   scripts/check-arm64.sh iommufd-X.Y.Z.tgz
#
# Needs qemu-user-static; fetches Debian's nodejs:arm64 and its libraries once into
# ~/.cache/iommufd/arm64-root (apt-get download + dpkg -x: nothing arm64 is installed).
# Debian 12's arm64 node is 18: older than engines asks, but N-API 8 is the same ABI.
set -euo pipefail
tarball="$(realpath "${1:?usage: scripts/check-arm64.sh TARBALL}")"
cache="${IOMMUFD_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/iommufd}"
root="$cache/arm64-root"
log() { printf '[arm64] %s\n' "$*" >&2; }

command -v qemu-aarch64-static >/dev/null || { log "error: qemu-aarch64-static is missing (apt-get install qemu-user-static)"; exit 1; }
if [ ! -x "$root/usr/bin/node" ]; then
  log "fetching Debian's arm64 node into $root"
  dpkg --print-foreign-architectures | grep -qx arm64 || { dpkg --add-architecture arm64 && apt-get update -qq; }
  debs="$(mktemp -d)"
  (cd "$debs" && apt-get download -qq nodejs:arm64 libnode108:arm64 libbrotli1:arm64 libc-ares2:arm64 libc6:arm64 \
    libicu72:arm64 libnghttp2-14:arm64 libssl3:arm64 libstdc++6:arm64 libuv1:arm64 zlib1g:arm64 libgcc-s1:arm64 \
    node-acorn node-cjs-module-lexer node-undici 2>/dev/null)
  rm -rf "$root.tmp" && mkdir -p "$root.tmp"
  for deb in "$debs"/*.deb; do dpkg -x "$deb" "$root.tmp"; done
  rm -rf "$debs" "$root" && mv "$root.tmp" "$root"
fi

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
tar -xzf "$tarball" -C "$work"
cat >"$work/smoke.mjs" <<'EOF'
import { DmaBuffer, Iommufd } from './package/dist/index.js';
import { addonPath } from './package/dist/native/binding.js';
const buffer = DmaBuffer.alloc(4 * 4096);
const fd = Iommufd.open({ backend: 'sim' });
const iova = fd.allocIoas().mapAnywhere(buffer);
console.log(JSON.stringify({ arch: process.arch, addon: addonPath(), iova: String(iova), live: DmaBuffer.stats().liveBuffers }));
EOF
out="$(cd "$work" && qemu-aarch64-static -L "$root" "$root/usr/bin/node" smoke.mjs)"
log "$out"
case "$out" in
  *'"arch":"arm64"'*'prebuilds/linux-arm64/iommufd.node'*'"live":1'*) log "ok: the linux-arm64 prebuilt loads and maps" ;;
  *) log "error: unexpected result"; exit 1 ;;
esac
