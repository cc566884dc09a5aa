/* soak: the plans of the connections and the byte pattern they carry. */
#include <stdlib.h>
#include <string.h>

#include "soak.h"

#define GOLDEN 0x9e3779b97f4a7c15u

const char *const soak_kind_names[KIND_COUNT] = {
    "normal",         "failover",     "slow_client",    "slow_upstream", "early_client",
    "early_upstream", "client_reset", "upstream_reset", "silent"};

/* Shares of the relayed connections, per mille; NORMAL gets the rest. The
 * faults are a fixed share each, so every run exercises every one of them
 * (at least once from 20 relayed connections on). */
static const unsigned share_per_mille[KIND_COUNT] = {
    [KIND_FAILOVER] = 100,     [KIND_SLOW_CLIENT] = 50,    [KIND_SLOW_UPSTREAM] = 50,
    [KIND_EARLY_CLIENT] = 50,  [KIND_EARLY_UPSTREAM] = 50, [KIND_CLIENT_RESET] = 50,
    [KIND_UPSTREAM_RESET] = 50};

/* A reset strikes in the middle of a transfer of at least 2^16 bytes (when
 * max_size allows): bulk is flowing then, on whichever path the relay uses
 * for bulk (splice on Linux). */
#define RESET_MIN_OCTAVE 16
/* A slow reader's direction carries at least max_size / 2^SLOW_OCTAVES, so
 * that stopping the reader backs data up into the relay. */
#define SLOW_OCTAVES 3

int soak_kind_is_clean(soak_kind kind) {
  return kind != KIND_CLIENT_RESET && kind != KIND_UPSTREAM_RESET && kind != KIND_SILENT;
}

uint64_t soak_mix64(uint64_t x) {
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9u;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebu;
  x ^= x >> 31;
  return x;
}

uint64_t soak_dir_seed(const soak_plan *plan, int up) {
  return soak_mix64(plan->seed ^ (up ? 0x7570u : 0x646f776eu));
}

static int little_endian(void) {
  const uint16_t one = 1;
  unsigned char first;
  memcpy(&first, &one, 1);
  return first == 1;
}

/* Byte k of word w of a stream is byte k (little-endian) of
 * mix64(seed + w * GOLDEN): any offset is computed directly, so a
 * receiver can check bytes wherever a read happens to split them. */
void soak_pattern_fill(uint64_t seed, uint64_t off, unsigned char *out, size_t len) {
  uint64_t w = off >> 3;
  unsigned k = (unsigned)(off & 7);
  size_t i = 0;
  const int le = little_endian();

  while (i < len) {
    uint64_t x = soak_mix64(seed + w * GOLDEN);
    if (k == 0 && le && len - i >= 8) {
      memcpy(out + i, &x, 8); /* the common case: a whole word at once */
      i += 8;
    } else {
      for (; k < 8 && i < len; k++) out[i++] = (unsigned char)(x >> (8 * k));
    }
    k = 0;
    w++;
  }
}

size_t soak_pattern_check(uint64_t seed, uint64_t off, const unsigned char *in, size_t len) {
  unsigned char want[4096];
  size_t done = 0;

  while (done < len) {
    size_t n = len - done < sizeof(want) ? len - done : sizeof(want);
    soak_pattern_fill(seed, off + done, want, n);
    if (memcmp(want, in + done, n) != 0) {
      size_t i = 0;
      while (want[i] == in[done + i]) i++;
      return done + i;
    }
    done += n;
  }
  return len;
}

/* splitmix64: the generator behind every choice in a plan. */
static uint64_t next(uint64_t *state) {
  *state += GOLDEN;
  return soak_mix64(*state);
}

static unsigned floor_log2(uint64_t v) {
  unsigned e = 0;
  while (v >>= 1) e++;
  return e;
}

/* A size in [2^min_octave, max]: first a power of two uniformly, then a
 * size within that octave, so tiny, medium and large transfers are all
 * common (a uniform draw would make nearly all of them megabytes). */
static uint64_t draw_size(uint64_t *rng, unsigned min_octave, uint64_t max) {
  unsigned top = floor_log2(max), e;
  uint64_t lo, hi;
  if (min_octave > top) min_octave = top;
  e = min_octave + (unsigned)(next(rng) % (top - min_octave + 1));
  lo = (uint64_t)1 << e;
  hi = 2 * lo - 1 < max ? 2 * lo - 1 : max;
  return lo + next(rng) % (hi - lo + 1);
}

