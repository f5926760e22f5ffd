#!/bin/bash
# A real systemd for tests, booted as PID 1 of private pid/mount/uts/ipc/cgroup namespaces (needs root).
#
#   sandbox.sh start            → prints "PID WORKDIR" once the manager is up
#   sandbox.sh exec PID CMD...  → runs CMD inside the sandbox
#   sandbox.sh stop PID WORKDIR → powers it off and removes its cgroup and work directory
#
# /proc/PID/root is the sandbox's view of the filesystem: /etc and /var there are private overlays.
set -eu
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cgroups=/sys/fs/cgroup/unified
[ -d "$cgroups" ] && [ -f "$cgroups/cgroup.procs" ] || cgroups=/sys/fs/cgroup

running() { nsenter -t "$1" -m -u -i -p -C -- systemctl is-system-running 2>/dev/null || true; }

case "${1:-}" in
start)
    work=$(mktemp -d /tmp/escalator-sandbox.XXXXXX)
    group="$cgroups/$(basename "$work")"
    mkdir "$group"
    setsid sh -c "echo \$\$ > '$work/unshare.pid'; echo \$\$ > '$group/cgroup.procs'; \
        exec unshare --cgroup --pid --mount --uts --ipc --fork --kill-child --propagation private --mount-proc \
        bash '$here/sandbox-init.sh' '$work'" </dev/null >"$work/boot.log" 2>&1 &
    pid=""
    for _ in $(seq 1 300); do
        if [ -z "$pid" ] && [ -s "$work/unshare.pid" ]; then
            outer=$(cat "$work/unshare.pid")
            pid=$(cat "/proc/$outer/task/$outer/children" 2>/dev/null | awk '{print $1}')
            [ -n "$pid" ] && echo "$outer" > "$cgroups/cgroup.procs"
        fi
        if [ -n "$pid" ]; then
            case "$(running "$pid")" in running|degraded) echo "$pid $work"; exit 0 ;; esac
        fi
        sleep 0.1
    done
    echo "sandbox did not boot; $work/boot.log:" >&2
    cat "$work/boot.log" >&2
    exit 1
    ;;
exec)
    pid=$2
    shift 2
    exec nsenter -t "$pid" -m -u -i -p -C -- "$@"
    ;;
stop)
    pid=$2 work=$3
    group="$cgroups/$(basename "$work")"
    outer=$(cat "$work/unshare.pid" 2>/dev/null || echo "")
    kill -s SIGRTMIN+4 "$pid" 2>/dev/null || true
    for _ in $(seq 1 200); do
        [ -n "$outer" ] && kill -0 "$outer" 2>/dev/null || break
        sleep 0.1
    done
    if [ -n "$outer" ] && kill -0 "$outer" 2>/dev/null; then
        echo 1 > "$group/cgroup.kill" 2>/dev/null || true
        kill -9 "$pid" 2>/dev/null || true
        sleep 0.5
    fi
    find "$group" -depth -type d -exec rmdir {} + 2>/dev/null || true
    rm -rf "$work"
    ;;
*)
    sed -n '2,8p' "$0" | sed 's/^# \{0,1\}//' >&2
    exit 2
    ;;
esac
