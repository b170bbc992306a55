# Runs a program and compares its standard output, byte for byte, with an expected file.
#
#   cmake -DEXPECTED=<file.expected> -DACTUAL=<where to write stdout> [-DSETUP=<script> -DWORKDIR=<dir>]
#         -P compare_output.cmake -- <command...>
#
# With SETUP, WORKDIR is emptied, `sh SETUP` runs in it (its output goes to WORKDIR/setup.log, shown
# only if it fails), and then the command runs in it: how chapter 14's listings find the
# certificates 14_make_certs.sh makes.
# Standard input is <file>.stdin next to the expected file when it exists, /dev/null otherwise; standard
# error passes through. Fails when the command exits non-zero or its output differs (printing a unified diff).

foreach(variable IN ITEMS EXPECTED ACTUAL)
    if(NOT DEFINED ${variable})
        message(FATAL_ERROR "compare_output.cmake: -D${variable}=... is required")
    endif()
endforeach()

set(command "")
set(in_command FALSE)
math(EXPR last "${CMAKE_ARGC} - 1")
foreach(index RANGE ${last})
    if(in_command)
        list(APPEND command "${CMAKE_ARGV${index}}")
    elseif(CMAKE_ARGV${index} STREQUAL "--")
        set(in_command TRUE)
    endif()
endforeach()
if(NOT command)
    message(FATAL_ERROR "compare_output.cmake: no command after --")
endif()

list(JOIN command " " shown)
string(REGEX REPLACE "\\.expected$" ".stdin" input "${EXPECTED}")
if(NOT EXISTS "${input}")
    set(input /dev/null)
endif()

set(workdir "")
if(DEFINED SETUP)
    if(NOT DEFINED WORKDIR)
        message(FATAL_ERROR "compare_output.cmake: -DSETUP needs -DWORKDIR")
    endif()
    file(REMOVE_RECURSE "${WORKDIR}")
    file(MAKE_DIRECTORY "${WORKDIR}")
    execute_process(COMMAND sh "${SETUP}" WORKING_DIRECTORY "${WORKDIR}"
        OUTPUT_FILE "${WORKDIR}/setup.log" ERROR_FILE "${WORKDIR}/setup.log" RESULT_VARIABLE result)
    if(NOT result STREQUAL "0")
        file(READ "${WORKDIR}/setup.log" log)
        message(FATAL_ERROR "`sh ${SETUP}` exited with ${result}:\n${log}")
    endif()
    set(workdir WORKING_DIRECTORY "${WORKDIR}")
endif()

execute_process(COMMAND ${command} ${workdir} INPUT_FILE "${input}" OUTPUT_FILE "${ACTUAL}"
    RESULT_VARIABLE result)
if(NOT result STREQUAL "0")
    message(FATAL_ERROR "`${shown}` exited with ${result}")
endif()

execute_process(COMMAND ${CMAKE_COMMAND} -E compare_files "${EXPECTED}" "${ACTUAL}" RESULT_VARIABLE differ)
if(differ)
    find_program(DIFF diff)
    if(DIFF)
        execute_process(COMMAND ${DIFF} -u "${EXPECTED}" "${ACTUAL}")
    else()
        file(READ "${EXPECTED}" expected_text)
        file(READ "${ACTUAL}" actual_text)
        message("--- expected\n${expected_text}--- actual\n${actual_text}")
    endif()
    message(FATAL_ERROR "output of `${shown}` differs from ${EXPECTED}")
endif()
