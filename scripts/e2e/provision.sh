#!/usr/bin/env bash
# End-to-end provisioning test on a booted systemd (not part of CI: ~17 min with
# the rootfs cached, +4 min for the first debootstrap; 2 cores).
#
#   sudo scripts/e2e/provision.sh
#
# 1. debootstrap a Debian 12 rootfs once (cached in $E2E_CACHE, default
#    /var/cache/fms-e2e), copy it fresh for every run (a bare host);
# 2. boot it with `systemd-nspawn -b --register=no --keep-unit` sharing the
#    host's network namespace (only loopback ports are used: sshd on
#    127.0.0.1:$E2E_SSH_PORT, nginx on $E2E_HTTPS_PORT, gunicorn, redis on
#    high ports so nothing on the host collides);
# 3. run ansible/site.yml against it over SSH (fms_data_services: native);
# 4. check: units active, cgroup settings, /ready over TLS 1.3 through nginx,
#    reload under load with 0 failed requests, a broken release refused by
#    both ExecReload= and Ansible, a second run with changed=0, fms-rollback
#    to a previous release and back (under 5 min), backup and restore, a webhook.
# Prints one "PASS|FAIL|SKIP <check>: <detail>" line per check; exit 1 on any FAIL.
# E2E_KEEP=1 leaves the container running (machine dir and ssh key in $E2E_CACHE);
# E2E_REUSE=1 boots the previous run's machine instead of a fresh copy (debugging).
set -uo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
CACHE="${E2E_CACHE:-/var/cache/fms-e2e}"
BASE="$CACHE/rootfs-base"
MACHINE_DIR="$CACHE/machine"
SSH_PORT="${E2E_SSH_PORT:-2222}"
HTTPS_PORT="${E2E_HTTPS_PORT:-8443}"
HTTP_PORT="${E2E_HTTP_PORT:-8080}"
API_PORT="${E2E_API_PORT:-18000}"
KEY="$CACHE/id_ed25519"
VENV="${E2E_VENV:-$ROOT/.venv}"
LOG="$CACHE/logs"
SUMMARY=()
FAILED=0
NSPAWN_PID=""

