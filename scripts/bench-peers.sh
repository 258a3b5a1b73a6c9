#!/usr/bin/env bash
# Rookery against Dovecot on this machine: the same rookery bench loads,
# back to back, against Dovecot (Debian's packages, started here on
# loopback) and against Rookery dev clusters of 3 nodes (replication factor
# 2) and of 1 node (factor 1), with the same users and the same password
# hashes (SHA512-CRYPT, imported into Rookery as they are). Prints each
# figure and its ratio to Dovecot's; writes every JSON result and HTML
# report under bench-results/peers-DATE/.
#
#   scripts/bench-peers.sh                              # 20 s a load, 10 clients
#   PEER_DURATION=10s PEER_CLIENTS=4 scripts/bench-peers.sh
#
# Needs root (Dovecot serves the mail as nobody) and, when Dovecot is not
# installed, apt-get. A benchmark, not a test: it asserts nothing and is not
# part of CI. The whole run is bounded (PEER_TIMEOUT, 20 minutes).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/usr/local/go/bin"

duration=${PEER_DURATION:-20s}
clients=${PEER_CLIENTS:-10}
nusers=${PEER_USERS:-20}
out=${PEER_OUT:-bench-results/peers-$(date -u +%Y%m%dT%H%M%SZ)}
deadline=$(( $(date +%s) + ${PEER_TIMEOUT:-1200} ))

if [ "$(id -u)" != 0 ]; then
  echo "bench-peers: needs root, to run Dovecot with a mail user of nobody"; exit 2
fi
if [ ! -x /usr/lib/dovecot/imap ] || [ ! -x /usr/lib/dovecot/lmtp ]; then
  echo "== install dovecot-imapd and dovecot-lmtpd"
  DEBIAN_FRONTEND=noninteractive timeout 600 apt-get install -y -qq dovecot-imapd dovecot-lmtpd >/dev/null \
    || { echo "bench-peers: could not install Dovecot (apt-get update first?)"; exit 2; }
fi
for tool in openssl python3; do
  command -v "$tool" >/dev/null || { echo "bench-peers: needs $tool"; exit 2; }
done

