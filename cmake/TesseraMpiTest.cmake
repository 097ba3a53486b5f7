# tessera_add_mpi_test(NAME name RANKS n COMMAND exe args... [LABELS ...] [TIMEOUT s] [ENVIRONMENT ...])
#
# Registers `mpiexec -n <n> <exe> <args>` as a CTest entry labelled `mpi` (plus LABELS) with a timeout, so a
# deadlock fails instead of hanging. Launcher flags come from variables, never from the test:
#   TESSERA_MPIEXEC_PREFLAGS  flags for every MPI test (default: --allow-run-as-root when configured as root,
#                             since Open MPI refuses root otherwise)
#   TESSERA_MPIEXEC_OVERSUBSCRIBE_FLAGS  added when n exceeds the cores CMake sees (default for Open MPI:
#                             --oversubscribe --bind-to none) together with OMPI_MCA_mpi_yield_when_idle=1,
#                             without which oversubscribed ranks spin and a 4-rank run on 2 cores is ~8x slower.
include(ProcessorCount)
ProcessorCount(TESSERA_NPROC)

# Asked on every configure (not cached with the flags), since tests that use Open MPI's MCA parameters need it.
execute_process(COMMAND ${MPIEXEC_EXECUTABLE} --version OUTPUT_VARIABLE _mpiexec_version ERROR_QUIET)
set(TESSERA_MPIEXEC_IS_OPENMPI FALSE)
if(_mpiexec_version MATCHES "Open MPI|OpenRTE")
  set(TESSERA_MPIEXEC_IS_OPENMPI TRUE)
endif()
if(NOT DEFINED TESSERA_MPIEXEC_PREFLAGS)
  set(_default_preflags "")
  execute_process(COMMAND id -u OUTPUT_VARIABLE _uid OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET)
  if(TESSERA_MPIEXEC_IS_OPENMPI AND _uid STREQUAL "0")
    list(APPEND _default_preflags --allow-run-as-root)
  endif()
  set(TESSERA_MPIEXEC_PREFLAGS "${_default_preflags}" CACHE STRING "Flags for mpiexec in MPI tests")
endif()
if(NOT DEFINED TESSERA_MPIEXEC_OVERSUBSCRIBE_FLAGS)
  if(TESSERA_MPIEXEC_IS_OPENMPI)
    set(_oversub --oversubscribe --bind-to none)
  else()
    set(_oversub "")
  endif()
  set(TESSERA_MPIEXEC_OVERSUBSCRIBE_FLAGS "${_oversub}" CACHE STRING
      "Flags for mpiexec when a test uses more ranks than cores")
endif()

function(tessera_add_mpi_test)
  cmake_parse_arguments(ARG "" "NAME;RANKS;TIMEOUT" "COMMAND;LABELS;ENVIRONMENT" ${ARGN})
  if(NOT ARG_TIMEOUT)
    set(ARG_TIMEOUT 120)
  endif()
  set(flags ${TESSERA_MPIEXEC_PREFLAGS})
  set(env ${ARG_ENVIRONMENT})
  if(ARG_RANKS GREATER TESSERA_NPROC)
    list(APPEND flags ${TESSERA_MPIEXEC_OVERSUBSCRIBE_FLAGS})
    list(APPEND env OMPI_MCA_mpi_yield_when_idle=1)
  endif()
  add_test(NAME ${ARG_NAME}
           COMMAND ${MPIEXEC_EXECUTABLE} ${MPIEXEC_NUMPROC_FLAG} ${ARG_RANKS} ${flags} ${MPIEXEC_PREFLAGS}
                   ${ARG_COMMAND} ${MPIEXEC_POSTFLAGS})
  set_tests_properties(${ARG_NAME} PROPERTIES LABELS "mpi;${ARG_LABELS}" TIMEOUT ${ARG_TIMEOUT}
                                              PROCESSORS ${ARG_RANKS})
  if(env)
    set_tests_properties(${ARG_NAME} PROPERTIES ENVIRONMENT "${env}")
  endif()
endfunction()
