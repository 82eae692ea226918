#!/usr/bin/env bash
# tinydl's GPU path checked on a machine with an NVIDIA GPU, in one Markdown report (< 4 minutes on an H200).
#
#   bash benchmarks/gpu_check.sh                         # every section: tests, bench, train
#   bash benchmarks/gpu_check.sh --only bench            # one section, or several: --only tests,train
#   bash benchmarks/gpu_check.sh --copy-to "$OUT"        # also copy the report and results-gpu.* there
#
# Sections:
#   tests  python -m pytest -q -m gpu tests/           the GPU tests (tests/test_gpu.py)
#   bench  python benchmarks/bench.py --device cuda --quick
#                                                      tinydl's CUDA kernels vs cuBLAS / PyTorch CUDA, TF32 off
#   train  the article's CNN, 3 epochs of PneumoniaMNIST, on cuda and on cpu from the same seed
#          (tinydl train ... --device cuda|cpu): test accuracy of each and the difference
#
# The report goes to stdout and to benchmarks/results/gpu_check-<date>.md (bench also writes
# benchmarks/results/results-gpu.md/.json/.png). The exit status is 0 when no section failed
# (a train section skipped for want of data is not a failure; a GPU test run that skips everything is).
#
# The GPU machine has no internet and no ../shared: the train section reads PneumoniaMNIST from
# gpu_data/ at the repository root (ignored by git; TINYDL_DATA_DIR points there). Fill it here with
#     mkdir -p gpu_data && cp ../shared/medmnist/pneumoniamnist.npz gpu_data/
# and have it carried to the GPU machine (device tool: carry: ["gpu_data"]).
#
# No venv needed: it runs the `python` on PATH ($PYTHON to choose another), and installs this
# checkout with `pip install -e . --no-deps` only if tinydl cannot be imported (nothing else is
# installed: the GPU machine has no internet). Every section has a time limit (`timeout`), and
# the limits together keep the whole run under GPU_CHECK_TOTAL_SECONDS (default 230 s). A
# failing section does not stop the others (set -u, no set -e).
set -u

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
ALL_SECTIONS=(tests bench train)
# Seconds per section at most (each also shrinks to what is left of the total).
TESTS_TIMEOUT=${GPU_CHECK_TESTS_TIMEOUT:-90}
BENCH_TIMEOUT=${GPU_CHECK_BENCH_TIMEOUT:-75}
TRAIN_TIMEOUT=${GPU_CHECK_TRAIN_TIMEOUT:-55}
TOTAL_SECONDS=${GPU_CHECK_TOTAL_SECONDS:-230}
EPOCHS=3
DATA_DIR="$REPO/gpu_data"
DATA_FILE="$DATA_DIR/pneumoniamnist.npz"

usage() {
    sed -n '2,13p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
}

SECTIONS=("${ALL_SECTIONS[@]}")
COPY_TO=""
while [ $# -gt 0 ]; do
    case "$1" in
        --only)
            [ $# -ge 2 ] || { echo "gpu_check.sh: --only needs a section (${ALL_SECTIONS[*]})" >&2; exit 2; }
            IFS=, read -r -a SECTIONS <<< "$2"
            shift 2 ;;
        --only=*) IFS=, read -r -a SECTIONS <<< "${1#--only=}"; shift ;;
        --copy-to)
            [ $# -ge 2 ] || { echo "gpu_check.sh: --copy-to needs a folder" >&2; exit 2; }
            COPY_TO=$2; shift 2 ;;
        -h|--help) usage; exit 0 ;;
        *) echo "gpu_check.sh: unknown argument '$1'" >&2; usage >&2; exit 2 ;;
    esac
done
[ ${#SECTIONS[@]} -gt 0 ] || { echo "gpu_check.sh: --only needs a section (${ALL_SECTIONS[*]})" >&2; exit 2; }
for section in "${SECTIONS[@]}"; do
    case " ${ALL_SECTIONS[*]} " in
        *" $section "*) ;;
        *) echo "gpu_check.sh: unknown section '$section'; choose from: ${ALL_SECTIONS[*]}" >&2; exit 2 ;;
    esac
