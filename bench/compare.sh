#!/usr/bin/env bash
# Burst against raw NATS and MPI on this machine, in one run.
#
#   bench/compare.sh            # writes docs/bench/results.{csv,md} and docs/bench/*.svg
#   bench/compare.sh headline   # only the headline runs (keeps the table's last CSV)
#
# For each collective and payload (1 KiB, 1 MiB, 64 MiB) it runs `burst bench` with 8
# workers all local (1 group), in 2 groups and in 4 groups, the same collective with
# 8 MPI ranks (Open MPI + mpi4py, installed from Debian when missing), and raw NATS
# publish/subscribe of the same bytes, and for the pair a plain TCP and unix-socket byte
# stream, the floor (medians of 100 repeats at 1 KiB, 20 at 1 MiB, 3 at 64 MiB). Then the headline runs, with one process per
# group as in the original's two-terminal workflow: pair of 1 GiB in 1 MiB chunks,
# broadcast of 256 MiB to 192 workers in 4 groups against raw NATS moving the 3 remote
# copies, and allreduce of 8 MiB float64 over 8 workers in one pack against 8-rank MPI.
# Burst runs over NATS only and with lanes (--lane unix: messages of 64 KiB and more go
# over a unix socket between the groups), side by side.
set -euo pipefail
cd "$(dirname "$0")/.."
out=docs/bench
mkdir -p "$out"
bin=$(mktemp -d)/burst
trap 'rm -rf "$(dirname "$bin")"' EXIT
go build -o "$bin" ./cmd/burst

py=/usr/bin/python3
if ! "$py" -c 'import mpi4py, numpy' 2>/dev/null || ! command -v mpirun >/dev/null; then
	apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y openmpi-bin python3-mpi4py python3-numpy
fi
mpi() { # benchmark ranks payload repeat
	mpirun --allow-run-as-root --oversubscribe -np "$2" "$py" bench/mpi_bench.py "$1" "$3" "$4" 2>/dev/null | tail -1
}
port=$((20000 + RANDOM % 20000))
burst() { # benchmark burst-size groups payload repeat backend [extra flags]
	local b=$1 n=$2 g=$3 size=$4 rep=$5 backend=$6
	shift 6
	"$bin" bench --benchmark "$b" --burst-size "$n" --groups "$g" --payload-size "$size" --repeat "$rep" \
		--warmup 2 --embed --server "nats://127.0.0.1:$port" --burst-id "cmp-$RANDOM" --json "$@" "$backend"
}
# burst_procs runs one process per group against one embedded server (group 0's) and
# prints the slowest group's median seconds.
burst_procs() { # benchmark burst-size groups payload repeat backend [extra flags]
	local b=$1 n=$2 g=$3 size=$4 rep=$5 backend=$6 id="procs-$RANDOM" dir
	shift 6
	dir=$(mktemp -d)
	"$bin" bench --benchmark "$b" --burst-size "$n" --groups "$g" --group-id 0 --payload-size "$size" --repeat "$rep" \
		--embed --server "nats://127.0.0.1:$port" --burst-id "$id" --json "$@" "$backend" >"$dir/0.json" &
	local pids=($!)
	sleep 1
	for ((i = 1; i < g; i++)); do
		"$bin" bench --benchmark "$b" --burst-size "$n" --groups "$g" --group-id "$i" --payload-size "$size" --repeat "$rep" \
			--server "nats://127.0.0.1:$port" --burst-id "$id" --json "$@" "$backend" >"$dir/$i.json" &
		pids+=($!)
	done
	for p in "${pids[@]}"; do wait "$p"; done
	"$py" - "$dir" <<'PY'
import json, pathlib, sys
print(max(json.loads(p.read_text())["total"]["seconds"] for p in pathlib.Path(sys.argv[1]).glob("*.json")))
PY
	rm -rf "$dir"
}
seconds() { "$py" -c 'import json,sys; print(json.load(sys.stdin)["total"]["seconds"])'; }

