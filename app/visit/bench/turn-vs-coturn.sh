#!/usr/bin/env bash
# Daraport's TURN relay (app/visit, run alone by app/visit/cmd/turnrelay)
# side by side with coturn, both on loopback, with coturn's own load client
# (turnutils_uclient) and echo peer (turnutils_peer). Runs are interleaved
# (coturn and Daraport alternate, the first server alternates between
# runs) and the medians are compared:
#   video: STREAMS concurrent relayed streams of 1000-byte packets every
#          5 ms (1.6 Mbit/s each), 5 s: loss
#   peak:  STREAMS clients sending as fast as uclient can (1 ms interval):
#          echoed messages per second of uclient's transmit time, and the
#          server's CPU per relayed message (each echoed message crosses
#          the relay twice; CPU from /proc/PID/stat, allocation included).
# On a small machine the single-threaded uclient may be what limits the
# peak: read the ratio, not the absolute rate.
# Needs Debian's coturn (apt-get install -y coturn) and Go. Not part of
# `go test ./...`. Usage: app/visit/bench/turn-vs-coturn.sh [RUNS]
set -euo pipefail
RUNS=${1:-3}
STREAMS=${STREAMS:-50}
PEAK_MSGS=${PEAK_MSGS:-8000}  # ≥ 8 s of sending: uclient reports whole seconds
cd "$(dirname "$0")/../../.."
for tool in turnserver turnutils_uclient turnutils_peer go python3 bc; do
	command -v "$tool" >/dev/null || { echo "missing $tool (apt-get install -y coturn)" >&2; exit 1; }
done
tmp=$(mktemp -d)
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	if grep -q failed "$tmp/results" 2>/dev/null; then echo "logs kept in $tmp" >&2; else rm -rf "$tmp"; fi
}
trap cleanup EXIT

# free_port prints a port free on loopback for both UDP and TCP.
free_port() {
	python3 - <<'PY'
import random, socket
for _ in range(200):
    p = random.randint(20000, 29999)
    try:
        u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u.bind(("127.0.0.1", p))
        t = socket.socket(socket.AF_INET, socket.SOCK_STREAM); t.bind(("127.0.0.1", p))
        u.close(); t.close(); print(p); break
    except OSError:
        pass
PY
}

go build -o "$tmp/turnrelay" ./app/visit/cmd/turnrelay
SECRET="bench-$RANDOM$RANDOM"
PEER=$(free_port)
DP=$(free_port)
CP=$(free_port)
# The echo peer sits on 127.0.0.3: Daraport's relay reaches its own address
# (127.0.0.1) only on relay ports, and loopback only where allowed.
turnutils_peer -L 127.0.0.3 -p "$PEER" >"$tmp/peer.log" 2>&1 &
pids+=($!)
"$tmp/turnrelay" -listen "127.0.0.1:$DP" -public 127.0.0.1 -secret "$SECRET" -allow 127.0.0.3/32 \
	-min-port 30000 -max-port 39999 >"$tmp/daraport.log" 2>&1 &
DPID=$!
pids+=($DPID)
turnserver -n --listening-ip=127.0.0.1 --listening-port="$CP" --relay-ip=127.0.0.1 --external-ip=127.0.0.1 \
	--use-auth-secret --static-auth-secret="$SECRET" --realm=daraport --no-tls --no-dtls --no-cli \
	--allow-loopback-peers --min-port=40000 --max-port=49999 --log-file=stdout --simple-log >"$tmp/coturn.log" 2>&1 &
