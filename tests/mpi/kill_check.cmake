# Runs `mpiexec ... kill_worker` and checks that the job ends by itself, with a non-zero status, well inside the
# timeout (a hang is the failure this guards against).
string(REPLACE "|" ";" launcher "${LAUNCHER}")
string(TIMESTAMP t0 "%s")
execute_process(COMMAND ${launcher} ${PROGRAM} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err
                TIMEOUT 90)
string(TIMESTAMP t1 "%s")
math(EXPR seconds "${t1} - ${t0}")
message(STATUS "exit: ${rc} after ${seconds} s\n${out}\n${err}")
if(rc MATCHES "timeout")
  message(FATAL_ERROR "the job hung after a worker was killed (killed by the 90 s timeout)")
endif()
if(rc EQUAL 0)
  message(FATAL_ERROR "the job exited 0 although a worker was killed")
endif()
if(NOT "${out}${err}" MATCHES "signal 9|Killed|killed")
  message(FATAL_ERROR "nothing in the output says a rank was killed")
endif()
