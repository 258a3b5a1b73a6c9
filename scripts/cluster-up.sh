#!/usr/bin/env bash
# cluster-up.sh: bring up a Rookery cluster.
#
#   scripts/cluster-up.sh up    [-n 3|5] [-d DIR] [-p BASE_PORT] [-b BINARY]
#       Runs an N-node cluster on this machine, every node with every role:
#       one `rookery node --config` process per node on loopback ports from
#       BASE_PORT (default 27000, 100 per node; keep them below 32768, where
#       the kernel's ephemeral ports start), data and logs under DIR. Waits until `rookery admin status` shows a leader
#       and every voter, then prints how to connect.
#   scripts/cluster-up.sh status [-d DIR]
#   scripts/cluster-up.sh kill   [-d DIR] NODE...   SIGKILL the named nodes (a crash, for drills)
#   scripts/cluster-up.sh start  [-d DIR] NODE...   start the named nodes again from their data
#   scripts/cluster-up.sh down   [-d DIR]           stop every process `up` or `start` started, by PID
#   scripts/cluster-up.sh hosts  [-d DIR] [-s SECRET_FILE] [NODE_ID=]HOST...
#       Writes one config per host (HOST is a name or IP the other hosts reach
#       it by; NODE_ID defaults to HOST) under DIR/NODE_ID/node.toml and prints
#       the commands to run there.
#
# Environment: ROOKERY_BIN (the rookery binary; default: built into DIR/bin),
# ROOKERY_WAIT (seconds to wait for a leader, default 90).
set -euo pipefail

cmd=${1:-help}
[ $# -gt 0 ] && shift
nodes=3
dir=${ROOKERY_CLUSTER_DIR:-.rookery-cluster}
base=27000
bin=${ROOKERY_BIN:-}
secret_file=""
wait_secs=${ROOKERY_WAIT:-90}

while getopts "n:d:p:b:s:" opt; do
  case $opt in
    n) nodes=$OPTARG ;;
    d) dir=$OPTARG ;;
    p) base=$OPTARG ;;
    b) bin=$OPTARG ;;
    s) secret_file=$OPTARG ;;
    *) exit 2 ;;
  esac
done
shift $((OPTIND - 1))
# One spelling of the directory, so that the PID check below matches the
# command lines `up` started whatever form -d takes later.
dir=$(realpath -m "$dir")

die() { echo "cluster-up: $*" >&2; exit 1; }
pidfile() { echo "$dir/pids"; }

# build_binary puts a rookery binary in DIR/bin unless one was given.
build_binary() {
  if [ -n "$bin" ]; then
    [ -x "$bin" ] || die "$bin is not an executable"
    return
  fi
  local root
  root=$(cd "$(dirname "$0")/.." && pwd)
  mkdir -p "$dir/bin"
  echo "building rookery into $dir/bin"
  (cd "$root" && go build -o "$(cd "$dir/bin" && pwd)/rookery" ./cmd/rookery)
  bin="$dir/bin/rookery"
}

# recorded_binary: the binary `up` used, for the other commands.
recorded_binary() {
  [ -n "$bin" ] && return
  [ -f "$dir/binary" ] || die "no $dir/binary: was the cluster started with $0 up -d $dir?"
  bin=$(cat "$dir/binary")
}

new_secret() {
  head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n'
}

# write_config FILE NODE_ID DATA_DIR HOST RAFT API GOSSIP BIMAP BLMTP FIMAP FLMTP JOIN EXPECT SECRET PLAINTEXT ADMIN_ADDR TLS_DIR GOSSIP_KEY [CLIENT_TLS_DIR]
# CLIENT_TLS_DIR, when given, holds the node.crt and node.key the client
# ports serve (STARTTLS and IMAPS); without it and without plaintext login
# no client could log in.
# Keys are exactly those of cmd/rookery/config.go: a misspelt key is an
# error at start, never a silent default.
write_config() {
  local f=$1
  cat >"$f" <<EOF
# Written by scripts/cluster-up.sh. See examples/node.toml for every setting.
node_id = "$2"
data_dir = "$3"
roles = ["directory", "backend", "frontend"]
cluster_secret = "${14}"
log_format = "text"
log_level = "info"
admin_addr = "${16}"

[directory]
raft_addr = "$4:$5"
api_addr = "$4:$6"
gossip_addr = "$4:$7"
join = [${12}]
bootstrap_expect = ${13}
stale_after = "5s"

[backend]
id = "$2"
imap_addr = "$4:$8"
lmtp_addr = "$4:$9"

[frontend]
imap_addr = "$4:${10}"
lmtp_addr = "$4:${11}"
allow_plaintext_login = ${15}
EOF
  if [ -n "${19:-}" ]; then
    cat >>"$f" <<EOF
tls_cert_file = "${19}/node.crt"
tls_key_file = "${19}/node.key"
imaps_addr = "$4:993"
EOF
  fi
  cat >>"$f" <<EOF

[tls]
# Mutual TLS between nodes with the cluster CA, and encrypted gossip.
node_dir = "${17}"
gossip_key_file = "${18}"
EOF
  chmod 600 "$f"
}

