# Crash testing, step 2 (scripts/crash-test.sh): the disks "base" (the
# pristine volume) and "log" (the write log of step 1); crashtest check
# rebuilds the image of each crash point in tmpfs, mounts it through a
# loop device, checks it and prints one PASS/FAIL line per point.
# Arguments: crashtest check options (--seed, --points, --shard, ...).
crashtest check --base "$(disk base)" --log "$(disk log)" "$@" 2>&1 | tee /tmp/crash.out
check "crashtest check ran to the end" grep -q '^crashtest: shard' /tmp/crash.out
