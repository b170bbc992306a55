# Mistakes the DSL must reject at compile time. Run by ctest as
#   cmake -DC_COMPILER=... -DCXX_COMPILER=... -DSOURCE_DIR=<repo> -P compile_errors.cmake
# Each source in compile_errors/ is compiled (-fsyntax-only) as C11 and as C++17, with the
# computed-goto backend and with the portable one (plus -Wpedantic, as the portable build uses),
# all with -Wall -Wextra -Werror. frame_ok.c must compile everywhere: it shows that a failure of
# the other sources comes from the mistake they contain, not from the set-up. Each bad source
# must fail, and the compiler's output must contain the text that names the mistake.
cmake_minimum_required(VERSION 3.25)

string(CONCAT not_first "asyncc: the ac_future header must be the first member of "
    "struct header_second (named `future`)")
set(cases
    "frame_ok.c|"
    "frame_header_not_first.c|${not_first}"
    "frame_header_misnamed.c|no member named")

set(failures 0)
foreach(language IN ITEMS c c++)
    if(language STREQUAL "c")
        set(compiler ${C_COMPILER})
        set(standard -std=c11)
    else()
        set(compiler ${CXX_COMPILER})
        set(standard -std=c++17)
    endif()
    foreach(backend IN ITEMS goto switch)
        set(backend_flags "")
        if(backend STREQUAL "switch")
            set(backend_flags -DASYNCC_PORTABLE=1 -Wpedantic)
        endif()
        foreach(case IN LISTS cases)
            string(REPLACE "|" ";" fields "${case}")
            list(GET fields 0 source)
            list(LENGTH fields field_count)
            set(expected "")
            if(field_count GREATER 1)
                list(GET fields 1 expected)
            endif()
            execute_process(
                COMMAND ${compiler} -x ${language} ${standard} ${backend_flags}
                    -Wall -Wextra -Werror -fsyntax-only -I${SOURCE_DIR}
                    ${SOURCE_DIR}/tests/compile_errors/${source}
                RESULT_VARIABLE status OUTPUT_VARIABLE output ERROR_VARIABLE output)
            set(what "${source} as ${language}, ${backend} backend")
            if(expected STREQUAL "")
                if(NOT status EQUAL 0)
                    message("FAIL: ${what} should compile:\n${output}")
                    math(EXPR failures "${failures} + 1")
                else()
                    message("ok: ${what} compiles")
                endif()
            elseif(status EQUAL 0)
                message("FAIL: ${what} compiled; it must be rejected")
                math(EXPR failures "${failures} + 1")
            else()
                string(FIND "${output}" "${expected}" at)
                if(at EQUAL -1)
                    message("FAIL: ${what} was rejected without naming the mistake "
                        "(expected \"${expected}\"):\n${output}")
                    math(EXPR failures "${failures} + 1")
                else()
                    message("ok: ${what} is rejected: ${expected}")
                endif()
            endif()
        endforeach()
    endforeach()
endforeach()

if(failures GREATER 0)
    message(FATAL_ERROR "${failures} compile-time check(s) failed")
endif()