# make_ca: the cluster CA and gossip key in DIR/tls/ca, once.
make_ca() {
  [ -f "$dir/tls/ca/ca.crt" ] && return
  mkdir -p "$dir/tls"
  "$bin" tls init --dir "$dir/tls/ca" >/dev/null
}

# issue_cert NODE_ID OUT HOST...: a node certificate, unless OUT has one.
issue_cert() {
  local id=$1 out=$2
  shift 2
  [ -f "$out/node.crt" ] && return
  "$bin" tls issue --ca "$dir/tls/ca" --out "$out" "$id" "$@" >/dev/null
}

# alive NAME PID: the process runs and is this cluster's node NAME (a PID
# reused by an unrelated process must never be signalled).
alive() {
  local name=$1 pid=$2
  [ -r "/proc/$pid/cmdline" ] || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qF " node --config $dir/$name/node.toml"
}

node_pid() {
  awk -v n="$1" '$1 == n { print $2 }' "$(pidfile)"
}

# start_node NAME: runs node NAME from its config and records its PID,
# replacing the line of an earlier run of it.
start_node() {
  local name=$1 rest
  "$bin" node --config "$dir/$name/node.toml" >>"$dir/$name/node.log" 2>&1 </dev/null &
  rest=$(awk -v n="$name" '$1 != n' "$(pidfile)")
  { [ -n "$rest" ] && echo "$rest"; echo "$name $!"; } >"$(pidfile)"
}

# other_pids NAME: processes running node NAME's config that this script
# did not start (a node started by hand from the same data directory).
other_pids() {
  local name=$1 mine p
  mine=$(node_pid "$name")
  for p in /proc/[0-9]*; do
    p=${p#/proc/}
    [ "$p" = "$mine" ] && continue
    alive "$name" "$p" 2>/dev/null && echo "$p"
  done
  return 0
}

cluster_start() {
  [ $# -gt 0 ] || die "start: name the nodes, e.g. node2"
  [ -f "$(pidfile)" ] || die "no $(pidfile): start a cluster with $0 up -d $dir"
  recorded_binary
  local name pid others
  for name in "$@"; do
    [ -f "$dir/$name/node.toml" ] || die "no node $name in $dir"
    pid=$(node_pid "$name")
    if [ -n "$pid" ] && alive "$name" "$pid"; then
      echo "$name (pid $pid) is already running"
      continue
    fi
    others=$(other_pids "$name")
    [ -z "$others" ] || die "$name runs as pid $others, not started by $0: stop it first"
    start_node "$name"
    echo "started $name (pid $(node_pid "$name"))"
  done
}

cluster_up() {
  case $nodes in 3|5) ;; *) die "-n must be 3 or 5" ;; esac
  if [ -f "$(pidfile)" ]; then
    while read -r name pid; do
      alive "$name" "$pid" && die "$name (pid $pid) from an earlier run is still up; run: $0 down -d $dir"
    done <"$(pidfile)"
    rm -f "$(pidfile)"
  fi
  mkdir -p "$dir"
  chmod 700 "$dir"
  build_binary
  bin=$(cd "$(dirname "$bin")" && pwd)/$(basename "$bin")
  echo "$bin" >"$dir/binary"
  [ -f "$dir/cluster-secret" ] || { new_secret >"$dir/cluster-secret"; chmod 600 "$dir/cluster-secret"; }
  local secret join="" i p
  secret=$(cat "$dir/cluster-secret")
  for ((i = 0; i < nodes; i++)); do
    join+="${join:+, }\"127.0.0.1:$((base + 100 * i + 2))\""
  done
  : >"$(pidfile)"
  make_ca
  for ((i = 0; i < nodes; i++)); do
    local name="node$((i + 1))" p=$((base + 100 * i))
    mkdir -p "$dir/$name"
    issue_cert "$name" "$dir/$name/tls" 127.0.0.1 localhost
    write_config "$dir/$name/node.toml" "$name" "$(cd "$dir/$name" && pwd)/data" 127.0.0.1 \
      "$p" $((p + 1)) $((p + 2)) $((p + 3)) $((p + 4)) $((p + 43)) $((p + 24)) "$join" "$nodes" "$secret" true "127.0.0.1:$((p + 80))" \
      "$dir/$name/tls" "$dir/tls/ca/gossip.key"
    start_node "$name"
  done
  echo "started $nodes nodes (pids in $(pidfile)); waiting up to ${wait_secs}s for a leader and $nodes voters"
  if ! wait_healthy "$nodes"; then
    echo "cluster-up: no healthy cluster after ${wait_secs}s; last status:" >&2
    admin_status >&2 || true
    echo "logs: $dir/node*/node.log; stop with: $0 down -d $dir" >&2
    exit 1
  fi
  admin_status
  print_banner
}

