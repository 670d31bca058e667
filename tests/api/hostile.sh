#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# hostile.sh - slow and idle clients against a live deskpoold (issue 11 #3):
# 2,000 connections that send one header byte now and then, from 80
# 127.0.0.x addresses over TCP and over the unix socket, must not keep a
# normal request from answering within 1 s; one address cannot hold more
# than max_connections_per_address; a client that dribbles its headers or
# its body, or sends nothing, is cut off at request_timeout; each limit
# hit is logged, rate-limited; acquires waiting for a desktop hold no
# handler thread. Prints the latencies it measured.
. "$(dirname "$0")/../lib.sh"
t_require_binaries
command -v python3 >/dev/null || fail_now "python3 is missing"

SLOW=$(cd "$(dirname "$0")" && pwd)/slow.py
RT=5          # request_timeout of this daemon, seconds
FLOOD=2000    # slow connections per flood
t_tmpdir dir
port=$((20000 + ($$ + 3571) % 20000))
AT=8          # acquire_timeout
dp_start "$dir" "hostile$$" --listen "127.0.0.1:$port" --set request_timeout=$RT \
    --set acquire_timeout=$AT --set console_password=none --set boot_delay=0 \
    || fail_now "deskpoold did not start"
U=http://127.0.0.1:$port
srcs=()
for i in $(seq 2 81); do srcs+=("127.0.0.$i"); done

# one_tcp / one_unix: "STATUS SECONDS" of one normal GET /healthz.
one_tcp() { curl -s -o /dev/null --max-time 5 -w '%{http_code} %{time_total}' "$U/healthz"; }
one_unix() {
    curl -s -o /dev/null --max-time 5 --unix-socket "$DP_SOCK" -w '%{http_code} %{time_total}' \
        http://localhost/healthz
}

