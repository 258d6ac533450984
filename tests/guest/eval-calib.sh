# Evaluation, calibration (run by scripts/evaluate.sh): the same busybox
# commands the host times, so the page can say how much slower the
# emulated CPU is (hashing, memory copies) than the host's.
. /tests/eval-lib.sh
dd if=/dev/urandom of=/tmp/calib bs=1M count=64 2>/dev/null
t0=$(now); sha256sum /tmp/calib > /dev/null; rec phase=calib where=guest what=sha256_64MiB seconds="$(since "$t0")"
t0=$(now); md5sum /tmp/calib > /dev/null; rec phase=calib where=guest what=md5_64MiB seconds="$(since "$t0")"
t0=$(now); dd if=/dev/zero of=/dev/null bs=1M count=1024 2>/dev/null; rec phase=calib where=guest what=memcpy_1GiB seconds="$(since "$t0")"
rm -f /tmp/calib
pass "calibration ran"
