#!/usr/bin/env bash
# Installs a built asyncc tree into a temporary prefix, then builds and runs two programs outside the
# tree against it: one through find_package(asyncc) (shared and static), one through pkg-config.
# Then builds asyncc from source inside another project (add_subdirectory) and runs that project's
# program, and builds the library alone: both with no C++ compiler and no Check (nor
# libevent_pthreads) to be found, and neither may build a test, example or benchmark.
#
#   run.sh <build dir> [<C compiler> [<extra compile+link flags, one string>]]
set -euo pipefail

build_dir=$1
compiler=${2:-cc}
read -r -a extra_flags <<<"${3:-}"
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
source_dir=$(cd "$here/../.." && pwd)
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

# What a project that wants only the library has: pkg-config finds libevent_core and
# libevent_extra (evdns) and nothing else (not check, not libevent_pthreads), and there is no C++
# compiler.
lean_pc=$work/lean-pkgconfig
mkdir -p "$lean_pc"
ln -s "$(pkg-config --variable=pcfiledir libevent_core)/libevent_core.pc" "$lean_pc/"
ln -s "$(pkg-config --variable=pcfiledir libevent_extra)/libevent_extra.pc" "$lean_pc/"
lean=(env PKG_CONFIG_LIBDIR="$lean_pc" PKG_CONFIG_PATH=)
no_cxx=-DCMAKE_CXX_COMPILER=/nonexistent/c++

only_the_library() { # <asyncc's binary dir>: no program of asyncc's own was built or registered
    local program_dir
    for program_dir in tests examples bench tutorial; do
        if [[ -e $1/$program_dir ]]; then
            printf '%s exists: a library-only build built programs\n' "$1/$program_dir" >&2
            exit 1
        fi
    done
    if [[ -e $1/CTestTestfile.cmake ]]; then
        printf '%s registers tests in a library-only build\n' "$1" >&2
        exit 1
    fi
}

step "add_subdirectory consumer (no C++, no Check)"
consumer=$work/subdirectory_consumer
"${lean[@]}" cmake -S "$here/subdirectory_consumer" -B "$consumer" \
    -DASYNCC_SOURCE_DIR="$source_dir" -DCMAKE_C_COMPILER="$compiler" "$no_cxx" \
    -DCMAKE_C_FLAGS="$flags" \
    -DCMAKE_EXE_LINKER_FLAGS="${extra_flags[*]}" -DCMAKE_SHARED_LINKER_FLAGS="${extra_flags[*]}" \
    >"$work/configure.log" 2>&1 || { cat "$work/configure.log"; exit 1; }
cmake --build "$consumer" -j 2 >"$work/build.log" 2>&1 || { cat "$work/build.log"; exit 1; }
only_the_library "$consumer/asyncc"
check_output subdirectory_shared "$consumer/consumer_shared"
check_output subdirectory_static "$consumer/consumer_static"

step "library-only build (no C++, no Check)"
library_only=$work/library_only
"${lean[@]}" cmake -S "$source_dir" -B "$library_only" -DCMAKE_C_COMPILER="$compiler" "$no_cxx" \
    -DASYNCC_BUILD_TESTS=OFF -DASYNCC_BUILD_EXAMPLES=OFF -DASYNCC_BUILD_BENCHMARKS=OFF \
    >"$work/configure.log" 2>&1 || { cat "$work/configure.log"; exit 1; }
cmake --build "$library_only" -j 2 >"$work/build.log" 2>&1 || { cat "$work/build.log"; exit 1; }
only_the_library "$library_only"
for library in libasyncc.a libasyncc.so; do
    if [[ ! -f $library_only/$library ]]; then
        echo "the library-only build made no $library" >&2
        exit 1
    fi
done
echo "library-only: libasyncc.a libasyncc.so"