# measure NAME FN: ten normal requests 0.3 s apart; each must be a 200
# within 1 s. Prints the slowest.
measure() {
    local name=$1 fn=$2 out code t worst=0 bad=""
    for _ in $(seq 1 10); do
        out=$($fn) || out="000 5"
        code=${out%% *}
        t=${out#* }
        worst=$(awk -v a="$worst" -v b="$t" 'BEGIN { print (b > a ? b : a) }')
        if [ "$code" != 200 ] || ! awk -v t="$t" 'BEGIN { exit !(t < 1.0) }'; then
            bad="$bad $code/${t}s"
        fi
        sleep 0.3
    done
    if [ -z "$bad" ]; then
        ok "$name: 10 normal requests answered 200 within 1 s (slowest ${worst} s)"
    else
        not_ok "$name: requests slower than 1 s or failed:$bad"
    fi
}

# established PORT: TCP connections established to PORT (accepted by deskpoold or
# still in the kernel's backlog).
established() { ss -Htn state established "( sport = :$1 )" 2>/dev/null | wc -l; }

# ------------------------------------------------------- flood over TCP
python3 "$SLOW" flood "127.0.0.1:$port" $FLOOD 14 "${srcs[@]}" >"$dir/flood-tcp.out" 2>&1 &
fpid=$!
T_CLEANUPS+=("kill $fpid")
sleep 4
h=$(established "$port")
measure "TCP flood of $FLOOD slow connections from ${#srcs[@]} addresses ($h established), TCP" \
    one_tcp
measure "TCP flood of $FLOOD slow connections, unix socket" one_unix
wait "$fpid"
check "TCP flood: the flooder ran ($(cat "$dir/flood-tcp.out"))" grep -q '^opened=' "$dir/flood-tcp.out"
check "TCP flood: the server closed slow connections to make room" \
    grep -q 'slow connection(s) to make room' "$dir/daemon.log"

# ------------------------------------------------ flood over the unix socket
python3 "$SLOW" flood "$DP_SOCK" $FLOOD 14 >"$dir/flood-unix.out" 2>&1 &
fpid=$!
T_CLEANUPS+=("kill $fpid")
sleep 4
measure "unix-socket flood of $FLOOD slow connections, unix socket" one_unix
measure "unix-socket flood of $FLOOD slow connections, TCP" one_tcp
wait "$fpid"
check "unix flood: the flooder ran ($(cat "$dir/flood-unix.out"))" grep -q '^opened=' \
    "$dir/flood-unix.out"
check "unix flood: the server closed slow connections to make room" \
    [ "$(grep -c 'unix socket: closed .* slow connection(s) to make room' "$dir/daemon.log")" -ge 1 ]

# ------------------------------------------------------- one greedy address
python3 "$SLOW" greedy "127.0.0.1:$port" 100 4 127.0.0.200 >"$dir/greedy.out" 2>&1
read -r opened closed open maxo _ < <(tr '=' ' ' <"$dir/greedy.out" | awk '{print $2, $4, $6, $8}')
check "one address, 100 connections: the server keeps at most 32 ($(cat "$dir/greedy.out"))" \
    [ "${open:-999}" -le 32 ]
check "one address: the rest were closed at once (closed_by_server ${closed:-0} >= 68)" \
    [ "${closed:-0}" -ge 68 ]
check "one address: the hit is logged" grep -q 'max_connections_per_address (32)' "$dir/daemon.log"
n=$(grep -c 'max_connections_per_address' "$dir/daemon.log")
check "one address: rate-limited to a few lines in 4 s (got $n)" [ "$n" -le 2 ]

# ------------------------------------------------------- deadlines
for kind in headers body idle; do
    for target in "127.0.0.1:$port" "$DP_SOCK"; do
        t=$(python3 "$SLOW" dribble "$target" "$kind" $((RT + 10)))
        where=TCP
        [ "$target" = "$DP_SOCK" ] && where="unix socket"
        if [ "$t" = open ]; then
            not_ok "$where, $kind dribbled: still open after $((RT + 10)) s (request_timeout $RT)"
        else
            check "$where, $kind dribbled: cut off after $t s (request_timeout $RT)" \
                awk -v t="$t" -v rt=$RT 'BEGIN { exit !(t >= rt - 1 && t <= rt + 2.5) }'
        fi
    done
done
check "deadline hits are logged" grep -q 'within request_timeout (5 s)' "$dir/daemon.log"

# ------------------------------------------- acquires waiting for a desktop
# A dedicated pool of one desktop, taken: every other user's acquire waits
# acquire_timeout for a desktop that never comes. 20 of them (more than the
# handler threads) must not delay anything else.
make_qcow2 "$dir/img.qcow2"
api POST /v1/images "{\"name\":\"img\",\"path\":\"$dir/img.qcow2\"}"
api POST /v1/pools '{"name":"ded","image":"img","template":"test","mode":"dedicated","min":1,"spare":0,"max":1}'
[ "$STATUS" = 201 ] || fail_now "pool not created: $STATUS $BODY"
ready1() { api GET /v1/pools/ded; [ "$(jget "$BODY" "d['counts']['ready']")" = 1 ]; }
wait_for 60 ready1 || fail_now "pool ded not ready: $BODY"
api POST /v1/pools/ded/sessions '{"user":"owner"}'
[ "$STATUS" = 201 ] || fail_now "first acquire: $STATUS $BODY"
sid=$(jget "$BODY" "d['id']")
t0=$SECONDS
waiters=()
for i in $(seq 1 20); do
    curl -s -o /dev/null --max-time 30 --unix-socket "$DP_SOCK" -X POST \
        -H 'Content-Type: application/json' -d "{\"user\":\"w$i\"}" \
        -w '%{http_code}\n' http://localhost/v1/pools/ded/sessions >>"$dir/waiters.out" &
    waiters+=($!)
done
sleep 1
measure "20 acquires waiting for a desktop, unix socket" one_unix
hb=$(curl -s -o /dev/null --max-time 5 --unix-socket "$DP_SOCK" -X POST \
    -w '%{http_code} %{time_total}' "http://localhost/v1/sessions/$sid/heartbeat")
check "20 acquires waiting: a heartbeat answers within 1 s ($hb)" \
    awk -v s="$hb" 'BEGIN { split(s, a, " "); exit !(a[1] == 200 && a[2] < 1.0) }'
wait "${waiters[@]}"
check "the 20 waiting acquires ended with 503 after acquire_timeout ($((SECONDS - t0)) s)" \
    [ "$(grep -c '^503$' "$dir/waiters.out")" = 20 ]

# a normal request still works, and keep-alive is still served
out=$(curl -s --max-time 5 -o /dev/null -o /dev/null -w '%{http_code}:%{num_connects} ' \
    "$U/healthz" "$U/healthz")
check "two requests on one kept-alive connection ($out)" [ "$out" = "200:1 200:0 " ]
check "daemon still healthy" api GET /healthz
n=$(grep -c 'slow connection(s) to make room' "$dir/daemon.log")
check "eviction lines rate-limited: $n lines for two 14 s floods" [ "$n" -le 8 ]

# ------------------------------------------- stopping with waiting acquires
# SIGTERM while acquires wait: each gets its 503 before the listeners stop.
waiters=()
: >"$dir/stop.out"
for i in $(seq 1 5); do
    curl -s -o /dev/null --max-time 30 --unix-socket "$DP_SOCK" -X POST \
        -H 'Content-Type: application/json' -d "{\"user\":\"s$i\"}" \
        -w '%{http_code}\n' http://localhost/v1/pools/ded/sessions >>"$dir/stop.out" &
    waiters+=($!)
done
sleep 1
t0=$SECONDS
check "SIGTERM with 5 acquires waiting: deskpoold stops within 10 s" dp_stop TERM
wait "${waiters[@]}"
check "... and each waiting acquire got its 503 first ($(tr '\n' ' ' <"$dir/stop.out"))" \
    [ "$(grep -c '^503$' "$dir/stop.out")" = 5 ]
check "... no 5xx logged as an error for the shutdown" \
    bash -c "! grep -q \"error: .*shutting down\" '$dir/daemon.log'"
t_finish
