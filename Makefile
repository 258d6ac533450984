# SPDX-License-Identifier: GPL-2.0
# livedfs: top-level build.
#
#   make                 build livedfs.ko against $(KDIR) and the userspace tools
#   make module          just the kernel module
#   make tools           just the userspace tools (mkfs.livedfs, ...)
#   make test            everything: scripts/test.sh (installs, builds, boots the VM)
#   make clean
#
# KDIR defaults to the project's cached test kernel (built on first use by
# scripts/build-kernel.sh). Any kernel build tree with CONFIG_RUST works:
#   make KDIR=/lib/modules/$(uname -r)/build

KDIR ?= $(shell $(CURDIR)/scripts/build-kernel.sh base)
LLVM ?= -16
RUSTC ?= /usr/bin/rustc
export LIBCLANG_PATH ?= /usr/lib/llvm-16/lib
export PATH := $(HOME)/.cargo/bin:$(PATH)

all: module tools

module:
	@grep -q '^CONFIG_RUST=y' $(KDIR)/.config 2>/dev/null || { \
	  echo "error: $(KDIR) is not a kernel build tree with CONFIG_RUST=y;" \
	       "livedfs is a Rust module and needs a Rust-enabled kernel." >&2; exit 1; }
	$(MAKE) -C $(KDIR) M=$(CURDIR) LLVM=$(LLVM) RUSTC=$(RUSTC) modules

tools:
	cd userspace && cargo build --release

test:
	scripts/test.sh

clean:
	-$(MAKE) -C $(KDIR) M=$(CURDIR) LLVM=$(LLVM) RUSTC=$(RUSTC) clean
	rm -f rust/bindings_generated.rs rust/bindings_wrappers.c

.PHONY: all module tools test clean
