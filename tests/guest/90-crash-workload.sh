# Crash testing, step 1 (scripts/crash-test.sh): run the seeded workload on
# the volume "vol", a disk whose every write and flush the host logs
# (vm.sh --logged-disk). mkfs left the device's last MiB outside the
# volume: the workload writes its progress records there.
# Arguments: crashtest workload options (--seed, --scenarios, ...).
VOL=$(disk vol)
M=/mnt/crash
mkdir -p $M
check "mount the logged volume" mount -t livedfs "$VOL" $M
crashtest workload --mnt $M --dev "$VOL" "$@" 2>&1 | tee /tmp/workload.out
check "crashtest workload ran to the end" grep -q '^crashtest workload: seed' /tmp/workload.out
check "umount" umount $M
