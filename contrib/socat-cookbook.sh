#!/bin/sh
# Docket with nothing but socat: one JSON request per line in, one JSON answer per line out.
#
#   DOCKET_SOCKET=/run/docket/docket.sock contrib/socat-cookbook.sh            # every example
#   DOCKET_SOCKET=/run/docket/docket.sock contrib/socat-cookbook.sh enqueue    # some of them
#
# Each example prints a "## name" heading, then each request it sends (after "> ") and
# the daemon's answers. They build on each other in the order below (claim takes the job enqueue made,
# progress uses the version claim returned, and so on), so run them in that order.
# The jobs go to a queue of their own, cookbook-<pid>, so running the cookbook against a
# daemon that does real work never claims a real job.
#
# Requires socat; jq is not needed: the job id and version are picked out with sed.
set -eu

SOCK=${DOCKET_SOCKET:?set DOCKET_SOCKET to the path of the docketd socket}
QUEUE=${COOKBOOK_QUEUE:-cookbook-$$}
STATE=$(mktemp -d)
trap 'rm -rf "$STATE"' EXIT

# Sends each argument as one line on one connection, printing it after "> ", then prints
# the answers. socat closes its sending half at the end of its input; docketd answers
# everything, then closes, and -t bounds how long socat waits for that. socat says nothing
# when the wait runs out, so the answers are counted.
send() {
    printf '> %s\n' "$@"
    printf '%s\n' "$@" | socat -t 10 - "UNIX-CONNECT:$SOCK" > "$STATE/last"
    cat "$STATE/last"
    if [ "$(wc -l < "$STATE/last")" -ne $# ]; then
        echo "expected $# answers from $SOCK, got $(wc -l < "$STATE/last")" >&2
        exit 1
    fi
}

# The first job's id and version in the last answer, kept for the examples after it.
remember() {
    sed -n 's/.*"job":{"id":\([0-9]*\),.*/\1/p' "$STATE/last" | head -n 1 > "$STATE/$1.id"
    sed -n 's/.*"job":{[^{}]*"version":\([0-9]*\),.*/\1/p' "$STATE/last" | head -n 1 > "$STATE/$1.version"
}
job_id() { cat "$STATE/$1.id"; }
version() { cat "$STATE/$1.version"; }

example_hello() {
    # Who is there: server version, protocol 1 and the limits it enforces.
    send '{"op":"hello","client":"socat-cookbook"}'
}

example_enqueue() {
    # A job with a payload; the answer is the stored job at version 1.
    send '{"op":"enqueue","queue":"'"$QUEUE"'","payload":{"to":"a@example.com"}}'
    remember job
}

example_claim() {
    # Take the next due job of the queue for 60 s; without "worker" the daemon records
    # the connection's pid@uid as the worker.
    send '{"op":"claim","queue":"'"$QUEUE"'","lease_ms":60000}'
    remember job
}

example_progress() {
    # Report progress with the version from the claim; it renews the lease too.
    send '{"op":"progress","job":'"$(job_id job)"',"version":'"$(version job)"',"progress":{"pct":50}}'
    remember job
}

example_complete() {
    cp "$STATE/job.version" "$STATE/before-complete.version"
    send '{"op":"complete","job":'"$(job_id job)"',"version":'"$(version job)"',"result":{"sent":true}}'
    remember job
}

example_stale_version() {
    # The version the worker had before its own complete: refused as stale_version,
    # nothing changes, and error.job says where the job is now.
    send '{"op":"complete","job":'"$(job_id job)"',"version":'"$(version before-complete)"'}'
}

example_fail() {
    # A second job that fails once: with attempts left it goes back to pending and runs
    # again in retry_in_ms; "retry":false would make it failed for good.
    send '{"op":"enqueue","queue":"'"$QUEUE"'","payload":{"to":"b@example.com"},"max_attempts":2}'
    send '{"op":"claim","queue":"'"$QUEUE"'","worker":"cookbook"}'
    remember failing
    send '{"op":"fail","job":'"$(job_id failing)"',"version":'"$(version failing)"',"error":{"smtp":421},"retry_in_ms":60000}'
}

example_get_with_events() {
    # The first job and everything that happened to it, with who did it (pid@uid).
    send '{"op":"get","job":'"$(job_id job)"',"events":true}'
}

example_list() {
    # The queue's jobs in id order, one per page here to show the cursor: pass "next" as
    # "after" for the following page; it is null on the last one.
    send '{"op":"list","queue":"'"$QUEUE"'","limit":1}'
    send '{"op":"list","queue":"'"$QUEUE"'","limit":1,"after":'"$(job_id job)"'}'
}

example_stats() {
    # Jobs by queue and state, open connections, parked claims, uptime.
    send '{"op":"stats"}'
}

example_pipelining() {
    # Several requests on one connection without waiting: the answers come back in the
    # same order, matched by "id", and the changes share one group commit.
    send \
        '{"op":"enqueue","id":"a","queue":"'"$QUEUE"'","payload":{"n":1}}' \
        '{"op":"enqueue","id":"b","queue":"'"$QUEUE"'","payload":{"n":2}}' \
        '{"op":"enqueue","id":"c","queue":"'"$QUEUE"'","payload":{"n":3}}' \
        '{"op":"list","id":"d","queue":"'"$QUEUE"'","state":"pending"}'
}

ALL="hello enqueue claim progress complete stale_version fail get_with_events list stats pipelining"
for name in ${*:-$ALL}; do
    case " $ALL " in
        *" $name "*) ;;
        *) echo "no example named $name; there are: $ALL" >&2; exit 2 ;;
    esac
    echo "## $name"
    "example_$name"
    echo
done
