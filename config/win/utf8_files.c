/* UTF-8 names for the wide Windows functions (see utf8_files.h). */

/* MSVC: _wfopen is fine here; keep /W4 quiet about it. */
#define _CRT_SECURE_NO_WARNINGS

#include <windows.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <wchar.h>

#include "utf8_files.h"

wchar_t *iocpd__utf8_to_utf16(const char *s) {
  /* MB_ERR_INVALID_CHARS: a name with a byte that is not UTF-8 would
   * otherwise name another file, one with U+FFFD in its place. */
  int n = MultiByteToWideChar(CP_UTF8, MB_ERR_INVALID_CHARS, s, -1, NULL, 0);
  wchar_t *w;
  if (n <= 0) {
    errno = EILSEQ;
    return NULL;
  }
  w = malloc((size_t)n * sizeof(*w));
  if (w == NULL) {
    errno = ENOMEM;
    return NULL;
  }
  MultiByteToWideChar(CP_UTF8, MB_ERR_INVALID_CHARS, s, -1, w, n);
  return w;
}

char *iocpd__utf16_to_utf8(const wchar_t *s) {
  int n = WideCharToMultiByte(CP_UTF8, 0, s, -1, NULL, 0, NULL, NULL);
  char *u;
  if (n <= 0) {
    errno = EILSEQ;
    return NULL;
  }
  u = malloc((size_t)n);
  if (u == NULL) {
    errno = ENOMEM;
    return NULL;
  }
  WideCharToMultiByte(CP_UTF8, 0, s, -1, u, n, NULL, NULL);
  return u;
}

FILE *iocpd__fopen(const char *path, const char *mode) {
  wchar_t *wpath = iocpd__utf8_to_utf16(path);
  wchar_t *wmode = iocpd__utf8_to_utf16(mode);
  FILE *f = NULL;
  if (wpath != NULL && wmode != NULL) f = _wfopen(wpath, wmode);
  free(wpath);
  free(wmode);
  return f;
}

int iocpd__rename(const char *from, const char *to) {
  wchar_t *wfrom = iocpd__utf8_to_utf16(from);
  wchar_t *wto = iocpd__utf8_to_utf16(to);
  int rc = -1;
  if (wfrom != NULL && wto != NULL) rc = _wrename(wfrom, wto);
  free(wfrom);
  free(wto);
  return rc;
}

int iocpd__remove(const char *path) {
  wchar_t *wpath = iocpd__utf8_to_utf16(path);
  int rc = wpath != NULL ? _wremove(wpath) : -1;
  free(wpath);
  return rc;
}

int iocpd__is_directory(const char *path) {
  wchar_t *wpath = iocpd__utf8_to_utf16(path);
  DWORD attr = wpath != NULL ? GetFileAttributesW(wpath) : INVALID_FILE_ATTRIBUTES;
  free(wpath);
  return attr != INVALID_FILE_ATTRIBUTES && (attr & FILE_ATTRIBUTE_DIRECTORY) != 0;
}
