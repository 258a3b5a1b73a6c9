#!/usr/bin/env bash
# cluster-up_test.sh: runs scripts/cluster-up.sh for real on this machine.
#  1. 3 nodes: up, a leader and 3 healthy voters, the cluster API refuses
#     a client without a certificate of the cluster CA, down, every PID gone.
#     Between: node2 killed and started again with `start node2` rejoins
#     (3 of 3 healthy); node3 killed and run by hand from its config, so
#     that `down` says it did not start it and leaves it running.
#  2. 5 nodes: up, SIGKILL the leader and one follower; the 3 survivors
#     elect a leader and status names the 2 missing voters; down.
#  3. hosts: the configs bind the admin listener to loopback and give the
#     client ports the node certificate; the printed steps make
#     /etc/rookery before installing into it and copy files that exist.
# Bounded: each wait has a deadline and the whole run stops at 5 minutes.
# It signals only the PIDs cluster-up.sh recorded for its own clusters.
#
#   scripts/cluster-up_test.sh            (builds the binary)
#   ROOKERY_BIN=/path/rookery BASE_PORT=22000 scripts/cluster-up_test.sh
set -euo pipefail
cd "$(dirname "$0")/.."
up=scripts/cluster-up.sh
work=$(mktemp -d "${TMPDIR:-/tmp}/rookery-cluster-test.XXXXXX")
# Below the kernel's ephemeral range (32768 up), which outgoing connections use.
base=${BASE_PORT:-21000}
started=()

cleanup() {
  for d in "${started[@]}"; do "$up" down -d "$d" >/dev/null 2>&1 || true; done
  rm -rf "$work"
}
trap cleanup EXIT
# The whole test's deadline: after it, the EXIT trap still stops the nodes.
main=$$
(
  trap 'kill $s 2>/dev/null; exit 0' TERM
  sleep 300 & s=$!
  wait $s && { echo "cluster-up_test: timed out after 300s" >&2; kill -TERM $main; }
) &
watchdog=$!
trap 'kill $watchdog 2>/dev/null || true; cleanup' EXIT
trap 'exit 1' TERM INT

fail() {
  echo "FAIL: $*" >&2
  for d in "${started[@]}"; do
    for log in "$d"/node*/node.log; do
      [ -f "$log" ] && { echo "--- last lines of $log" >&2; tail -n 15 "$log" >&2; }
    done
  done
  exit 1
}

if [ -z "${ROOKERY_BIN:-}" ]; then
  echo "== building rookery"
  go build -o "$work/rookery" ./cmd/rookery
  ROOKERY_BIN=$work/rookery
fi
export ROOKERY_BIN ROOKERY_WAIT=90

pids_of() { awk '{ print $2 }' "$1/pids"; }
assert_all_stopped() {
  local pid
  for pid in $1; do
    # A zombie has exited; only its parent's reaper has yet to notice.
    state=$(ps -o stat= -p "$pid" 2>/dev/null || true)
    [ -n "$state" ] && [ "${state:0:1}" != Z ] && fail "pid $pid still running after down ($state)"
  done
  return 0
}

echo "== 3 nodes"
d3=$work/c3
started+=("$d3")
"$up" up -n 3 -d "$d3" -p "$base" | tee "$work/up3.out" || fail "up -n 3"
grep -q "^3 of 3 directory voters healthy" "$work/up3.out" || fail "3-node cluster not healthy"
grep -q " Leader " "$work/up3.out" || fail "3-node cluster has no leader"
# Node traffic is mutual TLS: the cluster API answers an admin client with
# the node certificate and refuses one without.
api=127.0.0.1:$((base + 1))
ROOKERY_CLUSTER_SECRET=$(cat "$d3/cluster-secret") "$ROOKERY_BIN" admin --addr "$api" --timeout 10s status >/dev/null 2>&1 &&
  fail "the cluster API answered a client without a certificate"
ROOKERY_CLUSTER_SECRET=$(cat "$d3/cluster-secret") "$ROOKERY_BIN" admin --addr "$api" --tls-dir "$d3/node2/tls" --timeout 10s status >/dev/null ||
  fail "the cluster API refused a node certificate"
echo "3-node cluster: cluster API refuses a client without a certificate: ok"

