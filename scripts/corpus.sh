#!/usr/bin/env bash
# Build the VM-image corpus of the evaluation: raw whole-disk ext4 images of
# real Debian systems made with debootstrap, each with its own package set,
# like the root disk of a cloud image. Cached outside the repository and
# never rebuilt once complete.
#
#   scripts/corpus.sh [--short] [--list] [--count] [--mirror URL] [--suite S]
#
#   (default)   build the full corpus (8 images: 2 GiB each, 3 GiB for the
#               desktop) if missing, then print the image paths in import
#               order, one per line, on stdout
#   --short     the small corpus instead (3 images of 1 GiB: minbase and two
#               small variants; a few minutes on a fresh machine)
#   --list      only print the paths (fails if an image is missing)
#   --count     also run the independent counter (userspace/corpus-count)
#               and print its table on stderr (its JSON is cached next to
#               the images: <corpus>/count-<key>.json, the file
#               scripts/evaluate.sh reads)
#   --mirror URL  Debian mirror (default http://deb.debian.org/debian; a
#               snapshot.debian.org/archive/debian/<timestamp> URL pins the
#               exact archive state)
#   --suite S   Debian release (default bookworm)
#
# Images live in ${LIVEDFS_CACHE:-~/.cache/livedfs}/corpus/ as
# NAME-SUITE-SIZE-KEY.img with NAME-...-KEY.json beside it (packages asked
# for, the archive's Release Version/Date at build time, dpkg package
# count, bytes used). KEY hashes the package set, image size, suite,
# mirror and this recipe: the same set is reused as is, on any later run,
# even after the mirror moved on to a newer point release (the .json says
# which one it was built from). Downloaded .debs are shared across images
# in corpus/debs/. Needs root (loop mount, chroot) and debootstrap
# (installed with apt-get if missing).
source "$(dirname "$0")/lib.sh"
# One brace group, read whole before it runs: editing this file during a
# build (many minutes) cannot derail it.
{

short=0 list_only=0 count=0
MIRROR=${LIVEDFS_CORPUS_MIRROR:-http://deb.debian.org/debian}
SUITE=${LIVEDFS_CORPUS_SUITE:-bookworm}
while [ $# -gt 0 ]; do
    case "$1" in
        --short) short=1; shift ;;
        --list) list_only=1; shift ;;
        --count) count=1; shift ;;
        --mirror) MIRROR=$2; shift 2 ;;
        --suite) SUITE=$2; shift 2 ;;
        -h|--help) sed -n '2,/^source/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        *) die "unknown argument $1 (see --help)" ;;
    esac
done

CORPUS="$LIVEDFS_CACHE/corpus"
# Bump when the recipe below changes what goes into an image.
RECIPE=1

# The package sets, in import order: NAME SIZE VARIANT PACKAGES...
# (VARIANT is debootstrap's: minbase, or "-" for the default one with the
# required and important packages). Every image but minbase is a bootable
# cloud-style server: kernel (linux-image-cloud-amd64 and its initramfs),
# systemd, ssh, sudo, the usual admin tools.
SERVER="linux-image-cloud-amd64 systemd-sysv openssh-server sudo curl ca-certificates less vim-tiny bash-completion locales man-db cron logrotate rsyslog netbase ifupdown isc-dhcp-client"
full_sets=(
    "minbase 2G minbase"
    "server 2G - $SERVER"
    "web 2G - $SERVER nginx php-fpm php-mysql php-curl certbot python3-certbot-nginx"
    "database 2G - $SERVER postgresql mariadb-server"
    "build 2G - $SERVER build-essential git cmake pkg-config autoconf automake libtool gdb"
    "mail 2G - $SERVER postfix dovecot-imapd dovecot-pop3d opendkim spamassassin"
    "python 2G - $SERVER --no-install-recommends python3-numpy python3-pandas python3-scipy python3-matplotlib python3-pip python3-venv ipython3"
    "desktop 3G - $SERVER --no-install-recommends xfce4 xfce4-terminal lightdm xserver-xorg firefox-esr"
)
short_sets=(
    "minbase 1G minbase"
    "minbase-ssh 1G minbase openssh-server sudo"
    "minbase-python 1G minbase python3 python3-yaml"
)
if [ $short -eq 1 ]; then sets=("${short_sets[@]}"); else sets=("${full_sets[@]}"); fi

