#!/usr/bin/env bash
# drt across hosts: 5 network namespaces on one bridge, one published `drt node` in each, searches between them,
# a host killed with SIGKILL, then 10% UDP loss from nftables. See tools/netns/README.md.
#
# Needs root (prints "netns: skipped: <reason>" and exits 0 otherwise). Idempotent: it removes what an earlier run
# left (drt-* namespaces and the processes inside them), and on exit, failure, INT or TERM it stops every process it
# started by pid, deletes its namespaces (the bridge and veths go with them) and its temp dir.
#
# Environment: NETNS_DRT=/path/to/published/drt reuses a published drt instead of publishing;
#              NETNS_FORCE_FAIL=1 fails a check on purpose (to see the cleanup on failure).
#              NETNS_PUBLISH=framework publishes framework-dependent (the fallback) without trying self-contained;
#              NETNS_LOGS=DIR keeps the node logs and the search log there (the temp dir goes).
set -euo pipefail

readonly HOSTS=5 NET=10.213.0 PORT=3540 SW=drt-sw BR=drtbr0 KILLED=3
readonly READY_S=60 FIND_S=30 REPAIR_S=60 SEARCH_MS=3000 LOSS_ROUNDS=2 LOSS_TRIES=3
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
started=$(date +%s%N)
tmp=""
pids=()   # every drt node this run started (index = host number)
workers=()   # the per-host search loops running in the background (subshells of this script)
checks=0

say() { printf 'netns: %s\n' "$*"; }
skip() { say "skipped: $*"; exit 0; }
fail() { say "FAIL $*"; exit 1; }
calls=0 calls_ms=0   # drt search commands run since the last ok line, and their milliseconds
ok() {
    checks=$((checks + 1))
    say "ok $* ($(elapsed)$( ((calls == 0)) || echo ", $calls drt searches, avg $((calls_ms / calls))ms"))"
    calls=0 calls_ms=0
}
elapsed() { printf '%d.%ds' $((($(date +%s%N) - started) / 1000000000)) $(((($(date +%s%N) - started) / 100000000) % 10)); }
now_ms() { echo $(($(date +%s%N) / 1000000)); }

