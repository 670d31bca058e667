# SPDX-License-Identifier: LGPL-2.1-or-later
# remote-host.sh - a second, real libvirt host on this machine for the
# end-to-end tests: the unprivileged user dpremote's qemu:///session daemon,
# reached through libvirt's ssh transport and a local sshd, as
#
#     qemu+ssh://deskpool-remote/session            ($DP_REMOTE_URI)
#
# "deskpool-remote" is a Host alias in root's ssh configuration (HostName
# 127.0.0.1, User dpremote, a dedicated key, a dedicated known_hosts file,
# BatchMode): libvirt runs the ssh binary, which reads the alias, and
# virt-ssh-helper on the far side autostarts dpremote's session libvirtd.
# Root's ssh settings for every other host are left alone (the only change
# to /root/.ssh/config is one Include line at its top).
#
# Source it (bash), as root:
#     . "$DP_SRCDIR/tests/remote-host.sh"
#     remote_host_setup || exit 1          # idempotent, quiet unless it fails
#     virsh -c "$DP_REMOTE_URI" list
#
# Functions (all return non-zero and print to stderr on failure, and are
# silent otherwise):
#   remote_host_setup      installs openssh-server/-client when missing,
#                          creates the user dpremote (home /var/lib/dpremote,
#                          in group kvm), the root key /root/.ssh/deskpool_remote,
#                          the ssh alias, starts sshd when nothing listens on
#                          127.0.0.1:22, lets dpremote read the tiny guest's
#                          kernel and initrd (ACL, only when it cannot), and
#                          checks that ssh to the alias works. 0.3 s when
#                          everything is in place (the ssh check), 4 s with
#                          the apt-get install.
#   remote_host_uri        prints the URI.
#   remote_host_virsh ARGS virsh -q -c "$DP_REMOTE_URI" ARGS (through ssh).
#   remote_host_stop [SIG] the host goes away: new ssh logins of the key are
#                          refused (so that nothing can autostart the daemon
#                          again) and dpremote's session libvirtd is killed
#                          (SIGKILL by default, like a crash; TERM is a clean
#                          shutdown). Its QEMU processes keep running, as
#                          libvirt intends. Connections through the URI fail
#                          at once ("host stopped") until remote_host_start.
#   remote_host_start      the host comes back: logins allowed again, the
#                          session libvirtd started (without idle timeout),
#                          and re-attached to the guests still running;
#                          returns once the URI answers.
#   remote_host_running    true when dpremote's session libvirtd runs.
#   remote_host_cleanup PREFIX
#                          destroys and undefines every domain of the session
#                          daemon whose name starts with PREFIX, deletes the
#                          volumes starting with PREFIX in every pool,
#                          destroys/undefines the pools starting with PREFIX,
#                          kills dpremote's QEMU processes of such guests that
#                          libvirt no longer knows, removes the files
#                          $DP_REMOTE_IMAGES/PREFIX*, then stops the session
#                          daemons (libvirtd, virtlogd). Keeps the user and
#                          the ssh setup (reusable), re-allows logins.
#
# Files: /var/lib/dpremote (home; images/ for the tests' disks),
# /root/.ssh/deskpool_remote{,.pub,.conf,_known_hosts}, an Include line at
# the top of /root/.ssh/config, /run/deskpool-remote.down while stopped.
# The session daemon's socket is /var/lib/dpremote/.cache/libvirt/libvirt-sock
# (no XDG_RUNTIME_DIR without systemd-logind); its domains' state is under
# /var/lib/dpremote/.config/libvirt and .cache/libvirt/qemu/log.

DP_REMOTE_USER=dpremote
DP_REMOTE_HOME=/var/lib/dpremote
DP_REMOTE_ALIAS=deskpool-remote
DP_REMOTE_KEY=/root/.ssh/deskpool_remote
DP_REMOTE_IMAGES=$DP_REMOTE_HOME/images
DP_REMOTE_URI="qemu+ssh://$DP_REMOTE_ALIAS/session"
# Files on the "local" host that guests of the remote host refer to by the
# same path (the tiny guest's kernel and initrd): dpremote must read them.
DP_REMOTE_READABLE=${DP_REMOTE_READABLE:-/var/lib/deskpool/tiny-guest/vmlinuz /var/lib/deskpool/tiny-guest/initrd.img}
export DP_REMOTE_URI

