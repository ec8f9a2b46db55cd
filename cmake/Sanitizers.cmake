# MANTA_SANITIZE: build everything (library, tests, programs) under a sanitizer.
#   address  AddressSanitizer + UndefinedBehaviorSanitizer; any finding ends the program.
#   thread   ThreadSanitizer (scripts/tsan.sh runs the suite with it).
# MANTA_SANITIZER_ENV holds the run-time options tests run with: suppressions for what the MPI
# stack (Open MPI, UCX, hwloc, HDF5) does, never for Manta's own code.
set(MANTA_SANITIZE "" CACHE STRING "Sanitizer build: address (ASan + UBSan), thread (TSan) or empty")
set_property(CACHE MANTA_SANITIZE PROPERTY STRINGS "" address thread)

set(MANTA_SANITIZER_ENV "")
set(_manta_supp ${PROJECT_SOURCE_DIR}/test/sanitizers)
if(MANTA_SANITIZE STREQUAL "address")
  set(_manta_flags -fsanitize=address,undefined -fno-omit-frame-pointer
                   -fno-sanitize-recover=undefined)
  # GCC's flow analysis under ASan reports uninitialised std::function members inside libstdc++'s
  # std::regex (launch/run_job.cpp); with -Werror that stops the build. Clang has no such warning.
  if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU")
    list(APPEND _manta_compile_only -Wno-maybe-uninitialized)
  endif()
  # Open MPI and UCX keep allocations until exit; LSan is told which leaks are theirs. It needs
  # whole allocation stacks to see them (the MPI libraries have no frame pointers, so the fast
  # unwinder stops inside them), and Open MPI's components must stay loaded until the leak check.
  # UCX's malloc hooks and Open MPI's memory patcher must stay out of ASan's way.
  set(MANTA_SANITIZER_ENV
      "ASAN_OPTIONS=detect_leaks=1:fast_unwind_on_malloc=0:check_initialization_order=1:halt_on_error=1"
      "LSAN_OPTIONS=suppressions=${_manta_supp}/lsan.supp"
      "UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1:suppressions=${_manta_supp}/ubsan.supp"
      "OMPI_MCA_mca_base_component_disable_dlclose=1"
      "UCX_MEM_MALLOC_HOOKS=no" "UCX_MEM_MMAP_HOOK_MODE=none" "OMPI_MCA_memory=^patcher")
elseif(MANTA_SANITIZE STREQUAL "thread")
  set(_manta_flags -fsanitize=thread -fno-omit-frame-pointer)
  set(MANTA_SANITIZER_ENV
      "TSAN_OPTIONS=suppressions=${_manta_supp}/tsan.supp:halt_on_error=0:second_deadlock_stack=1:history_size=4:report_signal_unsafe=0"
      "OMPI_MCA_mca_base_component_disable_dlclose=1"
      "UCX_MEM_MALLOC_HOOKS=no" "UCX_MEM_MMAP_HOOK_MODE=none" "OMPI_MCA_memory=^patcher")
elseif(NOT MANTA_SANITIZE STREQUAL "")
  message(FATAL_ERROR "MANTA_SANITIZE=${MANTA_SANITIZE}: expected address, thread or nothing")
endif()

if(_manta_flags)
  message(STATUS "Manta: building with ${_manta_flags}")
  add_compile_options(${_manta_flags} ${_manta_compile_only})
  add_link_options(${_manta_flags})
endif()
