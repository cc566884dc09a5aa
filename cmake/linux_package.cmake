# linux_package.cmake: iocpd as a Linux service. Included from the top
# CMakeLists.txt on Linux only.
#
# `cmake --install BUILD --component runtime` installs what running the
# service needs (the whole install adds the engine's library and headers,
# cmake/package.cmake):
#   PREFIX/bin/iocpd
#   SYSCONFDIR/iocpd/iocpd.ini      the example config, with the access log
#                                   in /var/log/iocpd; never overwritten
#   PREFIX/lib/systemd/system/iocpd.service
# where SYSCONFDIR is /etc for the prefix /usr and PREFIX/etc otherwise
# (cmake/linux_install.cmake works them out at install time).

set(_iocpd_linux "${PROJECT_SOURCE_DIR}/packaging/linux")
set(_iocpd_linux_out "${PROJECT_BINARY_DIR}/packaging")
file(MAKE_DIRECTORY "${_iocpd_linux_out}")

# --- the example config, for Linux: the same file as iocpd.ini.example
# (which the Windows service and its MSI install), its commented access_log
# line pointing where the unit lets iocpd write. ---
set(_iocpd_example "${PROJECT_SOURCE_DIR}/iocpd.ini.example")
set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS "${_iocpd_example}")
file(READ "${_iocpd_example}" _iocpd_text)
set(_iocpd_windows_line ";access_log = logs/access.log")
set(_iocpd_linux_line ";access_log = /var/log/iocpd/access.log  ; iocpd.service's LogsDirectory")
string(FIND "${_iocpd_text}" "${_iocpd_windows_line}\n" _iocpd_at)
if(_iocpd_at LESS 0)
  message(FATAL_ERROR "iocpd.ini.example has no line '${_iocpd_windows_line}': update "
                      "cmake/linux_package.cmake, which makes the Linux example from it")
endif()
string(REPLACE "${_iocpd_windows_line}\n" "${_iocpd_linux_line}\n" _iocpd_text "${_iocpd_text}")
# Rewritten only when it changes, so that nothing depending on it rebuilds.
file(WRITE "${_iocpd_linux_out}/iocpd.ini.new" "${_iocpd_text}")
configure_file("${_iocpd_linux_out}/iocpd.ini.new" "${_iocpd_linux_out}/iocpd.ini" COPYONLY)
file(REMOVE "${_iocpd_linux_out}/iocpd.ini.new")

# --- cmake --install ---
# (bin/iocpd is installed by cmake/package.cmake, also in `runtime`.)
install(CODE "
  set(IOCPD_INSTALL_BINDIR \"${CMAKE_INSTALL_BINDIR}\")
  set(IOCPD_INSTALL_CONFIG_SOURCE \"${_iocpd_linux_out}/iocpd.ini\")
  set(IOCPD_INSTALL_UNIT_TEMPLATE \"${_iocpd_linux}/iocpd.service.in\")
  set(IOCPD_INSTALL_WORK_DIR \"${_iocpd_linux_out}\")"
  COMPONENT runtime)
install(SCRIPT "${PROJECT_SOURCE_DIR}/cmake/linux_install.cmake" COMPONENT runtime)
