#!/usr/bin/env bash
# The platform's benchmarks of this tree beside those of an earlier commit, in one run.
#
#   bench/ab.sh BASE [ROUNDS] [hosted|comm]     # e.g. bench/ab.sh 3fc89e5 5
#
# It checks BASE out in a temporary worktree, builds the gateway's test binary of both,
# and alternates them ROUNDS times (default 5): BenchmarkStartup (50 flares of each
# shape) and BenchmarkThroughput (20,000 blocking single-worker flares, 64 clients);
# with "hosted", the function hosts' benchmarks instead (BenchmarkHosted with
# isolation=process: startup, pair and round trip, throughput); with "comm", the
# middleware's remote pair and round trip (package comm) against raw NATS.
# Alternating puts both under the same load of the machine; the medians of every metric
# are printed at the end, BASE beside this tree. Needs python3 for the summary.
set -euo pipefail
cd "$(dirname "$0")/.."
base=${1:?usage: bench/ab.sh BASE [ROUNDS]}
rounds=${2:-5}
set=${3:-builtins}
tmp=$(mktemp -d)
trap 'git worktree remove --force "$tmp/base" >/dev/null 2>&1; rm -rf "$tmp"' EXIT
git worktree add --detach "$tmp/base" "$base" >/dev/null
pkg=gateway
[ "$set" = comm ] && pkg=comm
(cd "$tmp/base" && go test -c -o "$tmp/base.test" ./$pkg)
go test -c -o "$tmp/head.test" ./$pkg
out=$tmp/results.txt
for _ in $(seq "$rounds"); do
	for v in base head; do
		dir=$PWD/$pkg
		[ "$v" = base ] && dir=$tmp/base/$pkg
		if [ "$set" = comm ]; then
			(cd "$dir" && "$tmp/$v.test" -test.run '^$' -test.bench '(RemotePair|RoundTrip)' -test.benchmem)
		elif [ "$set" = hosted ]; then
			(cd "$dir" && "$tmp/$v.test" -test.run '^$' -test.bench 'Hosted/isolation=process/Startup' -test.benchtime 50x)
			(cd "$dir" && "$tmp/$v.test" -test.run '^$' -test.bench 'Hosted/isolation=process/(Pair|RoundTrip)' -test.benchtime 10x)
			(cd "$dir" && "$tmp/$v.test" -test.run '^$' -test.bench 'Hosted/isolation=process/Throughput' -test.benchtime 20000x)
		else
			(cd "$dir" && "$tmp/$v.test" -test.run '^$' -test.bench Startup -test.benchtime 50x)
			(cd "$dir" && "$tmp/$v.test" -test.run '^$' -test.bench Throughput -test.benchtime 20000x)
		fi | grep '^Benchmark' | sed "s/^/$v /" | tee -a "$out"
	done
done
echo
echo "medians of $rounds rounds: $base | this tree"
python3 - "$out" <<'PY'
import collections, statistics, sys
vals = collections.defaultdict(list)
for line in open(sys.argv[1]):
    f = line.split()
    who, name = f[0], f[1].rsplit("-", 1)[0]
    for i in range(3, len(f) - 1, 2):
        vals[(name, f[i + 1], who)].append(float(f[i]))
for name, unit in sorted({(n, u) for n, u, _ in vals}):
    med = [statistics.median(vals[(name, unit, w)]) if vals[(name, unit, w)] else None for w in ("base", "head")]
    if None in med:  # a benchmark that only one side has
        print(f"{name:40} {unit:12} " + " ".join("           –" if m is None else f"{m:12.4g}" for m in med))
        continue
    print(f"{name:40} {unit:12} {med[0]:12.4g} {med[1]:12.4g} {100 * (med[1] / med[0] - 1):+6.1f} %")
PY
