/* Compiler-specific bits, kept in this one header (house style rule 10). */
#ifndef IOCPD_COMPAT_H
#define IOCPD_COMPAT_H

/* Lets GCC and Clang check printf-style format strings. MinGW builds use
 * its C99-conforming printf (__USE_MINGW_ANSI_STDIO, set in CMake), whose
 * format flavour MinGW names __MINGW_PRINTF_FORMAT. */
#if defined(__MINGW32__)
#include <stdio.h> /* defines __MINGW_PRINTF_FORMAT */
#define IOCPD__PRINTF(fmt_index, first_arg) \
  __attribute__((format(__MINGW_PRINTF_FORMAT, fmt_index, first_arg)))
#elif defined(__GNUC__)
#define IOCPD__PRINTF(fmt_index, first_arg) \
  __attribute__((format(printf, fmt_index, first_arg)))
#else
#define IOCPD__PRINTF(fmt_index, first_arg)
#endif

#endif /* IOCPD_COMPAT_H */