# image_path NAME SIZE VARIANT PACKAGES...: the cache path of a set's image.
image_path() {
    local name=$1 size=$2 key
    key=$(printf '%s\n' "recipe=$RECIPE" "suite=$SUITE" "mirror=$MIRROR" "$*" | sha256sum | cut -c1-12)
    echo "$CORPUS/$name-$SUITE-$size-$key.img"
}

# The loop device, mounts and temporary image of the build in progress,
# undone on any exit.
cur_mnt="" cur_tmp=""
cleanup() {
    if [ -n "$cur_mnt" ]; then
        for m in var/cache/apt/archives dev/pts dev sys proc ""; do
            mountpoint -q "$cur_mnt/$m" 2>/dev/null && umount -l "$cur_mnt/$m" 2>/dev/null || true
        done
        rmdir "$cur_mnt" 2>/dev/null || true
    fi
    [ -z "$cur_tmp" ] || rm -f "$cur_tmp"
}
trap cleanup EXIT

# stop_chroot_procs DIR: end the processes whose root is DIR.
stop_chroot_procs() {
    local p r sig
    for sig in TERM KILL; do
        for p in /proc/[0-9]*; do
            r=$(readlink "$p/root" 2>/dev/null) || continue
            [ "$r" = "$1" ] && kill -s $sig "${p#/proc/}" 2>/dev/null || true
        done
        sleep 1
    done
}
umount_retry() {
    local i
    for i in 1 2 3 4 5 6 7 8 9 10; do
        umount "$1" 2>/dev/null && return 0
        sleep 2
    done
    umount "$1"
}