done

cd "$REPO" || exit 1
RESULTS="$REPO/benchmarks/results"
mkdir -p "$RESULTS"
STAMP=$(date +%Y-%m-%d-%H%M%S)
REPORT="$RESULTS/gpu_check-$STAMP.md"
WORK=$(mktemp -d "${TMPDIR:-/tmp}/gpu_check.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
START=$SECONDS

PY=${PYTHON:-python}
command -v "$PY" > /dev/null 2>&1 || PY=python3
export TINYDL_DATA_DIR="$DATA_DIR"
export PYTHONUNBUFFERED=1

declare -A STATUS SECTION_SECONDS

# ---------------------------------------------------------------- report helpers
code_block() {  # code_block FILE: the file's text in a fenced block
    echo '```text'
    cat "$1"
    [ -s "$1" ] && [ -n "$(tail -c 1 "$1")" ] && echo
    echo '```'
}

time_left() {  # time_left DEFAULT: DEFAULT seconds, or less if the total budget has less left
    local left=$((TOTAL_SECONDS - (SECONDS - START)))
    [ "$1" -lt "$left" ] && echo "$1" || echo "$left"
}

run_logged() {  # run_logged LIMIT LOG COMMAND...: run with a time limit, output to LOG; returns its status
    local limit=$1 log=$2
    shift 2
    timeout -k 5 "$limit" "$@" > "$log" 2>&1
}

describe_status() {  # describe_status RC LIMIT: words for a command's exit status
    case "$1" in
        0) echo "ok" ;;
        124|137) echo "TIMED OUT after $2 s" ;;
        *) echo "FAILED (exit $1)" ;;
    esac
}

# ---------------------------------------------------------------- machine
machine() {
    echo "## Machine"
    echo
    local commit
    if commit=$(git -C "$REPO" rev-parse --short HEAD 2> /dev/null); then
        git -C "$REPO" diff --quiet HEAD 2> /dev/null || commit="$commit with uncommitted changes"
    else
        commit="not a git checkout"
    fi
    echo "$(date -u '+%Y-%m-%d %H:%M:%S UTC'), $(hostname), repository $REPO ($commit)"
    echo
    {
        echo "\$ nvidia-smi -L"
        if command -v nvidia-smi > /dev/null 2>&1; then
            timeout 20 nvidia-smi -L 2>&1
        else
            echo "nvidia-smi: not found (no NVIDIA driver on this machine?)"
        fi
        echo "\$ $PY --version"
        "$PY" --version 2>&1
    } > "$WORK/machine.log"
    if ! "$PY" -c "import tinydl" > /dev/null 2>&1; then
        echo "tinydl is not importable: pip install -e . --no-deps" >> "$WORK/machine.log"
        # --no-build-isolation: use the setuptools already installed (no internet to fetch one).
        timeout 90 "$PY" -m pip install -q -e . --no-deps --no-build-isolation >> "$WORK/machine.log" 2>&1 \
            || echo "pip install failed; using PYTHONPATH=$REPO instead" >> "$WORK/machine.log"
        "$PY" -c "import tinydl" > /dev/null 2>&1 || export PYTHONPATH="$REPO${PYTHONPATH:+:$PYTHONPATH}"
    fi
    timeout 60 "$PY" - >> "$WORK/machine.log" 2>&1 <<'EOF'
import importlib
for name in ("numpy", "numba", "cupy", "torch", "tinydl"):
    try:
        module = importlib.import_module(name)
    except Exception as e:  # report, do not stop: the sections say what that breaks
        print(f"{name}: not importable ({type(e).__name__}: {e})")
        continue
    extra = ""
    if name == "cupy":
        try:
            rt = module.cuda.runtime
            version = rt.runtimeGetVersion()
            extra = f", CUDA runtime {version // 1000}.{version % 1000 // 10}, {rt.getDeviceCount()} GPU(s)"
            gpu = rt.getDeviceProperties(0)["name"]
            extra += f": {gpu.decode() if isinstance(gpu, bytes) else gpu}"
        except Exception as e:
            extra = f", no usable GPU ({type(e).__name__}: {e})"
    elif name == "torch":
        extra = f", CUDA {module.version.cuda}, torch.cuda.is_available() = {module.cuda.is_available()}"
    elif name == "tinydl":
        extra = f" from {module.__file__}, td.cuda.is_available() = {module.cuda.is_available()}"
    print(f"{name} {getattr(module, '__version__', '?')}{extra}")
EOF
    code_block "$WORK/machine.log"
    echo
}