/* Fills in sizes and fault positions for a plan whose seed and kind are
 * set. */
static void draw_plan(soak_plan *plan, const soak_params *p) {
  uint64_t rng = plan->seed;
  unsigned top = floor_log2(p->max_size);
  unsigned slow = top > SLOW_OCTAVES ? top - SLOW_OCTAVES : 0;
  uint32_t pause_lo = p->pause_max_ms / 4;

  plan->up_size = draw_size(&rng, 0, p->max_size);
  plan->down_size = draw_size(&rng, 0, p->max_size);
  switch ((soak_kind)plan->kind) {
    case KIND_SLOW_CLIENT:
    case KIND_SLOW_UPSTREAM: {
      uint64_t *size = plan->kind == KIND_SLOW_CLIENT ? &plan->down_size : &plan->up_size;
      *size = draw_size(&rng, slow, p->max_size);
      plan->slow_after = next(&rng) % (*size / 2 + 1);
      plan->pause_ms = pause_lo + (uint32_t)(next(&rng) % (p->pause_max_ms - pause_lo + 1));
      break;
    }
    case KIND_CLIENT_RESET:
    case KIND_UPSTREAM_RESET: {
      uint64_t *size = plan->kind == KIND_CLIENT_RESET ? &plan->up_size : &plan->down_size;
      *size = draw_size(&rng, RESET_MIN_OCTAVE, p->max_size);
      if (*size < 2) *size = 2; /* room for a cut strictly inside */
      plan->cut = 1 + next(&rng) % (*size - 1);
      break;
    }
    case KIND_SILENT: plan->up_size = plan->down_size = 0; break;
    default: break;
  }
}

/* Kinds in their fixed shares, shuffled by the run's seed. */
static void assign_kinds(soak_plan *plans, const soak_params *p) {
  uint64_t rng = soak_mix64(p->seed ^ 0x6b696e64u);
  uint32_t i = 0, k;

  for (k = KIND_FAILOVER; k < KIND_SILENT; k++) {
    uint32_t n = (uint32_t)(((uint64_t)p->relayed * share_per_mille[k] + 500) / 1000);
    while (n-- > 0 && i < p->relayed) plans[i++].kind = (uint8_t)k;
  }
  while (i < p->relayed) plans[i++].kind = KIND_NORMAL;
  for (i = p->relayed; i > 1; i--) { /* Fisher-Yates */
    uint32_t j = (uint32_t)(next(&rng) % i);
    uint8_t t = plans[i - 1].kind;
    plans[i - 1].kind = plans[j].kind;
    plans[j].kind = t;
  }
  for (i = p->relayed; i < p->relayed + p->silent; i++) plans[i].kind = KIND_SILENT;
}

/* If the random sizes of the clean connections add up to less than
 * min_bytes, gives clean connections (in index order) max_size both ways
 * until they do. Deterministic, like the rest of the plan. */
static void top_up(soak_plan *plans, const soak_params *p) {
  uint64_t sum = 0;
  uint32_t i;
  for (i = 0; i < p->relayed; i++)
    if (soak_kind_is_clean((soak_kind)plans[i].kind)) sum += plans[i].up_size + plans[i].down_size;
  for (i = 0; i < p->relayed && sum < p->min_bytes; i++) {
    if (!soak_kind_is_clean((soak_kind)plans[i].kind)) continue;
    sum += 2 * p->max_size - plans[i].up_size - plans[i].down_size;
    plans[i].up_size = plans[i].down_size = p->max_size;
  }
}

soak_plan *soak_plans_build(const soak_params *p) {
  uint32_t total = p->relayed + p->silent, i;
  soak_plan *plans = calloc(total > 0 ? total : 1, sizeof(*plans));
  if (plans == NULL) return NULL;
  assign_kinds(plans, p);
  for (i = 0; i < total; i++) {
    plans[i].seed = soak_mix64(p->seed ^ soak_mix64((uint64_t)i + 1));
    draw_plan(&plans[i], p);
  }
  top_up(plans, p);
  return plans;
}

void soak_header_make(const soak_plan *plan, uint32_t index, unsigned char out[SOAK_HEADER_LEN]) {
  int k;
  memcpy(out, SOAK_MAGIC, 4);
  for (k = 0; k < 4; k++) out[4 + k] = (unsigned char)(index >> (8 * k));
  for (k = 0; k < 8; k++) out[8 + k] = (unsigned char)(plan->seed >> (8 * k));
}
