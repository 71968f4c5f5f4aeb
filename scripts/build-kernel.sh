#!/usr/bin/env bash
# Build (or reuse) the iommufd test kernel: tinyconfig + scripts/kernel.config.
#
#   scripts/build-kernel.sh [--kernel-version 6.12|7.3] [--source DIR]
#
# The kernel comes from Debian's /usr/src/linux-source-<version>.tar.xz (default: the
# first of 6.12, 7.3 installed; $IOMMUFD_KERNEL_TARBALL names another tarball),
# or from a developer's own tree with --source DIR (built out of tree, incrementally).
# Prints the path of the bzImage on stdout; progress goes to stderr.
# Tarball builds are cached outside the repo, keyed by the tarball's own contents and
# the config fragment, so two versions (or two tarballs of one version) never collide.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
fragment="$here/kernel.config"
cache="${IOMMUFD_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/iommufd}"
jobs="${IOMMUFD_JOBS:-$(nproc)}"
# Bump when the build recipe below changes what it produces (it is part of the cache key).
recipe=2
# The first-class kernels, the default first. Keep in sync with scripts/kernels.mjs.
versions=(6.12 7.3)

log() { printf '[kernel] %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

version="${IOMMUFD_KERNEL_VERSION:-}"
source_tree=""
while [ $# -gt 0 ]; do
  case "$1" in
    --kernel-version) version="${2:?--kernel-version needs a value}"; shift 2 ;;
    --kernel-version=*) version="${1#*=}"; shift ;;
    --source) source_tree="${2:?--source needs a directory}"; shift 2 ;;
    --source=*) source_tree="${1#*=}"; shift ;;
    -h | --help) sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 0 ;;
    *) die "unknown argument '$1' (see --help)" ;;
  esac
done

for tool in make gcc flex bison bc; do
  command -v "$tool" >/dev/null || die "'$tool' is missing. Install with: apt-get install build-essential flex bison bc libelf-dev libssl-dev"
done

install_hint() {
  case "$1" in
    6.12) echo "apt-get install linux-source-6.12" ;;
    *) echo "add the trixie-backports suite to apt (see README, 'Kernels') and apt-get install linux-source-$1/trixie-backports" ;;
  esac
}

# Options of the fragment that this tree does not define at all (e.g. CONFIG_IOMMU_PT_AMDV1,
# which 7.3 needs for CONFIG_IOMMUFD_TEST, is absent from 6.12): those are not required.
unknown_symbols() {
  local src="$1" symbols
  symbols="$(sed -n 's/^CONFIG_\([A-Za-z0-9_]*\)=.*/\1/p' "$fragment")"
  local defined
  defined="$(find "$src" -name 'Kconfig*' -not -path '*/Documentation/*' -print0 |
    xargs -0 sed -n 's/^[[:space:]]*\(menu\)\{0,1\}config[[:space:]]\{1,\}\([A-Za-z0-9_]*\).*/\2/p' | sort -u)"
  comm -23 <(printf '%s\n' $symbols | sort -u) <(printf '%s\n' "$defined")
}

# configure SRC BUILD: tinyconfig + fragment; refuse a config that dropped a required option.
configure() {
  local src="$1" build="$2"
  log "configuring (tinyconfig + scripts/kernel.config) in $build"
  make -s -C "$src" O="$build" tinyconfig >/dev/null
  "$src/scripts/kconfig/merge_config.sh" -m -O "$build" "$build/.config" "$fragment" >/dev/null
  make -s -C "$src" O="$build" olddefconfig >/dev/null
  local unknown missing="" line sym
  unknown=" $(unknown_symbols "$src" | tr '\n' ' ') "
  while IFS= read -r line; do
    case "$line" in
      CONFIG_*=*)
        sym="${line%%=*}"; sym="${sym#CONFIG_}"
        case "$unknown" in *" $sym "*) continue ;; esac
        grep -qxF "$line" "$build/.config" || missing="$missing $line"
        ;;
    esac
  done <"$fragment"
  [ -z "$missing" ] || die "options did not survive olddefconfig:$missing"
}

