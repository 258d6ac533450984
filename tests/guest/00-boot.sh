# The VM itself: booted, module present, scratch disks visible.
check "kernel has Rust-built module directory" test -f /lib/modules/$(uname -r)/extra/livedfs.ko
check "scratch disk attached" test -b "$(disk scratch)"
