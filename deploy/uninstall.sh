#!/usr/bin/env bash
# Removes what install.sh installed. The configuration (/etc/escalator), the state (/var/lib/escalator) and the
# mail spool (/var/spool/escalator) are kept unless --purge is given.
#
#   sudo deploy/uninstall.sh [--purge]
#   deploy/uninstall.sh --root DIR [--purge]     # the same inside a staging root
set -euo pipefail

root=""
purge=no
while [ $# -gt 0 ]; do
    case "$1" in
        --root) root=${2%/}; shift 2 ;;
        --purge) purge=yes; shift ;;
        -h|--help) sed -n '2,7p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "uninstall.sh: unknown option $1" >&2; exit 2 ;;
    esac
done
if [ -z "$root" ] && [ "$(id -u)" -ne 0 ]; then
    echo "uninstall.sh: run as root (or use --root DIR)" >&2
    exit 1
fi

units=(escalator.service escalator-mail.service escalator-mail.path escalator-mail.timer)
if [ -z "$root" ] && [ -d /run/systemd/system ]; then
    systemctl disable --now "${units[@]}" 2>/dev/null || true
fi
for unit in "${units[@]}"; do rm -f "$root/etc/systemd/system/$unit"; done
rm -f "$root/usr/bin/escalator" \
    "$root/usr/lib/sysusers.d/escalator.conf" "$root/usr/lib/tmpfiles.d/escalator.conf" \
    "$root/usr/lib/systemd/catalog/escalator.catalog" \
    "$root/usr/share/bash-completion/completions/escalator" "$root/usr/share/zsh/vendor-completions/_escalator" \
    "$root/usr/share/fish/vendor_completions.d/escalator.fish"
rm -f "$root"/usr/share/man/man1/escalator.*1.gz
rm -rf "$root/usr/share/doc/escalator"
if [ "$purge" = yes ]; then
    rm -rf "$root/etc/escalator" "$root/var/lib/escalator" "$root/var/spool/escalator"
    echo "Removed escalator with its configuration, state and spool."
else
    echo "Removed escalator. Kept: /etc/escalator, /var/lib/escalator, /var/spool/escalator (remove them with --purge)."
fi
if [ -z "$root" ]; then
    journalctl --update-catalog 2>/dev/null || true
    if [ -d /run/systemd/system ]; then systemctl daemon-reload; fi
fi
