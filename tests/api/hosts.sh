#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# hosts.sh - /v1/hosts, /v1/capacity and admission control against a live
# deskpoold. Its own host is libvirt's test:///default; two more are test
# driver files with 4 GiB each (test:///DIR/hN.xml), reached through their
# own connections as a qemu+ssh:// host would be; a third never answers.
# Checks: every route and its bad input (400/404/409 with a JSON error,
# nothing stored), roles, a host's facts (memory, CPUs, domain type),
# admission control exact to the desktop (42 fit: a min of 42 is taken, 43
# is refused, and a second pool is refused while the first is not even
# placed), capacity's numbers and limits, labels, drain moving desktops to
# another host, removal refused while desktops remain, an unreachable host
# shown as unknown with its error and never given a desktop.
. "$(dirname "$0")/../lib.sh"
t_require_binaries
command -v python3 >/dev/null || fail_now "python3 is missing"

t_tmpdir dir
port=$((20000 + ($$ + 4241) % 20000))
tok() { head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n'; }
broker=b-$(tok)
reader=r-$(tok)
hash() { printf %s "$1" | sha256sum | cut -d' ' -f1; }
{
    echo "broker $(hash "$broker") the broker"
    echo "reader $(hash "$reader") monitoring"
} >"$dir/tokens"
host_file() { # NAME MEM_MIB CPUS
    printf '<node><cpu><mhz>2000</mhz><nodes>1</nodes><sockets>1</sockets><cores>%s</cores>%s' \
        "$3" '<threads>1</threads></cpu>' >"$dir/$1.xml"
    printf '<memory>%s</memory></node>\n' $(($2 * 1024)) >>"$dir/$1.xml"
}
host_file h1 4096 4
host_file h2 4096 8
dp_start "$dir" "hosts$$" --listen "127.0.0.1:$port" --set tokens_file="$dir/tokens" \
    --set console_password=none --set boot_delay=0 --set reconcile_interval=1 \
    --set host_lost_grace=5 --set memory_overcommit=100 || fail_now "deskpoold did not start"
U=http://127.0.0.1:$port
jtrue() { [ "$(jget "$1" "($2)" 2>&1)" = True ]; }
tcp() { # ROLE_TOKEN METHOD PATH [BODY]: sets STATUS
    local args=(-s -o /dev/null -w '%{http_code}' --max-time 10 -X "$2" -H "Authorization: Bearer $1")
    [ -n "${4:-}" ] && args+=(-H 'Content-Type: application/json' --data-binary "$4")
    STATUS=$(curl "${args[@]}" "$U$3")
}
is_error() { # STATUS CODE_SUBSTRING: the answer is that status with a JSON error
    [ "$STATUS" = "$1" ] && jtrue "$BODY" "'$2' in d['error']['code'] and len(d['error']['message']) > 10"
}
host_state_is() { api GET "/v1/hosts/$1"; jtrue "$BODY" "d['state'] == '$2'"; }

# --- the local host is there from the start ---
api GET /v1/hosts
check "GET /v1/hosts: one host, 'local', up, on the daemon's URI" \
    jtrue "$BODY" "len(d['hosts']) == 1 and d['hosts'][0]['name'] == 'local' and
                   d['hosts'][0]['state'] == 'up' and d['hosts'][0]['uri'] == 'test:///default'"
check "the local host's facts: domain type, memory, CPUs, versions" \
    jtrue "$BODY" "d['hosts'][0]['virt_type'] == 'test' and d['hosts'][0]['memory'] > 0 and
                   d['hosts'][0]['cpus'] > 0 and d['hosts'][0]['libvirt_version'].count('.') == 2"

# --- bad input: refused, nothing stored ---
api POST /v1/hosts '{"name":"x1"}'
check "add without uri: 400" is_error 400 invalid
api POST /v1/hosts '{"name":"X 1","uri":"test:///tmp/x.xml"}'
check "add with a bad name: 400" is_error 400 invalid
api POST /v1/hosts '{"name":"x1","uri":"kvm2"}'
check "add with a URI that is none: 400" is_error 400 invalid
api POST /v1/hosts '{"name":"x1","uri":"test:///tmp/x.xml","colour":"red"}'
check "add with an unknown field: 400" is_error 400 invalid
api POST /v1/hosts '{"name":"x1","uri":"test:///tmp/x.xml","labels":["gpu"]}'
check "add with a label that is not key=value: 400" is_error 400 invalid
api POST /v1/hosts '{"name":"x1","uri":"test:///tmp/x.xml","reserve_memory":"4X"}'
check "add with a bad reserve_memory: 400" is_error 400 invalid
api POST /v1/hosts '{"name":"x1","uri":"test:///tmp/x.xml","max_desktops":-1}'
check "add with a negative max_desktops: 400" is_error 400 invalid
api POST /v1/hosts '{"name":"x1","uri":"test:///default"}'
check "add of the daemon's own URI: 409" [ "$STATUS" = 409 ]
api POST /v1/hosts 'not json'
check "add with a body that is not JSON: 400" [ "$STATUS" = 400 ]
api GET /v1/hosts
check "nothing was stored by the refused requests" jtrue "$BODY" "len(d['hosts']) == 1"
api GET /v1/hosts/nosuch
check "GET of an unknown host: 404" is_error 404 not_found
api POST /v1/hosts/nosuch/drain
check "drain of an unknown host: 404" [ "$STATUS" = 404 ]

# --- roles over TCP ---
tcp "$reader" GET /v1/hosts
check "reader may list hosts" [ "$STATUS" = 200 ]
tcp "$reader" POST /v1/hosts '{"name":"x2","uri":"test:///tmp/x.xml"}'
check "reader may not add a host (403)" [ "$STATUS" = 403 ]
tcp "$broker" GET /v1/hosts
check "broker may not see hosts (403)" [ "$STATUS" = 403 ]
tcp "" GET /v1/capacity
check "no token: 401" [ "$STATUS" = 401 ]

# --- two hosts: 4 GiB each; h1 takes at most 10 desktops ---
api POST /v1/hosts "{\"name\":\"h1\",\"uri\":\"test://$dir/h1.xml\",\"max_desktops\":10}"
check "add h1: 201" [ "$STATUS" = 201 ]
api POST /v1/hosts "{\"name\":\"h2\",\"uri\":\"test://$dir/h2.xml\",\"labels\":[\"site=a\"],\"reserve_memory\":\"0\"}"
check "add h2 with a label: 201" [ "$STATUS" = 201 ]
api POST /v1/hosts "{\"name\":\"h9\",\"uri\":\"test://$dir/h1.xml\"}"
check "a second host on h1's URI: 409" [ "$STATUS" = 409 ]
check "h1 and h2 come up" wait_for 20 bash -c "$(declare -f api jget jtrue host_state_is); DP_SOCK=$DP_SOCK; host_state_is h1 up && host_state_is h2 up"
api GET /v1/hosts/h2
check "h2's facts are its own: 4 GiB, 8 CPUs, label site=a" \
    jtrue "$BODY" "d['memory'] == 4 << 30 and d['cpus'] == 8 and d['labels'] == ['site=a'] and d['virt_type'] == 'test'"

# everything below is placed on h1 and h2 only
api POST /v1/hosts/local/drain
check "drain the local host: 200, draining" jtrue "$BODY" "d['admin'] == 'draining'"

make_qcow2 "$dir/img.qcow2"
api POST /v1/images "{\"name\":\"img\",\"path\":\"$dir/img.qcow2\"}"
check "image added" [ "$STATUS" = 201 ]

# --- admission control: 10 on h1 (max_desktops) + 32 on h2 (4 GiB / 128 MiB) = 42 ---
pool() { # NAME MIN [EXTRA JSON]
    api POST /v1/pools "{\"name\":\"$1\",\"image\":\"img\",\"template\":\"test\",\"min\":$2,\"max\":200${3:-}}"
}
pool big 43
check "a pool whose min (43) does not fit: 409 insufficient_capacity" is_error 409 insufficient_capacity
check "... the message gives the numbers (room for 42)" jtrue "$BODY" "'room for 42' in d['error']['message']"
api GET /v1/pools/big
check "... and no pool was stored" [ "$STATUS" = 404 ]
pool fit 42
check "a pool whose min (42) fits exactly: 201" [ "$STATUS" = 201 ]
pool one 1
check "another pool while the first is not even placed: 409 (its 42 are counted)" \
    is_error 409 insufficient_capacity
pool over 5 ',"overcommit":true'
check "with overcommit: 201 (the operator's choice)" [ "$STATUS" = 201 ]
api DELETE "/v1/pools/over?force=true"
pool bad 1 ',"overcommit":"yes"'
check "overcommit that is not a boolean: 400" is_error 400 invalid
ready_is() { api GET "/v1/pools/$1"; jtrue "$BODY" "d['counts']['ready'] == $2"; }
check "pool fit: 42 ready" wait_for 60 ready_is fit 42
api GET /v1/hosts/h1
check "h1 holds 10 (its max_desktops)" jtrue "$BODY" "d['counts']['total'] == 10"
api GET /v1/hosts/h2
check "h2 holds 32 (its memory)" jtrue "$BODY" "d['counts']['total'] == 32"
api GET "/v1/desktops?pool=fit&limit=1000"
check "every desktop names its host" jtrue "$BODY" "all(x['host'] in ('h1', 'h2') for x in d['desktops'])"

# --- capacity ---
api GET /v1/capacity
check "capacity: pool fit has room for 0 more" \
    jtrue "$BODY" "[p['fits'] for p in d['pools'] if p['pool'] == 'fit'] == [0]"
check "capacity: h1 is limited by max_desktops, h2 by memory" \
    jtrue "$BODY" "{h['name']: h['pools'][0]['limit'] for h in d['hosts'] if h['name'] != 'local'} == {'h1': 'max_desktops', 'h2': 'memory'}"
check "capacity: h2 commits 32 x 128 MiB of its 4 GiB, from the template (test driver)" \
    jtrue "$BODY" "[(h['committed_memory'], h['pools'][0]['footprint_source']) for h in d['hosts'] if h['name'] == 'h2'] == [(4 << 30, 'template')]"
check "capacity: the drained local host takes none" \
    jtrue "$BODY" "[(h['state'], h['pools'][0]['fits'], h['pools'][0]['limit']) for h in d['hosts'] if h['name'] == 'local'] == [('draining', 0, 'draining')]"
api GET "/v1/capacity?pool=nosuch"
check "capacity of an unknown pool: 404" [ "$STATUS" = 404 ]

api PATCH /v1/hosts/h1 '{"max_desktops":12}'
check "raise h1's max_desktops to 12: 200" jtrue "$BODY" "d['max_desktops'] == 12"
api PATCH /v1/pools/fit '{"min":45}'
check "resize fit to 45 (2 more fit): 409" is_error 409 insufficient_capacity
api PATCH /v1/pools/fit '{"min":44}'
check "resize fit to 44: 200" [ "$STATUS" = 200 ]
check "pool fit: 44 ready, the 2 new on h1" wait_for 30 ready_is fit 44
api GET /v1/hosts/h1
check "h1 holds 12" jtrue "$BODY" "d['counts']['total'] == 12"

# --- labels: only h2 has site=a ---
api PATCH /v1/pools/fit '{"min":0,"max":0}'
check "pool fit shrunk to 0" wait_for 60 bash -c "$(declare -f api jget jtrue); DP_SOCK=$DP_SOCK; api GET /v1/pools/fit; jtrue \"\$BODY\" \"d['counts']['total'] == 0\""
pool sitea 6 ',"host_labels":["site=a"]'
check "a pool requiring site=a: 201" [ "$STATUS" = 201 ]
check "pool sitea: 6 ready" wait_for 30 ready_is sitea 6
api GET /v1/hosts/h2
check "all 6 on h2, the only host labelled site=a" jtrue "$BODY" "d['counts']['total'] == 6"
pool nolabel 1 ',"host_labels":["site=b"]'
check "a pool requiring a label no host has: 409" is_error 409 insufficient_capacity
pool badlabel 1 ',"host_labels":["site"]'
check "a pool with a bad label: 400" is_error 400 invalid

# --- drain: h2's desktops move to the local host, then h2 can go ---
api POST /v1/hosts/local/undrain
check "undrain the local host: active" jtrue "$BODY" "d['admin'] == 'active'"
api PATCH /v1/pools/sitea '{"host_labels":[]}'
check "pool sitea no longer requires site=a" jtrue "$BODY" "d['host_labels'] == []"
api DELETE /v1/hosts/h2
check "remove h2 while it holds desktops: 409 with the count" \
    jtrue "$BODY" "d['error']['code'] and '6 desktop' in d['error']['message']"
api POST /v1/hosts/h2/drain '{"warn":60}'
check "drain h2 with a 60 s warning: 200" jtrue "$BODY" "d['admin'] == 'draining' and d['drain_warn'] == 60"
api POST /v1/hosts/h2/drain '{"warn":"soon"}'
check "drain with a warn that is no number: 400" [ "$STATUS" = 400 ]
empty() { api GET "/v1/hosts/$1"; jtrue "$BODY" "d['counts']['total'] == 0"; }
check "h2 empties: its spares are made elsewhere" wait_for 60 empty h2
check "pool sitea kept its 6 ready desktops" ready_is sitea 6
api DELETE /v1/hosts/h2
check "remove the empty h2: 200" jtrue "$BODY" "d['state'] == 'removed'"
api DELETE /v1/hosts/local
check "remove the local host: 409 (drain it instead)" [ "$STATUS" = 409 ]

# --- a host that never answers ---
api POST /v1/hosts '{"name":"gone","uri":"qemu+tcp://127.0.0.1:1/system"}'
check "add a host nobody answers for: 201" [ "$STATUS" = 201 ]
down() { api GET /v1/hosts/gone; jtrue "$BODY" "d['state'] in ('unknown', 'lost') and bool(d['last_error'])"; }
check "it shows unknown (then lost) with its error" wait_for 30 down
api PATCH /v1/pools/sitea '{"min":20}'
check_both "pool sitea grows to 20, none on the host that does not answer" \
    wait_for 60 ready_is sitea 20 -- empty gone
api DELETE /v1/hosts/gone
check "remove it: 200" [ "$STATUS" = 200 ]

# --- a restart: the domain type comes from the store, not a probe ---
dp_stop || fail_now "deskpoold did not stop"
dp_start "$dir" "hosts$$" --listen "127.0.0.1:$port" --set tokens_file="$dir/tokens" \
    --set console_password=none --set boot_delay=0 --set reconcile_interval=1 \
    --set host_lost_grace=5 --set memory_overcommit=100 || fail_now "deskpoold did not restart"
api GET /v1/hosts/local
check "after a restart the local host shows its domain type (from the store)" \
    jtrue "$BODY" "d['virt_type'] == 'test' and d['state'] == 'up'"
pool again 1
check "and a pool can be created at once (admission sees the host)" [ "$STATUS" = 201 ]

t_finish