_RH_DOWN=/run/deskpool-remote.down
_RH_GATE=$DP_REMOTE_HOME/.deskpool-gate

_rh_err() { echo "remote-host: $*" >&2; }

# _rh_run CMD...: runs CMD quietly; on failure shows its output and the command.
_rh_run() {
    local out rc
    out=$("$@" 2>&1)
    rc=$?
    if [ $rc -ne 0 ]; then
        [ -n "$out" ] && printf '%s\n' "$out" >&2
        _rh_err "failed ($rc): $*"
    fi
    return $rc
}

# _rh_as_user CMD...: runs CMD as dpremote with a clean environment (no
# XDG_RUNTIME_DIR of root's session), in its home.
_rh_as_user() {
    (cd "$DP_REMOTE_HOME" 2>/dev/null || cd /
     exec runuser -u "$DP_REMOTE_USER" -- env -i HOME="$DP_REMOTE_HOME" \
         USER="$DP_REMOTE_USER" LOGNAME="$DP_REMOTE_USER" SHELL=/bin/bash \
         PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin LC_ALL=C "$@")
}

# _rh_virsh_local ARGS: virsh on dpremote's session daemon, locally (no ssh:
# cleanup works even while the host is "stopped"). Autostarts the daemon.
_rh_virsh_local() { _rh_as_user virsh -q -c qemu:///session "$@"; }

_rh_apt_install() {
    export DEBIAN_FRONTEND=noninteractive
    if ! apt-get install -y -qq --no-install-recommends "$@" >/tmp/remote-host-apt.log 2>&1; then
        apt-get update -qq >>/tmp/remote-host-apt.log 2>&1
        if ! apt-get install -y -qq --no-install-recommends "$@" >>/tmp/remote-host-apt.log 2>&1; then
            cat /tmp/remote-host-apt.log >&2
            _rh_err "apt-get install $* failed"
            return 1
        fi
    fi
}

# _rh_write_if_changed FILE MODE CONTENT: (re)writes FILE only when needed.
_rh_write_if_changed() {
    local f=$1 mode=$2 content=$3
    if [ ! -f "$f" ] || [ "$(cat "$f")" != "$content" ]; then
        printf '%s\n' "$content" >"$f.tmp.$$" && chmod "$mode" "$f.tmp.$$" &&
            mv -f "$f.tmp.$$" "$f" || { _rh_err "cannot write $f"; return 1; }
    fi
}

_rh_sshd_listening() { (exec 3<>/dev/tcp/127.0.0.1/22) 2>/dev/null; }

# _rh_grant_read FILE: lets dpremote read FILE (and search its directories)
# with ACL entries for dpremote alone, only where it cannot already.
_rh_grant_read() {
    local f=$1 d
    [ -e "$f" ] || return 0
    _rh_as_user test -r "$f" && return 0
    command -v setfacl >/dev/null || _rh_apt_install acl || return 1
    # the directories from the top down: a test below an unsearchable one
    # would fail whatever its own permissions
    local dirs=()
    d=$(dirname "$f")
    while [ "$d" != / ]; do dirs=("$d" "${dirs[@]}"); d=$(dirname "$d"); done
    for d in "${dirs[@]}"; do
        _rh_as_user test -x "$d" || _rh_run setfacl -m "u:$DP_REMOTE_USER:x" "$d" || return 1
    done
    _rh_run setfacl -m "u:$DP_REMOTE_USER:r" "$f" || return 1
    _rh_as_user test -r "$f" || { _rh_err "$DP_REMOTE_USER still cannot read $f"; return 1; }
}

remote_host_setup() {
    local u=$DP_REMOTE_USER h=$DP_REMOTE_HOME key=$DP_REMOTE_KEY pub f content
    [ "$(id -u)" = 0 ] || { _rh_err "remote_host_setup needs root"; return 1; }
    rm -f "$_RH_DOWN" # left by a run that stopped the host and died

    # ssh
    if [ ! -x /usr/sbin/sshd ] || [ ! -x /usr/bin/ssh ] || [ ! -x /usr/bin/ssh-keygen ]; then
        _rh_apt_install openssh-server openssh-client || return 1
    fi
    [ -x /usr/bin/virt-ssh-helper ] || command -v nc >/dev/null ||
        { _rh_err "neither virt-ssh-helper (libvirt-daemon) nor nc is installed"; return 1; }

    # the user
    if ! id "$u" >/dev/null 2>&1; then
        local groups=()
        getent group kvm >/dev/null && groups=(-G kvm)
        _rh_run useradd --system --home-dir "$h" --create-home --shell /bin/bash \
            "${groups[@]}" "$u" || return 1
        # "*": no password, but not "locked" ("!"), which sshd would refuse
        # should UsePAM ever be off.
        _rh_run usermod -p '*' "$u" || return 1
    elif getent group kvm >/dev/null && ! id -nG "$u" | grep -qw kvm; then
        _rh_run usermod -a -G kvm "$u" || return 1
    fi
    if [ ! -d "$h/.ssh" ] || [ ! -d "$DP_REMOTE_IMAGES" ]; then
        install -d -o "$u" -g "$u" -m 0755 "$h" &&
            install -d -o "$u" -g "$u" -m 0700 "$h/.ssh" &&
            install -d -o "$u" -g "$u" -m 0755 "$DP_REMOTE_IMAGES" ||
            { _rh_err "cannot create $h"; return 1; }
    fi

    # The session daemon's QEMU settings: VNC ports 5950-5999, apart from the
    # system daemon's (5900 up), so that the two allocators never race for a
    # port. Read when the session daemon starts.
    if [ ! -f "$h/.config/libvirt/qemu.conf" ]; then
        install -d -o "$u" -g "$u" -m 0700 "$h/.config" "$h/.config/libvirt" &&
            printf '%s\n' "# deskpool tests (tests/remote-host.sh)" \
                "remote_display_port_min = 5950" "remote_display_port_max = 5999" \
                >"$h/.config/libvirt/qemu.conf" &&
            chown "$u:$u" "$h/.config/libvirt/qemu.conf" ||
            { _rh_err "cannot write $h/.config/libvirt/qemu.conf"; return 1; }
    fi

    # root's key, authorized for dpremote behind a gate that refuses logins
    # while the host is "stopped"
    if [ ! -f "$key" ] || [ ! -f "$key.pub" ]; then
        install -d -m 0700 /root/.ssh || return 1
        rm -f "$key" "$key.pub"
        _rh_run ssh-keygen -q -t ed25519 -N '' -C deskpool-remote -f "$key" || return 1
    fi
    _rh_write_if_changed "$_RH_GATE" 0755 "#!/bin/sh
# deskpool tests (tests/remote-host.sh): forced command of root's key.
if [ -e $_RH_DOWN ]; then
    echo 'deskpool-remote: host stopped' >&2
    exit 255
fi
exec /bin/bash -c \"\$SSH_ORIGINAL_COMMAND\"" || return 1
    pub=$(cat "$key.pub") || return 1
    f=$h/.ssh/authorized_keys
    content="command=\"$_RH_GATE\",restrict $pub"
    if [ ! -f "$f" ] || [ "$(cat "$f")" != "$content" ]; then
        _rh_write_if_changed "$f" 0600 "$content" && chown "$u:$u" "$f" || return 1
    fi

    # sshd host keys, and a known_hosts file made from them (no trust on
    # first use, and no stale entry if the host keys are ever regenerated)
    if ! ls /etc/ssh/ssh_host_*_key.pub >/dev/null 2>&1; then
        _rh_run ssh-keygen -A || return 1
    fi
    content=$(for f in /etc/ssh/ssh_host_*_key.pub; do
        printf '%s %s\n' "$DP_REMOTE_ALIAS" "$(cut -d' ' -f1,2 "$f")"; done)
    _rh_write_if_changed "${key}_known_hosts" 0644 "$content" || return 1

    # the alias, in its own file, included from the top of root's config
    _rh_write_if_changed "$key.conf" 0600 "# deskpool tests (tests/remote-host.sh)
Host $DP_REMOTE_ALIAS
    HostName 127.0.0.1
    Port 22
    User $u
    IdentityFile $key
    IdentitiesOnly yes
    IdentityAgent none
    HostKeyAlias $DP_REMOTE_ALIAS
    UserKnownHostsFile ${key}_known_hosts
    StrictHostKeyChecking yes
    BatchMode yes
    ConnectTimeout 10
    ServerAliveInterval 5
    ServerAliveCountMax 3" || return 1
    f=/root/.ssh/config
    if [ ! -f "$f" ] || [ "$(head -n1 "$f")" != "Include $key.conf" ]; then
        { echo "Include $key.conf"; if [ -f "$f" ]; then grep -vxF "Include $key.conf" "$f"; fi; } >"$f.tmp.$$" &&
            chmod 0600 "$f.tmp.$$" && mv -f "$f.tmp.$$" "$f" || { _rh_err "cannot write $f"; return 1; }
    fi

    # sshd
    if ! _rh_sshd_listening; then
        mkdir -p /run/sshd && chmod 0755 /run/sshd
        _rh_run /usr/sbin/sshd || return 1
        local _
        for _ in $(seq 50); do _rh_sshd_listening && break; sleep 0.1; done
    fi

    # files guests of this host share with the local one
    for f in $DP_REMOTE_READABLE; do _rh_grant_read "$f" || return 1; done

    # the check: ssh through the alias, as libvirt will run it
    local out
    if ! out=$(timeout 30 ssh -T -e none "$DP_REMOTE_ALIAS" true 2>&1 </dev/null); then
        printf '%s\n' "$out" >&2
        _rh_err "ssh $DP_REMOTE_ALIAS (as root) does not work"
        [ -e "$_RH_DOWN" ] && _rh_err "(the host is stopped: remote_host_start)"
        return 1
    fi
}

remote_host_uri() { echo "$DP_REMOTE_URI"; }

remote_host_virsh() { virsh -q -c "$DP_REMOTE_URI" "$@"; }

# PIDs of dpremote's session daemons (libvirtd, or the modular virtqemud etc.
# should this libvirt spawn those).
_rh_daemon_pids() {
    ps -u "$DP_REMOTE_USER" -o pid=,stat=,comm= 2>/dev/null | awk '$2 !~ /^Z/ &&
        $3 ~ /^(libvirtd|virtqemud|virtstoraged|virtnetworkd|virtinterfaced|virtnodedevd|virtsecretd|virtnwfilterd|virtproxyd)$/ {print $1}'
}

# _rh_alive PID: true while PID runs (a zombie - pid 1 here reaps late - is gone).
_rh_alive() {
    local st
    st=$(ps -o stat= -p "$1" 2>/dev/null) && [ -n "$st" ] && [ "${st#Z}" = "$st" ]
}

# PIDs of dpremote's QEMU processes; false when there is none.
_rh_qemu_pids() { pgrep -u "$DP_REMOTE_USER" -f '^/usr/bin/qemu-system' 2>/dev/null; }

remote_host_running() { [ -n "$(_rh_daemon_pids)" ]; }

# _rh_kill_wait SIGNAL PID...: signals, then waits up to 10 s (then KILL).
_rh_kill_wait() {
    local sig=$1 p _
    shift
    [ $# -gt 0 ] || return 0
    kill -s "$sig" "$@" 2>/dev/null || :
    for _ in $(seq 100); do
        for p in "$@"; do _rh_alive "$p" && break; p=; done
        [ -z "$p" ] && return 0
        sleep 0.1
    done
    kill -s KILL "$@" 2>/dev/null || :
    sleep 0.1
}

remote_host_stop() {
    local sig=${1:-KILL}
    : >"$_RH_DOWN" || return 1
    # shellcheck disable=SC2046
    _rh_kill_wait "$sig" $(_rh_daemon_pids)
    if remote_host_running; then _rh_err "dpremote's libvirtd still runs"; return 1; fi
}

remote_host_start() {
    local _
    rm -f "$_RH_DOWN"
    if ! remote_host_running; then
        # libvirtd -d returns once it has daemonized; no --timeout: it stays
        # until remote_host_stop/cleanup.
        _rh_run _rh_as_user libvirtd -d || return 1
    fi
    for _ in $(seq 100); do
        virsh -q -c "$DP_REMOTE_URI" uri >/dev/null 2>&1 && return 0
        sleep 0.2
    done
    _rh_err "$DP_REMOTE_URI does not answer"
    return 1
}

remote_host_cleanup() {
    local prefix=${1:-} d p v state started pid rc=0
    case $prefix in
    "" | */*) _rh_err "remote_host_cleanup needs a name prefix (no /)"; return 1 ;;
    esac
    id "$DP_REMOTE_USER" >/dev/null 2>&1 || return 0
    rm -f "$_RH_DOWN"
    # Ask libvirt only when it can have something (asking autostarts it).
    if remote_host_running || _rh_qemu_pids >/dev/null ||
        compgen -G "$DP_REMOTE_HOME/.config/libvirt/qemu/*.xml" >/dev/null ||
        compgen -G "$DP_REMOTE_HOME/.config/libvirt/storage/*.xml" >/dev/null; then
        local doms=() jobs=()
        for d in $(_rh_virsh_local list --all --name 2>/dev/null); do
            case $d in "$prefix"*) doms+=("$d") ;; esac
        done
        # in parallel: a destroy takes 1.2-2 s here (TCG)
        for d in $(_rh_virsh_local list --state-running --state-paused --name 2>/dev/null); do
            case $d in "$prefix"*) _rh_virsh_local destroy "$d" >/dev/null 2>&1 & jobs+=($!) ;; esac
        done
        if [ ${#jobs[@]} -gt 0 ]; then wait "${jobs[@]}" || :; fi
        for d in "${doms[@]}"; do
            _rh_virsh_local destroy "$d" >/dev/null 2>&1 || :
            _rh_virsh_local undefine "$d" --managed-save --snapshots-metadata \
                --checkpoints-metadata --nvram >/dev/null 2>&1 ||
                _rh_virsh_local undefine "$d" >/dev/null 2>&1 || :
        done
        for p in $(_rh_virsh_local pool-list --all --name 2>/dev/null); do
            started=
            state=$(_rh_virsh_local pool-info "$p" 2>/dev/null | awk '$1 == "State:" {print $2}')
            if [ "$state" != running ] && _rh_virsh_local pool-start "$p" >/dev/null 2>&1; then
                started=1
            fi
            _rh_virsh_local pool-refresh "$p" >/dev/null 2>&1 || :
            for v in $(_rh_virsh_local vol-list "$p" 2>/dev/null | awk '{print $1}'); do
                case $v in "$prefix"*) _rh_virsh_local vol-delete "$v" --pool "$p" >/dev/null 2>&1 || : ;; esac
            done
            case $p in
            "$prefix"*)
                _rh_virsh_local pool-destroy "$p" >/dev/null 2>&1 || :
                _rh_virsh_local pool-delete "$p" >/dev/null 2>&1 || : # rmdir, if empty
                _rh_virsh_local pool-undefine "$p" >/dev/null 2>&1 || :
                ;;
            *) if [ -n "$started" ]; then _rh_virsh_local pool-destroy "$p" >/dev/null 2>&1 || :; fi ;;
            esac
        done
        local left
        left=$(_rh_virsh_local list --all --name 2>/dev/null | awk -v p="$prefix" 'index($0, p) == 1')
        if [ -n "$left" ]; then
            _rh_err "domains left on $DP_REMOTE_URI: ${left//$'\n'/ }"
            rc=1
        fi
        # QEMU processes of such guests that libvirt lost track of
        local re
        re=$(printf '%s' "$prefix" | sed 's/[][\\.*^$+?(){}|]/\\&/g')
        for pid in $(pgrep -u "$DP_REMOTE_USER" -f "^/usr/bin/qemu-system.* -name guest=$re" 2>/dev/null); do
            kill -KILL "$pid" 2>/dev/null || :
        done
    fi
    rm -rf "${DP_REMOTE_IMAGES:?}/$prefix"*
    # shellcheck disable=SC2046
    _rh_kill_wait TERM $(_rh_daemon_pids)
    # virtlogd holds the log pipes of the guests still running, if any
    if ! _rh_qemu_pids >/dev/null; then
        # shellcheck disable=SC2046
        _rh_kill_wait TERM $(ps -u "$DP_REMOTE_USER" -o pid=,comm= | awk '$2 == "virtlogd" || $2 == "virtlockd" {print $1}')
    fi
    if remote_host_running; then _rh_err "dpremote's libvirtd still runs"; rc=1; fi
    return $rc
}
