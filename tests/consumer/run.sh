#!/usr/bin/env bash
# tests/consumer/run.sh ACTK_BUILD_DIR WORK_DIR [cmake args for the source-tree modes...]
# Installs actk from an existing build, then builds and runs this consumer project against the
# installed package (find_package and pkg-config), and against the source tree (add_subdirectory
# and FetchContent), passing the extra args to those source-tree configures (e.g. -DACTK_ENABLE_CUDA=OFF).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
src=$(cd "$here/../.." && pwd)
build=$(cd "$1" && pwd)
work=$2
shift 2
rm -rf "$work" && mkdir -p "$work"
work=$(cd "$work" && pwd)

echo "-- install"
cmake --install "$build" --prefix "$work/prefix" >/dev/null

run_all() {  # $1 = consumer build dir
  for exe in consumer_cpp consumer_c consumer_static consumer_kernel; do
    if [ -x "$1/$exe" ]; then "$1/$exe"; fi
  done
}

echo "-- find_package(actk CONFIG) against the install"
cmake -S "$here" -B "$work/package" -DACTK_CONSUMER_MODE=package -DCMAKE_PREFIX_PATH="$work/prefix" >/dev/null
cmake --build "$work/package" -j2 >/dev/null
run_all "$work/package"

echo "-- pkg-config (C ABI) against the install"
export PKG_CONFIG_PATH=$(dirname "$(find "$work/prefix" -name actk.pc)")
cc -std=c99 -Wall -Werror "$here/main.c" $(pkg-config --cflags --libs actk) -o "$work/pc_consumer"
LD_LIBRARY_PATH="$(pkg-config --variable=libdir actk)" "$work/pc_consumer"

for mode in subdir fetch; do
  echo "-- $mode against the source tree"
  cmake -S "$here" -B "$work/$mode" -DACTK_CONSUMER_MODE=$mode -DACTK_SOURCE_DIR="$src" "$@" >/dev/null
  cmake --build "$work/$mode" -j2 >/dev/null
  # actk's own tests and benchmarks must not be built when it is not the top-level project
  if [ -e "$work/$mode/actk/tests" ] || [ -e "$work/$mode/_deps/actk-build/tests" ]; then
    echo "actk built its tests as a subproject"; exit 1
  fi
  run_all "$work/$mode"
done
echo "-- consumer: all modes ok"
