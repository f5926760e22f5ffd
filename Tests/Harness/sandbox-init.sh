#!/bin/bash
# PID 1 of the sandbox's new namespaces (see sandbox.sh): give it private /dev, /run, /etc, /var and a cgroup
# tree of its own, mask every unit that would touch the host, then become systemd.
set -eu
work="$1"

mkdir -p "$work/dev"
mount -t tmpfs -o mode=755,nosuid,size=1m escalator-sandbox-dev "$work/dev"
for node in "null 1 3" "zero 1 5" "full 1 7" "random 1 8" "urandom 1 9" "tty 5 0"; do
    set -- $node
    mknod -m 666 "$work/dev/$1" c "$2" "$3"
done
mkdir "$work/dev/pts" "$work/dev/shm"
mount -t devpts -o newinstance,ptmxmode=0666,mode=0620 devpts "$work/dev/pts"
ln -s pts/ptmx "$work/dev/ptmx"
mount -t tmpfs -o mode=1777,nosuid,nodev escalator-sandbox-shm "$work/dev/shm"
ln -s /proc/self/fd "$work/dev/fd"
for n in 0:stdin 1:stdout 2:stderr; do ln -s "/proc/self/fd/${n%%:*}" "$work/dev/${n#*:}"; done
touch "$work/dev/console"
mount --bind "$work/dev/null" "$work/dev/console"
mount --move "$work/dev" /dev

# Kernel knobs stay read-only; systemd skips what it cannot change.
mount --bind /proc/sys /proc/sys
mount -o remount,bind,ro,nosuid,nodev,noexec /proc/sys
umount -R -l /sys/fs/cgroup
mount -o remount,bind,ro,nosuid,nodev,noexec /sys
mount -t cgroup2 -o nosuid,nodev,noexec cgroup2 /sys/fs/cgroup

# /run is fresh; /etc and /var are overlays whose writes land in $work.
mount -t tmpfs -o mode=755,nosuid,nodev escalator-sandbox-run /run
for tree in etc var; do
    mkdir -p "$work/overlay/$tree.upper" "$work/overlay/$tree.work"
    mount -t overlay -o "lowerdir=/$tree,upperdir=$work/overlay/$tree.upper,workdir=$work/overlay/$tree.work" "escalator-sandbox-$tree" "/$tree"
done
mkdir -p /var/log/journal
mount -t tmpfs -o mode=2755 escalator-sandbox-journal /var/log/journal

# No host units; mask the ones that write outside the sandbox or need hardware.
mount -t tmpfs -o mode=755 escalator-sandbox-units /etc/systemd/system
for unit in \
    systemd-tmpfiles-setup.service systemd-tmpfiles-setup-dev.service systemd-tmpfiles-clean.timer \
    systemd-tmpfiles-clean.service kmod-static-nodes.service systemd-random-seed.service \
    systemd-update-utmp.service systemd-update-utmp-runlevel.service systemd-sysusers.service \
    systemd-firstboot.service systemd-machine-id-commit.service systemd-modules-load.service \
    systemd-sysctl.service systemd-binfmt.service proc-sys-fs-binfmt_misc.automount \
    systemd-journald-audit.socket systemd-remount-fs.service systemd-udevd.service \
    systemd-udevd-control.socket systemd-udevd-kernel.socket systemd-udev-trigger.service \
    systemd-udev-settle.service systemd-hwdb-update.service ldconfig.service systemd-update-done.service \
    systemd-journal-catalog-update.service systemd-pcrphase.service systemd-pcrphase-sysinit.service \
    systemd-repart.service systemd-timesyncd.service systemd-pstore.service systemd-logind.service \
    systemd-fsck-root.service systemd-quotacheck.service systemd-rfkill.service systemd-rfkill.socket \
    getty.target console-getty.service e2scrub_reap.service e2scrub_all.timer fstrim.timer \
    apt-daily.timer apt-daily-upgrade.timer man-db.timer dpkg-db-backup.timer postgresql.service; do
    ln -s /dev/null "/etc/systemd/system/$unit"
done

mkdir -p /run/systemd/system.conf.d /run/systemd/journald.conf.d
printf '[Manager]\nDefaultTimeoutStartSec=30s\nDefaultTimeoutStopSec=30s\nShowStatus=no\n' > /run/systemd/system.conf.d/sandbox.conf
printf '[Journal]\nStorage=volatile\nRateLimitBurst=0\n' > /run/systemd/journald.conf.d/sandbox.conf

export container=escalator-sandbox
exec setpriv --bounding-set -sys_module,-sys_time,-sys_boot,-audit_control,-audit_read,-audit_write,-syslog,-wake_alarm,-block_suspend,-mac_admin,-mac_override \
    /lib/systemd/systemd --unit=basic.target
