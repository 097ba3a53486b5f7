# tessera_jobs_fuzzer(SOURCE_DIR): the libFuzzer target `jobs_fuzzer` (clang only). The job-file front end's
# sources are compiled into it with coverage, AddressSanitizer and UndefinedBehaviorSanitizer; the layers it
# builds on (arrays, io, runtime) are linked as they are.
function(tessera_jobs_fuzzer source_dir)
  find_package(toml11 REQUIRED)
  add_executable(jobs_fuzzer
    ${source_dir}/tests/jobs/fuzz/fuzz_job.cc
    ${source_dir}/jobs/src/arguments.cc
    ${source_dir}/jobs/src/builtins.cc
    ${source_dir}/jobs/src/calendar_grouping.cc
    ${source_dir}/jobs/src/climate_functions.cc
    ${source_dir}/jobs/src/coordinates.cc
    ${source_dir}/jobs/src/diagnostic.cc
    ${source_dir}/jobs/src/evaluate.cc
    ${source_dir}/jobs/src/evaluator.cc
    ${source_dir}/jobs/src/expr.cc
    ${source_dir}/jobs/src/job_file.cc
    ${source_dir}/jobs/src/job_variables.cc)
  target_include_directories(jobs_fuzzer PRIVATE ${source_dir}/jobs/include ${source_dir}/jobs/src)
  target_link_libraries(jobs_fuzzer PRIVATE tessera::arrays tessera::io toml11::toml11)
  target_compile_features(jobs_fuzzer PRIVATE cxx_std_20)
  set(_flags -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined)
  target_compile_options(jobs_fuzzer PRIVATE ${_flags} -fno-omit-frame-pointer -g)
  target_link_options(jobs_fuzzer PRIVATE ${_flags})
endfunction()
