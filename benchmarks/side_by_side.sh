#!/usr/bin/env bash
# The headline benchmarks of two checkouts, alternating, two rounds each, on one machine: for a change that must
# not slow anything (a refactor). Usage:
#   git worktree add /tmp/before <older-commit>
#   BASE=/tmp/before PYTHON=.venv/bin/python benchmarks/side_by_side.sh   # results in $OUT (default /tmp/bench_ab)
set -u
out=${OUT:-/tmp/bench_ab}; mkdir -p "$out"
base=${BASE:?set BASE to a checkout of the older commit}
head=$(cd "$(dirname "$0")/.." && pwd)
python=$(cd "$head" && realpath "${PYTHON:-$(command -v python3)}")
for round in 1 2; do
  for bench in tracking metrics alerting dashboards; do
    for side in base head; do
      dir=$base; [ "$side" = head ] && dir=$head
      (cd "$dir" && PYTHONPATH=$dir timeout 600 "$python" "benchmarks/bench_$bench.py" > "$out/$bench.$side.$round.txt" 2>&1)
    done
  done
done
grep -H -E "PASS|MISS" "$out"/*.txt