# ---------------------------------------------------------------- sections
section_tests() {
    local limit rc
    limit=$(time_left "$TESTS_TIMEOUT")
    echo "\`$PY -m pytest -q -m gpu tests/\` (limit $limit s)"
    echo
    run_logged "$limit" "$WORK/tests.log" "$PY" -m pytest -q -m gpu -p no:cacheprovider tests/
    rc=$?
    code_block "$WORK/tests.log"
    STATUS[tests]=$(describe_status $rc "$limit")
    if [ $rc -eq 0 ] && ! grep -Eq '[0-9]+ passed' "$WORK/tests.log"; then
        STATUS[tests]="NOTHING RAN (every gpu test skipped: no GPU?)"
    fi
}

section_bench() {
    local limit rc
    limit=$(time_left "$BENCH_TIMEOUT")
    echo "\`$PY benchmarks/bench.py --device cuda --quick\` (limit $limit s); tables also in"
    echo "benchmarks/results/results-gpu.md, .json and .png"
    echo
    run_logged "$limit" "$WORK/bench.log" "$PY" benchmarks/bench.py --device cuda --quick --out "$RESULTS"
    rc=$?
    code_block "$WORK/bench.log"
    STATUS[bench]=$(describe_status $rc "$limit")
    [ $rc -eq 2 ] && STATUS[bench]="FAILED (exit 2: no usable GPU)"
    if [ $rc -eq 0 ] && grep -q "WARNING" "$WORK/bench.log"; then
        STATUS[bench]="WARNING in the tables' notes (a kernel's results differ from PyTorch's)"
    fi
}

