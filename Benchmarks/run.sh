#!/usr/bin/env bash
# Builds escalator in release mode and runs the benchmark harness inside a private mount namespace with its own
# journald, so journal writes are real and nothing reaches the host's journal (needs root, like the tests).
#
#   Benchmarks/run.sh [--cases 10000,100000,1000000] [--drivers sqlite,postgres] [...escalator-bench options]
set -euo pipefail
cd "$(dirname "$0")/.."
swift build -c release --product escalator
swift build -c release --product escalator-bench
bench=$(swift build -c release --show-bin-path)/escalator-bench
script=$(mktemp)
trap 'rm -f "$script"' EXIT
cat > "$script" <<'INNER'
set -e
mount -t tmpfs tmpfs /run/systemd
mount -t tmpfs tmpfs /run/log
if [ -d /var/log/journal ]; then mount -t tmpfs tmpfs /var/log/journal; fi
mkdir -p /run/systemd/journald.conf.d
printf '[Journal]\nStorage=volatile\nRateLimitBurst=0\nRuntimeMaxUse=256M\n' > /run/systemd/journald.conf.d/bench.conf
/lib/systemd/systemd-journald &
journald=$!
for _ in $(seq 200); do [ -S /run/systemd/journal/socket ] && break; sleep 0.05; done
"$@" || status=$?
kill $journald
exit ${status:-0}
INNER
unshare -m --propagation private /bin/bash "$script" "$bench" "$@"
