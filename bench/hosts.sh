#!/usr/bin/env bash
# Burst between two hosts against a plain TCP stream between the same two hosts, in one
# run: two network namespaces joined by a veth pair (198.18.1.1 and .2, the benchmarking
# range, nothing routed outside), one `burst bench` process in each (group 0 with the
# embedded NATS server), a pair of 1 GiB: raw TCP, Burst over NATS, Burst with a TCP
# lane. Needs root and iproute2.
#
#   bench/hosts.sh [repeats]    # prints one CSV line per system: seconds, GiB/s
set -euo pipefail
cd "$(dirname "$0")/.."
rep=${1:-5}
size=$((1 << 30))
bin=$(mktemp -d)/burst
a=burst-bench-a-$$ b=burst-bench-b-$$
cleanup() {
	ip netns del "$a" 2>/dev/null || true
	ip netns del "$b" 2>/dev/null || true
	rm -rf "$(dirname "$bin")"
}
trap cleanup EXIT
go build -o "$bin" ./cmd/burst
ip netns add "$a"
ip netns add "$b"
ip link add "va$$" netns "$a" type veth peer name "vb$$" netns "$b"
ip -n "$a" addr add 198.18.1.1/24 dev "va$$"
ip -n "$b" addr add 198.18.1.2/24 dev "vb$$"
for ns in "$a" "$b"; do
	ip -n "$ns" link set lo up
done
ip -n "$a" link set "va$$" up
ip -n "$b" link set "vb$$" up

pair() { # backend [extra flags] -> the slower group's median seconds
	local backend=$1 id="hosts-$RANDOM" dir port=$((20000 + RANDOM % 20000))
	shift
	dir=$(mktemp -d)
	ip netns exec "$a" "$bin" bench --benchmark pair --burst-size 2 --groups 2 --group-id 0 --payload-size "$size" \
		--repeat "$rep" --warmup 1 --embed --server "nats://198.18.1.1:$port" --burst-id "$id" --json "$@" "$backend" >"$dir/0.json" &
	local p0=$!
	sleep 1
	ip netns exec "$b" "$bin" bench --benchmark pair --burst-size 2 --groups 2 --group-id 1 --payload-size "$size" \
		--repeat "$rep" --warmup 1 --server "nats://198.18.1.1:$port" --burst-id "$id" --json "$@" "$backend" >"$dir/1.json"
	wait "$p0"
	python3 - "$dir" <<'PY'
import json, pathlib, sys
print(max(json.loads(p.read_text())["total"]["seconds"] for p in pathlib.Path(sys.argv[1]).glob("*.json")))
PY
	rm -rf "$dir"
}
echo "system,seconds,GiB/s"
for sys in "tcp" "nats" "nats --lane tcp"; do
	# shellcheck disable=SC2086 # the flags split on purpose
	s=$(pair $sys)
	echo "$sys,$s,$(python3 -c "print(f'{$size / $s / 2**30:.2f}')")"
done
