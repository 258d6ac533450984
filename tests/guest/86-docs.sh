# Every command the documentation shows in a ```sh test block is run here,
# in order, one document at a time, against a scratch disk standing in for
# /dev/sdb; where the document shows output (lines starting with "#> "
# after a command), the command must print exactly that.
#
# Each command runs in its own subshell (no state but files is carried
# over), with stdin from /dev/null (so a question fails instead of
# waiting). The documents are in the initramfs under /doc (build-initramfs.sh copies
# Documentation/*.md there).
VOL=$(disk vol)
DOCS=/doc
T=/tmp/docs

# extract DOC DIR: DIR/NNN.cmd (one command, continuation lines joined) and
# DIR/NNN.exp (the output shown after it, if any).
extract() {
    rm -rf "$2" && mkdir -p "$2"
    awk -v dir="$2" -v vol="$VOL" '
        function flush() { if (cmd != "") { n++; f = sprintf("%s/%03d", dir, n); printf "%s\n", cmd > (f ".cmd"); close(f ".cmd"); cmd = "" } }
        /^```sh test[ \t]*$/ { inb = 1; next }
        inb && /^```/ { flush(); inb = 0; next }
        !inb { next }
        /^#> / || /^#>$/ {
            flush(); line = substr($0, 4); f = sprintf("%s/%03d.exp", dir, n)
            printf "%s\n", line >> f; close(f); next
        }
        /^[ \t]*#/ || /^[ \t]*$/ { next }
        {
            gsub("/dev/sdb", vol)
            if (cont) { cmd = cmd "\n" $0 } else { flush(); cmd = $0 }
            cont = ($0 ~ /\\$/)
        }
    ' "$1"
}

# clean_slate: nothing of an earlier document left behind.
clean_slate() {
    for m in $(grep " livedfs " /proc/mounts | cut -d' ' -f2); do umount "$m"; done
    rm -f /etc/fstab
    dd if=/dev/zero of="$VOL" bs=1M count=1 2>/dev/null
}

ran=0
for doc in $DOCS/*.md; do
    [ -f "$doc" ] || continue
    name=${doc##*/}
    grep -q '^```sh test' "$doc" || continue
    extract "$doc" "$T/$name"
    clean_slate
    for c in "$T/$name"/*.cmd; do
        i=${c%.cmd}; i=${i##*/}
        what="$name #$i: $(head -n 1 "$c" | cut -c1-60)"
        ( . "$c" ) < /dev/null > "$T/$name/$i.out" 2> "$T/$name/$i.err"
        rc=$?
        ran=$((ran + 1))
        if [ $rc -ne 0 ]; then
            fail "$what" "exit $rc: $(tail -n 3 "$T/$name/$i.err" | tr '\n' ' ')"
        elif [ -f "$T/$name/$i.exp" ]; then
            if cmp -s "$T/$name/$i.exp" "$T/$name/$i.out"; then pass "$what (output as documented)"
            else fail "$what" "output differs from the document: $(diff "$T/$name/$i.exp" "$T/$name/$i.out" | tr '\n' '|')"; fi
        else
            pass "$what"
        fi
    done
done
clean_slate
check "the documents were found and had commands to run" test $ran -gt 0
check "quickstart.md is among them" test -d "$T/quickstart.md"