work=$(mktemp -d)
chmod 755 "$work"
dovecot_pid=
cluster_pid=
stop_pid() {
  local pid=$1
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  fi
}
cleanup() {
  stop_pid "$cluster_pid"
  stop_pid "$dovecot_pid"
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

remaining() { echo $(( deadline - $(date +%s) > 1 ? deadline - $(date +%s) : 1 )); }
port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
wait_port() {
  local port=$1 what=$2 until=$(( $(date +%s) + 120 ))
  while port_free "$port"; do
    if [ "$(date +%s)" -ge "$until" ]; then echo "bench-peers: $what did not listen on $port"; return 1; fi
    sleep 0.2
  done
}
# pick_base finds a block of ports nothing listens on, below the ephemeral
# range (32768 and up, where an outgoing connection may hold one): a dev
# cluster takes base+100*i+0..6 for node i, IMAP base+900.., LMTP
# base+950.., and Dovecot base+990 and base+991.
pick_base() {
  local b p
  for b in 21000 23000 25000 27000 29000; do
    local ok=1
    for p in $(seq $b $((b+6))) $(seq $((b+100)) $((b+106))) $(seq $((b+200)) $((b+206))) \
             $((b+900)) $((b+901)) $((b+902)) $((b+950)) $((b+951)) $((b+952)) $((b+990)) $((b+991)); do
      port_free "$p" || { ok=0; break; }
    done
    if [ $ok = 1 ]; then base=$b; return 0; fi
  done
  echo "bench-peers: no free block of ports"; return 1
}

echo "== build"
go build -o "$work/rookery" ./cmd/rookery
pick_base
mkdir -p "$out"

# The same users on both: benchN with password pw-benchN, hashed once with
# SHA512-CRYPT (5000 rounds), the scheme a Dovecot site typically has.
echo "== $nusers users, SHA512-CRYPT"
: >"$work/passwd"; : >"$work/users.txt"
for i in $(seq 1 "$nusers"); do
  hash=$(openssl passwd -6 "pw-bench$i")
  echo "bench$i:{SHA512-CRYPT}$hash::::::" >>"$work/passwd"
  echo "bench$i pw-bench$i" >>"$work/users.txt"
done

# Dovecot as a site runs it: hashed passwords with the auth cache on, the
# default fsync policy (optimized: fsync at the end of each save), the
# default login process model, Maildir.
start_dovecot() {
  local d=$work/dovecot
  mkdir -p "$d/run" "$d/state" "$d/mail"
  chmod 755 "$d"; chmod 777 "$d/mail"
  cp "$work/passwd" "$d/passwd"
  cat >"$d/dovecot.conf" <<EOF
base_dir = $d/run
state_dir = $d/state
log_path = $d/dovecot.log
protocols = imap lmtp
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
auth_username_format = %Ln
auth_cache_size = 10M
auth_cache_ttl = 1 hour
mail_location = maildir:$d/mail/%n
first_valid_uid = 0
passdb {
  driver = passwd-file
  args = scheme=SHA512-CRYPT username_format=%n $d/passwd
}
userdb {
  driver = static
  args = uid=65534 gid=65534 home=$d/mail/%n allow_all_users=yes
}
service imap-login {
  inet_listener imap {
    address = 127.0.0.1
    port = $((base + 990))
  }
  inet_listener imaps {
    port = 0
  }
}
service lmtp {
  inet_listener lmtp {
    address = 127.0.0.1
    port = $((base + 991))
  }
}
EOF
  dovecot -F -c "$d/dovecot.conf" >"$d/stdout" 2>&1 &
  dovecot_pid=$!
  wait_port $((base + 990)) Dovecot
  wait_port $((base + 991)) "Dovecot's LMTP"
}

# start_rookery NODES starts a dev cluster and imports the users.
start_rookery() {
  local nodes=$1 d=$work/dev$1
  "$work/rookery" dev --clean --dir "$d" --nodes "$nodes" --base-port "$base" \
    --imap-port $((base + 900)) --imaps-port 0 --lmtp-port $((base + 950)) \
    --pop3-port 0 --pop3s-port 0 >"$work/dev$nodes.out" 2>&1 &
  cluster_pid=$!
  local until=$(( $(date +%s) + 120 ))
  until grep -q "Rookery dev cluster" "$work/dev$nodes.out"; do
    if ! kill -0 "$cluster_pid" 2>/dev/null || [ "$(date +%s)" -ge "$until" ]; then
      echo "bench-peers: the dev cluster did not come up:"; cat "$work/dev$nodes.out"; return 1
    fi
    sleep 0.2
  done
  "$work/rookery" admin --config "$d/node1.toml" user import "$work/passwd" | tail -1
}

# figure FILE NAME prints a figure of a bench result.
figure() {
  python3 -c 'import json,sys
r=json.load(open(sys.argv[1]))
print(next((f["value"] for f in r.get("figures",[]) if f["name"]==sys.argv[2]),0))' "$1.json" "$2"
}

# loads prints each load as "name figure args..."; IMAP and LMTP are the
# server's ports, given as {imap} and {lmtp}.
loads=(
  "login-every-cycle commands_per_second imap --imap {imap} --users $work/users.txt --clients $clients --session-ops 10 --duration $duration --seed 1"
  "sessions-kept-open commands_per_second imap --imap {imap} --users $work/users.txt --clients $clients --keep-open --duration $duration --seed 2"
  "lmtp-4k copies_per_second lmtp --lmtp {lmtp} --imap {imap} --users $work/users.txt --conns $clients --size 4096 --duration $duration --seed 3"
)

# run_loads SERVER IMAP LMTP runs every load against one server.
run_loads() {
  local server=$1 imap=$2 lmtp=$3 l name fig args
  for l in "${loads[@]}"; do
    read -r name fig args <<<"$l"
    args=${args//\{imap\}/$imap}; args=${args//\{lmtp\}/$lmtp}
    echo "-- $server $name: rookery bench $args"
    # shellcheck disable=SC2086
    if timeout "$(remaining)" "$work/rookery" bench $args --out "$out/$server-$name" >"$out/$server-$name.txt" 2>&1; then
      echo "$server $name $(figure "$out/$server-$name" "$fig")" >>"$work/figures"
    else
      echo "   failed (exit $?): $(tail -2 "$out/$server-$name.txt")"
      echo "$server $name 0" >>"$work/figures"
    fi
    tail -1 "$out/$server-$name.txt"
  done
}

: >"$work/figures"
echo "== Dovecot $(dovecot --version | cut -d' ' -f1)"
start_dovecot
run_loads dovecot 127.0.0.1:$((base + 990)) 127.0.0.1:$((base + 991))
stop_pid "$dovecot_pid"; dovecot_pid=

for nodes in 3 1; do
  echo "== Rookery dev, $nodes node(s)"
  start_rookery "$nodes"
  run_loads "rookery-$nodes" 127.0.0.1:$((base + 900)) 127.0.0.1:$((base + 950))
  stop_pid "$cluster_pid"; cluster_pid=
done

{
  echo "Rookery against Dovecot, $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.1f GiB", $2/1048576}' /proc/meminfo), $(uname -srm), $(go version | cut -d' ' -f3)"
  echo "load: $clients clients (LMTP: connections), $duration each, $nusers users, SHA512-CRYPT; Dovecot $(dovecot --version | cut -d' ' -f1)"
  echo "rookery-3: rookery dev, 3 nodes, replication factor 2; rookery-1: 1 node, factor 1"
  python3 - "$work/figures" <<'EOF'
import sys
rows = [l.split() for l in open(sys.argv[1]) if l.strip()]
fig = {(s, n): float(v) for s, n, v in rows}
names = []
for s, n, _ in rows:
    if n not in names:
        names.append(n)
print(f"{'load':22} {'dovecot':>10} {'rookery-3':>10} {'ratio':>6} {'rookery-1':>10} {'ratio':>6}")
for n in names:
    d = fig.get(("dovecot", n), 0)
    cells = []
    for s in ("rookery-3", "rookery-1"):
        v = fig.get((s, n), 0)
        cells += [f"{v:10.0f}", f"{v / d:5.2f}x" if d else "     -"]
    print(f"{n:22} {d:10.0f} " + " ".join(cells))
EOF
} | tee "$out/SUMMARY.txt"
