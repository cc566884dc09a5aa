/*
 * Durations and sizes as written in the config file ("30s", "64k").
 *
 * Pure C: no OS header, no locale. strtoull is avoided on purpose: it
 * accepts leading white space, a sign ("-5" wraps around to a huge value)
 * and "0x" prefixes, none of which belong in a config value.
 */
#include <stdint.h>
#include <string.h>

#include "config.h"

/* Reads the decimal digits at the start of text into *value. Returns the
 * number of digits read (0 if text does not start with a digit), or -1 if the
 * number does not fit in 64 bits. */
static int parse_digits(const char *text, uint64_t *value) {
  uint64_t v = 0;
  int n = 0;

  while (text[n] >= '0' && text[n] <= '9') {
    unsigned digit = (unsigned)(text[n] - '0');

    if (v > (UINT64_MAX - digit) / 10) return -1;
    v = v * 10 + digit;
    n++;
  }
  *value = v;
  return n;
}

/* Stores number * factor in *out; fails instead of wrapping around. */
static int scale(uint64_t number, uint64_t factor, uint64_t *out) {
  if (factor != 0 && number > UINT64_MAX / factor) return IOCPD_EINVAL;
  *out = number * factor;
  return 0;
}

int iocpd_parse_duration(const char *text, uint64_t *ms) {
  /* Units are lowercase only: "5M" could as well mean months. */
  static const struct {
    const char *suffix;
    uint64_t ms;
  } units[] = {{"", 1000}, {"ms", 1}, {"s", 1000}, {"m", 60000}, {"h", 3600000}};
  uint64_t number;
  int digits;
  size_t i;

  if (text == NULL || ms == NULL) return IOCPD_EINVAL;
  digits = parse_digits(text, &number);
  if (digits <= 0) return IOCPD_EINVAL;
  for (i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
    if (strcmp(text + digits, units[i].suffix) == 0) return scale(number, units[i].ms, ms);
  }
  return IOCPD_EINVAL;
}

int iocpd_parse_size(const char *text, uint64_t *bytes) {
  uint64_t number;
  uint64_t factor;
  const char *suffix;
  int digits;

  if (text == NULL || bytes == NULL) return IOCPD_EINVAL;
  digits = parse_digits(text, &number);
  if (digits <= 0) return IOCPD_EINVAL;
  suffix = text + digits;
  switch (suffix[0]) {
    case '\0': factor = 1; break;
    case 'k':
    case 'K': factor = (uint64_t)1 << 10; break;
    case 'm':
    case 'M': factor = (uint64_t)1 << 20; break;
    case 'g':
    case 'G': factor = (uint64_t)1 << 30; break;
    default: return IOCPD_EINVAL;
  }
  if (suffix[0] != '\0' && suffix[1] != '\0') return IOCPD_EINVAL;
  return scale(number, factor, bytes);
}
