/* Winelib builtin inih.dll: lets the mingw-w64 build of iocpd run under Wine
 * on a Linux machine that has Debian's libinih but no Windows build of inih.
 *
 * The PE links against an import library for inih.dll (made from inih.def).
 * Under Wine, the fake PE inih.dll placed next to the executable makes Wine
 * load this file's builtin, inih.dll.so, which forwards every call to the
 * system libinih (an ordinary ELF library using the System V calling
 * convention).
 *
 * Calling conventions are the whole difficulty. The entry points below are
 * called by PE code, so they are declared CDECL, which Winelib defines as
 * ms_abi on x86_64. The callbacks the PE hands us (handler, reader) are ms_abi
 * too, but libinih calls its callbacks with the System V convention. So we
 * never pass a PE callback to libinih directly: libinih gets a System V
 * trampoline, and its opaque user/stream pointer points at a per-call
 * struct on our stack that holds the PE's callbacks and pointers. Keeping
 * that state on the stack (and never in globals) makes concurrent parses on
 * different threads independent, exactly as they are with the real inih.
 *
 * Build: winegcc -shared -o inih.dll inih.spec inih_shim.c -linih
 * (gives inih.dll.so), then winebuild --fake-module for the PE stub. */

#include <stddef.h>
#include <stdio.h>

#include <windef.h>
#include <winbase.h>

#include <ini.h>

/* The PE-side callback types: same shapes as inih's ini_handler and
 * ini_reader, but with the Windows x64 calling convention. Debian builds
 * libinih with INI_HANDLER_LINENO=0, so the handler has no line argument. */
typedef int(CDECL *pe_handler)(void *user, const char *section, const char *name,
                               const char *value);
typedef char *(CDECL *pe_reader)(char *str, int num, void *stream);

/* The C runtime functions of the PE's CRT, used for ini_parse and
 * ini_parse_file: a FILE* made by the PE belongs to its CRT (msvcrt.dll for
 * Debian's mingw-w64), not to glibc, and a file name from the PE is a
 * Windows path that only that CRT can open. */
typedef void *(CDECL *crt_fopen_fn)(const char *name, const char *mode);
typedef int(CDECL *crt_fclose_fn)(void *file);
typedef char *(CDECL *crt_fgets_fn)(char *str, int num, void *file);

/* State of one parse, on the caller's stack; libinih passes its address back
 * to the trampolines as both the user and the stream pointer. */
struct shim_call {
  pe_handler handler;
  void *user;
  pe_reader reader; /* NULL when libinih reads by itself */
  void *stream;
  crt_fgets_fn crt_fgets; /* set instead of reader for ini_parse_file */
};

static int shim_handler_tramp(void *user, const char *section, const char *name,
                              const char *value) {
  struct shim_call *call = user;

  return call->handler(call->user, section, name, value);
}

static char *shim_reader_tramp(char *str, int num, void *stream) {
  struct shim_call *call = stream;

  if (call->reader != NULL) return call->reader(str, num, call->stream);
  return call->crt_fgets(str, num, call->stream);
}

/* Finds a function of msvcrt.dll, the CRT that Debian's mingw-w64 links
 * programs against. Returns NULL if it cannot be found. The generic
 * void(void) pointer type is the one GCC lets us cast to any function type
 * without a warning; the caller casts it to the real prototype. */
typedef void (*crt_any_fn)(void);

static crt_any_fn shim_crt_proc(const char *name) {
  HMODULE crt = GetModuleHandleA("msvcrt.dll");

  if (crt == NULL) crt = LoadLibraryA("msvcrt.dll");
  if (crt == NULL) return NULL;
  return (crt_any_fn)GetProcAddress(crt, name);
}

int CDECL shim_ini_parse_stream(pe_reader reader, void *stream, pe_handler handler, void *user) {
  struct shim_call call = {handler, user, reader, stream, NULL};

  return ini_parse_stream(shim_reader_tramp, &call, shim_handler_tramp, &call);
}

int CDECL shim_ini_parse_string(const char *string, pe_handler handler, void *user) {
  struct shim_call call = {handler, user, NULL, NULL, NULL};

  /* libinih reads the string itself; only the handler needs a trampoline. */
  return ini_parse_string(string, shim_handler_tramp, &call);
}

int CDECL shim_ini_parse_file(void *file, pe_handler handler, void *user) {
  struct shim_call call = {handler, user, NULL, file, NULL};

  call.crt_fgets = (crt_fgets_fn)shim_crt_proc("fgets");
  if (call.crt_fgets == NULL) return -1;
  return ini_parse_stream(shim_reader_tramp, &call, shim_handler_tramp, &call);
}

int CDECL shim_ini_parse(const char *filename, pe_handler handler, void *user) {
  crt_fopen_fn crt_fopen = (crt_fopen_fn)shim_crt_proc("fopen");
  crt_fclose_fn crt_fclose = (crt_fclose_fn)shim_crt_proc("fclose");
  void *file;
  int rc;

  /* Same contract as inih: -1 when the file cannot be opened. */
  if (crt_fopen == NULL || crt_fclose == NULL) return -1;
  file = crt_fopen(filename, "r");
  if (file == NULL) return -1;
  rc = shim_ini_parse_file(file, handler, user);
  crt_fclose(file);
  return rc;
}