say() { printf '[e2e %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
result() {  # result PASS|FAIL|SKIP name detail
    local line="$1 $2: $3"
    SUMMARY+=("$line")
    printf '%s\n' "$line"
    [ "$1" = FAIL ] && FAILED=1
    return 0
}
ssh_c() {
    ssh -i "$KEY" -p "$SSH_PORT" -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null \
        -o LogLevel=ERROR -o ConnectTimeout=5 root@127.0.0.1 "$@"
}
cleanup() {
    if [ -n "$NSPAWN_PID" ] && [ "${E2E_KEEP:-0}" != 1 ]; then
        say "stopping the container"
        ssh_c "systemctl poweroff" >/dev/null 2>&1 || true
        for _ in $(seq 1 60); do kill -0 "$NSPAWN_PID" 2>/dev/null || break; sleep 1; done
        kill "$NSPAWN_PID" 2>/dev/null || true
    fi
}
trap cleanup EXIT

[ "$(id -u)" = 0 ] || { echo "run as root (debootstrap, systemd-nspawn)" >&2; exit 2; }
for tool in debootstrap systemd-nspawn ssh ssh-keygen curl python3; do
    command -v "$tool" >/dev/null || { echo "missing $tool (apt-get install debootstrap systemd-container openssh-client curl)" >&2; exit 2; }
done
[ -x "$VENV/bin/ansible-playbook" ] || { echo "missing $VENV/bin/ansible-playbook (pip install -r requirements-ops.txt)" >&2; exit 2; }
mkdir -p "$CACHE" "$LOG"
START=$(date +%s)

# --- 1. rootfs ---------------------------------------------------------------
if [ ! -x "$BASE/usr/bin/python3" ]; then
    say "debootstrapping Debian 12 into $BASE (once; ~3 min)"
    rm -rf "$BASE.tmp"
    debootstrap --variant=minbase \
        --include=systemd,systemd-sysv,dbus,openssh-server,python3,python3-apt,ca-certificates,iproute2,procps,curl,sudo \
        bookworm "$BASE.tmp" http://deb.debian.org/debian > "$LOG/debootstrap.log" 2>&1 \
        || { echo "debootstrap failed, see $LOG/debootstrap.log" >&2; exit 2; }
    mv "$BASE.tmp" "$BASE"
fi
[ -f "$KEY" ] || ssh-keygen -q -t ed25519 -N '' -f "$KEY"
if [ "${E2E_REUSE:-0}" = 1 ] && [ -d "$MACHINE_DIR/etc" ]; then
    say "E2E_REUSE=1: booting the machine left by the last run (not a bare host)"
else
    say "copying a fresh machine from the cached rootfs"
    rm -rf "$MACHINE_DIR"
    cp -a "$BASE" "$MACHINE_DIR"
    install -d -m 700 "$MACHINE_DIR/root/.ssh"
    install -m 600 "$KEY.pub" "$MACHINE_DIR/root/.ssh/authorized_keys"
    printf 'Port %s\nListenAddress 127.0.0.1\nPermitRootLogin prohibit-password\nPasswordAuthentication no\n' \
        "$SSH_PORT" > "$MACHINE_DIR/etc/ssh/sshd_config.d/e2e.conf"
    echo fms-e2e > "$MACHINE_DIR/etc/hostname"
    printf '127.0.0.1 localhost fms-e2e\n::1 localhost\n' > "$MACHINE_DIR/etc/hosts"
    cp /etc/resolv.conf "$MACHINE_DIR/etc/resolv.conf"
    # trust the host's local CAs too (an egress proxy that re-signs TLS, as here)
    if compgen -G "/usr/local/share/ca-certificates/*.crt" >/dev/null; then
        cp /usr/local/share/ca-certificates/*.crt "$MACHINE_DIR/usr/local/share/ca-certificates/"
        chroot "$MACHINE_DIR" update-ca-certificates >/dev/null 2>&1
    fi
    # the host's network namespace is shared: nothing in the container may
    # reconfigure it
    ln -sf /dev/null "$MACHINE_DIR/etc/systemd/system/systemd-networkd.service"
    ln -sf /dev/null "$MACHINE_DIR/etc/systemd/system/systemd-resolved.service"
fi

# llama-cpp-python compiles for ~6 min; reuse a wheel this host already built
WHEELS="$CACHE/wheels"
mkdir -p "$WHEELS"
find /root/.cache/pip "${E2E_WHEEL_DIRS:-}" -name 'llama_cpp_python-*.whl' -exec cp -n {} "$WHEELS/" \; 2>/dev/null

# --- 2. boot -----------------------------------------------------------------
say "booting with systemd-nspawn -b --register=no --keep-unit"
systemd-nspawn -D "$MACHINE_DIR" -M fms-e2e -b --register=no --keep-unit --console=passive \
    --bind-ro="$WHEELS:/opt/e2e-wheels" \
    > "$LOG/console.log" 2>&1 &
NSPAWN_PID=$!
deadline=$(( $(date +%s) + 120 ))
until ssh_c "systemctl is-system-running --wait >/dev/null 2>&1; true" 2>/dev/null; do
    if ! kill -0 "$NSPAWN_PID" 2>/dev/null || [ "$(date +%s)" -gt "$deadline" ]; then
        result FAIL boot "container did not come up (see $LOG/console.log)"
        exit 1
    fi
    sleep 1
done
result PASS boot "systemd $(ssh_c 'systemctl --version | head -1 | cut -d" " -f2') up, ssh on 127.0.0.1:$SSH_PORT"

# --- 3. provision ------------------------------------------------------------
# a snapshot of the working tree, so edits made during the run (or between the
# two site.yml runs) cannot change the release
SRC="$CACHE/src"
rm -rf "$SRC" && mkdir -p "$SRC"
tar -C "$ROOT" --exclude=./.git --exclude=./.venv --exclude=./.venv-ops --exclude=./var \
    --exclude=__pycache__ --exclude='*.gguf' --exclude='*.onnx' --exclude='*.safetensors' \
    --exclude=./--data-dir -cf - . | tar -C "$SRC" -xf -
INVENTORY="$CACHE/inventory.yml"
cat > "$INVENTORY" <<EOF
fms:
  hosts:
    fms-e2e:
      ansible_host: 127.0.0.1
      ansible_port: $SSH_PORT
      ansible_user: root
      ansible_ssh_private_key_file: $KEY
      ansible_ssh_common_args: "-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null"
      ansible_python_interpreter: /usr/bin/python3
  vars:
    fms_data_services: native
    fms_data_broker_port: 16379
    fms_data_cache_port: 16380
    fms_app_port: $API_PORT
    fms_app_source: $SRC
    fms_app_requirements: [requirements.txt, requirements-ai.txt, requirements-tasks.txt]
    fms_app_install_models: true
    fms_app_pip_extra_args: "--find-links /opt/e2e-wheels"
    fms_app_bootstrap_admin: "admin:e2e-admin-password"
    fms_app_build_dir: $CACHE/build
    fms_nginx_server_name: localhost
    fms_nginx_http_port: $HTTP_PORT
    fms_nginx_https_port: $HTTPS_PORT
    fms_monitoring_node_exporter_listen: 127.0.0.1:19100
    fms_app_env:
      FMS_WEBHOOK_ALLOW_NETS: 127.0.0.1/32
EOF
export ANSIBLE_CONFIG="$ROOT/ansible/ansible.cfg" ANSIBLE_HOME="$CACHE/ansible-home" ANSIBLE_NOCOLOR=1
export PATH="$VENV/bin:$PATH"
play() {  # play <log name> [extra args]
    local name=$1; shift
    (cd "$ROOT/ansible" && "$VENV/bin/ansible-playbook" -i "$INVENTORY" site.yml "$@") > "$LOG/$name.log" 2>&1
}
recap() { grep -E '^fms-e2e +:' "$LOG/$1.log" | tail -1 | tr -s ' '; }
diagnose() {  # keep what explains a failure
    ssh_c "systemctl --no-pager status 'fms*' redis-server nginx; journalctl --no-pager -n 200 -u 'fms*'" \
        > "$LOG/journal.log" 2>&1 || true
}

t0=$(date +%s)
if play site-1; then
    result PASS "site.yml first run" "$(recap site-1) in $(( $(date +%s) - t0 )) s"
else
    result FAIL "site.yml first run" "$(recap site-1); see $LOG/site-1.log and $LOG/journal.log"
    diagnose
    tail -30 "$LOG/site-1.log" >&2
    exit 1
fi

# --- 4. checks ---------------------------------------------------------------
units=$(ssh_c "systemctl show -p Wants --value fms.target")
inactive=""
for unit in $units fms-export.timer fms-backup.timer fms-purge.timer redis-server.service \
        redis-server@cache.service nginx.service prometheus-node-exporter.service; do
    state=$(ssh_c "systemctl is-active $unit")
    [ "$state" = active ] || inactive="$inactive $unit=$state"
done
declared=$(ssh_c "ls /etc/systemd/system/ | grep -E '^fms-.*\\.service$' | tr '\n' ' '")
if [ -z "$inactive" ]; then
    result PASS "units active" "$(echo $units) + 3 timers + redis broker/cache, nginx, node exporter (rendered: $declared)"
else
    result FAIL "units active" "not active:$inactive"
fi

show() { ssh_c "systemctl show -p $2 --value $1"; }
cores=$(ssh_c nproc)
expect_ai=$(( cores > 1 ? cores - 1 : 0 ))
got="api MemoryMax=$(show fms-api.service MemoryMax) MemoryHigh=$(show fms-api.service MemoryHigh)"
got="$got; ai.slice CPUQuota=$(show fms-ai.slice CPUQuotaPerSecUSec) AllowedCPUs=$(show fms-ai.slice AllowedCPUs)"
got="$got; worker-ai AllowedCPUs=$(show fms-worker-ai.service AllowedCPUs) CPUAffinity=$(show fms-worker-ai.service CPUAffinity)"
got="$got; fms.slice CPUQuota=$(show fms.slice CPUQuotaPerSecUSec) MemoryMax=$(show fms.slice MemoryMax)"
if [ "$(show fms-api.service MemoryMax)" = 536870912 ] && [ "$(show fms-ai.slice AllowedCPUs)" = "$expect_ai" ] \
        && [ "$(show fms-worker-ai.service CPUAffinity)" = "$expect_ai" ] \
        && [ "$(show fms-api.service Slice)" = fms-api.slice ]; then
    result PASS "cgroup settings" "$got"
else
    result FAIL "cgroup settings" "$got"
fi

code=$(curl -sk --tlsv1.3 --tls-max 1.3 -o "$LOG/ready.json" -w '%{http_code}' "https://127.0.0.1:$HTTPS_PORT/ready")
tls12=$(curl -sk --tlsv1.2 --tls-max 1.2 -o /dev/null -w '%{http_code}' "https://127.0.0.1:$HTTPS_PORT/health" 2>/dev/null)
hsts=$(curl -sk -D - -o /dev/null "https://127.0.0.1:$HTTPS_PORT/health" | grep -ci '^strict-transport-security')
if [ "$code" = 200 ] && [ "$tls12" = 000 ] && [ "$hsts" = 1 ]; then
    result PASS "/ready over TLS 1.3" "200 via nginx:$HTTPS_PORT ($(tr -d ' \n' < "$LOG/ready.json" | head -c 200)), TLS 1.2 refused, HSTS set"
else
    result FAIL "/ready over TLS 1.3" "/ready=$code ($(head -c 300 "$LOG/ready.json")), TLS1.2 status=$tls12, hsts=$hsts"
fi

# reload under a bounded loopback load: 4 clients, as fast as they go, 20 s,
# two reloads in the middle; every response must be a 200
old_pids=$(ssh_c "pgrep -P \$(systemctl show -p MainPID --value fms-api) | sort | tr '\n' ' '")
python3 "$ROOT/scripts/e2e/load.py" "https://127.0.0.1:$HTTPS_PORT/health" 20 4 > "$LOG/load.json" &
load_pid=$!
sleep 6
reload1=$(ssh_c "systemctl reload fms-api.service && echo ok || echo failed")
sleep 5
reload2=$(ssh_c "systemctl reload fms-api.service && echo ok || echo failed")
wait "$load_pid"
new_pids=$(ssh_c "pgrep -P \$(systemctl show -p MainPID --value fms-api) | sort | tr '\n' ' '")
load=$(cat "$LOG/load.json")
failures=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["failed"])' "$LOG/load.json")
if [ "$reload1$reload2" = okok ] && [ "$failures" = 0 ] && [ "$old_pids" != "$new_pids" ]; then
    result PASS "reload under load" "$load; workers replaced ($old_pids-> $new_pids)"
else
    result FAIL "reload under load" "$load; reloads=$reload1/$reload2; workers $old_pids-> $new_pids"
fi

# a release with a broken import: ExecReload's pre-check refuses it and the
# old workers keep serving
main_before=$(show fms-api.service MainPID)
ssh_c 'set -e; cur=$(readlink -f /opt/fms/current); rm -rf /opt/fms/releases/broken
       cp -a "$cur" /opt/fms/releases/broken
       printf "raise ImportError(\"e2e: broken release\")\n" >> /opt/fms/releases/broken/app/wsgi.py
       basename "$cur" > /root/good-release
       ln -sfn releases/broken /opt/fms/current.new && mv -T /opt/fms/current.new /opt/fms/current'
if ssh_c "systemctl reload fms-api.service" 2>/dev/null; then refused=no; else refused=yes; fi
state=$(show fms-api.service ActiveState)
main_after=$(show fms-api.service MainPID)
serving=$(curl -sk -o /dev/null -w '%{http_code}' "https://127.0.0.1:$HTTPS_PORT/health")
ssh_c 'ln -sfn "releases/$(cat /root/good-release)" /opt/fms/current.new && mv -T /opt/fms/current.new /opt/fms/current
       rm -rf /opt/fms/releases/broken'
if [ "$refused" = yes ] && [ "$state" = active ] && [ "$main_before" = "$main_after" ] && [ "$serving" = 200 ]; then
    result PASS "broken release (systemctl reload)" "reload refused, fms-api still active (MainPID $main_after), /health 200"
else
    result FAIL "broken release (systemctl reload)" "refused=$refused state=$state MainPID $main_before->$main_after /health=$serving"
fi

# the same through Ansible: the play stops before switching `current`
BROKEN_SRC="$CACHE/broken-src"
rm -rf "$BROKEN_SRC" && cp -a "$SRC" "$BROKEN_SRC"
printf 'raise ImportError("e2e: broken release")\n' >> "$BROKEN_SRC/app/wsgi.py"
current_before=$(ssh_c "readlink /opt/fms/current")
releases_before=$(ssh_c 'ls /opt/fms/releases | wc -l')
if play site-broken -e "fms_app_source=$BROKEN_SRC"; then ansible_refused=no; else ansible_refused=yes; fi
current_after=$(ssh_c "readlink /opt/fms/current")
serving=$(curl -sk -o /dev/null -w '%{http_code}' "https://127.0.0.1:$HTTPS_PORT/health")
if [ "$ansible_refused" = yes ] && [ "$current_before" = "$current_after" ] && [ "$serving" = 200 ] \
        && grep -q "a broken one is removed again" "$LOG/site-broken.log" \
        && [ "$(ssh_c 'ls /opt/fms/releases | wc -l')" = "$releases_before" ]; then
    result PASS "broken release (ansible)" "play failed at the import check, release removed, current still $current_after, /health 200"
else
    result FAIL "broken release (ansible)" "refused=$ansible_refused current $current_before->$current_after /health=$serving"
fi

t0=$(date +%s)
if play site-2 && recap site-2 | grep -q 'changed=0 .*failed=0'; then
    result PASS "second run idempotent" "$(recap site-2) in $(( $(date +%s) - t0 )) s"
else
    result FAIL "second run idempotent" "$(recap site-2); changed tasks: $(grep -E '^changed:' "$LOG/site-2.log" | head -5 | tr '\n' ' ')"
fi

# rollback (NFR-MAINT-001: under 5 minutes): a copy of the current release,
# dated older, is what fms-rollback goes back to; then forward again by name
ssh_c 'set -e; cur=$(readlink -f /opt/fms/current); rm -rf /opt/fms/releases/e2e-previous
       cp -a "$cur" /opt/fms/releases/e2e-previous
       touch -d "2000-01-01 00:00" /opt/fms/releases/e2e-previous
       basename "$cur" > /root/good-release'
good=$(ssh_c "cat /root/good-release")
worker_before=$(show fms-worker-high.service MainPID)
t0=$(date +%s)
if ssh_c "/opt/fms/bin/fms-rollback" > "$LOG/rollback.log" 2>&1; then rolled=yes; else rolled=no; fi
took=$(( $(date +%s) - t0 ))
on=$(ssh_c "readlink /opt/fms/current")
worker_after=$(show fms-worker-high.service MainPID)
ready=$(curl -sk -o /dev/null -w '%{http_code}' "https://127.0.0.1:$HTTPS_PORT/ready")
if ssh_c "/opt/fms/bin/fms-rollback $good" >> "$LOG/rollback.log" 2>&1; then back=yes; else back=no; fi
back_on=$(ssh_c "readlink /opt/fms/current")
ssh_c "rm -rf /opt/fms/releases/e2e-previous"
if [ "$rolled" = yes ] && [ "$on" = releases/e2e-previous ] && [ "$ready" = 200 ] && [ "$took" -lt 300 ] \
        && [ "$worker_before" != "$worker_after" ] && [ "$back" = yes ] && [ "$back_on" = "releases/$good" ]; then
    result PASS "rollback" "fms-rollback to the previous release in $took s (< 300 s), /ready 200, workers restarted ($worker_before -> $worker_after), forward to $good again"
else
    result FAIL "rollback" "rolled=$rolled on=$on in $took s, /ready=$ready, worker $worker_before -> $worker_after, back=$back ($back_on); see $LOG/rollback.log"
fi

# backup + restore on the provisioned host, through the sandboxed unit
if ssh_c "systemctl start fms-backup.service" 2>/dev/null; then
    latest=$(ssh_c "ls -1t /var/lib/fms-backups | head -1")
    if ssh_c "/opt/fms/bin/fms-restore /var/lib/fms-backups/$latest" > "$LOG/restore.log" 2>&1 \
            && [ "$(curl -sk -o /dev/null -w '%{http_code}' "https://127.0.0.1:$HTTPS_PORT/ready")" = 200 ]; then
        result PASS "backup and restore" "fms-backup.service wrote $latest; fms-restore brought fms back, /ready 200"
    else
        result FAIL "backup and restore" "restore failed, see $LOG/restore.log"
    fi
else
    result FAIL "backup and restore" "fms-backup.service failed: $(ssh_c 'journalctl -u fms-backup -n 5 -o cat' | tr '\n' ' ')"
fi

# a submission posted through nginx reaches a webhook receiver on loopback
# (outbox -> relay -> broker -> worker-default -> signed POST)
HOOK_PORT="${E2E_HOOK_PORT:-18099}"
if [ "$(ssh_c 'systemctl is-active fms-worker-default.service fms-relay.service' | sort -u)" != active ]; then
    result SKIP "webhook delivery" "fms-worker-default or fms-relay is not running"
else
    rm -f "$LOG/hooks.jsonl"
    python3 "$ROOT/scripts/e2e/receiver.py" "$HOOK_PORT" "$LOG/hooks.jsonl" &
    receiver_pid=$!
    api="https://127.0.0.1:$HTTPS_PORT/api/v1"
    json() { python3 -c 'import json,sys; print(json.load(sys.stdin)[sys.argv[1]])' "$1"; }
    token=$(curl -sk -X POST "$api/auth/login" -H 'Content-Type: application/json' \
        -d '{"username": "admin", "password": "e2e-admin-password"}' | json token)
    auth="Authorization: Bearer $token"
    form=$(curl -sk -X POST "$api/forms" -H "$auth" -H 'Content-Type: application/json' \
        -d '{"title": "e2e", "schema": {"type": "object", "properties": {"name": {"type": "string"}}}}' | json id)
    curl -sk -o "$LOG/webhook.json" -X POST "$api/forms/$form/webhooks" -H "$auth" \
        -H 'Content-Type: application/json' -d "{\"url\": \"http://127.0.0.1:$HOOK_PORT/hook\"}"
    sub=$(curl -sk -X POST "$api/forms/$form/submissions" -H "$auth" -H 'Content-Type: application/json' \
        -H 'Idempotency-Key: e2e-1' -d '{"answers": {"name": "e2e"}}' | json id)
    deadline=$(( $(date +%s) + 90 ))
    until grep -q "$sub" "$LOG/hooks.jsonl" 2>/dev/null || [ "$(date +%s)" -gt "$deadline" ]; do sleep 1; done
    kill "$receiver_pid" 2>/dev/null
    if grep "$sub" "$LOG/hooks.jsonl" 2>/dev/null | grep -qi '"webhook-signature": "v1,'; then
        result PASS "webhook delivery" "submission $sub reached 127.0.0.1:$HOOK_PORT signed (webhook-signature v1)"
    else
        result FAIL "webhook delivery" "submission ${sub:-?} (form ${form:-?}) not delivered in 90 s; $(head -c 300 "$LOG/webhook.json")"
    fi
fi

[ "$FAILED" = 0 ] || diagnose
echo "---- summary ($(( $(date +%s) - START )) s; logs in $LOG)"
printf '%s\n' "${SUMMARY[@]}"
exit "$FAILED"
