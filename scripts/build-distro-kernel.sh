#!/usr/bin/env bash
# A kernel for a real server: Debian's own 6.12 configuration with Rust
# enabled, built into installable .deb packages, so livedfs can be built
# for it and loaded (the project's test kernel is a tinyconfig for the VM).
#
#   scripts/build-distro-kernel.sh [--config-only] [--flavour F] [--out DIR]
#                                  [--debug-info]
#
#   --config-only  make and check the configuration only (minutes; CI runs
#                  this: CONFIG_RUST=y and every option livedfs needs must
#                  survive olddefconfig), in a directory of its own, so it
#                  never touches a build in progress
#   --debug-info   keep Debian's debug information (a linux-image-dbg
#                  package of gigabytes and a much longer link); by default
#                  the kernel is built without (DEBUG_INFO_NONE)
#   --flavour F    Debian's configuration to start from: amd64_none_amd64
#                  (default, the generic server kernel), amd64_none_cloud-amd64
#   --out DIR      where the .deb packages go (default build/distro-kernel)
#
# The configuration is Debian's (package linux-config-6.12, or the running
# kernel's /boot/config-* with --from-running), with:
#   RUST=y, and what Rust needs on 6.12: MODVERSIONS off, clang/LLVM 16 as
#     the compiler (LLVM=-16), BTF kept only if pahole can exclude Rust
#   LOCALVERSION=-livedfs, so it installs next to Debian's kernels
#   no debug information unless --debug-info
# Then `make bindeb-pkg` (hours on 2 cores: see Documentation/quickstart.md
# for the time measured) and, once the kernel is installed and booted,
# `make dkms-install` builds and installs livedfs for it. An interrupted
# build resumes where it stopped when run again (make is incremental);
# the build time is summed over the runs in the build directory.
source "$(dirname "$0")/lib.sh"

config_only=0 flavour=amd64_none_amd64 out="$LIVEDFS_ROOT/build/distro-kernel" from_running=0 debug_info=0
while [ $# -gt 0 ]; do
    case "$1" in
        --config-only) config_only=1; shift ;;
        --flavour) flavour=$2; shift 2 ;;
        --out) out=$2; shift 2 ;;
        --from-running) from_running=1; shift ;;
        --debug-info) debug_info=1; shift ;;
        -h|--help) sed -n '2,/^source/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        *) die "unknown argument $1 (see --help)" ;;
    esac
done

# The options livedfs needs, each checked after olddefconfig (y or m).
NEEDED=(RUST JBD2 CRYPTO_SHA256 CRYPTO_MD5 CRYPTO_CRC32C LIBCRC32C BLOCK MODULES)
# Rust on 6.12 requires these off.
MUST_BE_OFF=(MODVERSIONS)

ver=$(linux_source_version)
SRC="$LIVEDFS_CACHE/src/linux-$ver"
if [ ! -f "$SRC/.livedfs-done" ]; then
    log "extracting /usr/src/linux-source-6.12.tar.xz ($ver)"
    rm -rf "$SRC" && mkdir -p "$SRC"
    tar -xf /usr/src/linux-source-6.12.tar.xz -C "$SRC" --strip-components=1
    touch "$SRC/.livedfs-done"
fi

KDIR="$LIVEDFS_CACHE/kernel/distro-$flavour-$(echo "$ver" | cut -d- -f1)"
[ $config_only -eq 0 ] || KDIR="$KDIR-check"
mkdir -p "$KDIR"
if [ $from_running -eq 1 ]; then
    base="/boot/config-$(uname -r)"
    [ -f "$base" ] || die "no $base"
    cp "$base" "$KDIR/.config"
else
    base="/usr/src/linux-config-6.12/config.$flavour.xz"
    [ -f "$base" ] || die "no $base: install Debian's linux-config-6.12 (scripts/setup.sh does)"
    xz -dc "$base" > "$KDIR/.config"
fi
log "configuring from $base in $KDIR"
cfg() { "$SRC/scripts/config" --file "$KDIR/.config" "$@"; }
cfg --disable MODVERSIONS --enable RUST --set-str LOCALVERSION "-livedfs" \
    --disable DEBUG_INFO_BTF_MODULES
# Debian signs its modules with its own key; a local build has none.
cfg --set-str SYSTEM_TRUSTED_KEYS "" --set-str SYSTEM_REVOCATION_KEYS "" \
    --disable MODULE_SIG_ALL
if [ $debug_info -eq 0 ]; then
    cfg --disable DEBUG_INFO --disable DEBUG_INFO_DWARF_TOOLCHAIN_DEFAULT --enable DEBUG_INFO_NONE
fi
make -s -C "$SRC" O="$KDIR" "${KMAKE_ARGS[@]}" olddefconfig >/dev/null

bad=0
for o in "${NEEDED[@]}"; do
    grep -qE "^CONFIG_$o=(y|m)$" "$KDIR/.config" || { echo "  missing after olddefconfig: CONFIG_$o" >&2; bad=1; }
done
for o in "${MUST_BE_OFF[@]}"; do
    grep -q "^CONFIG_$o=y" "$KDIR/.config" && { echo "  still set: CONFIG_$o" >&2; bad=1; }
done
if [ $bad -ne 0 ]; then
    grep -nE '^# CONFIG_RUST is not set|CONFIG_RUST_IS_AVAILABLE' "$KDIR/.config" >&2 || true
    make -s -C "$SRC" O="$KDIR" "${KMAKE_ARGS[@]}" rustavailable >&2 || true
    die "the distribution configuration lost what livedfs needs (see above)"
fi
echo "distro config: CONFIG_RUST=y and ${NEEDED[*]} present, MODVERSIONS off ($KDIR/.config)"
[ $config_only -eq 1 ] && exit 0

# What `make bindeb-pkg` needs beyond the kernel build (scripts/setup.sh
# installs that): dpkg-buildpackage checks the build dependencies.
apt_install "what Debian packaging needs" debhelper rsync dpkg-dev

log "building Debian packages with $NPROC jobs (hours on 2 cores)"
start=$(date +%s)
# Seconds spent building in this directory by earlier, interrupted runs.
spent_file="$KDIR/.livedfs-build-seconds"
spent=$(cat "$spent_file" 2>/dev/null || echo 0)
add_time() { echo $(( spent + $(date +%s) - start )) > "$spent_file"; }
trap add_time EXIT
make -C "$SRC" O="$KDIR" "${KMAKE_ARGS[@]}" -j"$NPROC" bindeb-pkg >&2
trap - EXIT
add_time
mkdir -p "$out"
mv "$KDIR"/../linux-*.deb "$out"/ 2>/dev/null || mv "$SRC"/../linux-*.deb "$out"/ 2>/dev/null || true
echo "built in $(( ($(date +%s) - start) / 60 )) minutes ($(( $(cat "$spent_file") / 60 )) minutes over every run in $KDIR); packages in $out:"
ls -1 "$out"
cat <<EOF
Next (as root):
  dpkg -i $out/linux-image-*-livedfs*.deb $out/linux-headers-*-livedfs*.deb
  reboot into the -livedfs kernel, then in this checkout:
  make dkms-install KDIR=/lib/modules/\$(uname -r)/build
EOF
