/*
 * Windows only (run under Wine in a French locale, see CMakeLists.txt):
 * text that the engine takes from Windows reaches iocpd as UTF-8 whatever
 * the ANSI code page. The system's error texts are in the language of the
 * system: in French, "Accès refusé" has letters that an ANSI call would
 * hand over in code page 1252, which is not UTF-8, and every log line,
 * Event Log entry and metric label of iocpd is. Host names are UTF-8
 * inside iocpd too, and reach the resolver through the wide call.
 */
#include <string.h>

#include "internal.h"
#include "testengine.h"

/* 1 if s is well-formed UTF-8 (no overlong forms or surrogates). */
static int is_utf8(const char *s) {
  const unsigned char *p = (const unsigned char *)s;
  while (*p != 0) {
    size_t more, i;
    unsigned long cp;
    if (*p < 0x80) {
      p++;
      continue;
    }
    if ((*p & 0xE0) == 0xC0)
      more = 1, cp = *p & 0x1F;
    else if ((*p & 0xF0) == 0xE0)
      more = 2, cp = *p & 0x0F;
    else if ((*p & 0xF8) == 0xF0)
      more = 3, cp = *p & 0x07;
    else
      return 0;
    for (i = 1; i <= more; i++) {
      if ((p[i] & 0xC0) != 0x80) return 0;
      cp = (cp << 6) | (p[i] & 0x3F);
    }
    if ((more == 1 && cp < 0x80) || (more == 2 && cp < 0x800) || (more == 3 && cp < 0x10000) ||
        (cp >= 0xD800 && cp <= 0xDFFF) || cp > 0x10FFFF) {
      return 0;
    }
    p += more + 1;
  }
  return 1;
}

static int has_non_ascii(const char *s) {
  for (; *s != 0; s++) {
    if ((unsigned char)*s >= 0x80) return 1;
  }
  return 0;
}

/* What iocpd__os_strerror must give for err: the system's wide text,
 * trailing ".\r\n" and spaces cut, in UTF-8, then " (err)". */
static void expected_text(DWORD err, char *out, size_t len) {
  wchar_t w[256];
  DWORD n = FormatMessageW(FORMAT_MESSAGE_FROM_SYSTEM | FORMAT_MESSAGE_IGNORE_INSERTS, NULL, err, 0,
                           w, 256, NULL);
  int bytes;
  while (n > 0 && (w[n - 1] == L'\n' || w[n - 1] == L'\r' || w[n - 1] == L'.' || w[n - 1] == L' '))
    n--;
  bytes = WideCharToMultiByte(CP_UTF8, 0, w, (int)n, out, (int)len - 24, NULL, NULL);
  if (bytes < 0) bytes = 0;
  snprintf(out + bytes, 24, " (%lu)", (unsigned long)err);
}

static void test_error_text_is_utf8(void) {
  char got[256], expect[512], small[6];
  expected_text(ERROR_ACCESS_DENIED, expect, sizeof(expect));
  /* Without a non-ASCII letter the test proves nothing: the locale that
   * CMakeLists.txt sets must have reached Wine. */
  if (!has_non_ascii(expect)) {
    fprintf(stderr,
            "the system's text for error 5 is '%s': no accented letter, so the locale "
            "(LANG=fr_FR.UTF-8) did not apply\n",
            expect);
  }
  CHECK(has_non_ascii(expect));
  iocpd__os_strerror(ERROR_ACCESS_DENIED, got, sizeof(got));
  if (!is_utf8(got) || strcmp(got, expect) != 0) {
    fprintf(stderr, "iocpd__os_strerror(5) gave '%s', expected '%s'\n", got, expect);
  }
  CHECK(is_utf8(got));
  CHECK(strcmp(got, expect) == 0);
  /* A buffer too small is cut between characters, never inside one. */
  iocpd__os_strerror(ERROR_ACCESS_DENIED, small, sizeof(small));
  CHECK(is_utf8(small));
  CHECK(strlen(small) < sizeof(small));
  CHECK(strncmp(small, expect, strlen(small)) == 0);
  /* An error without a text still says which. */
  iocpd__os_strerror(0x2FFFFFFF, got, sizeof(got));
  CHECK(strcmp(got, "Windows error 805306367") == 0);
}

static void test_lookup_takes_utf8(void) {
  iocpd_addr out[8];
  char err[256];
  int n;
  CHECK(iocpd__backend_init(NULL) == 0);
  n = iocpd__os_lookup("localhost", out, 8, err, sizeof(err));
  CHECK(n >= 1);
  /* A name that is not UTF-8 is refused as such, not passed on garbled. */
  n = iocpd__os_lookup("b\xfc"
                       "cher.invalid",
                       out, 8, err, sizeof(err));
  CHECK(n == IOCPD_ENOTFOUND);
  CHECK(strstr(err, "not valid UTF-8") != NULL);
  /* A non-ASCII name that does not exist: the resolver's reason, in UTF-8. */
  n = iocpd__os_lookup("b\xc3\xbc"
                       "cher.invalid",
                       out, 8, err, sizeof(err));
  CHECK(n == IOCPD_ENOTFOUND);
  CHECK(err[0] != '\0' && is_utf8(err));
  iocpd__backend_cleanup();
}

int main(void) {
  test_error_text_is_utf8();
  test_lookup_takes_utf8();
  return check_summary();
}
