#!/usr/bin/env bash
# Installs escalator onto a Debian system: the binary, systemd units, sysusers/tmpfiles entries, the journal
# catalog, man pages, shell completions and the default configuration in /etc/escalator.
#
#   sudo deploy/install.sh                  # build a release binary and install everything
#   sudo deploy/install.sh --binary PATH    # install a binary built elsewhere
#   deploy/install.sh --root DIR            # stage into DIR (no users, no systemctl): for packaging and tests
#
# Running it again is safe. It never overwrites a configuration file an operator has edited: when the shipped
# file differs, the new one is put beside it as FILE.dist and the difference is reported.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
project=$(cd "$here/.." && pwd)
root=""
binary=""
manuals=""
enable=no

usage() { sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//'; }
while [ $# -gt 0 ]; do
    case "$1" in
        --root) root=${2%/}; shift 2 ;;
        --binary) binary=$2; shift 2 ;;
        --manuals) manuals=$2; shift 2 ;;
        --enable) enable=yes; shift ;;
        -h|--help) usage; exit 0 ;;
        *) echo "install.sh: unknown option $1" >&2; usage >&2; exit 2 ;;
    esac
done

if [ -z "$root" ] && [ "$(id -u)" -ne 0 ]; then
    echo "install.sh: run as root (or stage with --root DIR)" >&2
    exit 1
fi

if [ -z "$binary" ]; then
    echo "Building the release binary (swift build -c release)…"
    (cd "$project" && swift build -c release --product escalator)
    binary="$project/.build/release/escalator"
fi
[ -x "$binary" ] || { echo "install.sh: $binary is not an executable" >&2; exit 1; }

if [ -z "$manuals" ]; then
    echo "Generating the man pages (swift-argument-parser's generate-manual plugin)…"
    if [ "$binary" = "$project/.build/release/escalator" ]; then configuration=release; else configuration=debug; fi
    (cd "$project" && swift package generate-manual --multi-page --configuration "$configuration" >/dev/null)
    manuals="$project/.build/plugins/GenerateManual/outputs/escalator"
fi

put() { # put MODE SOURCE TARGET: install a file escalator owns (always replaced)
    install -D -m "$1" "$2" "$root$3"
}

put 0755 "$binary" /usr/bin/escalator
put 0644 "$here/escalator.service" /etc/systemd/system/escalator.service
for unit in escalator-mail.service escalator-mail.path escalator-mail.timer; do
    put 0644 "$here/$unit" "/etc/systemd/system/$unit"
done
put 0644 "$here/escalator.sysusers" /usr/lib/sysusers.d/escalator.conf
put 0644 "$here/escalator.tmpfiles" /usr/lib/tmpfiles.d/escalator.conf
put 0644 "$here/escalator.catalog" /usr/lib/systemd/catalog/escalator.catalog
for page in "$manuals"/*.1; do
    [ -e "$page" ] || continue
    install -D -m 0644 "$page" "$root/usr/share/man/man1/$(basename "$page")"
    gzip -9nf "$root/usr/share/man/man1/$(basename "$page")"
done
mkdir -p "$root/usr/share/bash-completion/completions" "$root/usr/share/zsh/vendor-completions" "$root/usr/share/fish/vendor_completions.d"
"$binary" --generate-completion-script bash > "$root/usr/share/bash-completion/completions/escalator"
"$binary" --generate-completion-script zsh > "$root/usr/share/zsh/vendor-completions/_escalator"
"$binary" --generate-completion-script fish > "$root/usr/share/fish/vendor_completions.d/escalator.fish"
for doc in README.md docs/*.md; do
    put 0644 "$project/$doc" "/usr/share/doc/escalator/$(basename "$doc")"
done

# The configuration: shipped files are installed only where none exists; an edited file is never touched.
config="$root/etc/escalator"
kept=()
while IFS= read -r -d '' file; do
    relative=${file#"$project/Config/"}
    case "$relative" in tests/*) continue ;; esac
    target="$config/$relative"
    if [ ! -e "$target" ]; then
        install -D -m 0640 "$file" "$target"
    elif ! cmp -s "$file" "$target"; then
        install -D -m 0640 "$file" "$target.dist"
        kept+=("$relative")
    fi
done < <(find "$project/Config" -type f -print0 | sort -z)
find "$config" -type d -exec chmod 0750 {} +

if [ -n "$root" ]; then
    echo "Staged into $root (no users, ownership or services changed)."
else
    systemd-sysusers /usr/lib/sysusers.d/escalator.conf
    systemd-tmpfiles --create /usr/lib/tmpfiles.d/escalator.conf
    chown -R root:escalator /etc/escalator
    for mta in Debian-exim postfix; do
        if id "$mta" >/dev/null 2>&1; then usermod -aG escalator "$mta"; fi
    done
    mkdir -p /etc/credstore && chmod 0700 /etc/credstore
    journalctl --update-catalog || true
    mandb -q 2>/dev/null || true
    if [ -d /run/systemd/system ]; then
        systemctl daemon-reload
        if [ "$enable" = yes ]; then systemctl enable --now escalator.service escalator-mail.path escalator-mail.timer; fi
    fi
fi
for relative in "${kept[@]}"; do
    echo "kept your /etc/escalator/$relative; the shipped version is beside it as $relative.dist"
done
echo "Installed. Check the configuration, then start: escalator check --config /etc/escalator && systemctl enable --now escalator escalator-mail.path escalator-mail.timer"
