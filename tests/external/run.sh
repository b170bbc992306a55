#!/usr/bin/env bash
# Installs a built asyncc tree into a temporary prefix, then builds and runs two programs outside the
# tree against it: one through find_package(asyncc) (shared and static), one through pkg-config.
#
#   run.sh <build dir> [<C compiler> [<extra compile+link flags, one string>]]
set -euo pipefail

build_dir=$1
compiler=${2:-cc}
read -r -a extra_flags <<<"${3:-}"
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
expected="sum=5"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
prefix=$work/prefix

step() { printf -- '--- %s\n' "$*"; }

check_output() { # <name> <command...>
    local name=$1 output
    shift
    output=$("$@")
    if [[ $output != "$expected" ]]; then
        printf '%s printed %q, expected %q\n' "$name" "$output" "$expected" >&2
        exit 1
    fi
    printf '%s: %s\n' "$name" "$output"
}

step "install into $prefix"
cmake --install "$build_dir" --prefix "$prefix" >"$work/install.log" || { cat "$work/install.log"; exit 1; }

step "CMake consumer (find_package)"
flags="-Wall -Wextra -Werror ${extra_flags[*]}"
cmake -S "$here/cmake_consumer" -B "$work/cmake_consumer" -DCMAKE_PREFIX_PATH="$prefix" \
    -DCMAKE_C_COMPILER="$compiler" -DCMAKE_C_FLAGS="$flags" -DCMAKE_EXE_LINKER_FLAGS="${extra_flags[*]}" \
    >"$work/configure.log" || { cat "$work/configure.log"; exit 1; }
cmake --build "$work/cmake_consumer" >"$work/build.log" || { cat "$work/build.log"; exit 1; }
check_output consumer_shared "$work/cmake_consumer/consumer_shared"
check_output consumer_static "$work/cmake_consumer/consumer_static"

step "pkg-config consumer"
pc_dir=$(dirname "$(find "$prefix" -name asyncc.pc -print -quit)")
export PKG_CONFIG_PATH=$pc_dir
read -r -a pc_flags <<<"$(pkg-config --cflags --libs asyncc)"
"$compiler" -Wall -Wextra -Werror "${extra_flags[@]}" -o "$work/pkgconfig_consumer" \
    "$here/pkgconfig_consumer/main.c" "${pc_flags[@]}"
lib_dir=$(pkg-config --variable=libdir asyncc)
check_output pkgconfig_consumer env LD_LIBRARY_PATH="$lib_dir" "$work/pkgconfig_consumer"