wait_voters() { # DIR N: until status shows N of N voters healthy
  local deadline=$((SECONDS + 90)) out
  while ((SECONDS < deadline)); do
    out=$("$up" status -d "$1" 2>&1 || true)
    grep -q "^$2 of $2 directory voters healthy" <<<"$out" && return 0
    sleep 1
  done
  echo "$out"
  return 1
}
"$up" kill -d "$d3" node2 >/dev/null
"$up" start -d "$d3" node2 | tee "$work/start.out"
grep -q "^started node2 (pid [0-9]*)" "$work/start.out" || fail "start node2"
wait_voters "$d3" 3 || fail "node2 started again did not rejoin"
"$up" start -d "$d3" node2 | grep -q "node2 (pid [0-9]*) is already running" || fail "start of a running node"
echo "3-node cluster: start NODE after kill: ok"

"$up" kill -d "$d3" node3 >/dev/null
"$ROOKERY_BIN" node --config "$d3/node3/node.toml" >>"$d3/node3/node.log" 2>&1 </dev/null &
byhand=$!
wait_voters "$d3" 3 || { kill -TERM $byhand; fail "node3 run by hand did not rejoin"; }
p3=$(pids_of "$d3")
"$up" down -d "$d3" | tee "$work/down.out"
kill -TERM $byhand
wait $byhand || true
grep -q "^node3 (pid [0-9]*) was not running" "$work/down.out" || fail "down did not say node3 was not its own"
grep -q "^node3 still runs as pid $byhand, which .* did not start: not stopped" "$work/down.out" ||
  fail "down did not name the node3 it did not start"
assert_all_stopped "$p3"
echo "3-node cluster: up, healthy, down: ok"

echo "== 5 nodes"
d5=$work/c5
started+=("$d5")
"$up" up -n 5 -d "$d5" -p $((base + 500)) | tee "$work/up5.out" || fail "up -n 5"
grep -q "^5 of 5 directory voters healthy" "$work/up5.out" || fail "5-node cluster not healthy"
leader=$(awk '$3 == "Leader" { print $1 }' "$work/up5.out")
follower=$(awk '$3 == "Follower" { print $1; exit }' "$work/up5.out")
[ -n "$leader" ] && [ -n "$follower" ] || fail "no leader or follower in the status"
echo "== killing the leader $leader and the follower $follower"
"$up" kill -d "$d5" "$leader" "$follower"

deadline=$((SECONDS + 90))
ok=""
while ((SECONDS < deadline)); do
  out=$("$up" status -d "$d5" 2>&1 || true)
  new_leader=$(awk '$3 == "Leader" { print $1 }' <<<"$out")
  if [ -n "$new_leader" ] && [ "$new_leader" != "$leader" ] &&
    grep -q "voters in the Raft configuration: 5; answering: 3; not answering:" <<<"$out" &&
    grep -q "^3 of 5 directory voters healthy; quorum 3; can lose 0 more" <<<"$out" &&
    grep "not answering:" <<<"$out" | grep -qw "$leader" &&
    grep "not answering:" <<<"$out" | grep -qw "$follower"; then
    ok=1
    break
  fi
  sleep 1
done
echo "$out"
[ -n "$ok" ] || fail "after killing $leader and $follower: no new leader, or the loss not reported"
echo "5-node cluster: new leader $new_leader after losing $leader and $follower; loss reported: ok"
p5=$(pids_of "$d5")
"$up" down -d "$d5"
assert_all_stopped "$p5"

echo "== hosts"
dh=$work/hosts
"$up" hosts -d "$dh" mx1=10.0.0.1 mx2=10.0.0.2 mx3=10.0.0.3 >"$work/hosts.out" || fail "hosts"
for id in mx1 mx2 mx3; do
  f=$dh/$id/node.toml
  grep -q '^admin_addr = "127.0.0.1:7080"$' "$f" || fail "$id: admin_addr not on loopback"
  grep -q '^tls_cert_file = "/etc/rookery/tls/node.crt"$' "$f" || fail "$id: no client TLS certificate"
done
awk '/install -d .* \/etc\/rookery &&/ { made = NR } /\/etc\/rookery\/node.toml/ && /install/ { if (!made || NR < made) bad = 1 } END { exit !(made && !bad) }' \
  "$work/hosts.out" || fail "hosts: /etc/rookery is not made before the install into it"
for f in $(awk '$1 == "scp" { for (i = 2; i <= NF; i++) if ($i !~ /:/ && $i != "-r" && $i != "&&" && $i != "scp") print $i }' "$work/hosts.out"); do
  [ -e "$f" ] || fail "hosts: scp names $f, which does not exist"
done
grep -q "install -m 0755 /tmp/$(basename "$ROOKERY_BIN") /usr/local/bin/rookery" "$work/hosts.out" ||
  fail "hosts: the binary installed is not the one copied"
echo "hosts: admin on loopback, client TLS, /etc/rookery made first, every scp source exists: ok"
echo "PASS"
