#!/usr/bin/env bash
# Fuzzes the token core: builds every cargo-fuzz target in fuzz/ once, then
# runs each for SECONDS (default 20) on one core, one after another. Exits
# non-zero if any target crashed (a panic, a failed assertion, a sanitizer
# report, a timeout or running out of memory), after naming the input that
# did it; `fuzz/target/<triple>/release/<target> <input>` replays one.
#
#   scripts/fuzz.sh [SECONDS] [TARGET...]
#   FUZZ_RUNS=10000000 scripts/fuzz.sh 1800   # a long run: whichever ends first
#
# Needs cargo-fuzz (installed here, at a pinned version, when missing). It
# uses the nightly toolchain with AddressSanitizer when rustup has one, and
# otherwise stable with RUSTC_BOOTSTRAP=1 (cargo-fuzz passes unstable flags)
# and no sanitizer. Corpora grow in fuzz/corpus/<target> and crashing inputs
# land in fuzz/artifacts/<target>; both are kept between runs and ignored by
# git.
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=${1:-20}
shift || true
cargo_fuzz_version=0.13.2

if rustup toolchain list 2>/dev/null | grep -q '^nightly'; then
  toolchain=(+nightly)
  sanitizer=address
else
  toolchain=()
  sanitizer=none
  export RUSTC_BOOTSTRAP=1
fi

if ! cargo fuzz --version >/dev/null 2>&1; then
  cargo install --locked cargo-fuzz --version "$cargo_fuzz_version"
fi

cd fuzz
if [ "$#" -gt 0 ]; then
  targets=("$@")
else
  mapfile -t targets < <(cargo "${toolchain[@]}" fuzz list)
fi

# One build for every target; the runs below start the binaries directly so
# nothing is rebuilt between them.
cargo "${toolchain[@]}" fuzz build --sanitizer "$sanitizer"
triple=$(rustc "${toolchain[@]}" -vV | sed -n 's/^host: //p')
bin_dir=target/$triple/release

failed=()
for target in "${targets[@]}"; do
  mkdir -p "corpus/$target" "artifacts/$target"
  log=$(mktemp)
  echo "== $target: ${seconds}s"
  # -timeout: one input taking over 10 s is a hang, reported as a crash.
  if "$bin_dir/$target" "corpus/$target" \
      -max_total_time="$seconds" ${FUZZ_RUNS:+-runs="$FUZZ_RUNS"} -timeout=10 -print_final_stats=1 \
      -artifact_prefix="artifacts/$target/" >"$log" 2>&1; then
    grep -E '^#[0-9]+[[:space:]]+DONE|^stat::(number_of_executed_units|average_exec_per_sec|peak_rss_mb)' "$log" \
      || tail -n 3 "$log"
  else
    tail -n 40 "$log"
    input=$(sed -n 's/.*Test unit written to //p' "$log" | tail -n 1)
    echo "FAILED: $target; input: fuzz/${input:-<none written>}" >&2
    failed+=("$target")
  fi
  rm -f "$log"
done

if [ "${#failed[@]}" -gt 0 ]; then
  echo "fuzz: ${#failed[@]} target(s) crashed: ${failed[*]}" >&2
  exit 1
fi
echo "fuzz: ${#targets[@]} target(s), ${seconds}s each, no crash"
