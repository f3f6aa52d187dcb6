#!/usr/bin/env bash
# The side-by-side benchmark in one command: builds Convene and convene-bench in release,
# installs Janus (Debian package) if it is missing, then runs each scenario against Convene,
# Janus and the plain UDP forwarder (the machine's ceiling), each server freshly started on
# loopback and pinned to CPU $SERVER_CPU, the load generator pinned to CPU $BENCH_CPU.
# Tables and ratios go to stdout, JSON to bench/results/<scenario>.json. Then Convene alone:
# `overload` (30 meetings of ten, twice what one core carries, overload admission on) and the
# ten-minute `soak` (scenario 2's shape; memory sampled every 10 s).
#
#   bench/compare.sh                         # meeting10, meeting100, webinar300, overload, soak
#   SCENARIOS=meeting10 ALONE= bench/compare.sh --duration 10
#   ALONE=overload bench/compare.sh          # which Convene-only runs (default: overload soak)
#   bench/compare.sh --client-threads 2      # extra flags go to every `compare`
#   ROUNDS=5 bench/compare.sh                # rounds of each comparison (default 3), then
#                                            # each round's ratios and their median
#   DOWNLINK=twcc,remb,remb-own bench/compare.sh   # Convene's modes (default: twcc,remb-own —
#                                            # str0m's estimate and transport, and the default:
#                                            # the browser's estimate, Convene's own transport)
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v janus >/dev/null; then
    apt-get update && apt-get install -y janus
fi
cargo build --release -p convene -p convene-bench

SERVER_CPU=${SERVER_CPU:-0}
BENCH_CPU=${BENCH_CPU:-1}
mkdir -p bench/results
echo "$(date -u +%FT%TZ) $(uname -srm), $(nproc) CPUs: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
echo "load: $(uptime)"
for scenario in ${SCENARIOS:-meeting10 meeting100 webinar300}; do
    taskset -c "$BENCH_CPU" target/release/convene-bench compare --ceiling \
        --scenario "$scenario" --server-cpus "$SERVER_CPU" \
        --convene-bin target/release/convene --json "bench/results/$scenario.json" \
        --downlink-estimate "${DOWNLINK:-twcc,remb-own}" --rounds "${ROUNDS:-3}" "$@"
done
for scenario in ${ALONE-overload soak}; do
    taskset -c "$BENCH_CPU" target/release/convene-bench run --scenario "$scenario" \
        --server-cpus "$SERVER_CPU" --convene-bin target/release/convene \
        --json "bench/results/$scenario.json"
done
