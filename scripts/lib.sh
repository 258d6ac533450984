# shellcheck shell=bash
# Common settings for the livedfs scripts. Sourced, never run.
#
# Everything slow (kernel source, kernel builds, busybox initramfs pieces)
# lives under $LIVEDFS_CACHE, outside the repository, keyed by what it is
# built from, so a second run reuses it and a fresh machine rebuilds it.

set -euo pipefail

LIVEDFS_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
LIVEDFS_CACHE=${LIVEDFS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/livedfs}
export LIVEDFS_ROOT LIVEDFS_CACHE

# The kernel and the module must be built by Debian's rustc (1.96, with
# rust-web-src); the rustup toolchain first in PATH has no core sources
# and would produce an incompatible module (E0514).
KERNEL_RUSTC=/usr/bin/rustc
KERNEL_LLVM=-16
export LIBCLANG_PATH=/usr/lib/llvm-16/lib
export PATH="$HOME/.cargo/bin:$PATH"
# Arguments every kernel-side make needs.
KMAKE_ARGS=(LLVM="$KERNEL_LLVM" RUSTC="$KERNEL_RUSTC" BINDGEN=bindgen)

BINDGEN_VERSION=0.73.2
NPROC=$(nproc)

log() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# apt_install WHY PKG...: installs the Debian packages not yet installed
# (none: nothing runs), saying WHY.
apt_install() {
    local why=$1 p missing=() sudo=
    shift
    for p in "$@"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
    done
    [ ${#missing[@]} -gt 0 ] || return 0
    log "installing $why: ${missing[*]}"
    [ "$(id -u)" -eq 0 ] || sudo=sudo
    $sudo apt-get update -q
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends "${missing[@]}"
}

# Version of Debian's kernel source package, e.g. 6.12.117-1~deb12u1.
linux_source_version() {
    dpkg-query -W -f='${Version}' linux-source-6.12 2>/dev/null \
        || die "linux-source-6.12 is not installed; run scripts/setup.sh"
}

# The kernel build directory for a flavour (base or debug), keyed by the
# source package version, the config fragments, this build recipe, and the
# compilers. Prints the path; it may not exist yet.
kernel_build_dir() {
    local flavour=${1:-base} key
    local frags=("$LIVEDFS_ROOT/scripts/kconfig/base.config")
    [ "$flavour" = base ] || frags+=("$LIVEDFS_ROOT/scripts/kconfig/$flavour.config")
    key=$( {
        linux_source_version
        cat "${frags[@]}"
        cat "$LIVEDFS_ROOT/scripts/build-kernel.sh"
        "$KERNEL_RUSTC" --version
        "clang$KERNEL_LLVM" --version | head -n1
        bindgen --version 2>/dev/null || true
    } | sha256sum | cut -c1-16)
    echo "$LIVEDFS_CACHE/kernel/$flavour-$(linux_source_version | cut -d- -f1)-$key"
}
