# messages.cmake: the Event Log message table (service/win/messages.mc),
# compiled into iocpd.exe as a MESSAGETABLE resource. Included by the
# top-level CMakeLists.txt on Windows only, after the `iocpd` target exists.
#
# The .mc file goes through a message compiler, which writes three files:
#   messages.h     MSG_* ids (severity bits included) for eventlog.c
#   messages.rc    a resource script that names the binary table
#   MSG00409.bin   the table itself (English)
# and the resource compiler turns messages.rc into an object linked into
# the executable. Both steps live in the OBJECT library `iocpd_messages`,
# so that any target linking it gets the table and the header (the service
# unit test uses it to render each message with FormatMessage).
#
#   mingw-w64 (cross or native): windmc and windres; the toolchain file
#     cmake/mingw-w64.cmake names them (IOCPD_WINDMC, CMAKE_RC_COMPILER).
#   MSVC: mc.exe and rc.exe from the Windows SDK. CMake finds rc.exe
#     (CMAKE_RC_COMPILER); mc.exe sits next to it, and is looked up there
#     unless CMAKE_MC_COMPILER names it.
#
# Both compilers take the same options here: -U (Unicode text in the
# table), -h DIR (header), -r DIR (.rc and .bin).

enable_language(RC)

if(NOT CMAKE_MC_COMPILER)
  if(IOCPD_WINDMC)
    # From the toolchain file: already a full tool name.
    find_program(CMAKE_MC_COMPILER NAMES "${IOCPD_WINDMC}")
  elseif(MINGW)
    find_program(CMAKE_MC_COMPILER NAMES windmc x86_64-w64-mingw32-windmc)
  else()
    get_filename_component(_iocpd_rc_dir "${CMAKE_RC_COMPILER}" DIRECTORY)
    find_program(CMAKE_MC_COMPILER NAMES mc mc.exe HINTS "${_iocpd_rc_dir}")
  endif()
endif()
if(NOT CMAKE_MC_COMPILER)
  message(FATAL_ERROR
    "No message compiler found for service/win/messages.mc: install the "
    "Windows SDK (mc.exe) or mingw-w64's binutils (windmc), or set "
    "CMAKE_MC_COMPILER.")
endif()

set(_iocpd_mc_source "${CMAKE_CURRENT_LIST_DIR}/../service/win/messages.mc")
get_filename_component(_iocpd_mc_source "${_iocpd_mc_source}" ABSOLUTE)
set(_iocpd_mc_dir "${CMAKE_BINARY_DIR}/messages")
set(_iocpd_mc_outputs
  "${_iocpd_mc_dir}/messages.h"
  "${_iocpd_mc_dir}/messages.rc"
  "${_iocpd_mc_dir}/MSG00409.bin")

add_custom_command(
  OUTPUT ${_iocpd_mc_outputs}
  COMMAND "${CMAKE_COMMAND}" -E make_directory "${_iocpd_mc_dir}"
  COMMAND "${CMAKE_MC_COMPILER}" -U -h "${_iocpd_mc_dir}" -r "${_iocpd_mc_dir}"
          "${_iocpd_mc_source}"
  DEPENDS "${_iocpd_mc_source}"
  COMMENT "Compiling the Event Log message table (messages.mc)"
  VERBATIM)

# The header is listed as a source so that it is generated before any
# consumer's C files are compiled.
add_library(iocpd_messages OBJECT
  "${_iocpd_mc_dir}/messages.rc"
  "${_iocpd_mc_dir}/messages.h")
# The .rc names MSG00409.bin without a directory: the resource compiler
# finds it through this include path. Consumers find messages.h.
target_include_directories(iocpd_messages PUBLIC "${_iocpd_mc_dir}")
# The .rc changes only when the .mc does, but the .bin may change alone.
set_source_files_properties("${_iocpd_mc_dir}/messages.rc" PROPERTIES
  OBJECT_DEPENDS "${_iocpd_mc_dir}/MSG00409.bin")

target_link_libraries(iocpd PRIVATE iocpd_messages)