csv="$out/results.csv"
if [ "${1:-all}" != headline ]; then
echo "benchmark,payload_size,system,layout,seconds" >"$csv"
for size in 1024 1048576 67108864; do
	rep=100 # small messages vary most: more repeats for a steady median
	[ "$size" -ge 1048576 ] && rep=20
	[ "$size" -ge 67108864 ] && rep=3
	for b in pair broadcast scatter gather all-to-all allgather reduce allreduce barrier; do
		n=8
		[ "$b" = pair ] && n=2
		for g in 1 2 4; do
			[ "$g" -gt "$n" ] && continue
			s=$(burst "$b" "$n" "$g" "$size" "$rep" nats | seconds)
			echo "$b,$size,burst,$g groups,$s" >>"$csv"
			[ "$g" -eq 1 ] && continue # one group has no other to take a lane to
			s=$(burst "$b" "$n" "$g" "$size" "$rep" nats --lane unix | seconds)
			echo "$b,$size,burst-lane,$g groups,$s" >>"$csv"
		done
		s=$("$py" -c 'import json,sys; print(json.loads(sys.stdin.read())["p50"])' <<<"$(mpi "$b" "$n" "$size" "$rep")")
		echo "$b,$size,mpi,$n ranks,$s" >>"$csv"
		echo "$b $size done" >&2
	done
	s=$(burst pair 2 2 "$size" "$rep" raw | seconds)
	echo "pair,$size,raw-nats,2 groups,$s" >>"$csv"
	s=$(burst broadcast 4 4 "$size" "$rep" raw | seconds)
	echo "broadcast,$size,raw-nats,4 groups,$s" >>"$csv"
	for stream in tcp unix; do
		s=$(burst pair 2 2 "$size" "$rep" "$stream" | seconds)
		echo "pair,$size,raw-$stream,2 groups,$s" >>"$csv"
	done
done
fi

head="$out/headline.csv"
echo "what,system,seconds" >"$head"
echo "pair 1 GiB,burst (2 processes),$(burst_procs pair 2 2 1073741824 5 nats)" >>"$head"
echo "pair 1 GiB,burst with a unix lane (2 processes),$(burst_procs pair 2 2 1073741824 5 nats --lane unix)" >>"$head"
echo "pair 1 GiB,burst with a tcp lane (2 processes),$(burst_procs pair 2 2 1073741824 5 nats --lane tcp)" >>"$head"
echo "pair 1 GiB,raw nats (2 processes),$(burst_procs pair 2 2 1073741824 5 raw)" >>"$head"
echo "pair 1 GiB,raw tcp stream (2 processes),$(burst_procs pair 2 2 1073741824 5 tcp)" >>"$head"
echo "pair 1 GiB,raw unix stream (2 processes),$(burst_procs pair 2 2 1073741824 5 unix)" >>"$head"
echo "broadcast 256 MiB to 192 workers,burst (4 processes),$(burst_procs broadcast 192 4 268435456 5 nats)" >>"$head"
echo "broadcast 256 MiB to 192 workers,burst with unix lanes (4 processes),$(burst_procs broadcast 192 4 268435456 5 nats --lane unix)" >>"$head"
echo "broadcast 256 MiB to 192 workers,raw nats 3 remote copies (4 processes),$(burst_procs broadcast 4 4 268435456 5 raw)" >>"$head"
echo "allreduce 8 MiB float64 over 8 workers,burst (1 pack),$(burst allreduce 8 1 8388608 10 memory | seconds)" >>"$head"
echo "allreduce 8 MiB float64 over 8 workers,mpi (8 ranks),$("$py" -c 'import json,sys; print(json.loads(sys.stdin.read())["p50"])' <<<"$(mpi allreduce 8 8388608 10)")" >>"$head"

"$py" bench/plot.py "$csv" "$head" "$out"
echo "wrote $out/results.md and the plots in $out" >&2
