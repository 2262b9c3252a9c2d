#!/usr/bin/env sh
# Install newsqa's dependencies: ./install.sh (runtime) or ./install.sh --dev (+ tests, linters).
#
# llama-cpp-python is compiled here. It is built for the instruction sets this CPU and
# kernel report in /proc/cpuinfo, but never with AMX: a "native" build turns AMX on
# wherever the CPU has it, and on machines (VMs, sandboxes) where the tile state is not
# usable every prompt of more than a few tokens dies with SIGILL.
set -eu
cd "$(dirname "$0")"
PY=${PYTHON:-python}

flags=$(grep -m1 '^flags' /proc/cpuinfo 2>/dev/null || true)
args="-DGGML_NATIVE=OFF"
for pair in avx512f:AVX512 avx512vbmi:AVX512_VBMI avx512_vnni:AVX512_VNNI \
            avx512_bf16:AVX512_BF16 avx_vnni:AVX_VNNI; do
  case " $flags " in *" ${pair%%:*} "*) args="$args -DGGML_${pair#*:}=ON" ;; esac
done

"$PY" -m pip install -q torch==2.13.0
if ! "$PY" -c "import llama_cpp, sys; sys.exit(llama_cpp.__version__ != '0.3.36')" 2>/dev/null; then
  echo "building llama-cpp-python (about 9 minutes on 2 cores): $args"
  CMAKE_ARGS="$args" "$PY" -m pip install -q --no-cache-dir llama-cpp-python==0.3.36
fi
if [ "${1:-}" = "--dev" ]; then
  "$PY" -m pip install -q -r requirements-dev.txt
  # The browser tests drive Debian's chromium through Playwright (no browser download);
  # the shared-mode tests start a throwaway PostgreSQL 15 cluster (Debian's postgresql).
  missing=""
  [ -x /usr/bin/chromium ] || missing="chromium"
  command -v pg_config >/dev/null && [ -x "$(pg_config --bindir)/initdb" ] ||
    missing="$missing postgresql"
  if [ -n "$missing" ]; then
    sudo=""; [ "$(id -u)" = 0 ] || sudo="sudo"
    echo "installing Debian's$missing for the tests"
    $sudo apt-get update -qq
    # shellcheck disable=SC2086
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq $missing >/dev/null
  fi
else
  "$PY" -m pip install -q -r requirements.txt
fi
