# inih.cmake: defines the INTERFACE target `iocpd_inih`, which gives its
# consumers <ini.h> and links them with the inih INI parser.
#
# Where inih comes from, in order of precedence:
#
#  1. -DIOCPD_INIH_SOURCE_DIR=<path to an unpacked inih release, e.g. r58>
#     (any platform): ini.c is built into a static library with the options
#     Debian uses for its libinih (INI_HANDLER_LINENO=0, INI_MAX_LINE=200,
#     INI_STOP_ON_FIRST_ERROR=0, the rest upstream defaults), so every build
#     parses the same way. This is the way for a Windows machine without
#     vcpkg: download an inih release from its project page, check it as you
#     would any download, unpack it, and point this variable at it. (No
#     automatic download is offered: the project cannot vouch for a checksum
#     of an archive it never fetched.)
#
#  2. Cross build for Windows on a Linux host (the mingw-w64 toolchain file,
#     cmake/mingw-w64.cmake): there is no Windows build of inih to link, so
#     the PE links an import library for `inih.dll`, and under Wine that DLL
#     is a Winelib builtin (build-aux/wine-inih/) forwarding to the host's
#     libinih. Needs the host packages libinih-dev and wine64-tools; the
#     header is a copy of the host's /usr/include/ini.h, made at configure
#     time. inih.dll.so (the builtin) and inih.dll (its fake PE, which makes
#     Wine load the builtin) are put next to iocpd.exe; run programs with
#     tests/wine/iocpd-wine, which points Wine at them.
#
#  3. Windows, native build: vcpkg's `inih` port
#     (find_package(unofficial-inih CONFIG)), or any inih installed where
#     find_path/find_library look (set CMAKE_PREFIX_PATH).
#
#  4. Elsewhere (Linux): the system libinih through pkg-config (inih.pc), or
#     find_path/find_library. On Debian/Ubuntu: apt-get install libinih-dev.

set(IOCPD_INIH_SOURCE_DIR "" CACHE PATH
    "Unpacked inih source release to build ini.c from (optional)")

if(TARGET iocpd_inih)
  return()
endif()

add_library(iocpd_inih INTERFACE)

if(IOCPD_INIH_SOURCE_DIR)
  # --- 1. from an inih source tree ---
  if(NOT EXISTS "${IOCPD_INIH_SOURCE_DIR}/ini.c"
     OR NOT EXISTS "${IOCPD_INIH_SOURCE_DIR}/ini.h")
    message(FATAL_ERROR
      "IOCPD_INIH_SOURCE_DIR=${IOCPD_INIH_SOURCE_DIR} has no ini.c and ini.h; "
      "point it at the top of an unpacked inih release.")
  endif()
  add_library(iocpd_inih_static STATIC "${IOCPD_INIH_SOURCE_DIR}/ini.c")
  # The header reads these too (the handler's prototype depends on
  # INI_HANDLER_LINENO), so consumers must see the same values: PUBLIC.
  target_compile_definitions(iocpd_inih_static PUBLIC
    INI_HANDLER_LINENO=0 INI_MAX_LINE=200 INI_STOP_ON_FIRST_ERROR=0)
  target_include_directories(iocpd_inih_static SYSTEM PUBLIC
    "${IOCPD_INIH_SOURCE_DIR}")
  # Third-party code: our warning flags are for our code.
  if(MSVC)
    target_compile_options(iocpd_inih_static PRIVATE /w)
    target_compile_definitions(iocpd_inih_static PRIVATE _CRT_SECURE_NO_WARNINGS)
  else()
    target_compile_options(iocpd_inih_static PRIVATE -w)
  endif()
  target_link_libraries(iocpd_inih INTERFACE iocpd_inih_static)
  message(STATUS "inih: building ${IOCPD_INIH_SOURCE_DIR}/ini.c")

