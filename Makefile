# SPDX-License-Identifier: GPL-2.0
# livedfs: top-level build.
#
#   make                 build livedfs.ko against $(KDIR) and the userspace tools
#   make module          just the kernel module
#   make tools           just the userspace tools (mkfs.livedfs, ...)
#   make install         build, then install the module, the tools and the man pages
#   make uninstall       remove what `make install` installed
#   make dkms-install    copy the module source to /usr/src/livedfs-VERSION and
#                        `dkms add/build/install` it (rebuilt for each kernel)
#   make check-kdir      only check that $(KDIR) can build livedfs (Rust support)
#   make test            everything: scripts/test.sh (installs, builds, boots the VM)
#   make clean
#
# KDIR defaults to the project's cached test kernel (built on first use by
# scripts/build-kernel.sh). Any kernel build tree with CONFIG_RUST works:
#   make KDIR=/lib/modules/$(uname -r)/build
#   sudo make install KDIR=/lib/modules/$(uname -r)/build
#
# Install locations (DESTDIR is prepended to all of them, for packaging):
#   the module  /lib/modules/<kernel release of KDIR>/extra/livedfs.ko
#               (then `depmod -a <release>`, skipped when DESTDIR is set)
#   the tools   $(SBINDIR): mkfs.livedfs, fsck.livedfs (once built), livedfs
#               SBINDIR is /sbin for PREFIX=/usr (the default), else $(PREFIX)/sbin
#   man pages   $(MANDIR)/man5, man8 (MANDIR = $(PREFIX)/share/man)

KDIR ?= $(shell $(CURDIR)/scripts/build-kernel.sh base)
LLVM ?= -16
RUSTC ?= /usr/bin/rustc
export LIBCLANG_PATH ?= /usr/lib/llvm-16/lib
export PATH := $(HOME)/.cargo/bin:$(PATH)

VERSION := $(shell sed -n 's/^version = "\(.*\)"/\1/p' $(CURDIR)/userspace/Cargo.toml | head -n 1)
PREFIX ?= /usr
SBINDIR ?= $(if $(filter /usr,$(PREFIX)),/sbin,$(PREFIX)/sbin)
MANDIR ?= $(PREFIX)/share/man
DESTDIR ?=
# What gets installed (overridable, e.g. by tests of the layout).
MODULE_KO ?= $(CURDIR)/livedfs.ko
TOOLS_DIR ?= $(CURDIR)/userspace/target/release
KREL ?= $(shell cat $(KDIR)/include/config/kernel.release 2>/dev/null)
DKMS_SRC = $(DESTDIR)/usr/src/livedfs-$(VERSION)
DKMS ?= dkms

all: module tools

