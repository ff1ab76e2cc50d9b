# The queue suite of bench/run-all (issue 5): `bench/run-all --suite amqp
# [--quick]`. Sourced by run-all, whose helpers it uses (launch, stop_all,
# ports_free, wait_ping, lockq_leader, probe, log; $OUT $WORK $CMDS $RESULTS
# $QUICK $LOCKQD $ROOT $PYTHON).
#
# Same load generator for every system: build/bench/amqp_loadgen (C++ on
# librabbitmq; bench/amqp_loadgen.cc). Two phases, each with its systems up
# side by side and measured one at a time, shape by shape, so that the
# drift of the shared disk and of the other tenants hits them alike:
#   1 node : lockqd, and one rabbitmq-server node (quorum queue, then a
#            durable classic queue on the same node)
#   3 nodes: lockqd x3 (load to the leader), and a 3-node RabbitMQ cluster
#            (quorum queue declared on node 1, which makes node 1 its
#            leader; load to node 1)
# Ports: lockqd AMQP 36572 (1 node), 36581-36583 (3 nodes); RabbitMQ AMQP
# 36670 (1 node), 36671-36673 (cluster), Erlang distribution +20, epmd
# 36369. All on 127.0.0.1; every process is in run-all's PIDS, so its exit
# trap stops them.

LOADGEN=${LOADGEN:-$ROOT/build/bench/amqp_loadgen}
# Not /usr/sbin/rabbitmq-server: that wrapper su's to the rabbitmq user when
# run as root and writes to /var/lib/rabbitmq.
RMQ_BIN=${RMQ_BIN:-/usr/lib/rabbitmq/bin}
RMQ_HOME=$WORK/rmq-home   # the Erlang cookie shared by the nodes and rabbitmqctl
EPMD_PORT=36369
for t in "$LOADGEN" "$RMQ_BIN/rabbitmq-server" "$RMQ_BIN/rabbitmqctl" epmd; do
  command -v "$t" >/dev/null || { echo "missing $t (ninja -C build amqp_loadgen; scripts/install-deps)" >&2; exit 1; }
done

# Shapes: SIZE PRODUCERS CONSUMERS WINDOW PREFETCH. The full matrix (2 sizes
# x 2 windows x 1|4 producers x 1|4 consumers x prefetch 100|1000 = 32 per
# system) is pruned to the 6 shapes per size below, so 60 runs take ~12 min:
# window 1 at 1 and 4 producers (latency-bound), window 500 with 1 producer,
# with 4 producers against 1 consumer (can consumers keep up?), and 4x4 at
# both prefetches.
if [ "$QUICK" = 1 ]; then
  AQ_SHAPES=("100 1 1 1 100" "100 4 4 500 1000")
  AQWARM=0.5; AQDUR=3
else
  AQ_SHAPES=()
  for s in 100 1024; do
    AQ_SHAPES+=("$s 1 1 1 100" "$s 4 4 1 100" "$s 1 1 500 1000" "$s 4 1 500 100" "$s 4 4 500 100" "$s 4 4 500 1000")
  done
  AQWARM=1; AQDUR=8
fi
AQ_RUN=0

wait_port() {  # port seconds
  local i
  for i in $(seq $(($2 * 10))); do
    ss -Hltn "sport = :$1" 2>/dev/null | grep -q . && return 0
    sleep 0.1
  done
  echo "nothing listens on port $1 after $2 s" >&2; return 1
}

rmqctl() { env HOME="$RMQ_HOME" ERL_EPMD_PORT=$EPMD_PORT timeout 120 "$RMQ_BIN/rabbitmqctl" "$@"; }

start_epmd() {
  ports_free $EPMD_PORT
  mkdir -p "$RMQ_HOME"
  if [ ! -f "$RMQ_HOME/.erlang.cookie" ]; then
    echo -n "LOCKQBENCHCOOKIE$$" >"$RMQ_HOME/.erlang.cookie"
    chmod 400 "$RMQ_HOME/.erlang.cookie"
  fi
  echo "[]." >"$RMQ_HOME/enabled_plugins"  # no management plugin
  launch "epmd$1" epmd -address 127.0.0.1 -port $EPMD_PORT
  wait_port $EPMD_PORT 10
}

