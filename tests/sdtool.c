/*
 * sdtool: reads and writes the security of a file or folder, for the
 * install tests (tests/test_install.py), which need to plant a config with
 * a permissive DACL and to read back what `iocpd install` left. Wine's own
 * cacls.exe and icacls.exe are stubs that change nothing, so the tests
 * carry this instead.
 *
 *   sdtool get PATH        prints the owner and DACL of PATH as SDDL
 *                          ("O:...D:..."), one line
 *   sdtool set PATH SDDL   sets the owner (when SDDL has one) and the DACL
 *                          of SDDL on PATH, protected from inheritance when
 *                          SDDL says so (D:P...)
 *
 * Exit codes: 0 done, 1 the call failed (the Win32 error is printed), 2
 * usage. Windows only (a PE; the tests run it under Wine).
 */
#include <windows.h>
#include <aclapi.h>
#include <sddl.h>
#include <shellapi.h>
#include <stdio.h>
#include <wchar.h>

static int fail(const char *what, DWORD err) {
  fprintf(stderr, "sdtool: %s failed: error %lu\n", what, (unsigned long)err);
  return 1;
}

/* Prints the owner and the DACL of path as one SDDL line. */
static int get_security(const wchar_t *path) {
  const SECURITY_INFORMATION what = OWNER_SECURITY_INFORMATION | DACL_SECURITY_INFORMATION;
  PSECURITY_DESCRIPTOR sd = NULL;
  wchar_t *text = NULL;
  DWORD err = GetNamedSecurityInfoW(path, SE_FILE_OBJECT, what, NULL, NULL, NULL, NULL, &sd);
  if (err != ERROR_SUCCESS) return fail("GetNamedSecurityInfoW", err);
  if (!ConvertSecurityDescriptorToStringSecurityDescriptorW(sd, SDDL_REVISION_1, what, &text,
                                                            NULL)) {
    err = GetLastError();
    LocalFree(sd);
    return fail("ConvertSecurityDescriptorToStringSecurityDescriptorW", err);
  }
  /* SDDL is ASCII: SIDs and aliases only. */
  printf("%ls\n", text);
  LocalFree(text);
  LocalFree(sd);
  return 0;
}

/* Applies the owner (if any) and the DACL of the SDDL string to path. */
static int set_security(const wchar_t *path, const wchar_t *sddl) {
  PSECURITY_DESCRIPTOR sd = NULL;
  SECURITY_DESCRIPTOR_CONTROL control = 0;
  DWORD revision, err;
  SECURITY_INFORMATION what = DACL_SECURITY_INFORMATION;
  PACL dacl = NULL;
  PSID owner = NULL;
  BOOL present = FALSE, defaulted = FALSE;

  if (!ConvertStringSecurityDescriptorToSecurityDescriptorW(sddl, SDDL_REVISION_1, &sd, NULL))
    return fail("ConvertStringSecurityDescriptorToSecurityDescriptorW", GetLastError());
  GetSecurityDescriptorControl(sd, &control, &revision);
  GetSecurityDescriptorDacl(sd, &present, &dacl, &defaulted);
  GetSecurityDescriptorOwner(sd, &owner, &defaulted);
  if (owner != NULL) what |= OWNER_SECURITY_INFORMATION;
  what |= (control & SE_DACL_PROTECTED) ? PROTECTED_DACL_SECURITY_INFORMATION
                                        : UNPROTECTED_DACL_SECURITY_INFORMATION;
  err = SetNamedSecurityInfoW((wchar_t *)path, SE_FILE_OBJECT, what, owner, NULL, dacl, NULL);
  LocalFree(sd);
  return err == ERROR_SUCCESS ? 0 : fail("SetNamedSecurityInfoW", err);
}

int main(void) {
  int argc = 0, rc = 2;
  wchar_t **argv = CommandLineToArgvW(GetCommandLineW(), &argc);

  if (argv != NULL && argc == 3 && wcscmp(argv[1], L"get") == 0) {
    rc = get_security(argv[2]);
  } else if (argv != NULL && argc == 4 && wcscmp(argv[1], L"set") == 0) {
    rc = set_security(argv[2], argv[3]);
  } else {
    fprintf(stderr, "usage: sdtool get PATH | sdtool set PATH SDDL\n");
  }
  LocalFree(argv);
  return rc;
}
