#!/usr/bin/env bash
# Build the Rust-enabled test kernel from Debian's linux-source-6.12.
#
#   scripts/build-kernel.sh [base|debug]    prints the build directory (KDIR)
#
# The result is cached under $LIVEDFS_CACHE/kernel/, keyed by the source
# version, the config fragments, this script and the compilers
# (scripts/lib.sh: kernel_build_dir). An unchanged kernel is never rebuilt.
source "$(dirname "$0")/lib.sh"

flavour=${1:-base}
[ -f "$LIVEDFS_ROOT/scripts/kconfig/$flavour.config" ] || die "unknown kernel flavour '$flavour'"
KDIR=$(kernel_build_dir "$flavour")
if [ -f "$KDIR/.livedfs-done" ]; then
    echo "$KDIR"
    exit 0
fi

# 1. Source tree, extracted once per package version.
ver=$(linux_source_version)
SRC="$LIVEDFS_CACHE/src/linux-$ver"
if [ ! -f "$SRC/.livedfs-done" ]; then
    log "extracting /usr/src/linux-source-6.12.tar.xz ($ver)"
    rm -rf "$SRC" && mkdir -p "$SRC"
    tar -xf /usr/src/linux-source-6.12.tar.xz -C "$SRC" --strip-components=1
    touch "$SRC/.livedfs-done"
fi

# 2. Config: tinyconfig + our fragments, then check every fragment option
#    really landed (a missing dependency silently drops an option).
log "configuring kernel ($flavour) in $KDIR"
rm -rf "$KDIR" && mkdir -p "$KDIR"
frags=("$LIVEDFS_ROOT/scripts/kconfig/base.config")
[ "$flavour" = base ] || frags+=("$LIVEDFS_ROOT/scripts/kconfig/$flavour.config")
make -s -C "$SRC" O="$KDIR" "${KMAKE_ARGS[@]}" tinyconfig >/dev/null
KCONFIG_CONFIG="$KDIR/.config" "$SRC/scripts/kconfig/merge_config.sh" -m -O "$KDIR" \
    "$KDIR/.config" "${frags[@]}" >/dev/null
make -s -C "$SRC" O="$KDIR" "${KMAKE_ARGS[@]}" olddefconfig >/dev/null
bad=0
while IFS= read -r line; do
    case "$line" in
        CONFIG_*=*) grep -qx -- "$line" "$KDIR/.config" || { echo "  not set: $line" >&2; bad=1; } ;;
        "# CONFIG_"*" is not set") grep -qx -- "$line" "$KDIR/.config" || { echo "  still set: $line" >&2; bad=1; } ;;
    esac
done < <(cat "${frags[@]}")
[ $bad -eq 0 ] || die "the kernel config lost options above (missing dependency?); see $KDIR/.config"

# 3. Build vmlinux and modules: Module.symvers is what out-of-tree modules
#    link against (modpost fails without it).
log "building kernel ($flavour) with $NPROC jobs: takes about 5 minutes on 2 cores"
make -s -C "$SRC" O="$KDIR" "${KMAKE_ARGS[@]}" -j"$NPROC" vmlinux modules >&2
[ -f "$KDIR/Module.symvers" ] || die "kernel build produced no Module.symvers"
touch "$KDIR/.livedfs-done"
echo "$KDIR"
