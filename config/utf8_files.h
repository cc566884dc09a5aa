/*
 * Files named by UTF-8 paths, and the UTF-8 <-> UTF-16 conversions of the
 * Windows code.
 *
 * iocpd keeps every string in UTF-8: the command line (converted once at
 * the entry, see platform_utf8_init), the config file and so its
 * access_log path, and every message. POSIX systems take such a name as
 * it is. Windows' narrow C runtime functions (fopen, rename...) read a
 * name in the ANSI code page instead, which holds a few hundred characters
 * at most, so there these functions convert the name to UTF-16 and call
 * the wide functions (config/win/utf8_files.c, the one place that
 * converts). Each keeps the contract of the C function it stands for,
 * errno included; on Windows a name that is not valid UTF-8 fails with
 * EILSEQ.
 *
 * This is a compat header: the platform split is by whole files elsewhere,
 * but config.c is also compiled on its own (scripts/fuzz.sh), so the POSIX
 * side is inline here and needs no file of its own.
 */
#ifndef IOCPD_UTF8_FILES_H
#define IOCPD_UTF8_FILES_H

#include <stdio.h>

#ifdef _WIN32
#include <wchar.h>

FILE *iocpd__fopen(const char *path, const char *mode);
int iocpd__rename(const char *from, const char *to);
int iocpd__remove(const char *path);

/* Returns 1 if path names a directory, 0 if not or if it cannot be told. */
int iocpd__is_directory(const char *path);

/* Returns a malloc'ed UTF-16 copy of the UTF-8 string s, or NULL with
 * errno EILSEQ (s is not UTF-8) or ENOMEM. */
wchar_t *iocpd__utf8_to_utf16(const char *s);

/* Returns a malloc'ed UTF-8 copy of the UTF-16 string s, or NULL with
 * errno set (ENOMEM). A lone surrogate becomes U+FFFD. */
char *iocpd__utf16_to_utf8(const wchar_t *s);

#else
#include <sys/stat.h>

static inline FILE *iocpd__fopen(const char *path, const char *mode) { return fopen(path, mode); }

static inline int iocpd__rename(const char *from, const char *to) { return rename(from, to); }

static inline int iocpd__remove(const char *path) { return remove(path); }

static inline int iocpd__is_directory(const char *path) {
  struct stat st;
  return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}
#endif

#endif /* IOCPD_UTF8_FILES_H */