# A kernel without Rust support (every distribution kernel built with
# CONFIG_RUST unset, Debian's included) cannot build or load livedfs: say
# so in one paragraph instead of a wall of compiler errors.
check-kdir:
	@if [ ! -f "$(KDIR)/.config" ] || [ ! -f "$(KDIR)/Makefile" ]; then \
	  echo "error: KDIR=$(KDIR) is not a kernel build tree (no .config or Makefile there)." \
	       "livedfs is built against the build tree of the kernel it will run on:" \
	       "install that kernel's headers (e.g. /lib/modules/\$$(uname -r)/build) and pass" \
	       "KDIR=/lib/modules/\$$(uname -r)/build, or build a Rust-enabled kernel with" \
	       "scripts/build-kernel.sh, which prints its build tree." | fmt -w 78 >&2; \
	  exit 1; fi
	@if ! grep -q '^CONFIG_RUST=y' "$(KDIR)/.config"; then \
	  echo "error: livedfs needs a kernel built with CONFIG_RUST=y, and the kernel in" \
	       "$(KDIR) ($(or $(KREL),unknown release)) has no Rust support (CONFIG_RUST is not set," \
	       "as in Debian's and most distributions' kernels). livedfs is a kernel module" \
	       "written in Rust: it can neither be built for nor loaded into that kernel." \
	       "Build a Rust-enabled kernel with scripts/build-kernel.sh (Debian's" \
	       "linux-source-6.12 with CONFIG_RUST=y; it prints the build tree), boot it, and" \
	       "build livedfs with KDIR set to that tree (make KDIR=\$$(scripts/build-kernel.sh base))." | fmt -w 78 >&2; \
	  exit 1; fi
	@if ! command -v "$(RUSTC)" >/dev/null 2>&1; then \
	  echo "error: RUSTC=$(RUSTC) does not exist. Install the Rust compiler the kernel in" \
	       "$(KDIR) was built with (Debian: rustc-web and rust-web-src; scripts/setup.sh" \
	       "installs them) or pass RUSTC=/path/to/that/rustc." | fmt -w 78 >&2; \
	  exit 1; fi
	@kv=$$(sed -n 's/^CONFIG_RUSTC_VERSION_TEXT="\(.*\)"/\1/p' "$(KDIR)/.config"); \
	 rv=$$("$(RUSTC)" --version 2>/dev/null); \
	 if [ -n "$$kv" ] && [ "$$kv" != "$$rv" ]; then \
	  echo "error: the kernel in $(KDIR) was built with $$kv, but RUSTC=$(RUSTC) is $$rv." \
	       "A Rust module must be built by the very compiler that built its kernel (else" \
	       "E0514 errors): pass RUSTC= pointing to that compiler." | fmt -w 78 >&2; \
	  exit 1; fi
	@if ! command -v bindgen >/dev/null 2>&1; then \
	  echo "error: bindgen is missing: cargo install bindgen-cli --locked (0.73.2 works;" \
	       "scripts/setup.sh does it)." | fmt -w 78 >&2; \
	  exit 1; fi

# DKMS appends CC=clang LD=ld.lld (unversioned) for a kernel built with
# clang; with LLVM=-16 the tools are clang-16 and ld.lld-16.
ifneq ($(filter -%,$(LLVM)),)
ifeq ($(origin CC),command line)
KTOOLS += CC=$(CC)$(if $(filter clang,$(CC)),$(LLVM))
endif
ifeq ($(origin LD),command line)
KTOOLS += LD=$(LD)$(if $(filter ld.lld,$(LD)),$(LLVM))
endif
endif

module: check-kdir
	$(MAKE) -C $(KDIR) M=$(CURDIR) LLVM=$(LLVM) RUSTC=$(RUSTC) $(KTOOLS) modules

tools:
	cd userspace && cargo build --release

test:
	scripts/test.sh

# --- installation -----------------------------------------------------

install: all
	$(MAKE) install-files KDIR=$(KDIR)

# Only copies: everything must have been built (`make`).
install-files: install-module-files install-tools-files install-man

install-module-files:
	@[ -f "$(MODULE_KO)" ] || { echo "error: $(MODULE_KO) is missing: run make first" >&2; exit 1; }
	@[ -n "$(KREL)" ] || { echo "error: cannot tell the kernel release of KDIR=$(KDIR) (no include/config/kernel.release)" >&2; exit 1; }
	install -D -m 0644 "$(MODULE_KO)" "$(DESTDIR)/lib/modules/$(KREL)/extra/livedfs.ko"
	@if [ -z "$(DESTDIR)" ]; then echo "depmod -a $(KREL)"; depmod -a "$(KREL)"; \
	 else echo "DESTDIR is set: not running depmod (run depmod -a $(KREL) on the target)"; fi

