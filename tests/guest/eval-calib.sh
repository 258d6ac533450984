# Evaluation, calibration (run by scripts/evaluate.sh): the same busybox
# commands the host times, so the page can say how much slower the
# emulated CPU is (hashing, memory copies) than the host's, and the
# device-bound profiles (evaluate.sh --profile hdd|ssd) can scale their
# disk caps to the guest's hashing speed. Each timed command runs three
# times (the page and the caps use the median).
. /tests/eval-lib.sh
dd if=/dev/urandom of=/tmp/calib bs=1M count=64 2>/dev/null
for r in 1 2 3; do
    t0=$(now); sha256sum /tmp/calib > /dev/null; rec phase=calib where=guest what=sha256_64MiB rep=$r seconds="$(since "$t0")"
    t0=$(now); md5sum /tmp/calib > /dev/null; rec phase=calib where=guest what=md5_64MiB rep=$r seconds="$(since "$t0")"
    t0=$(now); dd if=/dev/zero of=/dev/null bs=1M count=1024 2>/dev/null; rec phase=calib where=guest what=memcpy_1GiB rep=$r seconds="$(since "$t0")"
    # A real copy: the file's page-cache pages into dd's buffer, 4 times.
    t0=$(now); for _ in 1 2 3 4; do dd if=/tmp/calib of=/dev/null bs=1M 2>/dev/null; done
    rec phase=calib where=guest what=copy_256MiB rep=$r seconds="$(since "$t0")"
done
rm -f /tmp/calib
pass "calibration ran"
