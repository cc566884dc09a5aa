/* Open handles of this process (see process_handles.h). */
#include <windows.h>

#include <stdlib.h>

#include "process_handles.h"

/* NtQuerySystemInformation's SystemExtendedHandleInformation (64): every
 * handle of every process, one entry each. Declared here because the
 * SDK's winternl.h leaves this class and its layout out. */
#define SYSTEM_EXTENDED_HANDLE_INFORMATION 64
#define STATUS_INFO_LENGTH_MISMATCH ((LONG)0xC0000004L)
/* The list grows between two calls; give up after this many tries. */
#define QUERY_ATTEMPTS 8

typedef struct handle_entry {
  PVOID object;
  ULONG_PTR process_id;
  ULONG_PTR handle_value;
  ULONG granted_access;
  USHORT creator_back_trace_index;
  USHORT object_type_index;
  ULONG handle_attributes;
  ULONG reserved;
} handle_entry;

typedef struct handle_list {
  ULONG_PTR count;
  ULONG_PTR reserved;
  handle_entry entries[1];
} handle_list;

typedef LONG(WINAPI *query_system_information)(ULONG, PVOID, ULONG, PULONG);

/* Counts this process's entries in the system-wide handle list. Returns
 * 0 and sets *count, or -1. */
static int count_in_system_list(uint64_t *count) {
  HMODULE ntdll = GetModuleHandleW(L"ntdll.dll");
  query_system_information query;
  ULONG size = 1 << 16, needed = 0;
  ULONG_PTR self = GetCurrentProcessId(), i;
  int attempt;

  if (ntdll == NULL) return -1;
  /* Through a void function pointer: the C standard has no direct
   * conversion from FARPROC to another function type. */
  query =
      (query_system_information)(void (*)(void))GetProcAddress(ntdll, "NtQuerySystemInformation");
  if (query == NULL) return -1;
  for (attempt = 0; attempt < QUERY_ATTEMPTS; attempt++) {
    handle_list *list = malloc(size);
    LONG status;
    uint64_t n = 0;
    if (list == NULL) return -1;
    status = query(SYSTEM_EXTENDED_HANDLE_INFORMATION, list, size, &needed);
    if (status == STATUS_INFO_LENGTH_MISMATCH) {
      free(list);
      size = needed > size ? needed + (needed >> 2) : size * 2;
      continue;
    }
    if (status < 0) {
      free(list);
      return -1;
    }
    for (i = 0; i < list->count; i++) n += list->entries[i].process_id == self;
    free(list);
    *count = n;
    return 0;
  }
  return -1;
}

int process_open_handles(uint64_t *count) {
  DWORD n = 0;
  /* A running process always holds handles (its threads, the console,
   * the completion port), so 0 is not an answer: Wine (8.0) implements
   * GetProcessHandleCount as a stub that says 0. The system-wide handle
   * list, which Wine does keep, gives the true count there; on Windows
   * that costs a copy of every handle in the system, so it is only the
   * fallback. */
  if (GetProcessHandleCount(GetCurrentProcess(), &n) && n > 0) {
    *count = n;
    return 0;
  }
  return count_in_system_list(count);
}