# admin_status asks the first node still running for the cluster status.
admin_status() {
  local name pid
  while read -r name pid; do
    if alive "$name" "$pid"; then
      "$bin" admin --config "$dir/$name/node.toml" --timeout 10s status
      return
    fi
  done <"$(pidfile)"
  die "no node of $dir is running"
}

# voter_report compares the Raft configuration (the leader's peers plus
# itself) with the voters that answer, and names the nodes this script
# started that do not answer: a dead voter drops out of the gossip member
# list, so the status table alone stops showing it.
voter_report() {
  local name pid json configured answering missing=""
  while read -r name pid; do
    alive "$name" "$pid" || continue
    json=$("$bin" admin --config "$dir/$name/node.toml" --timeout 10s --json status 2>/dev/null) || continue
    break
  done <"$(pidfile)"
  [ -n "${json:-}" ] || { echo "voters: no node answered"; return 1; }
  read -r configured answering < <(awk -F': ' '
    /"node_id"/   { gsub(/[",]/, "", $2); id = $2 }
    /"raft_state"/ { if ($2 ~ /"Leader"/) leader = id }
    /"voter"/     { voter[id] = ($2 ~ /true/) }
    /"voters"/    { gsub(/,/, "", $2); voters = $2 }
    /"error"/     { failed[id] = 1 }
    END {
      n = 0; for (i in voter) if (voter[i] && !failed[i]) { n++; list = list " " i }
      print (leader == "" ? 0 : voters), n list
    }' <<<"$json")
  while read -r name pid; do
    grep -qw "$name" <<<"$answering" || missing+=" $name"
  done <"$(pidfile)"
  echo "voters in the Raft configuration: $configured; answering: ${answering%% *}; not answering:${missing:- none}"
}

# wait_healthy N: until status names a leader and N of N voters healthy.
wait_healthy() {
  local want=$1 deadline=$((SECONDS + wait_secs)) out name pid
  while ((SECONDS < deadline)); do
    # A node that exited (a port in use, a bad setting) will not come back.
    while read -r name pid; do
      if ! alive "$name" "$pid"; then
        echo "cluster-up: $name (pid $pid) exited; the end of $dir/$name/node.log:" >&2
        tail -n 5 "$dir/$name/node.log" >&2
        return 1
      fi
    done <"$(pidfile)"
    out=$(admin_status 2>&1 || true)
    if grep -q " Leader " <<<"$out" && grep -q "^$want of $want directory voters healthy" <<<"$out"; then
      return 0
    fi
    sleep 1
  done
  return 1
}

print_banner() {
  local i p
  echo
  echo "Rookery cluster of $nodes nodes is up (data and logs in $dir); the nodes
speak mutual TLS with the CA in $dir/tls/ca and gossip encrypted."
  for ((i = 0; i < nodes; i++)); do
    p=$((base + 100 * i))
    echo "  node$((i + 1))  IMAP 127.0.0.1:$((p + 43))  LMTP 127.0.0.1:$((p + 24))  cluster API 127.0.0.1:$((p + 1)) (mutual TLS)"
  done
  cat <<EOF

Add a user (and its INBOX), then log in with any IMAP client:
  echo 'pw' | $bin admin --config $dir/node1/node.toml user add alice
  curl -s imap://127.0.0.1:$((base + 43))/ -u alice:pw
Cluster status:   $bin admin --config $dir/node1/node.toml status
Crash two nodes:  $0 kill -d $dir node2 node3
Stop everything:  $0 down -d $dir
EOF
}

cluster_kill() {
  [ $# -gt 0 ] || die "kill: name the nodes, e.g. node2 node3"
  [ -f "$(pidfile)" ] || die "no $(pidfile)"
  local name pid
  for name in "$@"; do
    pid=$(node_pid "$name")
    [ -n "$pid" ] || die "no node $name in $(pidfile)"
    if alive "$name" "$pid"; then
      kill -KILL "$pid"
      echo "killed $name (pid $pid)"
    else
      echo "$name (pid $pid) is not running"
    fi
  done
}

cluster_down() {
  [ -f "$(pidfile)" ] || { echo "nothing to stop: no $(pidfile)"; return 0; }
  local name pid left deadline others
  while read -r name pid; do
    if alive "$name" "$pid"; then
      kill -TERM "$pid"
      echo "stopping $name (pid $pid)"
    else
      echo "$name (pid $pid) was not running"
    fi
  done <"$(pidfile)"
  while read -r name pid; do
    others=$(other_pids "$name")
    [ -z "$others" ] || echo "$name still runs as pid $others, which $0 did not start: not stopped"
  done <"$(pidfile)"
  deadline=$((SECONDS + 30))
  while ((SECONDS < deadline)); do
    left=0
    while read -r name pid; do alive "$name" "$pid" && left=1; done <"$(pidfile)"
    ((left == 0)) && break
    sleep 0.2
  done
  while read -r name pid; do
    if alive "$name" "$pid"; then
      echo "$name (pid $pid) ignored SIGTERM for 30s; sending SIGKILL"
      kill -KILL "$pid"
    fi
  done <"$(pidfile)"
  rm -f "$(pidfile)"
  echo "cluster in $dir stopped"
}

# cluster_hosts writes a config per host for a cluster on separate
# machines; every host runs every role on the default ports.
cluster_hosts() {
  [ $# -eq 3 ] || [ $# -eq 5 ] || die "hosts: give 3 or 5 hosts"
  local secret join="" h
  if [ -n "$secret_file" ]; then
    secret=$(tr -d ' \n' <"$secret_file")
  else
    secret=$(new_secret)
  fi
  local spec id
  for spec in "$@"; do join+="${join:+, }\"${spec#*=}:7002\""; done
  mkdir -p "$dir"
  chmod 700 "$dir"
  build_binary
  make_ca
  for spec in "$@"; do
    h=${spec#*=} id=${spec%%=*}
    mkdir -p "$dir/$id"
    issue_cert "$id" "$dir/$id/tls" "$h"
    # The admin listener has no authentication: loopback only. The
    # client ports serve the node certificate (of the cluster CA).
    write_config "$dir/$id/node.toml" "$id" /var/lib/rookery "$h" 7000 7001 7002 7143 7024 143 24 "$join" $# "$secret" false 127.0.0.1:7080 \
      /etc/rookery/tls /etc/rookery/gossip.key /etc/rookery/tls
  done
  echo "wrote a config and a node certificate for each host under $dir/ (mode 0600: they hold the"
  echo "cluster secret and the node key). The cluster CA is in $dir/tls/ca: keep ca.key off the nodes."
  echo
  local root
  root=$(cd "$(dirname "$0")/.." && pwd)
  bin=$(cd "$(dirname "$bin")" && pwd)/$(basename "$bin")
  echo "On each host (as root), copy its config and TLS material and start the node:"
  for spec in "$@"; do
    h=${spec#*=} id=${spec%%=*}
    cat <<EOF
  # $id ($h)
  scp $dir/$id/node.toml $h:/tmp/node.toml && scp -r $dir/$id/tls $h:/tmp/rookery-tls &&
    scp $dir/tls/ca/gossip.key $bin $root/scripts/rookery.service $h:/tmp/
  ssh $h 'install -d -o root -g rookery -m 0750 /etc/rookery &&
          install -o root -g rookery -m 0640 /tmp/node.toml /etc/rookery/node.toml &&
          install -d -o root -g rookery -m 0750 /etc/rookery/tls &&
          install -o root -g rookery -m 0640 -t /etc/rookery/tls /tmp/rookery-tls/* &&
          install -o root -g rookery -m 0640 /tmp/gossip.key /etc/rookery/gossip.key &&
          install -m 0755 /tmp/$(basename "$bin") /usr/local/bin/rookery &&
          install -m 0644 /tmp/rookery.service /etc/systemd/system/rookery.service &&
          systemctl daemon-reload && systemctl enable --now rookery'
EOF
  done
  cat <<EOF

(Create the user first on each host: useradd --system --home /var/lib/rookery rookery.)
The nodes bootstrap once all $# have met. Then, from any host:
  rookery admin --config /etc/rookery/node.toml status
Client ports bind to each host's own address (IMAP 143 with STARTTLS, IMAPS
993, LMTP 24) and serve the node certificate, signed by the cluster CA: give
clients $dir/tls/ca/ca.crt to trust, or set tls_cert_file and tls_key_file to
a certificate of a public CA (docs/operations.md). Plaintext login is off.
The admin listener (metrics, status page) is on 127.0.0.1:7080 of each host.
EOF
}

case $cmd in
  up) cluster_up ;;
  status) recorded_binary; admin_status; voter_report ;;
  kill) cluster_kill "$@" ;;
  start) cluster_start "$@" ;;
  down) cluster_down ;;
  hosts) cluster_hosts "$@" ;;
  help|-h|--help) sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//' ;;
  *) die "unknown command $cmd (up, status, kill, start, down, hosts)" ;;
esac
