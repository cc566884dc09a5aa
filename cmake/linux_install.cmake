# linux_install.cmake: runs at install time (cmake --install, and CPack
# building the .deb), as part of the `runtime` component; set up by
# cmake/linux_package.cmake, which sets IOCPD_INSTALL_BINDIR (as
# CMAKE_INSTALL_BINDIR had it), IOCPD_INSTALL_CONFIG_SOURCE (the Linux
# example config), IOCPD_INSTALL_UNIT_TEMPLATE (iocpd.service.in) and
# IOCPD_INSTALL_WORK_DIR (in the build tree) before this script.
#
# The places depend on the prefix given at install time, which may not be
# the one configured (cmake --install --prefix, CPack's /usr):
#   config  <sysconfdir>/iocpd/iocpd.ini, where sysconfdir is /etc for the
#           prefix /usr (the .deb) and PREFIX/etc otherwise, as GNU has it;
#           an existing file is never overwritten
#   unit    PREFIX/lib/systemd/system/iocpd.service (/usr/local/lib/... is
#           on systemd's search path too), naming the installed binary and
#           config
# DESTDIR is honoured (CPack stages the package with it).

if(CMAKE_INSTALL_PREFIX MATCHES "^/usr/?$")
  set(_iocpd_etc "/etc")
else()
  set(_iocpd_etc "${CMAKE_INSTALL_PREFIX}/etc")
endif()
if(IS_ABSOLUTE "${IOCPD_INSTALL_BINDIR}")
  set(_iocpd_bindir "${IOCPD_INSTALL_BINDIR}")
else()
  set(_iocpd_bindir "${CMAKE_INSTALL_PREFIX}/${IOCPD_INSTALL_BINDIR}")
endif()
set(_iocpd_config "${_iocpd_etc}/iocpd/iocpd.ini")
set(_iocpd_unit "${CMAKE_INSTALL_PREFIX}/lib/systemd/system/iocpd.service")

set(_iocpd_mode OWNER_READ OWNER_WRITE GROUP_READ WORLD_READ)

# The config: an administrator's file stays as it is.
if(EXISTS "$ENV{DESTDIR}${_iocpd_config}")
  message(STATUS "Keeping: $ENV{DESTDIR}${_iocpd_config} (an existing config is never replaced)")
else()
  file(INSTALL DESTINATION "${_iocpd_etc}/iocpd" TYPE FILE PERMISSIONS ${_iocpd_mode}
       FILES "${IOCPD_INSTALL_CONFIG_SOURCE}" RENAME iocpd.ini)
endif()

# The unit, with the paths of this install; made in the build tree under
# a name of its own per destination, so that two installs at once (CPack
# and a cmake --install elsewhere) never share it.
file(READ "${IOCPD_INSTALL_UNIT_TEMPLATE}" _iocpd_text)
string(REPLACE "@IOCPD_UNIT_BINDIR@" "${_iocpd_bindir}" _iocpd_text "${_iocpd_text}")
string(REPLACE "@IOCPD_UNIT_CONFIG@" "${_iocpd_config}" _iocpd_text "${_iocpd_text}")
if(_iocpd_text MATCHES "@[A-Z_]+@")
  message(FATAL_ERROR "iocpd.service: ${CMAKE_MATCH_0} is not replaced")
endif()
string(MD5 _iocpd_tag "$ENV{DESTDIR}${CMAKE_INSTALL_PREFIX}")
set(_iocpd_made "${IOCPD_INSTALL_WORK_DIR}/iocpd.service.${_iocpd_tag}")
file(WRITE "${_iocpd_made}" "${_iocpd_text}")
get_filename_component(_iocpd_unitdir "${_iocpd_unit}" DIRECTORY)
file(INSTALL DESTINATION "${_iocpd_unitdir}" TYPE FILE PERMISSIONS ${_iocpd_mode}
     FILES "${_iocpd_made}" RENAME iocpd.service)
