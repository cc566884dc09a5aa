# The fault soak: tests/soak/ (a C client and upstream that inject faults)
# driven by tests/test_soak.py against the real iocpd.
#
# Included from tests/CMakeLists.txt after blackbox.cmake, whose
# iocpd_blackbox_test() registers the driver. The soak tool is a Linux
# program even when iocpd is iocpd.exe under Wine (it talks to it over
# loopback), so it is always built for the build machine, with the host's C
# compiler, by a custom command rather than add_executable: in the mingw-w64
# cross build add_executable would make a Windows PE of it. Natively the
# host compiler is the project's (so the clang of the sanitizer build checks
# it too), but the tool is built without sanitizers: it is not the code
# under test, and it must not be the bottleneck of the load it generates.
#
#   blackbox.soak   CI mode: 1,000 relayed connections (+ 40 silent) held
#                   open at once and >= 128 MiB verified natively and under
#                   ASan; 400 (+ 16) and >= 128 MiB under Wine. Full mode
#                   (10,000 connections, >= 1 GiB) is run by hand: see
#                   README.md, "Fault soak".

if(NOT CMAKE_HOST_SYSTEM_NAME STREQUAL "Linux")
  message(STATUS "soak: not built (the soak client needs a Linux host)")
  return()
endif()

set(IOCPD_HOST_CC "" CACHE FILEPATH
    "C compiler for programs that run on the build machine (the soak client); default: the project's compiler natively, cc when cross-compiling")
set(_soak_cc "${IOCPD_HOST_CC}")
if(NOT _soak_cc)
  if(CMAKE_CROSSCOMPILING)
    # The toolchain file keeps find_program on the host for programs.
    find_program(IOCPD_SOAK_HOST_CC NAMES cc gcc clang)
    set(_soak_cc "${IOCPD_SOAK_HOST_CC}")
  else()
    set(_soak_cc "${CMAKE_C_COMPILER}")
  endif()
endif()
if(NOT _soak_cc)
  message(WARNING "soak: no host C compiler found (set IOCPD_HOST_CC): blackbox.soak not registered")
  return()
endif()

set(_soak_dir ${CMAKE_CURRENT_LIST_DIR}/soak)
set(_soak_sources ${_soak_dir}/main.c ${_soak_dir}/client.c ${_soak_dir}/upstream.c
                  ${_soak_dir}/stream.c ${_soak_dir}/report.c ${_soak_dir}/pattern.c
                  ${_soak_dir}/loop.c ${_soak_dir}/diag.c)
set(_soak_bin ${CMAKE_CURRENT_BINARY_DIR}/soak/soak)
add_custom_command(
  OUTPUT ${_soak_bin}
  COMMAND ${CMAKE_COMMAND} -E make_directory ${CMAKE_CURRENT_BINARY_DIR}/soak
  COMMAND ${_soak_cc} -std=c11 -O2 -g -Wall -Wextra -Wstrict-prototypes -pedantic
          -D_GNU_SOURCE -o ${_soak_bin} ${_soak_sources}
  DEPENDS ${_soak_sources} ${_soak_dir}/soak.h ${_soak_dir}/stream.h
  COMMENT "Building the soak client (host compiler ${_soak_cc})"
  VERBATIM)
add_custom_target(soak_client ALL DEPENDS ${_soak_bin})

# The driver's own watchdog (110 s native, 220 s Wine) fires first and says
# where it hung; these limits are the backstop. Heavy (all of both cores
# for its length): it runs alone.
iocpd_blackbox_test(soak 150 300 SERIAL NAME blackbox.soak
                    ENV IOCPD_SOAK_BIN=${_soak_bin})
