#!/bin/bash
# A/B: 100,000 queued jobs, 32 consumers, with and without 1,000 keys capped at 1 running each.
BIN=${BIN:-.build/release}
for round in 1 2 3; do
  for mode in plain keys; do
    dir=$(mktemp -d /tmp/kb.XXXX)
    $BIN/docketd --socket $dir/s --db $dir/d.db > $dir/log 2>&1 &
    pid=$!
    for i in $(seq 50); do [ -S $dir/s ] && break; sleep 0.1; done
    extra=""; [ $mode = keys ] && extra="--keys 1000"
    out=$(DOCKET_SOCKET=$dir/s $BIN/docket bench --backlog 100000 --count 1 --producers 1 --consumers 32 $extra --json)
    echo "$round $mode $(echo "$out" | python3 -c 'import json,sys; r=json.load(sys.stdin); print(r["cycles"], r.get("cycles_per_second", r.get("throughput")))')"
    kill $pid; wait $pid 2>/dev/null; rm -rf $dir
  done
done
