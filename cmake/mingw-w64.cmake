# CMake toolchain file: cross-build the Windows x64 PE on Linux with
# mingw-w64, and run test programs under Wine.
#
#   cmake -S . -B build-win -G Ninja \
#         -DCMAKE_TOOLCHAIN_FILE=cmake/mingw-w64.cmake
#
# Debian packages: gcc-mingw-w64-x86-64 (compiler, windres, windmc, dlltool),
# wine and wine64 (to run the result), wine64-tools and libinih-dev (the
# Winelib inih shim, see cmake/inih.cmake). scripts/deps.sh installs them.
#
# Debian's plain x86_64-w64-mingw32-gcc is the "win32" thread-model
# compiler, which needs no winpthread DLL; the engine uses only Win32 threads.
# To use another mingw-w64 (e.g. a "-posix" variant or one in /opt), set
# IOCPD_MINGW_PREFIX to its tool prefix, e.g. /opt/mingw/bin/x86_64-w64-mingw32-

set(CMAKE_SYSTEM_NAME Windows)
set(CMAKE_SYSTEM_PROCESSOR AMD64)

set(IOCPD_MINGW_PREFIX "x86_64-w64-mingw32-" CACHE STRING
    "Prefix of the mingw-w64 tools (x86_64-w64-mingw32-gcc and friends)")
set(IOCPD_MINGW_SYSROOT "/usr/x86_64-w64-mingw32" CACHE PATH
    "Root of the mingw-w64 target headers and libraries")
# try_compile projects read this file again: give them the same choices.
list(APPEND CMAKE_TRY_COMPILE_PLATFORM_VARIABLES
     IOCPD_MINGW_PREFIX IOCPD_MINGW_SYSROOT)

set(CMAKE_C_COMPILER "${IOCPD_MINGW_PREFIX}gcc")
set(CMAKE_CXX_COMPILER "${IOCPD_MINGW_PREFIX}g++")
set(CMAKE_RC_COMPILER "${IOCPD_MINGW_PREFIX}windres")
# Message compiler for Event Log message tables (custom commands use it;
# CMake itself does not drive .mc files for GNU toolchains).
set(IOCPD_WINDMC "${IOCPD_MINGW_PREFIX}windmc" CACHE STRING
    "mingw-w64 message compiler")

# Look for target headers and libraries only in the mingw-w64 tree, never in
# the host's /usr; programs (tools run at build time) only on the host.
set(CMAKE_FIND_ROOT_PATH "${IOCPD_MINGW_SYSROOT}")
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)

# The host's pkg-config would describe host libraries: keep it out.
set(ENV{PKG_CONFIG_LIBDIR} "${IOCPD_MINGW_SYSROOT}/lib/pkgconfig")
set(ENV{PKG_CONFIG_PATH} "")

# Link libgcc (and, if a posix-thread compiler is used, winpthread) into the
# executable, so it needs no mingw-w64 DLL at run time: only Windows' own
# DLLs, msvcrt.dll and inih.dll. -static only changes how -l names are
# resolved; Windows system libraries are import libraries either way.
set(CMAKE_EXE_LINKER_FLAGS_INIT "-static -static-libgcc")
set(CMAKE_SHARED_LINKER_FLAGS_INIT "-static-libgcc")
set(CMAKE_MODULE_LINKER_FLAGS_INIT "-static-libgcc")

# ctest (and add_test(COMMAND <target>)) runs Windows programs through Wine.
get_filename_component(_iocpd_wine_wrapper
  "${CMAKE_CURRENT_LIST_DIR}/../tests/wine/iocpd-wine" ABSOLUTE)
set(CMAKE_CROSSCOMPILING_EMULATOR "${_iocpd_wine_wrapper}")