elseif(WIN32 AND CMAKE_CROSSCOMPILING AND CMAKE_HOST_UNIX)
  # --- 2. mingw-w64 on Linux: import library + Winelib builtin ---
  set(_inih_shim_src "${CMAKE_CURRENT_LIST_DIR}/../build-aux/wine-inih")
  get_filename_component(_inih_shim_src "${_inih_shim_src}" ABSOLUTE)
  set(_inih_gen "${CMAKE_CURRENT_BINARY_DIR}/iocpd-inih")
  # Next to iocpd.exe, where Windows and Wine look for DLLs first.
  if(CMAKE_RUNTIME_OUTPUT_DIRECTORY)
    set(_inih_dll_dir "${CMAKE_RUNTIME_OUTPUT_DIRECTORY}")
  else()
    set(_inih_dll_dir "${CMAKE_CURRENT_BINARY_DIR}")
  endif()

  # dlltool of the same mingw-w64 toolchain as the compiler.
  get_filename_component(_inih_cc_dir "${CMAKE_C_COMPILER}" DIRECTORY)
  get_filename_component(_inih_cc_name "${CMAKE_C_COMPILER}" NAME)
  string(REGEX REPLACE "gcc(-[^/]*)?(\\.exe)?$" "" _inih_triplet_prefix
         "${_inih_cc_name}")
  find_program(IOCPD_DLLTOOL NAMES ${CMAKE_DLLTOOL} "${_inih_triplet_prefix}dlltool"
               x86_64-w64-mingw32-dlltool HINTS "${_inih_cc_dir}"
               NO_CMAKE_FIND_ROOT_PATH)
  # The host's Winelib tools (Debian keeps them in /usr/lib/wine too).
  find_program(IOCPD_WINEGCC NAMES winegcc HINTS /usr/lib/wine NO_CMAKE_FIND_ROOT_PATH)
  find_program(IOCPD_WINEBUILD NAMES winebuild HINTS /usr/lib/wine NO_CMAKE_FIND_ROOT_PATH)
  # The host's inih header, searched outside the cross sysroot.
  find_file(IOCPD_INIH_HOST_HEADER NAMES ini.h
            PATHS /usr/include /usr/local/include
            NO_DEFAULT_PATH NO_CMAKE_FIND_ROOT_PATH)
  if(NOT IOCPD_DLLTOOL)
    message(FATAL_ERROR
      "inih: ${_inih_triplet_prefix}dlltool not found (Debian package "
      "gcc-mingw-w64-x86-64 / binutils-mingw-w64-x86-64).")
  endif()
  if(NOT IOCPD_WINEGCC OR NOT IOCPD_WINEBUILD)
    message(FATAL_ERROR
      "inih: winegcc/winebuild not found; the Windows cross build runs inih "
      "as a Winelib DLL under Wine. Install the Debian packages wine64-tools "
      "and libwine-dev, or pass -DIOCPD_INIH_SOURCE_DIR=<inih source>.")
  endif()
  if(NOT IOCPD_INIH_HOST_HEADER)
    message(FATAL_ERROR
      "inih: /usr/include/ini.h not found; install the Debian package "
      "libinih-dev, or pass -DIOCPD_INIH_SOURCE_DIR=<inih source>.")
  endif()

  # The PE compiles against the host's header (same release as the library
  # the shim forwards to); copied so the cross compiler never sees
  # /usr/include. configure_file re-copies it when it changes.
  configure_file("${IOCPD_INIH_HOST_HEADER}" "${_inih_gen}/include/ini.h" COPYONLY)

  add_custom_command(
    OUTPUT "${_inih_gen}/libinih.dll.a"
    COMMAND "${IOCPD_DLLTOOL}" -d "${_inih_shim_src}/inih.def"
            -l "${_inih_gen}/libinih.dll.a"
    DEPENDS "${_inih_shim_src}/inih.def"
    COMMENT "Generating the import library libinih.dll.a"
    VERBATIM)
  # winegcc -o inih.dll writes inih.dll.so; winebuild then writes the fake
  # PE inih.dll that makes Wine load that builtin.
  add_custom_command(
    OUTPUT "${_inih_dll_dir}/inih.dll.so" "${_inih_dll_dir}/inih.dll"
    COMMAND "${CMAKE_COMMAND}" -E make_directory "${_inih_dll_dir}"
    COMMAND "${IOCPD_WINEGCC}" -shared -O2 -Wall -Wextra
            -o "${_inih_dll_dir}/inih.dll"
            "${_inih_shim_src}/inih.spec" "${_inih_shim_src}/inih_shim.c"
            -linih
    COMMAND "${IOCPD_WINEBUILD}" --fake-module --dll
            -E "${_inih_shim_src}/inih.spec" -F inih.dll
            -o "${_inih_dll_dir}/inih.dll"
    DEPENDS "${_inih_shim_src}/inih.spec" "${_inih_shim_src}/inih_shim.c"
    COMMENT "Building the Winelib builtin inih.dll.so and its fake inih.dll"
    VERBATIM)
  add_custom_target(iocpd_inih_shim ALL DEPENDS
    "${_inih_gen}/libinih.dll.a"
    "${_inih_dll_dir}/inih.dll.so"
    "${_inih_dll_dir}/inih.dll")

  target_include_directories(iocpd_inih SYSTEM INTERFACE "${_inih_gen}/include")
  # INI_SHARED_LIB makes ini.h declare the functions dllimport.
  target_compile_definitions(iocpd_inih INTERFACE INI_SHARED_LIB)
  target_link_libraries(iocpd_inih INTERFACE "${_inih_gen}/libinih.dll.a")
  # An interface library does not build; its dependencies are followed in
  # its place, so whatever links iocpd_inih builds the shim first.
  add_dependencies(iocpd_inih iocpd_inih_shim)
  message(STATUS "inih: import library for inih.dll; Winelib builtin in ${_inih_dll_dir}")

