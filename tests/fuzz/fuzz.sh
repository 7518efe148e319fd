#!/usr/bin/env bash
# make fuzz: build socialpulse_native with coverage, AddressSanitizer and UBSan, then fuzz it
# against the Python code (tests/fuzz/fuzz_native.py) for FUZZ_SECONDS on one core.
# Usage: tests/fuzz/fuzz.sh PYTHON [libFuzzer flags...]; needs clang (Debian: clang and
# libclang-rt-dev) and atheris (installed into PYTHON's environment here).
set -euo pipefail
cd "$(dirname "$0")/../.."
py=$1
shift
clang=${CLANG:-$(command -v clang || ls /usr/bin/clang-[0-9]* 2>/dev/null | sort -V | tail -n1 || true)}
if [[ -z $clang ]]; then
  echo "make fuzz needs clang: apt-get install clang libclang-rt-dev (Debian)" >&2
  exit 2
fi
"$py" -c 'import atheris' 2>/dev/null || "$py" -m pip install --quiet 'atheris>=2.3'

build=build/fuzz
mkdir -p "$build/corpus" "$build/crashes"
include=$("$py" -c 'import sysconfig; print(sysconfig.get_paths()["include"])')
suffix=$("$py" -c 'import sysconfig; print(sysconfig.get_config_var("EXT_SUFFIX"))')
"$clang" -shared -fPIC -g -O1 -fno-omit-frame-pointer -fvisibility=hidden \
  -fsanitize=address,undefined,fuzzer-no-link -fno-sanitize-recover=all \
  -Wall -Wextra -Werror -Wno-unused-parameter -Wno-missing-field-initializers \
  -I"$include" services/socialpulse-native/*.c -o "$build/socialpulse_native$suffix"

# The sanitizer runtimes atheris ships with libFuzzer, loaded before Python; CPython's own
# allocations at exit are not leaks worth reporting.
runtime=$("$py" -c 'import atheris; print(atheris.path())')/asan_with_fuzzer.so
export LD_PRELOAD=$runtime
export ASAN_OPTIONS=detect_leaks=0:allocator_may_return_null=1:abort_on_error=1:${ASAN_OPTIONS:-}
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1:${UBSAN_OPTIONS:-}
export PYTHONPATH=$PWD/$build SOCIALPULSE_FUZZ_BUILD=$PWD/$build
exec "$py" tests/fuzz/fuzz_native.py -rss_limit_mb=4096 -timeout=60 \
  -artifact_prefix="$build/crashes/" -dict=tests/fuzz/native.dict "$@" "$build/corpus"
