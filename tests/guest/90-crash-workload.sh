# Crash testing, step 1 (scripts/crash-test.sh): run the seeded workload on
# the volume "vol", a disk whose every write and flush the host logs
# (vm.sh --logged-disk). mkfs left the device's last MiB outside the
# volume: the workload writes its progress records there.
# Arguments: crashtest workload options (--seed, --scenarios, ...).
VOL=$(disk vol)
M=/mnt/crash
mkdir -p $M
check "mount the logged volume" mount -t livedfs "$VOL" $M
if crashtest workload --mnt $M --dev "$VOL" "$@" > /tmp/workload.out 2>&1; then
    pass "crashtest workload"
else
    fail "crashtest workload" "exit $?"
fi
cat /tmp/workload.out
check "umount" umount $M
