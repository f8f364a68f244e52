#!/usr/bin/env bash
# Checks the scenarios against each other, without callgate: each UAC scenario calls a SIPp UAS on loopback
# and must end with the expected sipp exit code (0 = the behaviour was seen, 1 = it was not).
#
#   sipp-scenarios/selftest.sh            # ports 5400 and up on 127.0.0.1
#   SELFTEST_BASE_PORT=6400 sipp-scenarios/selftest.sh
#
# Every run goes through scripts/sipp.mjs and is bounded (timeout 60 s). Traces stay in a temporary directory,
# printed at the end. Exits 0 when every pair ended as expected.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
runner="node $here/../scripts/sipp.mjs"
port=${SELFTEST_BASE_PORT:-5400}
out=$(mktemp -d "${TMPDIR:-/tmp}/sipp-selftest.XXXXXX")
command -v sipp >/dev/null || { echo "selftest: sipp is not on PATH (Debian: apt-get install sip-tester)" >&2; exit 2; }

failures=0
# pair <expected uac exit> <uas scenario> "<uas args>" <uac scenario> "<uac args>"
pair() {
  local want=$1 uas=$2 uas_args=$3 uac=$4 uac_args=$5
  port=$((port + 1))
  local dir="$out/$port-$uac-vs-$uas"
  mkdir -p "$dir"
  # shellcheck disable=SC2086 # the argument strings are word lists on purpose
  timeout 60 $runner "$uas" -i 127.0.0.1 -p "$port" -m 1 $uas_args --out "$dir/uas" >"$dir/uas.out" 2>&1 &
  local uas_pid=$!
  sleep 0.5
  # shellcheck disable=SC2086
  timeout 60 $runner "$uac" "127.0.0.1:$port" $uac_args --out "$dir/uac" >"$dir/uac.out" 2>&1
  local got=$?
  # A UAS still waiting (the UAC gave up early) is stopped after 5 s.
  for _ in $(seq 1 50); do kill -0 "$uas_pid" 2>/dev/null || break; sleep 0.1; done
  kill "$uas_pid" 2>/dev/null
  wait "$uas_pid" 2>/dev/null
  local verdict=PASS
  if [ "$got" != "$want" ]; then verdict=FAIL; failures=$((failures + 1)); fi
  printf '%s  %-27s vs %-20s %-20s exit %s (want %s)\n' "$verdict" "$uac" "$uas" "$uas_args" "$got" "$want"
}

n=442071234567
pair 0 uas-answer          ""                   uac-answered               "-s $n -d 500"
pair 0 uas-hold            ""                   uac-long                   "-s 1001#$n -d 1000"
pair 0 uas-busy            ""                   uac-expect-486             "-s $n"
pair 1 uas-busy            ""                   uac-expect-403             "-s $n"
pair 0 uas-reject-403      ""                   uac-expect-403             "-s $n"
pair 1 uas-reject-403      "-set no_reason 1"   uac-expect-403             "-s $n"
pair 0 uas-reject-402      ""                   uac-expect-402             "-s $n"
pair 1 uas-reject-402      ""                   uac-expect-403             "-s $n"
pair 0 uas-reject-503      ""                   uac-expect-503             "-s $n"
pair 1 uas-reject-503      "-set no_reason 1"   uac-expect-503             "-s $n"
pair 0 uas-reject-503      "-set retry_after 1" uac-expect-503-retry-after "-s $n"
pair 1 uas-reject-503      ""                   uac-expect-503-retry-after "-s $n"
pair 1 uas-answer          ""                   uac-expect-503             "-s $n"
pair 0 uas-ring            ""                   uac-cancel                 "-s $n"
pair 1 uas-answer          ""                   uac-cancel                 "-s $n"
pair 0 uas-answer-then-bye "-d 1000"            uac-expect-bye             "-s $n"
pair 0 uas-answer          ""                   uac-load                   "-inf accounts.csv -d 200"
pair 0 uas-reject-503      "-set retry_after 1" uac-load                   "-inf destinations.csv"
pair 1 uas-busy            ""                   uac-load                   "-inf destinations.csv"

echo "selftest: traces in $out"
if [ "$failures" -gt 0 ]; then
  echo "selftest: $failures pair(s) did not end as expected" >&2
  exit 1
fi
echo "selftest: all pairs ended as expected"
