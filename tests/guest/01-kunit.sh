# Load the module with KUnit enabled: its Rust suites run at insmod and
# the host counts their KTAP results (scripts/vm.sh --kunit).
KO=/lib/modules/$(uname -r)/extra/livedfs.ko
check "insmod livedfs.ko" insmod "$KO"
check "livedfs is in /proc/filesystems" grep -qw livedfs /proc/filesystems
check "KUnit suite livedfs_format ran" sh -c 'dmesg | grep -q "# Subtest: livedfs_format"'
check "KUnit suite livedfs_xattr ran" sh -c 'dmesg | grep -q "# Subtest: livedfs_xattr"'
check "rmmod livedfs" rmmod livedfs
check "livedfs gone from /proc/filesystems" sh -c '! grep -qw livedfs /proc/filesystems'