section_train() {
    local limit device pids=()
    if [ ! -f "$DATA_FILE" ]; then
        echo "No $DATA_FILE: skipped. This check reads PneumoniaMNIST from gpu_data/ (the GPU machine has no"
        echo "internet and no ../shared). Fill it where the data are, and carry it to the GPU machine:"
        echo
        echo '```bash'
        echo 'mkdir -p gpu_data && cp ../shared/medmnist/pneumoniamnist.npz gpu_data/'
        echo '# device tool: run(..., carry: ["gpu_data"])'
        echo '```'
        STATUS[train]="SKIPPED (no gpu_data/pneumoniamnist.npz)"
        return
    fi
    limit=$(time_left "$TRAIN_TIMEOUT")
    echo "The article's CNN (small_cnn), $EPOCHS epochs of PneumoniaMNIST, seed 0, batch 32, on cuda and on cpu"
    echo "side by side (limit $limit s each; the seconds are not a benchmark — bench is):"
    echo
    echo "\`$PY -m tinydl.cli train --data pneumoniamnist --epochs $EPOCHS --device DEVICE --out RUN --no-plots --quiet --no-download --no-synthetic-fallback\`"
    echo "(TINYDL_DATA_DIR=gpu_data)"
    echo
    for device in cuda cpu; do
        # python -m tinydl.cli: the `tinydl` command of this checkout, whether or not it is on PATH.
        ( run_logged "$limit" "$WORK/train-$device.log" "$PY" -m tinydl.cli train --data pneumoniamnist \
              --epochs "$EPOCHS" --seed 0 --device "$device" --out "$WORK/run-$device" --no-plots --quiet \
              --no-download --no-synthetic-fallback
          echo $? > "$WORK/train-$device.rc" ) &
        pids+=($!)
    done
    wait "${pids[@]}"
    local runs=""
    for device in cuda cpu; do
        runs="$runs${runs:+, }$device: exit $(cat "$WORK/train-$device.rc")"
        echo "### $device: $(describe_status "$(cat "$WORK/train-$device.rc")" "$limit")"
        echo
        code_block "$WORK/train-$device.log"
        echo
    done
    "$PY" - "$WORK/run-cuda/metrics.json" "$WORK/run-cpu/metrics.json" "$WORK/train-cuda.rc" "$WORK/train-cpu.rc" \
        > "$WORK/train-summary.md" 2> "$WORK/train-summary.err" <<'EOF'
import json, sys
from pathlib import Path

runs = {}
for device, metrics, rc in (("cuda", sys.argv[1], sys.argv[3]), ("cpu", sys.argv[2], sys.argv[4])):
    rc = Path(rc).read_text().strip()
    runs[device] = json.loads(Path(metrics).read_text()) if rc == "0" and Path(metrics).is_file() else None
print("| device | test accuracy | test AUC | training seconds |")
print("|---|---:|---:|---:|")
for device, m in runs.items():
    if m is None:
        print(f"| {device} | failed: see its log above | | |")
    else:
        print(f"| {device} | {m['accuracy']:.4f} | {m.get('auc') or float('nan'):.4f} | {m.get('train_seconds', float('nan')):.1f} |")
print()
if runs["cuda"] and runs["cpu"]:
    points = 100 * (runs["cuda"]["accuracy"] - runs["cpu"]["accuracy"])
    verdict = "met" if abs(points) <= 1.0 else "MISSED"
    print(f"Difference cuda − cpu: {points:+.2f} accuracy points (target: within 1 point): **{verdict}**")
    sys.exit(0 if verdict == "met" else 3)
print("Difference: not available (a run failed)")
sys.exit(4)
EOF
    case $? in
        0) STATUS[train]="ok (accuracy within 1 point)" ;;
        3) STATUS[train]="FAILED (accuracy differs by more than 1 point)" ;;
        *) STATUS[train]="FAILED ($runs)" ;;
    esac
    cat "$WORK/train-summary.md"
    [ -s "$WORK/train-summary.err" ] && code_block "$WORK/train-summary.err"
}

# ---------------------------------------------------------------- the report
main() {
    echo "# tinydl GPU check ($STAMP)"
    echo
    echo "Sections: ${SECTIONS[*]}. Report saved as benchmarks/results/gpu_check-$STAMP.md."
    echo
    machine
    local section started
    for section in "${SECTIONS[@]}"; do
        echo "## $section"
        echo
        started=$SECONDS
        if [ "$(time_left 1000000)" -lt 10 ]; then
            echo "No time left of the ${TOTAL_SECONDS} s budget: skipped."
            STATUS[$section]="SKIPPED (no time left)"
        else
            "section_$section"
        fi
        SECTION_SECONDS[$section]=$((SECONDS - started))
        echo
    done
    echo "## Summary"
    echo
    echo "| section | status | seconds |"
    echo "|---|---|---:|"
    local failed=0
    for section in "${SECTIONS[@]}"; do
        echo "| $section | ${STATUS[$section]} | ${SECTION_SECONDS[$section]} |"
        case "${STATUS[$section]}" in *FAILED*|*"TIMED OUT"*|*WARNING*|"NOTHING RAN"*|*"no time left"*) failed=1 ;; esac
    done
    echo
    echo "Total $((SECONDS - START)) s."
    return $failed
}

main 2>&1 | tee "$REPORT"
status=${PIPESTATUS[0]}
if [ -n "$COPY_TO" ]; then
    mkdir -p "$COPY_TO" && cp "$REPORT" "$RESULTS"/results-gpu.* "$COPY_TO"/ 2>/dev/null
fi
exit "$status"
