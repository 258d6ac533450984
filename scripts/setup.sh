#!/usr/bin/env bash
# Install everything a fresh Debian 12 machine lacks to build and test
# livedfs. Idempotent: each step checks before it acts, so a second run
# takes a second. Run by scripts/test.sh and scripts/demo.sh.
source "$(dirname "$0")/lib.sh"

APT_PACKAGES=(
    # kernel source and the toolchain verified for Rust-for-Linux on 6.12
    linux-source-6.12 rustc-web rust-web-src
    # Debian's kernel configurations (scripts/build-distro-kernel.sh)
    linux-config-6.12
    clang-16 lld-16 llvm-16 libclang-16-dev
    # kernel build dependencies
    make flex bison bc libelf-dev libssl-dev cpio kmod xz-utils python3
    # the test VM and its userland
    qemu-system-x86 busybox-static
    # comparisons (mkfs.ext4, e2fsck) and images
    e2fsprogs util-linux
    # static userspace binaries for the guest (glibc's libc.a)
    libc6-dev
)

apt_install "Debian packages" "${APT_PACKAGES[@]}"

command -v cargo >/dev/null || die "cargo is missing: install Rust (rustup) for the userspace tools"

if ! bindgen --version 2>/dev/null | grep -q " $BINDGEN_VERSION\$"; then
    log "installing bindgen-cli $BINDGEN_VERSION (Debian's bindgen is too old for 6.12)"
    cargo install --locked --quiet bindgen-cli --version "$BINDGEN_VERSION"
fi

"$KERNEL_RUSTC" --version | grep -q '^rustc 1\.9[6-9]' \
    || die "$KERNEL_RUSTC is not Debian's rustc-web 1.96: $("$KERNEL_RUSTC" --version)"
[ -d /usr/lib/rustlib/src/rust/library/core ] \
    || die "rust-web-src is missing: /usr/lib/rustlib/src/rust/library/core not found"
log "setup: all dependencies present"