# start_rabbit INDEX SUFFIX: node rabbitINDEX@localhost on 36670+INDEX.
start_rabbit() {
  local i=$1 d=$WORK/rmq$1 port=$((36670 + $1))
  ports_free $port $((port + 20))
  rm -rf "$d"; mkdir -p "$d"
  printf 'listeners.tcp.default = 127.0.0.1:%s\ndistribution.listener.interface = 127.0.0.1\n' $port >"$d/rabbitmq.conf"
  launch "rabbit$i$2" env HOME="$RMQ_HOME" ERL_EPMD_PORT=$EPMD_PORT RABBITMQ_NODENAME=rabbit$i@localhost \
    RABBITMQ_NODE_PORT=$port RABBITMQ_DIST_PORT=$((port + 20)) RABBITMQ_MNESIA_BASE="$d/mnesia" \
    RABBITMQ_LOG_BASE="$d/log" RABBITMQ_CONFIG_FILE="$d/rabbitmq.conf" \
    RABBITMQ_ENABLED_PLUGINS_FILE="$RMQ_HOME/enabled_plugins" RABBITMQ_PID_FILE="$d/pid" \
    "$RMQ_BIN/rabbitmq-server"
  AQ_RABBIT_PIDS+=("${PIDS[-1]}")
}

start_rabbit3() {
  local i
  AQ_RABBIT_PIDS=()
  for i in 1 2 3; do start_rabbit $i -cluster; done
  for i in 1 2 3; do wait_port $((36670 + i)) 90; done
  for i in 2 3; do
    rmqctl -n rabbit$i@localhost stop_app >&2
    rmqctl -n rabbit$i@localhost join_cluster rabbit1@localhost >&2
    rmqctl -n rabbit$i@localhost start_app >&2
  done
  rmqctl -n rabbit1@localhost cluster_status >"$OUT/raw/rabbit-cluster-status.txt" 2>&1
  grep -q "rabbit3@localhost" "$OUT/raw/rabbit-cluster-status.txt" || { echo "rabbitmq cluster did not form" >&2; exit 1; }
}

start_lockq_amqp1() {
  ports_free 36379 36479 36572
  rm -rf "$WORK/aq1"; mkdir -p "$WORK/aq1"
  AQ_LOCKQ1_PIDS=()
  launch lockq1-amqp "$LOCKQD" --node-id 1 --data-dir "$WORK/aq1" --resp-port 36379 --amqp-port 36572 \
    --raft-addr 127.0.0.1:36479 --http-port 0 --log-level info
  AQ_LOCKQ1_PIDS+=("${PIDS[-1]}")
  wait_ping 36379; lockq_leader 36379 >/dev/null
}

# find_lockq3_leader: sets AQ_LEADER_AMQP to the AMQP port of the current
# leader. Called before every 3-node run: under this VM's load a leader can
# lose its term (heartbeats starved), and load sent to a follower is
# forwarded, which is a different measurement.
find_lockq3_leader() {
  local leader
  leader=$(lockq_leader 36381 36382 36383)
  local port=$((leader - 36381 + 36581))
  if [ -n "${AQ_LEADER_AMQP:-}" ] && [ "$port" != "$AQ_LEADER_AMQP" ]; then
    log "lockq 3 nodes: the leader moved to RESP port $leader"
    echo "# lockq 3 nodes (amqp): the leader moved to RESP port $leader, AMQP $port" >>"$CMDS"
  fi
  AQ_LEADER_AMQP=$port
}

# lockq3_state TAG: the three nodes' INFO replication (term, leader,
# indexes, snapshots) into raw/, to explain a slow run afterwards.
lockq3_state() {
  local i
  for i in 1 2 3; do
    echo "== node $i $1"
    redis-cli -p $((36380 + i)) INFO replication 2>&1 | tr -d '\r'
  done >>"$OUT/raw/lockq3-replication.txt"
}

start_lockq_amqp3() {  # sets AQ_LEADER_AMQP
  local i IC="1=127.0.0.1:36481,2=127.0.0.1:36482,3=127.0.0.1:36483"
  ports_free 36381 36382 36383 36481 36482 36483 36581 36582 36583
  AQ_LOCKQ3_PIDS=()
  for i in 1 2 3; do
    rm -rf "$WORK/aq3-$i"; mkdir -p "$WORK/aq3-$i"
    launch "lockq3-node$i-amqp" "$LOCKQD" --node-id $i --data-dir "$WORK/aq3-$i" --resp-port $((36380 + i)) \
      --amqp-port $((36580 + i)) --raft-addr 127.0.0.1:$((36480 + i)) --initial-cluster "$IC" \
      --http-port 0 --log-level info
    AQ_LOCKQ3_PIDS+=("${PIDS[-1]}")
  done
  for i in 1 2 3; do wait_ping $((36380 + i)); done
  AQ_LEADER_AMQP=""
  find_lockq3_leader
  log "lockq 3 nodes: leader AMQP port $AQ_LEADER_AMQP"
  echo "# lockq 3 nodes (amqp): leader AMQP port $AQ_LEADER_AMQP at start (load sent to the leader)" >>"$CMDS"
}

