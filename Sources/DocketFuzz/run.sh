#!/usr/bin/env bash
# Fuzzes the protocol module: Sources/DocketFuzz/run.sh [SECONDS] [libFuzzer flags...]
#
# Builds DocketFuzz with libFuzzer and AddressSanitizer in .build-fuzz (kept apart so the
# normal build never sees the sanitizer flags), adds the seeds from protocol/ to the corpus
# in .build-fuzz/corpus (which keeps growing across runs), fuzzes for SECONDS (default 60),
# and prints executions and coverage. Exits non-zero when an input broke something; the
# input is then in .build-fuzz/artifacts/ and replays with
#   .build-fuzz/release/DocketFuzz .build-fuzz/artifacts/crash-…
# or, for Swift's own backtrace, through a plain build: swift run DocketFuzz FILE
#
# Release, because a debug build runs about six times fewer inputs a second; the harness
# copies each line into an allocation of its own so AddressSanitizer still sees overreads.
set -euo pipefail
cd "$(dirname "$0")/../.."

seconds=${1:-60}
shift || true
scratch=.build-fuzz
corpus=$scratch/corpus
log=$scratch/last-run.log

swift build -c release --product DocketFuzz --scratch-path "$scratch" -Xswiftc -sanitize=fuzzer,address 2>&1 |
    grep -v "Cannot export local symbol" # ld.gold's noise about ASan's internal symbols
python3 Sources/DocketFuzz/make-corpus.py "$corpus"
mkdir -p "$scratch/artifacts"

status=0
# Swift's backtracer would catch the crash before libFuzzer could save the input. Recording
# where each allocation came from, and a large quarantine, cost more time than the rest of
# AddressSanitizer together; an overread or use-after-free is still caught and reported.
SWIFT_BACKTRACE=enable=no ASAN_OPTIONS=${ASAN_OPTIONS:-malloc_context_size=0:quarantine_size_mb=16} \
    "$scratch/release/DocketFuzz" "$corpus" \
    -max_len=65536 -max_total_time="$seconds" -timeout=10 -rss_limit_mb=4096 \
    -dict=Sources/DocketFuzz/docket.dict -artifact_prefix="$scratch/artifacts/" \
    -print_final_stats=1 "$@" >"$log" 2>&1 || status=$?

# libFuzzer's last status line and its final statistics.
grep -E '^#[0-9]+' "$log" | tail -n 1
grep -E '^stat::(number_of_executed_units|average_exec_per_sec|new_units_added|peak_rss_mb)' "$log" || true
if [ "$status" -ne 0 ]; then
    echo "DocketFuzz failed (status $status); the end of $log:" >&2
    tail -n 40 "$log" >&2
fi
exit "$status"
