#!/usr/bin/env bash
# Regenerates the benchmark figures: builds rookery, brings up a 3-node dev
# cluster on this machine, runs every bench against it and writes the JSON
# results and HTML reports under bench-results/. Needs only Go.
#
#   scripts/bench.sh                    # 30 s per bench
#   BENCH_DURATION=10s scripts/bench.sh # quicker
#
# The whole run is bounded (BENCH_TIMEOUT, 14 minutes by default) and the
# cluster is stopped on every way out.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/usr/local/go/bin"

duration=${BENCH_DURATION:-30s}
out=${BENCH_OUT:-bench-results}
deadline=$(( $(date +%s) + ${BENCH_TIMEOUT:-840} ))

work=$(mktemp -d)
cluster_pid=
stop_cluster() {
  if [ -n "$cluster_pid" ] && kill -0 "$cluster_pid" 2>/dev/null; then
    kill -TERM "$cluster_pid" 2>/dev/null || true
    for _ in $(seq 100); do kill -0 "$cluster_pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$cluster_pid" 2>/dev/null || true
  fi
  cluster_pid=
}
cleanup() {
  stop_cluster
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# remaining prints the seconds left before the deadline, for timeout(1).
remaining() { echo $(( deadline - $(date +%s) > 1 ? deadline - $(date +%s) : 1 )); }

# port_free says whether nothing listens on a loopback port.
port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# pick_ports finds a block of ports no one listens on, below the ephemeral
# range (32768 and up, where an outgoing connection may hold one): the dev
# cluster uses base+100*i+0..6 for node i, and the IMAP and LMTP ports +0..2.
pick_ports() {
  local b p
  for b in ${BENCH_BASE_PORT:-} 22000 24000 26000 28000 30000; do
    local ok=1
    for p in $(seq $b $((b+6))) $(seq $((b+100)) $((b+106))) $(seq $((b+200)) $((b+206))) \
             $((b+900)) $((b+901)) $((b+902)) $((b+950)) $((b+951)) $((b+952)); do
      port_free "$p" || { ok=0; break; }
    done
    if [ $ok = 1 ]; then base_port=$b; imap_port=$((b+900)); lmtp_port=$((b+950)); return 0; fi
  done
  echo "no free block of ports"; return 1
}

echo "== build"
go build -o "$work/rookery" ./cmd/rookery

pick_ports
echo "== start a dev cluster in $work/dev (ports from $base_port)"
"$work/rookery" dev --clean --dir "$work/dev" --base-port "$base_port" \
  --imap-port "$imap_port" --imaps-port 0 --lmtp-port "$lmtp_port" >"$work/dev.out" 2>&1 &
cluster_pid=$!
ready=$(( $(date +%s) + 120 ))
until grep -q "Rookery dev cluster" "$work/dev.out"; do
  if ! kill -0 "$cluster_pid" 2>/dev/null || [ "$(date +%s)" -ge "$ready" ]; then
    echo "the dev cluster did not come up:"; cat "$work/dev.out"; exit 1
  fi
  sleep 0.2
done
cat "$work/dev.out"

imap1=127.0.0.1:$imap_port
frontends=$imap1,127.0.0.1:$((imap_port + 1)),127.0.0.1:$((imap_port + 2))
lmtp1=127.0.0.1:$lmtp_port
mkdir -p "$out"
status=0
ran=()

# bench NAME ARGS... runs one bench, records its command and goes on if it
# fails, so one broken bench still leaves the others' figures.
bench() {
  local name=$1; shift
  echo; echo "== bench $name: rookery bench $*"
  if timeout "$(remaining)" "$work/rookery" bench "$@" --out "$out/$name"; then
    ran+=("$name ok")
  else
    echo "bench $name failed (exit $?)"; ran+=("$name FAILED"); status=1
  fi
}

bench imap imap --imap "$imap1" --user demo --password demo --clients 8 --duration "$duration" --size 4096 --seed 1
bench imap-keep-open imap --imap "$imap1" --user demo --password demo --clients 8 --keep-open --duration "$duration" --size 4096 --seed 2
bench lmtp lmtp --lmtp "$lmtp1" --imap "$imap1" --user demo --password demo --rcpts 3 --conns 4 --duration "$duration" --size 10000 --seed 3
bench directory directory --imap "$frontends" --user demo --password demo --clients 3 --duration "$duration" --seed 4

# The package benchmarks behind the other figures of BENCHMARKS.md, with the
# cluster stopped so that they have the machine to themselves. Not here: the
# catch-up of a new non-voter from a 1,000,000-mailbox snapshot, whose set-up
# alone (a million entries through Raft) takes longer than this whole run:
#   go test -run '^$' -bench BenchmarkSnapshotCatchUp -benchtime 1x -timeout 30m ./directory
stop_cluster
gobench() {
  local name=$1 pkg=$2 pattern=$3 benchtime=$4
  echo; echo "== go test -run '^\$' -bench '$pattern' -benchtime $benchtime $pkg"
  if timeout "$(remaining)" go test -run '^$' -bench "$pattern" -benchtime "$benchtime" "$pkg" >"$out/go-$name.txt" 2>&1; then
    grep -E '^Benchmark' "$out/go-$name.txt" || true
    ran+=("go-$name ok")
  else
    tail -5 "$out/go-$name.txt"; ran+=("go-$name FAILED"); status=1
  fi
}
gobench fsm-lookup ./fsm/ 'Lookup1M' 1000000x
gobench fsm-memory-snapshot ./fsm/ 'Memory|SnapshotRestore' 1x
gobench directory-apply ./directory/ 'BenchmarkApply' 2000x
gobench spool-append ./spool/ . 2000x
gobench lmtpd-deliver ./backend/lmtpd/ 'LMTPDeliver' 3000x
gobench imapd ./backend/imapd/ . 3s
gobench imapfront-idle ./imapfront/ 'IdleConnMemory' 1x
gobench imapfront-mixed ./imapfront/ 'MixedLoad' 200x
gobench lmtp-proxy ./lmtp/ 'ProxyVsDirect' 2000x
# POP3 RETR against Dovecot's POP3 server, which the benchmark starts on
# loopback (as root, with dovecot-pop3d installed; it skips otherwise).
if [ ! -x /usr/lib/dovecot/pop3 ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  DEBIAN_FRONTEND=noninteractive timeout 300 apt-get install -y -qq dovecot-pop3d >/dev/null \
    || echo "could not install dovecot-pop3d; the POP3 comparison will skip"
fi
gobench pop3-retr ./pop3front/ 'RETRVsDovecot' 20x

{
  echo "Rookery benchmarks, $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "machine: $(nproc 2>/dev/null || echo ?) cores, $(awk '/MemTotal/ {printf "%.1f GiB", $2/1048576}' /proc/meminfo 2>/dev/null), $(uname -srm), $(go version)"
  echo "cluster: rookery dev (3 nodes, every role, one machine), duration $duration per bench"
  printf '%s\n' "${ran[@]}"
} | tee "$out/SUMMARY.txt"

{
  echo '<!DOCTYPE html><html><head><meta charset="utf-8"><title>Rookery benchmarks</title></head><body>'
  echo "<h1>Rookery benchmarks</h1><pre>$(cat "$out/SUMMARY.txt")</pre><ul>"
  for r in "${ran[@]}"; do
    n=${r%% *}
    case $n in
      go-*) echo "<li><a href=\"$n.txt\">$n</a>: ${r#* }</li>" ;;
      *) echo "<li><a href=\"$n.html\">$n</a> (<a href=\"$n.json\">json</a>): ${r#* }</li>" ;;
    esac
  done
  echo '</ul></body></html>'
} >"$out/index.html"
echo "reports: $out/index.html"
exit $status