# tree_ticks PID... : CPU time (clock ticks, user+system) of the processes
# and all their descendants (rabbitmq-server is sh -> beam.smp -> helpers).
tree_ticks() {
  local p total=0 kids
  for p in "$@"; do
    [ -r "/proc/$p/stat" ] && total=$((total + $(awk '{print $14 + $15}' "/proc/$p/stat" 2>/dev/null || echo 0)))
    kids=$(pgrep -P "$p" 2>/dev/null | tr '\n' ' ') || true
    [ -n "$kids" ] && total=$((total + $(tree_ticks $kids)))
  done
  echo $total
}

# aq SYSTEM PORT QUEUE_TYPE SHAPE SERVER_PID... : one amqp_loadgen run, one
# JSON row, with the CPU the server processes used during it.
aq() {
  local sys=$1 port=$2 qt=$3 size p c w pf f cmd t0 t1
  read -r size p c w pf <<<"$4"
  shift 4
  AQ_RUN=$((AQ_RUN + 1))
  f=$OUT/raw/$sys-amqp-s$size-p$p-c$c-w$w-pf$pf.json
  cmd=("$LOADGEN" --port "$port" --queue "bench-$sys-$AQ_RUN" --queue-type "$qt" --producers "$p"
       --consumers "$c" --size "$size" --window "$w" --prefetch "$pf" --warmup-s $AQWARM --duration-s $AQDUR
       --drain-s 10 --label "$sys")
  printf '%s\n' "${cmd[*]}" >>"$CMDS"
  log "$sys: ${cmd[*]}"
  local load; load=$(cut -d' ' -f1 /proc/loadavg)
  t0=$(tree_ticks "$@")
  if ! timeout 120 "${cmd[@]}" >"$f" 2>"$f.err"; then
    log "$sys amqp s$size p$p c$c w$w pf$pf: errors (see $f)"
  fi
  t1=$(tree_ticks "$@")
  "$PYTHON" - "$sys" "$load" "$f" "$(( (t1 - t0) ))" "$(getconf CLK_TCK)" >>"$RESULTS" <<'PY'
import json, sys
sysname, load, f, ticks, hz = sys.argv[1:6]
try:
    r = json.loads(open(f).read().strip().splitlines()[-1])
except Exception as e:
    r = {"errors": ["no output (%s)" % e]}
r.update({"system": sysname, "gen": "amqp", "load_before": float(load), "server_cpu_s": int(ticks) / int(hz)})
print(json.dumps(r))
PY
}

# ============================================== phase 1: one node each
probe amqp-1node
start_lockq_amqp1
start_epmd -1node
AQ_RABBIT_PIDS=()
start_rabbit 0 -1node
wait_port 36670 90
rmqctl -n rabbit0@localhost status >"$OUT/raw/rabbit0-status.txt" 2>&1 || true
for s in "${AQ_SHAPES[@]}"; do
  probe "amqp-1node-$(tr ' ' '-' <<<"$s")"
  aq lockq1 36572 quorum "$s" "${AQ_LOCKQ1_PIDS[@]}"
  aq rabbit-quorum1 36670 quorum "$s" "${AQ_RABBIT_PIDS[@]}"
  aq rabbit-classic1 36670 classic "$s" "${AQ_RABBIT_PIDS[@]}"
done
stop_all

# ============================================== phase 2: three nodes each
probe amqp-3nodes
start_lockq_amqp3
start_epmd -3nodes
start_rabbit3
for s in "${AQ_SHAPES[@]}"; do
  probe "amqp-3nodes-$(tr ' ' '-' <<<"$s")"
  find_lockq3_leader
  aq lockq3 "$AQ_LEADER_AMQP" quorum "$s" "${AQ_LOCKQ3_PIDS[@]}"
  lockq3_state "after $s"
  aq rabbit-quorum3 36671 quorum "$s" "${AQ_RABBIT_PIDS[@]}"
done
# Where the quorum queues' leaders were: declare one more the same way and ask.
"$LOADGEN" --port 36671 --queue bench-leader-probe --queue-type quorum --producers 0 --consumers 0 \
  --duration-s 0.1 --warmup-s 0 --drain-s 0.1 --keep-queue >/dev/null 2>&1 || true
rmqctl -n rabbit1@localhost list_queues name type leader members >"$OUT/raw/rabbit-queue-leader.txt" 2>&1 || true
log "rabbitmq quorum queue leader: $(grep bench-leader-probe "$OUT/raw/rabbit-queue-leader.txt" || echo unknown)"
stop_all
