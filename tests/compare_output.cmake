# Runs a program and compares its standard output, byte for byte, with an expected file.
#
#   cmake -DEXPECTED=<file.expected> -DACTUAL=<where to write stdout> -P compare_output.cmake -- <command...>
#
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

execute_process(COMMAND ${command} INPUT_FILE "${input}" OUTPUT_FILE "${ACTUAL}" RESULT_VARIABLE result)
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