CPID=$!
pids+=($CPID)
sleep 2
kill -0 "$DPID" && kill -0 "$CPID" || { cat "$tmp"/*.log; exit 1; }

ticks() { awk '{print $14+$15}' "/proc/$1/stat"; }
HZ=$(getconf CLK_TCK)

# load NAME PORT PID INTERVAL_MS MESSAGES → "sent recv loss% seconds cpu_seconds"
load() {
	local name=$1 port=$2 pid=$3 z=$4 n=$5 before after t0 t1 out
	before=$(ticks "$pid")
	t0=$(date +%s.%N)
	out=$(turnutils_uclient -c -e 127.0.0.3 -r "$PEER" -p "$port" -W "$SECRET" -u bench \
		-m "$STREAMS" -n "$n" -l 1000 -z "$z" 127.0.0.1 2>&1 || true)
	t1=$(date +%s.%N)
	after=$(ticks "$pid")
	echo "$out" >>"$tmp/$name.uclient.log"
	local sent recv loss
	sent=$(echo "$out" | sed -n 's/.*start_mclient: tot_send_msgs=\([0-9]*\), tot_recv_msgs=\([0-9]*\)$/\1/p' | tail -1)
	recv=$(echo "$out" | sed -n 's/.*start_mclient: tot_send_msgs=\([0-9]*\), tot_recv_msgs=\([0-9]*\)$/\2/p' | tail -1)
	loss=$(echo "$out" | sed -n 's/.*Total lost packets [0-9]* (\([0-9.]*\)%).*/\1/p' | tail -1)
	# uclient's "transmit time" (whole seconds) excludes the allocation
	# phase; the wall time is kept for reference.
	tx=$(echo "$out" | sed -n 's/.*Total transmit time is \([0-9]*\).*/\1/p' | tail -1)
	[ "${tx:-0}" -gt 0 ] || tx=$(echo "$t1 - $t0" | bc -l)
	echo "${sent:-0} ${recv:-0} ${loss:-100} $tx $(echo "($after - $before) / $HZ" | bc -l)"
}

median() { sort -g | awk '{a[NR]=$1} END {if (NR%2) print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2}'; }

: >"$tmp/results"
for run in $(seq 1 "$RUNS"); do
	order="coturn daraport"
	if [ $((run % 2)) -eq 0 ]; then order="daraport coturn"; fi
	for srv in $order; do
		if [ "$srv" = coturn ]; then port=$CP pid=$CPID; else port=$DP pid=$DPID; fi
		read -r vs vr vloss vt vcpu <<<"$(load "$srv" "$port" "$pid" 5 1000)"
		read -r ps pr ploss pt pcpu <<<"$(load "$srv" "$port" "$pid" 1 "$PEAK_MSGS")"
		if [ "$vs" -eq 0 ] || [ "$ps" -eq 0 ]; then
			# uclient printed no summary (it failed to allocate): say so and
			# leave the run out of the medians.
			echo "$srv run=$run failed (see the uclient output in $tmp/$srv.uclient.log)" | tee -a "$tmp/results"
			continue
		fi
		rate=$(echo "$pr / $pt" | bc -l)
		us=$(echo "$pcpu * 1000000 / (2 * ($pr + ($pr == 0)))" | bc -l)
		printf '%s run=%d video_loss=%.3f%% video_recv=%d/%d peak_rate=%.0f msg/s peak_loss=%.2f%% cpu_per_msg=%.2f us\n' \
			"$srv" "$run" "$vloss" "$vr" "$vs" "$rate" "$ploss" "$us" | tee -a "$tmp/results"
		echo "$srv $vloss $rate $us" >>"$tmp/raw"
	done
done

echo
echo "medians over the successful of $RUNS interleaved runs ($STREAMS streams; $(nproc) cores, shared with whatever else runs):"
for srv in coturn daraport; do
	vl=$(awk -v s=$srv '$1==s {print $2}' "$tmp/raw" | median)
	pr=$(awk -v s=$srv '$1==s {print $3}' "$tmp/raw" | median)
	cu=$(awk -v s=$srv '$1==s {print $4}' "$tmp/raw" | median)
	printf '  %-8s video loss %.3f%%  peak %.0f echoed msg/s  CPU %.2f us per relayed message\n' "$srv" "$vl" "$pr" "$cu"
	eval "${srv}_rate=$pr ${srv}_cpu=$cu"
done
printf '  ratios (daraport / coturn): peak rate %.2f  CPU per message %.2f\n' \
	"$(echo "$daraport_rate / $coturn_rate" | bc -l)" "$(echo "$daraport_cpu / $coturn_cpu" | bc -l)"