install-tools-files:
	@for t in mkfs-livedfs livedfs; do \
	  [ -x "$(TOOLS_DIR)/$$t" ] || { echo "error: $(TOOLS_DIR)/$$t is missing: run make tools first" >&2; exit 1; }; done
	install -D -m 0755 "$(TOOLS_DIR)/mkfs-livedfs" "$(DESTDIR)$(SBINDIR)/mkfs.livedfs"
	install -D -m 0755 "$(TOOLS_DIR)/livedfs" "$(DESTDIR)$(SBINDIR)/livedfs"
	@if [ -x "$(TOOLS_DIR)/fsck-livedfs" ]; then \
	  echo install -D -m 0755 "$(TOOLS_DIR)/fsck-livedfs" "$(DESTDIR)$(SBINDIR)/fsck.livedfs"; \
	  install -D -m 0755 "$(TOOLS_DIR)/fsck-livedfs" "$(DESTDIR)$(SBINDIR)/fsck.livedfs"; \
	else echo "fsck-livedfs is not built: fsck.livedfs not installed"; fi

install-man:
	install -d "$(DESTDIR)$(MANDIR)/man5" "$(DESTDIR)$(MANDIR)/man8"
	install -m 0644 man/man5/*.5 "$(DESTDIR)$(MANDIR)/man5/"
	install -m 0644 man/man8/*.8 "$(DESTDIR)$(MANDIR)/man8/"

uninstall:
	rm -f "$(DESTDIR)$(SBINDIR)/mkfs.livedfs" "$(DESTDIR)$(SBINDIR)/fsck.livedfs" "$(DESTDIR)$(SBINDIR)/livedfs"
	rm -f $(patsubst man/%,"$(DESTDIR)$(MANDIR)/%",$(wildcard man/man5/*.5 man/man8/*.8))
	@if [ -n "$(KREL)" ]; then rm -f "$(DESTDIR)/lib/modules/$(KREL)/extra/livedfs.ko"; \
	  if [ -z "$(DESTDIR)" ]; then depmod -a "$(KREL)"; fi; fi

# --- DKMS ---------------------------------------------------------------

# What the module build needs: Makefile, Kbuild, dkms.conf, the module's
# sources (the bindings are generated into generated/ at build time) and
# the format crate it includes.
DKMS_FILES = Makefile Kbuild \
	$(wildcard rust/*.rs rust/*.c rust/*.h rust/vfs/*.rs) \
	rust/bindgen_allowlist userspace/Cargo.toml \
	$(wildcard userspace/format/src/*.rs)

# The source tree DKMS builds from, at $(DESTDIR)/usr/src/livedfs-VERSION.
dkms-src:
	rm -rf "$(DKMS_SRC)"
	install -d "$(DKMS_SRC)"
	for f in $(DKMS_FILES); do install -D -m 0644 "$$f" "$(DKMS_SRC)/$$f"; done
	sed 's/^PACKAGE_VERSION=.*/PACKAGE_VERSION="$(VERSION)"/' dkms.conf > "$(DKMS_SRC)/dkms.conf"

dkms-install: dkms-src
	@if [ -n "$(DESTDIR)" ]; then \
	  echo "DESTDIR is set: source copied to $(DKMS_SRC); on the target run:"; \
	  echo "  dkms add livedfs/$(VERSION) && dkms install livedfs/$(VERSION)"; exit 0; fi; \
	command -v $(DKMS) >/dev/null || { echo "error: dkms is not installed (apt-get install dkms)" >&2; exit 1; }; \
	$(DKMS) remove livedfs/$(VERSION) --all >/dev/null 2>&1 || true; \
	$(DKMS) add livedfs/$(VERSION) && \
	$(DKMS) build livedfs/$(VERSION) $(DKMS_ARGS) && \
	$(DKMS) install livedfs/$(VERSION) $(DKMS_ARGS)

dkms-uninstall:
	-$(DKMS) remove livedfs/$(VERSION) --all
	rm -rf "$(DKMS_SRC)"

clean:
	-$(MAKE) -C $(KDIR) M=$(CURDIR) LLVM=$(LLVM) RUSTC=$(RUSTC) clean
	rm -rf generated rust/bindings_generated.rs rust/bindings_wrappers.c

.PHONY: all check-kdir module tools test install install-files install-module-files \
	install-tools-files install-man uninstall dkms-src dkms-install dkms-uninstall clean
