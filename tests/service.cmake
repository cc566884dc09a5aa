# Tests of the Windows service host (service/win). Included from
# tests/CMakeLists.txt after blackbox.cmake, whose iocpd_blackbox_test()
# registers the black-box part.
#
#   service.units      (Windows builds) C checks of the pieces that need no
#                      service control manager: control codes, the status
#                      reported at each step, Event Log ids and types, and
#                      the message table rendered with FormatMessage.
#   blackbox.service_drain  (Wine only) iocpd.exe as a real service under
#                           Wine's SCM: start, drain on stop, the Event Log
#                           text of that run (test_service_drain.py).
#   blackbox.service_start  (Wine only) failed starts and `iocpd service`
#                           by hand (test_service_start.py).
#   blackbox.service_reload (Wine only) `iocpd reload` (PARAMCHANGE) of a
#                           running service: applied, refused, not running
#                           (test_service_reload.py).
# Both need a prefix whose services.exe can load the inih shim and traces
# ReportEventW: see tests/harness/winservice.py. Natively they would exit 77
# (skipped), so they are not registered there.

if(WIN32)
  set(_iocpd_service_dir "${CMAKE_CURRENT_LIST_DIR}/../service")
  add_executable(test_service_units
    test_service_units.c
    "${_iocpd_service_dir}/win/scm_state.c"
    "${_iocpd_service_dir}/win/eventlog.c"
    "${_iocpd_service_dir}/win/firewall.c")
  target_include_directories(test_service_units PRIVATE
    "${_iocpd_service_dir}" "${_iocpd_service_dir}/win")
  # iocpd_core for iocpd.h and the Windows version macros; iocpd_messages
  # (cmake/messages.cmake) for messages.h and the message table itself.
  target_link_libraries(test_service_units PRIVATE iocpd_core iocpd_messages)
  # firewall.c: the rules' names (iocpd_config for its UTF-8 helpers; COM).
  target_link_libraries(test_service_units PRIVATE iocpd_config ole32 oleaut32)
  add_test(NAME service.units COMMAND test_service_units)
  set_tests_properties(service.units PROPERTIES TIMEOUT 60 LABELS "service")
endif()

if(IOCPD_TEST_PLATFORM STREQUAL "wine")
  # Services share the prefix's one SCM and its log: run alone. The
  # scripts clean up 20 s before their own watchdog (200 s and 150 s);
  # these limits also cover a private prefix's start before it.
  iocpd_blackbox_test(service_drain 60 240 SERIAL LABELS service)
  iocpd_blackbox_test(service_start 60 180 SERIAL LABELS service)
  iocpd_blackbox_test(service_reload 60 240 SERIAL LABELS service)
endif()
