#!/usr/bin/env bash
# Runs every benchmark in bench/ (each directory holding a main.go), one
# after the other, from the repository root. Needs root: the benchmarks
# work in network namespaces they create and delete. Arguments are passed
# to every benchmark, e.g. bench/run.sh -n 10
set -euo pipefail

cd "$(dirname "$0")/.."
if [ "$(id -u)" -ne 0 ]; then
	echo "bench/run.sh: run as root (the benchmarks create network namespaces)" >&2
	exit 1
fi

status=0
for dir in bench/*/; do
	[ -f "${dir}main.go" ] || continue
	echo "== go run ./${dir%/} $*"
	if ! go run "./${dir%/}" "$@"; then
		echo "== ${dir%/} FAILED" >&2
		status=1
	fi
	echo
done
exit "$status"
