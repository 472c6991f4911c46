#!/usr/bin/env bash
# Runs the cargo-fuzz targets of fuzz/ (nightly): every target, or one, for a number of seconds each.
#
#   scripts/fuzz.sh                     # every target, 60 s each
#   scripts/fuzz.sh money 300           # one target, 5 minutes
#   scripts/fuzz.sh replay              # every target once over its corpus (no new inputs): regressions
#   FUZZ_SANITIZER=address scripts/fuzz.sh id_number 60
#
# Inputs found go to $CARGO_TARGET_DIR/fuzz-corpus/<target> (default target/), crashes to
# fuzz/artifacts/<target>/; fuzz/seeds/<target> holds the committed seeds, fuzz/regressions/<target> every
# input that once failed. Not run by CI: libFuzzer needs a nightly toolchain.
set -euo pipefail
cd "$(dirname "$0")/.."

targets=(id_number phone money case_workflow decode_request)
what=${1:-all}
seconds=${2:-60}
# Address sanitizer finds little in safe Rust and halves the speed; debug assertions (overflow checks) stay on.
sanitizer=${FUZZ_SANITIZER:-none}

if ! rustup toolchain list | grep -q '^nightly'; then
    echo "fuzz: installing the nightly toolchain"
    rustup toolchain install nightly --profile minimal
fi
if ! cargo +nightly fuzz --version >/dev/null 2>&1; then
    echo "fuzz: installing cargo-fuzz"
    cargo install cargo-fuzz --locked
fi

target_dir=${CARGO_TARGET_DIR:-$PWD/target}
run() {
    local target=$1
    shift
    local corpus="$target_dir/fuzz-corpus/$target"
    mkdir -p "$corpus"
    local dirs=("$corpus")
    for extra in "fuzz/seeds/$target" "fuzz/regressions/$target"; do
        [ -d "$extra" ] && dirs+=("$extra")
    done
    echo "fuzz: $target $*"
    cargo +nightly fuzz run --sanitizer "$sanitizer" --debug-assertions "$target" "${dirs[@]}" -- "$@"
}

case "$what" in
    all)
        for t in "${targets[@]}"; do run "$t" -max_total_time="$seconds"; done
        ;;
    replay)
        for t in "${targets[@]}"; do run "$t" -runs=0; done
        ;;
    *)
        run "$what" -max_total_time="$seconds"
        ;;
esac
