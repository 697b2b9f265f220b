#!/usr/bin/env bash
# Runs one libFuzzer target for a bounded time; meson test calls this once
# per target (suite "fuzz"), scripts/fuzz.sh sets the time.
#
#   run_target.sh BINARY SEED_CORPUS WORK_DIR MAX_LEN
#
# Environment: DEGRADE_FUZZ_SECONDS (default 20), DEGRADE_FUZZ_RSS_MB
# (default 2048), DEGRADE_FUZZ_TIMEOUT_S per input (default 25).
# The growing corpus is kept in WORK_DIR/corpus (so later runs start where
# this one stopped); a crashing, leaking, slow or oversized input is saved in
# WORK_DIR/artifacts/ and fails the test. The last lines of output are the
# run's figures (executions, exec/s, coverage), also in WORK_DIR/summary.txt.
set -uo pipefail

binary="$1"
seeds="$2"
work="$3"
max_len="$4"
seconds="${DEGRADE_FUZZ_SECONDS:-20}"
rss_mb="${DEGRADE_FUZZ_RSS_MB:-2048}"
unit_timeout="${DEGRADE_FUZZ_TIMEOUT_S:-25}"
name="$(basename "$binary")"

mkdir -p "$work/corpus" "$work/artifacts"
log="$work/last-run.log"

# The backstop: libFuzzer stops itself after -max_total_time; a hang inside
# one input is caught by -timeout; this catches anything else.
timeout --kill-after=10 "$((seconds + unit_timeout + 60))" \
  "$binary" \
  -max_total_time="$seconds" \
  -max_len="$max_len" \
  -rss_limit_mb="$rss_mb" \
  -malloc_limit_mb="$rss_mb" \
  -timeout="$unit_timeout" \
  -print_final_stats=1 \
  -artifact_prefix="$work/artifacts/" \
  "$work/corpus" "$seeds" >"$log" 2>&1
rc=$?

done_line="$(grep -E '^#[0-9]+[[:space:]]+DONE' "$log" | tail -1)"
execs="$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)"
rate="$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)"
cov="$(printf '%s' "$done_line" | sed -n 's/.*cov: \([0-9]*\).*/\1/p')"
ft="$(printf '%s' "$done_line" | sed -n 's/.*ft: \([0-9]*\).*/\1/p')"
corpus="$(printf '%s' "$done_line" | sed -n 's/.*corp: \([^ ]*\).*/\1/p')"
summary="$(printf '%-20s %4ss  %9s execs  %6s exec/s  cov %5s  ft %6s  corpus %s  exit %s' \
  "$name" "$seconds" "${execs:-?}" "${rate:-?}" "${cov:-?}" "${ft:-?}" "${corpus:-?}" "$rc")"
printf '%s\n' "$summary" >"$work/summary.txt"

if [[ "$rc" -ne 0 ]]; then
  # The finding: libFuzzer's report (property violated / sanitizer) and the
  # saved input.
  grep -E 'property violated|ERROR: |SUMMARY: |Test unit written|^[^ ].*:[0-9]+: ' "$log" | head -20
  tail -40 "$log"
  printf 'FAILED %s (exit %s); log: %s; artifacts: %s\n' "$name" "$rc" "$log" "$work/artifacts"
  exit 1
fi
printf '%s\n' "$summary"