# A process is alive when /proc has it and it is no zombie.
alive() {
    local stat
    stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
    stat=${stat##*) }
    [[ ${stat%% *} != Z ]]
}

# SIGTERM the given pids, wait up to 5 s (bounded: 50 x 0.1 s), then SIGKILL whatever is left.
stop_pids() {
    local pid left i
    (($# > 0)) || return 0
    for pid in "$@"; do kill -TERM "$pid" 2>/dev/null || true; done
    for ((i = 0; i < 50; i++)); do
        left=0
        for pid in "$@"; do alive "$pid" && left=1; done
        ((left)) || break
        sleep 0.1
    done
    for pid in "$@"; do
        if alive "$pid"; then kill -KILL "$pid" 2>/dev/null || true; fi
    done
    for pid in "$@"; do wait "$pid" 2>/dev/null || true; done
}

drt_namespaces() { ip netns list 2>/dev/null | awk '$1 ~ /^drt-/ { print $1 }'; }

# Removes everything of this run and leftovers of earlier ones: drt processes (ours by pid, then any pid still inside
# a drt-* namespace), the namespaces (their veths and the bridge go with them), temp dirs of runs no longer alive.
cleanup_all() {
    local ns dir owner
    local -a inside
    stop_pids "${workers[@]}"
    workers=()
    stop_pids "${pids[@]}"
    pids=()
    for ns in $(drt_namespaces); do
        mapfile -t inside < <(ip netns pids "$ns" 2>/dev/null)
        stop_pids "${inside[@]}"
        ip netns del "$ns" 2>/dev/null || true
    done
    [[ -n $tmp ]] && rm -rf "$tmp"
    for dir in "${TMPDIR:-/tmp}"/drt-netns.*; do
        [[ -d $dir ]] || continue
        owner=$(cat "$dir/owner" 2>/dev/null || echo 0)
        [[ $owner != "$$" ]] && ! alive "$owner" && rm -rf "$dir"
    done
    return 0
}

on_exit() {
    local rc=$?
    trap - EXIT INT TERM
    set +e
    if ((rc != 0)) && [[ -n $tmp && -d $tmp ]]; then
        for log in "$tmp"/h*.log; do
            [[ -f $log ]] || continue
            echo "--- last lines of $(basename "$log") ---" >&2
            tail -n 12 "$log" >&2
        done
    fi
    if [[ -n ${NETNS_LOGS:-} && -n $tmp && -d $tmp ]]; then mkdir -p "$NETNS_LOGS" && cp "$tmp"/*.log "$NETNS_LOGS"/; fi
    cleanup_all
    if [[ -n $(drt_namespaces) ]]; then say "cleanup: namespaces left: $(drt_namespaces | tr '\n' ' ')" >&2; fi
    say "cleaned up (exit $rc, $(elapsed))"
    exit "$rc"
}

# ---------------------------------------------------------------------------------------------------------------------
# Can this machine run it?

((EUID == 0)) || skip "not root (network namespaces need root)"

need_install=()
command -v ip >/dev/null 2>&1 || need_install+=(iproute2)
command -v nft >/dev/null 2>&1 || need_install+=(nftables)
command -v jq >/dev/null 2>&1 || need_install+=(jq)
if ((${#need_install[@]} > 0)); then
    command -v apt-get >/dev/null 2>&1 || skip "needs ${need_install[*]} and there is no apt-get to install them"
    say "installing ${need_install[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null 2>&1 || true
    apt-get install -y -qq "${need_install[@]}" >/dev/null 2>&1 || skip "could not install ${need_install[*]} with apt-get"
    for tool in ip nft jq; do command -v "$tool" >/dev/null 2>&1 || skip "$tool is still missing after installing ${need_install[*]}"; done
fi
command -v dotnet >/dev/null 2>&1 || skip "no dotnet to publish drt with"

trap on_exit EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

leftovers=$(drt_namespaces | tr '\n' ' ')
cleanup_all   # leftovers of an earlier run
[[ -z $leftovers ]] || say "removed what an earlier run left: namespaces ${leftovers% } and the processes in them"
ip netns add drt-probe >/dev/null 2>&1 || skip "ip netns does not work here ($(ip netns add drt-probe 2>&1 | head -n 1))"
probe_nft=$(ip netns exec drt-probe nft add table inet drtprobe 2>&1) || skip "nftables does not work in a namespace here (${probe_nft:-nft failed})"
ip netns del drt-probe

tmp=$(mktemp -d "${TMPDIR:-/tmp}/drt-netns.XXXXXX")
echo $$ >"$tmp/owner"

# ---------------------------------------------------------------------------------------------------------------------
# drt, published once.

if [[ -n ${NETNS_DRT:-} ]]; then
    [[ -x $NETNS_DRT ]] || fail "NETNS_DRT=$NETNS_DRT is not an executable"
    DRT=("$NETNS_DRT")
    say "drt: $NETNS_DRT (NETNS_DRT)"
elif [[ ${NETNS_PUBLISH:-} != framework ]] && dotnet publish "$root/src/Drt.Node" -c Release -r linux-x64 --self-contained -p:PublishSingleFile=true \
    -o "$tmp/drt" -nologo -v q >"$tmp/publish.log" 2>&1; then
    DRT=("$tmp/drt/drt")
    say "drt: published self-contained single file for linux-x64 ($(elapsed))"
else
    [[ -f $tmp/publish.log ]] && tail -n 5 "$tmp/publish.log" | sed 's/^/    /'
    why="it failed"
    [[ ${NETNS_PUBLISH:-} == framework ]] && why="NETNS_PUBLISH=framework"
    say "drt: no self-contained linux-x64 publish ($why); falling back to framework-dependent"
    rm -rf "$tmp/drt"
    # the project asks for a single file; framework-dependent needs drt.dll beside its dependencies
    dotnet publish "$root/src/Drt.Node" -c Release --no-self-contained -p:PublishSingleFile=false -o "$tmp/drt" -nologo -v q >"$tmp/publish.log" 2>&1 ||
        { tail -n 20 "$tmp/publish.log"; fail "dotnet publish src/Drt.Node failed"; }
    DRT=(dotnet "$tmp/drt/drt.dll")
    say "drt: published framework-dependent, run with dotnet drt.dll ($(elapsed))"
fi
"${DRT[@]}" --version >/dev/null 2>&1 || fail "the published drt does not run: $("${DRT[@]}" --version 2>&1 | head -n 3)"

# ---------------------------------------------------------------------------------------------------------------------
# Five hosts: namespaces drt-h1..drt-h5, each with eth0 = $NET.N/24, all on the bridge drtbr0 in the namespace drt-sw.
# Nothing is added to the root namespace, and no namespace has a route beyond 10.213.0.0/24.

ip netns add "$SW"
ip -n "$SW" link set lo up
ip -n "$SW" link add "$BR" type bridge
ip -n "$SW" link set "$BR" up
for ((h = 1; h <= HOSTS; h++)); do
    ns=drt-h$h
    ip netns add "$ns"
    ip -n "$ns" link set lo up
    ip -n "$SW" link add "drt-p$h" type veth peer name eth0 netns "$ns"
    ip -n "$SW" link set "drt-p$h" master "$BR" up
    ip -n "$ns" addr add "$NET.$h/24" dev eth0
    ip -n "$ns" link set eth0 up
done
ok "network: $HOSTS namespaces drt-h1..drt-h$HOSTS on bridge $BR in $SW, $NET.1-$HOSTS/24"

# Ten keys, two a host, interleaved over the ring: key i has first byte 10+25i, host (i mod 5)+1 owns it.
keys=() owner=() first=()
for ((i = 0; i < 2 * HOSTS; i++)); do
    first[i]=$((10 + 25 * i))
    keys[i]=$(printf '%02x%s%08x' "${first[i]}" "$(printf '5a%.0s' {1..27})" $((0x10000000 + i)))
    owner[i]=$((i % HOSTS + 1))
done
keys_of() { local i; for ((i = 0; i < 2 * HOSTS; i++)); do ((owner[i] == $1)) && echo "$i"; done; return 0; }

ctl() { echo "$tmp/h$1/control.sock"; }
# drt on host $1 (inside its namespace): drt_on H ARGS...
drt_on() { local h=$1; shift; ip netns exec "drt-h$h" "${DRT[@]}" "$@"; }

for ((h = 1; h <= HOSTS; h++)); do
    mkdir -p "$tmp/h$h"
    args=(node --port "$PORT" --bind "$NET.$h" --data-dir "$tmp/h$h" --maintenance-ms 500 --name "host$h" --data "host$h-k")
    for i in $(keys_of "$h"); do args+=(--register "${keys[i]}"); done
    ((h == 1)) || args+=(--bootstrap "$NET.1:$PORT")
    ip netns exec "drt-h$h" "${DRT[@]}" "${args[@]}" </dev/null >"$tmp/h$h.log" 2>&1 &
    pids[h]=$!
    if ((h == 1)); then
        # the others bootstrap from host 1: let its control socket appear first (bounded: 100 x 0.1 s)
        for ((t = 0; t < 100; t++)); do [[ -S $(ctl 1) ]] && break; alive "${pids[1]}" || break; sleep 0.1; done
    fi
done

# Every node active (bounded: READY_S seconds, polled every 0.5 s).
deadline=$(($(date +%s) + READY_S))
for ((h = 1; h <= HOSTS; h++)); do
    while :; do
        alive "${pids[h]}" || fail "host $h: drt node exited ($(tail -n 3 "$tmp/h$h.log" | tr '\n' ' '))"
        state=$(drt_on "$h" status --json --control "$(ctl "$h")" 2>/dev/null | jq -r .state 2>/dev/null || true)
        [[ $state == active ]] && break
        (($(date +%s) < deadline)) || fail "host $h: not active within ${READY_S}s (state '${state:-none}')"
        sleep 0.5
    done
done
ok "nodes: $HOSTS drt node processes active, 2 keys registered on each (pids ${pids[*]})"

# ---------------------------------------------------------------------------------------------------------------------
# Searches.

last_out="" last_rc=0 last_ms=0
# search H KEY [FLAGS...]: drt search from host H; sets last_out (JSON lines), last_rc (drt's exit code), last_ms.
search() {
    local h=$1 key=$2 t0
    shift 2
    t0=$(now_ms)
    last_rc=0
    last_out=$(drt_on "$h" search "$key" --json --timeout "$SEARCH_MS" --control "$(ctl "$h")" "$@" 2>"$tmp/search$h.err") || last_rc=$?
    last_ms=$(($(now_ms) - t0))
    calls=$((calls + 1)) calls_ms=$((calls_ms + last_ms))
    echo "$(date +%T.%3N) host $h search ${key:0:8}..${key: -8} $* -> exit $last_rc in ${last_ms}ms: $last_out" >>"$tmp/searches.log"
    # 0 found, 1 nothing found, 4 failed (may happen under loss); anything else is a broken command
    ((last_rc <= 1 || last_rc == 4)) || fail "host $h: drt search exited $last_rc: $(head -n 2 "$tmp/search$h.err" | tr '\n' ' ')"
}

# exact_ok H I: one exact search from host H for key I returned key I with its owner's data and the owner's endpoint.
exact_ok() {
    local h=$1 i=$2 o=${owner[$2]}
    search "$h" "${keys[i]}"
    ((last_rc == 0)) || return 1
    jq -se --arg k "${keys[i]}" --arg d "host$o-k" --arg ep "$NET.$o:$PORT" \
        'map(select(.match == "exact")) | length >= 1 and all(.key == $k and .data == $d and (.endpoints | index($ep) != null))' \
        <<<"$last_out" >/dev/null
}

# exact_found_eventually H I: polls exact_ok until it holds (bounded: FIND_S seconds from the call).
exact_found_eventually() {
    local h=$1 i=$2 until=$(($(date +%s) + FIND_S))
    until exact_ok "$h" "$i"; do
        (($(date +%s) < until)) || fail "host $h: exact search for key $i (${keys[i]:0:8}…, host ${owner[i]}) not found within ${FIND_S}s (exit $last_rc): ${last_out:-nothing}"
        sleep 0.5
    done
}

# nearest_expected H TARGET_FIRST_BYTE [DEAD_HOST]: the key index nearest a target among the keys host H may get
# (not its own, not a dead host's), by first byte (the keys differ there by 25, so the rest cannot tip it); empty unless
# unambiguous: one nearest, the same on the line and around the ring.
nearest_expected() {
    local h=$1 t=$2 dead=${3:-0} i d c best=-1 bestd=999 tie=0 cbest=-1 cbestd=999 ctie=0
    for ((i = 0; i < 2 * HOSTS; i++)); do
        ((owner[i] == h || owner[i] == dead)) && continue
        d=$((first[i] > t ? first[i] - t : t - first[i]))
        c=$((d < 256 - d ? d : 256 - d))
        if ((d < bestd)); then bestd=$d best=$i tie=0; elif ((d == bestd)); then tie=1; fi
        if ((c < cbestd)); then cbestd=$c cbest=$i ctie=0; elif ((c == cbestd)); then ctie=1; fi
    done
    if ((best >= 0 && best == cbest && tie == 0 && ctie == 0)); then echo "$best"; fi
    return 0
}

# nearest_ok H TARGET EXPECTED_INDEX: a --nearest search from host H for TARGET returns key EXPECTED_INDEX.
nearest_ok() {
    local h=$1 target=$2 e=$3 until=$(($(date +%s) + FIND_S)) got
    while :; do
        search "$h" "$target" --nearest
        got=$(jq -rs 'map(select(.match != "intermediate")) | .[0].key // empty' <<<"$last_out")
        [[ $got == "${keys[e]}" ]] && return 0
        (($(date +%s) < until)) || fail "host $h: nearest search for ${target:0:8}…${target: -8} returned '${got:-nothing}', expected key $e (${keys[e]:0:8}…, host ${owner[e]})"
        sleep 0.5
    done
}

# on_hosts FUNCTION HOST...: runs FUNCTION HOST for each host at once, in the background (searches from different
# hosts are independent); each writes "NAME=VALUE" lines to $tmp/wHOST.stats. Waits for all of them; when one failed,
# prints what it said and fails. Adds the workers' search counts to this stage's.
on_hosts() {
    local fn=$1 h bad=0 i
    shift
    local -a wp=()
    for h in "$@"; do
        : >"$tmp/w$h.stats"
        (calls=0 calls_ms=0; "$fn" "$h"; echo "calls=$calls calls_ms=$calls_ms" >>"$tmp/w$h.stats") >"$tmp/w$h.out" 2>&1 &
        wp+=($!)
        workers+=($!)
    done
    for i in "${!wp[@]}"; do wait "${wp[i]}" || bad=1; done
    workers=()
    calls=$((calls + $(stat_sum calls "$@"))) calls_ms=$((calls_ms + $(stat_sum calls_ms "$@")))
    if ((bad)); then
        for h in "$@"; do grep -h "FAIL" "$tmp/w$h.out" || true; done
        fail "$fn: a host's searches failed (above)"
    fi
}
# stat_sum NAME HOST...: the sum of NAME=VALUE over those hosts' stats of the last on_hosts run; stat_max the largest.
stat_sum() {
    local name=$1 h sum=0 v
    shift
    for h in "$@"; do
        v=$(tr ' ' '\n' <"$tmp/w$h.stats" | sed -n "s/^$name=//p" | tail -n 1)
        sum=$((sum + ${v:-0}))
    done
    echo "$sum"
}
stat_max() {
    local name=$1 h max=0 v
    shift
    for h in "$@"; do
        v=$(tr ' ' '\n' <"$tmp/w$h.stats" | sed -n "s/^$name=//p" | tail -n 1)
        ((${v:-0} > max)) && max=$v
    done
    echo "$max"
}

all=()
for ((h = 1; h <= HOSTS; h++)); do all+=("$h"); done

# Exact: from host H, every key of every other live host (DEAD_HOST's keys skipped), each polled until found.
exact_worker() {
    local h=$1 i n=0
    for ((i = 0; i < 2 * HOSTS; i++)); do
        ((owner[i] == h || owner[i] == ${dead:-0})) && continue
        exact_found_eventually "$h" "$i"
        n=$((n + 1))
    done
    echo "n=$n" >>"$tmp/w$h.stats"
}
dead=0
on_hosts exact_worker "${all[@]}"
ok "exact: $(stat_sum n "${all[@]}") searches across hosts (every host for every other host's keys) found the key with its owner's data and address"

[[ -z ${NETNS_FORCE_FAIL:-} ]] || fail "forced failure (NETNS_FORCE_FAIL is set)"

# Nearest: from every host, a target 1 above another host's key, and one between two keys (3/25 of the gap above
# one), each with the answer computed here.
nearest_worker() {
    local h=$1 i t e
    i=$(((2 * h + 1) % (2 * HOSTS)))
    ((owner[i] == h)) && i=$(((i + 1) % (2 * HOSTS)))
    nearest_ok "$h" "${keys[i]:0:56}$(printf '%08x' $((0x${keys[i]: -8} + 1)))" "$i"
    t=$((first[(i + 3) % (2 * HOSTS)] + 3))
    e=$(nearest_expected "$h" "$t")
    [[ -n $e ]] || fail "internal: no unambiguous nearest for first byte $t from host $h"
    nearest_ok "$h" "$(printf '%02x%062d' "$t" 0)" "$e"
    echo "n=2" >>"$tmp/w$h.stats"
}
on_hosts nearest_worker "${all[@]}"
ok "nearest: $(stat_sum n "${all[@]}") --nearest searches returned the numerically nearest key (1 above a key, and between two keys)"

# ---------------------------------------------------------------------------------------------------------------------
# Host 3 dies (SIGKILL: no goodbye). Its keys must vanish for the others, and the rest must still be found.

kill -KILL "${pids[KILLED]}"
wait "${pids[KILLED]}" 2>/dev/null || true
killed_at=$(date +%s)
unset "pids[KILLED]"
live=()
for ((h = 1; h <= HOSTS; h++)); do ((h == KILLED)) || live+=("$h"); done
mapfile -t dead_keys < <(keys_of "$KILLED")
say "killed host $KILLED's drt node with SIGKILL ($(elapsed))"

deadline=$((killed_at + REPAIR_S))
# Vanished: from host H, the killed host's keys are not found, and the search said so (rather than running out of time).
vanish_worker() {
    local h=$1 i
    for i in "${dead_keys[@]}"; do
        while :; do
            search "$h" "${keys[i]}"
            if ((last_rc == 1)) && ! grep -q '"timed_out"' <<<"$last_out"; then break; fi
            (($(date +%s) < deadline)) || fail "host $h: key $i of the killed host $KILLED still answers (or times out) ${REPAIR_S}s after the kill (exit $last_rc): ${last_out:-nothing}"
            sleep 0.5
        done
    done
}
on_hosts vanish_worker "${live[@]}"
ok "repair: host $KILLED's ${#dead_keys[@]} keys not found from the ${#live[@]} other hosts $(($(date +%s) - killed_at))s after the SIGKILL"

dead=$KILLED
on_hosts exact_worker "${live[@]}"
ok "repair: the other hosts' keys still found ($(stat_sum n "${live[@]}") exact searches)"

nearest_dead_worker() {
    local h=$1 i t e n=0
    for i in "${dead_keys[@]}"; do
        t=$((first[i] + 3))
        e=$(nearest_expected "$h" "$t" "$KILLED")
        [[ -n $e ]] || continue
        nearest_ok "$h" "$(printf '%02x%062d' "$t" 0)" "$e"
        n=$((n + 1))
    done
    echo "n=$n" >>"$tmp/w$h.stats"
}
on_hosts nearest_dead_worker "${live[@]}"
n=$(stat_sum n "${live[@]}")
((n > 0)) || fail "internal: no nearest target next to the killed host's keys"
ok "repair: $n --nearest searches next to the killed host's keys returned the nearest live key"

# ---------------------------------------------------------------------------------------------------------------------
# 10% of inbound UDP dropped on every remaining host (nftables numgen random), then exact searches across hosts.

for h in "${live[@]}"; do
    ip netns exec "drt-h$h" nft add table inet drt
    ip netns exec "drt-h$h" nft add chain inet drt in '{ type filter hook input priority 0 ; }'
    ip netns exec "drt-h$h" nft add rule inet drt in meta l4proto udp numgen random mod 10 0 counter drop
done
say "loss: nftables drops 10% of inbound UDP on hosts ${live[*]} (each search below may be retried twice)"

# From host H, LOSS_ROUNDS times every key of every other live host: one exact search, retried up to twice.
loss_worker() {
    local h=$1 round i try n=0 retried=0 tries=0 slowest=0
    for ((round = 1; round <= LOSS_ROUNDS; round++)); do
        for ((i = 0; i < 2 * HOSTS; i++)); do
            ((owner[i] == h || owner[i] == KILLED)) && continue
            for ((try = 1; try <= LOSS_TRIES; try++)); do
                tries=$((tries + 1))
                exact_ok "$h" "$i" && break
                ((try < LOSS_TRIES)) || fail "loss: host $h: exact search for key $i (host ${owner[i]}) failed $LOSS_TRIES times (exit $last_rc): ${last_out:-nothing}"
            done
            ((try > 1)) && retried=$((retried + 1))
            ((last_ms > slowest)) && slowest=$last_ms
            n=$((n + 1))
        done
    done
    echo "n=$n retried=$retried tries=$tries slowest=$slowest" >>"$tmp/w$h.stats"
}
on_hosts loss_worker "${live[@]}"
dropped=0
for h in "${live[@]}"; do
    c=$(ip netns exec "drt-h$h" nft -j list chain inet drt in | jq '[.nftables[] | .rule? // empty | .expr[] | .counter? // empty | .packets] | add // 0')
    dropped=$((dropped + c))
done
((dropped > 0)) || fail "loss: the nftables rules dropped no packet (is numgen random working?)"
ok "loss: $(stat_sum n "${live[@]}") exact searches under 10% UDP loss all succeeded ($(stat_sum retried "${live[@]}") needed a retry, $(stat_sum tries "${live[@]}") tries, slowest $(stat_max slowest "${live[@]}")ms; nftables dropped $dropped packets)"

say "passed $checks checks in $(elapsed)"