# compile SRC BUILD: bzImage, with progress every 10 s.
compile() {
  local src="$1" build="$2" start=$SECONDS pid objs
  log "building bzImage with $jobs jobs (4-6 minutes on 2 cores from scratch; full log: $build/build.log)"
  make -C "$src" O="$build" -j"$jobs" bzImage >"$build/build.log" 2>&1 &
  pid=$!
  while kill -0 "$pid" 2>/dev/null; do
    sleep 10
    kill -0 "$pid" 2>/dev/null || break
    objs=$(grep -c '^  CC ' "$build/build.log" || true)
    log "  ... $((SECONDS - start)) s, $objs files compiled"
  done
  if ! wait "$pid"; then
    tail -n 40 "$build/build.log" >&2
    die "kernel build failed (log: $build/build.log)"
  fi
  log "built in $((SECONDS - start)) s"
}

# A developer's tree: always configure+make (make is incremental); one build dir per tree.
if [ -n "$source_tree" ]; then
  src="$(cd "$source_tree" 2>/dev/null && pwd)" || die "--source $source_tree: no such directory"
  [ -f "$src/Makefile" ] && [ -d "$src/drivers/iommu/iommufd" ] || die "$src is not a kernel tree with drivers/iommu/iommufd"
  build="$cache/tree-$(printf '%s' "$src" | sha256sum | cut -c1-12)"
  mkdir -p "$build"
  exec 9>"$build.lock"
  flock 9
  configure "$src" "$build"
  compile "$src" "$build"
  log "kernel $(make -s -C "$src" O="$build" kernelrelease 2>/dev/null) from $src: $build/arch/x86/boot/bzImage"
  echo "$build/arch/x86/boot/bzImage"
  exit 0
fi

if [ -n "${IOMMUFD_KERNEL_TARBALL:-}" ]; then
  tarball="$IOMMUFD_KERNEL_TARBALL"
elif [ -n "$version" ]; then
  tarball="/usr/src/linux-source-$version.tar.xz"
  [ -f "$tarball" ] || die "$tarball not found. Install it with: $(install_hint "$version")"
else
  for v in "${versions[@]}"; do
    if [ -f "/usr/src/linux-source-$v.tar.xz" ]; then tarball="/usr/src/linux-source-$v.tar.xz"; break; fi
  done
  [ -n "${tarball:-}" ] || die "no kernel source found. Install it with: $(install_hint 6.12)"
fi
[ -f "$tarball" ] || die "$tarball not found"

# The tarball's identity is its contents (a sha256 of 150 MB takes under a second), so a
# different tarball of the same name can never reuse another's kernel.
tar_sum="$(sha256sum "$tarball" | cut -c1-16)"
key="$(printf '%s\n%s\n' "$tar_sum" "$recipe" | cat - "$fragment" | sha256sum | cut -c1-16)"
out="$cache/kernel-$key"
mkdir -p "$cache"
# One build per key at a time: a second caller waits, then finds the result cached.
exec 9>"$cache/kernel-$key.lock"
flock 9
if [ -f "$out/bzImage" ]; then
  log "cached kernel $out/bzImage ($(cat "$out/release" 2>/dev/null || echo "?") from $tarball)"
  echo "$out/bzImage"
  exit 0
fi

src="$cache/src/$tar_sum"
if [ ! -f "$src/Makefile" ]; then
  log "extracting $tarball ..."
  rm -rf "$src.tmp" && mkdir -p "$src.tmp"
  tar -xf "$tarball" -C "$src.tmp" --strip-components=1
  rm -rf "$src" && mv "$src.tmp" "$src"
fi
release="$(make -s -C "$src" kernelversion 2>/dev/null || echo unknown)"
if [ -n "$version" ]; then
  case "$release" in
    "$version" | "$version".*) ;;
    *) die "$tarball holds Linux $release, not $version" ;;
  esac
fi

build="$out.build"
mkdir -p "$build"
configure "$src" "$build"
compile "$src" "$build"
mkdir -p "$out"
cp "$build/arch/x86/boot/bzImage" "$out/bzImage.tmp" && mv "$out/bzImage.tmp" "$out/bzImage"
cp "$build/.config" "$out/config"
echo "$release" >"$out/release"
# The object tree is only needed again for a rebuild of the same key; keep the log.
mv "$build/build.log" "$out/build.log"
rm -rf "$build"
log "Linux $release: $out/bzImage"
echo "$out/bzImage"