# build_image NAME SIZE VARIANT PACKAGES...
build_image() {
    local name=$1 size=$2 variant=$3; shift 3
    local pkgs=("$@") img tmp mnt t0 release
    img=$(image_path "$name" "$size" "$variant" "${pkgs[@]}")
    [ -f "$img" ] && return 0
    t0=$(date +%s)
    log "corpus: building $(basename "$img") (debootstrap ${variant/#-/default variant}${pkgs:+ + ${#pkgs[@]} packages})"
    tmp="$img.tmp" mnt=$(mktemp -d "${TMPDIR:-/tmp}/livedfs-corpus.XXXXXX")
    cur_tmp=$tmp cur_mnt=$mnt
    rm -f "$tmp"
    truncate -s "$size" "$tmp"
    mkfs.ext4 -q -F -L root "$tmp"
    mount -o loop "$tmp" "$mnt"
    local dargs=(--cache-dir="$CORPUS/debs")
    [ "$variant" = - ] || dargs+=(--variant="$variant")
    nice debootstrap "${dargs[@]}" "$SUITE" "$mnt" "$MIRROR" > "$CORPUS/log/$name.log" 2>&1 \
        || { tail -n 20 "$CORPUS/log/$name.log" >&2; die "debootstrap of $name failed (log $CORPUS/log/$name.log)"; }
    release=$(wget -qO- "$MIRROR/dists/$SUITE/Release" | sed -n 's/^\(Version\|Date\): /\1=/p' | paste -sd' ' || true)
    echo "$name" > "$mnt/etc/hostname"
    echo "LABEL=root / ext4 errors=remount-ro 0 1" > "$mnt/etc/fstab"
    echo "deb $MIRROR $SUITE main" > "$mnt/etc/apt/sources.list"
    if [ ${#pkgs[@]} -gt 0 ]; then
        mount -t proc proc "$mnt/proc"
        mount -t sysfs sys "$mnt/sys"
        mount --bind /dev "$mnt/dev"
        mount -t devpts devpts "$mnt/dev/pts" 2>/dev/null || true
        mount --bind "$CORPUS/debs" "$mnt/var/cache/apt/archives"
        # No daemon starts in the chroot.
        printf '#!/bin/sh\nexit 101\n' > "$mnt/usr/sbin/policy-rc.d"
        chmod +x "$mnt/usr/sbin/policy-rc.d"
        printf '%s\n' "postfix postfix/main_mailer_type select Internet Site" \
            "postfix postfix/mailname string $name.example.org" \
            "locales locales/default_environment_locale select C.UTF-8" \
            | chroot "$mnt" debconf-set-selections
        { chroot "$mnt" apt-get update -q \
            && DEBIAN_FRONTEND=noninteractive nice chroot "$mnt" apt-get install -y -q \
                -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold "${pkgs[@]}"
        } >> "$CORPUS/log/$name.log" 2>&1 \
            || { tail -n 20 "$CORPUS/log/$name.log" >&2; die "installing the packages of $name failed (log $CORPUS/log/$name.log)"; }
        rm -f "$mnt/usr/sbin/policy-rc.d"
        # A package may leave a helper running in the chroot (gpg-agent,
        # a trigger's daemon): end those, then unmount.
        stop_chroot_procs "$mnt"
        for m in var/cache/apt/archives dev/pts dev sys proc; do
            mountpoint -q "$mnt/$m" && umount_retry "$mnt/$m"
        done
    fi
    local npk used
    npk=$(chroot "$mnt" dpkg-query -W -f='${Status}\n' 2>/dev/null | grep -c 'install ok installed' || true)
    chroot "$mnt" apt-get clean > /dev/null 2>&1 || true
    rm -rf "$mnt/var/cache/apt/archives/"*.deb "$mnt/var/lib/apt/lists/"*_Packages
    # Blocks freed by the build go back to holes (zeros), as an image
    # builder's final trim does.
    fstrim "$mnt" 2>/dev/null || true
    used=$(df -B1 --output=used "$mnt" | tail -n 1 | tr -d ' ')
    stop_chroot_procs "$mnt"
    umount_retry "$mnt"
    rmdir "$mnt"
    cur_mnt=""
    e2fsck -fn "$tmp" > /dev/null 2>&1 || die "e2fsck found problems in the new $name image"
    cat > "${img%.img}.json" <<EOF
{"name": "$name", "size": "$size", "suite": "$SUITE", "mirror": "$MIRROR",
 "variant": "$variant", "packages": "${pkgs[*]}", "recipe": $RECIPE,
 "release": "$release", "dpkg_packages": $npk, "fs_bytes_used": $used,
 "built": "$(date -u +%Y-%m-%dT%H:%M:%SZ)", "build_seconds": $(( $(date +%s) - t0 ))}
EOF
    mv "$tmp" "$img"
    cur_tmp=""
    log "corpus: $name done in $(( $(date +%s) - t0 ))s, $npk packages, $((used / 1048576)) MiB used"
}

paths=()
for s in "${sets[@]}"; do
    # shellcheck disable=SC2086
    paths+=("$(image_path $s)")
done

if [ $list_only -eq 0 ]; then
    missing=0
    for p in "${paths[@]}"; do [ -f "$p" ] || missing=1; done
    if [ $missing -eq 1 ]; then
        [ "$(id -u)" -eq 0 ] || die "building the corpus needs root (loop mounts, chroot)"
        if ! command -v debootstrap > /dev/null; then
            log "installing debootstrap"
            apt-get install -y -q debootstrap > /dev/null || die "cannot install debootstrap"
        fi
        mkdir -p "$CORPUS/debs" "$CORPUS/log"
        exec 9> "$CORPUS/.lock"
        flock 9
        for s in "${sets[@]}"; do
            # shellcheck disable=SC2086
            build_image $s
        done
    fi
fi
for p in "${paths[@]}"; do [ -f "$p" ] || die "corpus image $p is missing (run scripts/corpus.sh$([ $short -eq 1 ] && echo " --short") without --list)"; done

if [ $count -eq 1 ]; then
    # Keyed as scripts/evaluate.sh keys it: the image paths, in order.
    sum=$(printf '%s\n' "${paths[@]}" | sha256sum | cut -c1-12)
    json="$CORPUS/count-$sum.json"
    if [ ! -f "$json" ]; then
        (cd "$LIVEDFS_ROOT/userspace" && cargo build --release --quiet -p corpus-count)
        nice "$LIVEDFS_ROOT/userspace/target/release/corpus-count" --json "$json.tmp" "${paths[@]}" >&2
        mv "$json.tmp" "$json"
    else
        "$LIVEDFS_ROOT/userspace/target/release/corpus-count" --from-json "$json" >&2 2>/dev/null \
            || echo "(counts cached in $json)" >&2
    fi
fi
printf '%s\n' "${paths[@]}"
exit 0
}
