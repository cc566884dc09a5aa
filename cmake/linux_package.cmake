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
#
# `cmake --build BUILD --target package` makes a .deb of that component
# with CPack (prefix /usr): iocpd_VERSION-1_ARCH.deb in BUILD, whose
# dependencies dpkg-shlibdeps finds (libc6, libinih1), with
# /etc/iocpd/iocpd.ini as a conffile and the maintainer scripts of
# packaging/linux/deb/.

set(_iocpd_linux "${PROJECT_SOURCE_DIR}/packaging/linux")
set(_iocpd_linux_out "${PROJECT_BINARY_DIR}/packaging")
file(MAKE_DIRECTORY "${_iocpd_linux_out}/deb")

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

# --- the .deb ---
set(IOCPD_PACKAGE_MAINTAINER "iocpd maintainers <maintainers@iocpd.invalid>" CACHE STRING
    "The Maintainer of the .deb (name <address>)")
# The maintainer scripts under the names dpkg wants (configure_file keeps
# their execute bits), and the conffile list.
foreach(_iocpd_script postinst prerm postrm)
  configure_file("${_iocpd_linux}/deb/${_iocpd_script}.sh" "${_iocpd_linux_out}/deb/${_iocpd_script}"
                 COPYONLY)
endforeach()
file(WRITE "${_iocpd_linux_out}/deb/conffiles" "/etc/iocpd/iocpd.ini\n")

set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME iocpd)
set(CPACK_PACKAGE_VENDOR iocpd)
set(CPACK_PACKAGE_CONTACT "${IOCPD_PACKAGE_MAINTAINER}")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "TCP echo and port-forwarding service")
# The long description, wrapped for dpkg (CPack indents each line).
string(CONCAT CPACK_PACKAGE_DESCRIPTION
  "iocpd accepts TCP connections and, per listener, echoes the bytes back\n"
  "or forwards them to an upstream, with failover and health checks,\n"
  "allow and deny lists, connection limits, an access log and a Prometheus\n"
  "endpoint. It reads one INI file, /etc/iocpd/iocpd.ini, reloads it on\n"
  "SIGHUP without dropping a connection, and drains open connections when\n"
  "it stops. It runs as the systemd service iocpd.")
# Only what the service needs: the engine's library and headers are for
# building against it (cmake --install), not for running it.
set(CPACK_INSTALL_CMAKE_PROJECTS "${PROJECT_BINARY_DIR};iocpd;runtime;/")
# CPack DEB installs with the prefix /usr (its default; not set here,
# where it would apply to the source package too).
set(CPACK_STRIP_FILES TRUE)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_RELEASE 1)
set(CPACK_DEBIAN_PACKAGE_SECTION net)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
# Dependencies from the binary's libraries (dpkg-shlibdeps reads the local
# dpkg database: no network). CPack needs `file` for it; without it, or
# without dpkg-shlibdeps, they are written out.
find_program(IOCPD_DPKG_SHLIBDEPS dpkg-shlibdeps)
find_program(IOCPD_FILE_PROGRAM file)
if(IOCPD_DPKG_SHLIBDEPS AND IOCPD_FILE_PROGRAM)
  set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
elseif(IOCPD_INIH_SOURCE_DIR)
  set(CPACK_DEBIAN_PACKAGE_DEPENDS "libc6")
else()
  set(CPACK_DEBIAN_PACKAGE_DEPENDS "libc6, libinih1")
endif()
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
    "${_iocpd_linux_out}/deb/conffiles" "${_iocpd_linux_out}/deb/postinst"
    "${_iocpd_linux_out}/deb/prerm" "${_iocpd_linux_out}/deb/postrm")
# conffiles 0644, the scripts 0755, whatever the source tree's modes.
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION TRUE)
# `package_source` (a tarball of the tree) without git and the build trees
# of scripts/test-all.sh (build-aux/ is source).
set(CPACK_SOURCE_GENERATOR TGZ)
set(CPACK_SOURCE_IGNORE_FILES "/\\\\.git/" "/build/" "/build-asan/" "/build-win/")
include(CPack)