elseif(WIN32)
  # --- 3. Windows: vcpkg, or an installed inih ---
  find_package(unofficial-inih CONFIG QUIET)
  if(TARGET unofficial::inih::libinih)
    target_link_libraries(iocpd_inih INTERFACE unofficial::inih::libinih)
    message(STATUS "inih: vcpkg unofficial::inih::libinih")
  else()
    find_path(IOCPD_INIH_INCLUDE_DIR NAMES ini.h)
    find_library(IOCPD_INIH_LIBRARY NAMES inih libinih)
    if(NOT IOCPD_INIH_INCLUDE_DIR OR NOT IOCPD_INIH_LIBRARY)
      message(FATAL_ERROR
        "inih not found. Either install vcpkg's port (vcpkg install inih, and "
        "configure with its toolchain file), or pass "
        "-DIOCPD_INIH_SOURCE_DIR=<path to an unpacked inih release>.")
    endif()
    target_include_directories(iocpd_inih INTERFACE "${IOCPD_INIH_INCLUDE_DIR}")
    target_link_libraries(iocpd_inih INTERFACE "${IOCPD_INIH_LIBRARY}")
    message(STATUS "inih: ${IOCPD_INIH_LIBRARY}")
  endif()

else()
  # --- 4. the system library ---
  find_package(PkgConfig QUIET)
  if(PKG_CONFIG_FOUND)
    pkg_check_modules(IOCPD_INIH_PC QUIET IMPORTED_TARGET inih)
  endif()
  if(TARGET PkgConfig::IOCPD_INIH_PC)
    target_link_libraries(iocpd_inih INTERFACE PkgConfig::IOCPD_INIH_PC)
    message(STATUS "inih: pkg-config inih ${IOCPD_INIH_PC_VERSION}")
  else()
    find_path(IOCPD_INIH_INCLUDE_DIR NAMES ini.h)
    find_library(IOCPD_INIH_LIBRARY NAMES inih)
    if(NOT IOCPD_INIH_INCLUDE_DIR OR NOT IOCPD_INIH_LIBRARY)
      message(FATAL_ERROR
        "inih (INI parser library) not found. On Debian/Ubuntu install the "
        "package libinih-dev (apt-get install libinih-dev pkg-config), or "
        "pass -DIOCPD_INIH_SOURCE_DIR=<path to an unpacked inih release>.")
    endif()
    target_include_directories(iocpd_inih INTERFACE "${IOCPD_INIH_INCLUDE_DIR}")
    target_link_libraries(iocpd_inih INTERFACE "${IOCPD_INIH_LIBRARY}")
    message(STATUS "inih: ${IOCPD_INIH_LIBRARY}")
  endif()
endif()
