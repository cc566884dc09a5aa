/*
 * The default config's location, as `iocpd install` and the MSI (through
 * `install --existing`) prepare it: %ProgramData%\iocpd\, iocpd.ini in it,
 * and logs\ next to it for the access log.
 *
 * %ProgramData% lets every user create folders, and a user owns what he
 * creates. So a standard user can make %ProgramData%\iocpd before an
 * administrator installs, and put an iocpd.ini there that the automatic
 * service would then run, or keep the rights to change it later. Hence
 * nothing found there is taken as it is:
 *   - the folder, found or made, gets Administrators as its owner and a
 *     protected DACL (CONFIG_DIR_SDDL): administrators may change it, users
 *     and services may only read it;
 *   - an iocpd.ini that existed is checked first: if its owner is not
 *     SYSTEM, Administrators, TrustedInstaller or the installing user, or
 *     anyone else may change it, its text may be anyone's. It is locked
 *     down (CONFIG_FILE_SDDL) but refused: the install stops with exit
 *     code 3 until an administrator has reviewed it; run again, it is
 *     trusted. A trusted one gets the same owner and DACL;
 *   - logs\ gets Administrators as owner and a protected DACL that lets
 *     the service write (LOGS_SDDL): its service SID, NT SERVICE\<name>,
 *     which is in its token as its virtual account and, with the
 *     unrestricted service SID type, under any account; and LocalService
 *     too when it runs as that.
 * Links are never followed: a folder that is a junction or a file with a
 * second hard link could point the new DACL at a system file, so they are
 * refused, and every object is opened once and changed through that handle
 * (no check-then-use race on the name).
 */
#include <windows.h>
#include <aclapi.h>
#include <sddl.h>
#include <wincrypt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <wchar.h>

#include "install.h"

/* Owner Administrators (set with the DACL, see secure_handle). Users (BU)
 * and services (SU: NT AUTHORITY\SERVICE, in every service's token) read
 * and list; protected (P), so %ProgramData%'s "users may create" entries
 * are not inherited. FRFX: read and execute (list, traverse). */
#define CONFIG_DIR_SDDL L"D:P(A;OICI;FA;;;SY)(A;OICI;FA;;;BA)(A;OICI;FRFX;;;BU)(A;OICI;FRFX;;;SU)"
#define CONFIG_FILE_SDDL L"D:P(A;;FA;;;SY)(A;;FA;;;BA)(A;;FRFX;;;BU)(A;;FRFX;;;SU)"

/* The logs folder: the service may read, write and delete (rotation
 * renames and deletes its files), with no rights to the DACL; users may
 * not read it (an access log holds client addresses). %ls: the ACEs of the
 * service's accounts (LOG_WRITER_ACE each). */
#define LOGS_SDDL L"D:P(A;OICI;FA;;;SY)(A;OICI;FA;;;BA)%ls"
#define LOG_WRITER_ACE L"(A;OICI;0x1301bf;;;%ls)" /* FILE_GENERIC_READ|WRITE|EXECUTE|DELETE */

#define TRUSTED_INSTALLER_SID L"S-1-5-80-956008885-3418522649-1831038044-1853292631-2271478464"

/* The rights that let their holder change a file's text, or decide who
 * may: write or append data or extended attributes, delete, write the DACL
 * or the owner, and the generic rights that include them. */
#define CHANGE_RIGHTS                                                                              \
  (FILE_WRITE_DATA | FILE_APPEND_DATA | FILE_WRITE_EA | DELETE | WRITE_DAC | WRITE_OWNER |         \
   GENERIC_WRITE | GENERIC_ALL | MAXIMUM_ALLOWED)

/* ------------------------------------------------------------------------ */
/* Accounts and privileges */

/* Enables a privilege in this process's token, if it holds it. Best effort:
 * without it an object that denies administrators cannot be taken over, and
 * the open that follows says so. */
static void enable_privilege(const wchar_t *name) {
  HANDLE token;
  TOKEN_PRIVILEGES tp;
  if (!OpenProcessToken(GetCurrentProcess(), TOKEN_ADJUST_PRIVILEGES, &token)) return;
  tp.PrivilegeCount = 1;
  tp.Privileges[0].Attributes = SE_PRIVILEGE_ENABLED;
  if (LookupPrivilegeValueW(NULL, name, &tp.Privileges[0].Luid))
    AdjustTokenPrivileges(token, FALSE, &tp, 0, NULL, NULL);
  CloseHandle(token);
}

/* The user of this process's token, malloc'ed, or NULL. */
static PSID token_user(void) {
  HANDLE token;
  DWORD need = 0;
  TOKEN_USER *user = NULL;
  PSID sid = NULL;
  if (!OpenProcessToken(GetCurrentProcess(), TOKEN_QUERY, &token)) return NULL;
  GetTokenInformation(token, TokenUser, NULL, 0, &need);
  if (need > 0 && (user = malloc(need)) != NULL &&
      GetTokenInformation(token, TokenUser, user, need, &need)) {
    DWORD len = GetLengthSid(user->User.Sid);
    if ((sid = malloc(len)) != NULL) CopySid(len, sid, user->User.Sid);
  }
  free(user);
  CloseHandle(token);
  return sid;
}

/* Whether sid is one that may own or change the config: SYSTEM,
 * Administrators, TrustedInstaller, or the user running this install. */
static int is_trusted_sid(PSID sid, PSID installer) {
  PSID ti = NULL;
  int trusted = IsWellKnownSid(sid, WinLocalSystemSid) ||
                IsWellKnownSid(sid, WinBuiltinAdministratorsSid) ||
                (installer != NULL && EqualSid(sid, installer));
  if (!trusted && ConvertStringSidToSidW(TRUSTED_INSTALLER_SID, &ti)) {
    trusted = EqualSid(sid, ti);
    LocalFree(ti);
  }
  return trusted;
}

/* Writes "DOMAIN\name (S-1-...)" for sid into buf (UTF-8), or the SID
 * alone when it has no name here. */
static void describe_sid(PSID sid, char *buf, size_t size) {
  wchar_t name[256], domain[256], *text = NULL;
  DWORD name_len = 256, domain_len = 256;
  SID_NAME_USE use;
  char *account = NULL;
  if (LookupAccountSidW(NULL, sid, name, &name_len, domain, &domain_len, &use)) {
    wchar_t full[520];
    swprintf(full, sizeof(full) / sizeof(full[0]), domain[0] != L'\0' ? L"%ls\\%ls" : L"%ls%ls",
             domain, name);
    account = iocpd__utf16_to_utf8(full);
  }
  ConvertSidToStringSidW(sid, &text);
  {
    char *sid_text = text != NULL ? iocpd__utf16_to_utf8(text) : NULL;
    if (account != NULL)
      snprintf(buf, size, "%s (%s)", account, sid_text != NULL ? sid_text : "?");
    else
      snprintf(buf, size, "%s", sid_text != NULL ? sid_text : "an unknown account");
    free(sid_text);
  }
  LocalFree(text);
  free(account);
}

/* The SID of the virtual account NT SERVICE\name as a string into out (at
 * least 64 units): S-1-5-80- and the SHA-1 of the upper-cased name in
 * UTF-16, read as five little-endian 32-bit numbers ([MS-LSAT] 3.1.1.1.2).
 * Computed, not looked up: the name is known to LSA only once the service
 * exists, and Wine knows none. Returns 0 or a Win32 error code. */
static DWORD service_sid(const wchar_t *name, wchar_t *out, size_t out_len) {
  HCRYPTPROV prov = 0;
  HCRYPTHASH hash = 0;
  BYTE digest[20];
  DWORD digest_len = sizeof(digest), err = 0, words[5];
  int len = (int)wcslen(name), i;
  wchar_t *upper = malloc(((size_t)len + 1) * sizeof(*upper));

  if (upper == NULL) return ERROR_NOT_ENOUGH_MEMORY;
  /* The invariant locale: service names compare without regard to the
   * user's language (no Turkish dotless i). */
  if (LCMapStringEx(LOCALE_NAME_INVARIANT, LCMAP_UPPERCASE, name, len, upper, len, NULL, NULL, 0) !=
          len ||
      !CryptAcquireContextW(&prov, NULL, NULL, PROV_RSA_AES, CRYPT_VERIFYCONTEXT) ||
      !CryptCreateHash(prov, CALG_SHA1, 0, 0, &hash) ||
      !CryptHashData(hash, (const BYTE *)upper, (DWORD)len * sizeof(wchar_t), 0) ||
      !CryptGetHashParam(hash, HP_HASHVAL, digest, &digest_len, 0) || digest_len != 20) {
    err = GetLastError() != 0 ? GetLastError() : ERROR_INVALID_DATA;
  } else {
    for (i = 0; i < 5; i++)
      words[i] = (DWORD)digest[4 * i] | (DWORD)digest[4 * i + 1] << 8 |
                 (DWORD)digest[4 * i + 2] << 16 | (DWORD)digest[4 * i + 3] << 24;
    swprintf(out, out_len, L"S-1-5-80-%lu-%lu-%lu-%lu-%lu", (unsigned long)words[0],
             (unsigned long)words[1], (unsigned long)words[2], (unsigned long)words[3],
             (unsigned long)words[4]);
  }
  if (hash != 0) CryptDestroyHash(hash);
  if (prov != 0) CryptReleaseContext(prov, 0);
  free(upper);
  return err;
}

/* ------------------------------------------------------------------------ */
/* Objects and their security */

/* Opens path to read and change its security, never following a link:
 * FILE_FLAG_OPEN_REPARSE_POINT opens a junction or symbolic link itself;
 * FILE_FLAG_BACKUP_SEMANTICS opens folders and lets the restore and
 * take-ownership privileges grant WRITE_DAC and WRITE_OWNER whatever the
 * DACL says. Refuses a link, the wrong kind (folder or file), and a file
 * with a second hard link (its DACL is the other name's too). Returns the
 * handle, or INVALID_HANDLE_VALUE after printing why. */
static HANDLE open_secured_object(const wchar_t *path, const char *path_utf8, int folder) {
  BY_HANDLE_FILE_INFORMATION info;
  const char *problem = NULL;
  HANDLE h =
      CreateFileW(path, READ_CONTROL | WRITE_DAC | WRITE_OWNER,
                  FILE_SHARE_READ | FILE_SHARE_WRITE | FILE_SHARE_DELETE, NULL, OPEN_EXISTING,
                  FILE_FLAG_BACKUP_SEMANTICS | FILE_FLAG_OPEN_REPARSE_POINT, NULL);
  char text[600];

  if (h == INVALID_HANDLE_VALUE) {
    snprintf(text, sizeof(text), "cannot open %s to set who may change it", path_utf8);
    install_print_error(text, GetLastError());
    return h;
  }
  if (!GetFileInformationByHandle(h, &info)) {
    snprintf(text, sizeof(text), "cannot inspect %s", path_utf8);
    install_print_error(text, GetLastError());
    CloseHandle(h);
    return INVALID_HANDLE_VALUE;
  }
  if (info.dwFileAttributes & FILE_ATTRIBUTE_REPARSE_POINT)
    problem = "is a link (junction or symbolic link) to somewhere else";
  else if (folder && !(info.dwFileAttributes & FILE_ATTRIBUTE_DIRECTORY))
    problem = "is a file, not a folder";
  else if (!folder && (info.dwFileAttributes & FILE_ATTRIBUTE_DIRECTORY))
    problem = "is a folder, not a file";
  else if (!folder && info.nNumberOfLinks > 1)
    problem = "has another name (a hard link), which may be a system file";
  if (problem != NULL) {
    snprintf(text, sizeof(text),
             "%s %s: iocpd leaves it alone. Someone may have prepared it to make the install "
             "change another object; remove it, then run the install again.",
             path_utf8, problem);
    install_report_error(text);
    CloseHandle(h);
    return INVALID_HANDLE_VALUE;
  }
  return h;
}

/* Sets the owner Administrators and the protected DACL of sddl (no
 * owner in it) on h. Returns 0, or -1 after printing why. */
static int secure_handle(HANDLE h, const wchar_t *sddl, const char *path_utf8) {
  PSECURITY_DESCRIPTOR sd = NULL;
  BYTE admins[SECURITY_MAX_SID_SIZE];
  DWORD admins_len = sizeof(admins), err;
  BOOL present = FALSE, defaulted = FALSE;
  PACL dacl = NULL;
  char text[600];

  if (!ConvertStringSecurityDescriptorToSecurityDescriptorW(sddl, SDDL_REVISION_1, &sd, NULL) ||
      !GetSecurityDescriptorDacl(sd, &present, &dacl, &defaulted) ||
      !CreateWellKnownSid(WinBuiltinAdministratorsSid, NULL, admins, &admins_len)) {
    err = GetLastError();
  } else {
    /* The owner too: an owner may always rewrite the DACL, so leaving a
     * planter as the owner would leave him in control. */
    err = SetSecurityInfo(h, SE_FILE_OBJECT,
                          OWNER_SECURITY_INFORMATION | DACL_SECURITY_INFORMATION |
                              PROTECTED_DACL_SECURITY_INFORMATION,
                          admins, NULL, dacl, NULL);
  }
  LocalFree(sd);
  if (err == ERROR_SUCCESS) return 0;
  snprintf(text, sizeof(text), "cannot set the owner and permissions of %s", path_utf8);
  install_print_error(text, err);
  return -1;
}

/* Checks who owns h and who may change it. Returns 1 and a description in
 * why (UTF-8) if anyone but the trusted accounts (is_trusted_sid) owns it or
 * may change it, 0 if not, -1 after printing why it cannot be told. */
static int find_untrusted(HANDLE h, const char *path_utf8, char *why, size_t why_len) {
  PSECURITY_DESCRIPTOR sd = NULL;
  PSID owner = NULL, installer = token_user();
  PACL dacl = NULL;
  ACL_SIZE_INFORMATION sizes;
  char who[300];
  DWORD i, err;
  int found = 0;

  why[0] = '\0';
  err = GetSecurityInfo(h, SE_FILE_OBJECT, OWNER_SECURITY_INFORMATION | DACL_SECURITY_INFORMATION,
                        &owner, NULL, &dacl, NULL, &sd);
  if (err != ERROR_SUCCESS) {
    snprintf(who, sizeof(who), "cannot read who may change %s", path_utf8);
    install_print_error(who, err);
    free(installer);
    return -1;
  }
  if (owner != NULL && !is_trusted_sid(owner, installer)) {
    describe_sid(owner, who, sizeof(who));
    snprintf(why, why_len, "it was owned by %s", who);
    found = 1;
  }
  if (dacl == NULL) {
    snprintf(why + strlen(why), why_len - strlen(why), "%sit had no DACL: anyone could change it",
             found ? ", and " : "");
    found = 1;
  } else if (GetAclInformation(dacl, &sizes, sizeof(sizes), AclSizeInformation)) {
    for (i = 0; i < sizes.AceCount; i++) {
      ACCESS_ALLOWED_ACE *ace;
      PSID sid;
      if (!GetAce(dacl, i, (void **)&ace) || (ace->Header.AceFlags & INHERIT_ONLY_ACE) ||
          ace->Header.AceType == ACCESS_DENIED_ACE_TYPE)
        continue;
      sid = (PSID)&ace->SidStart;
      /* OWNER RIGHTS stands for the owner, judged above. */
      if (ace->Header.AceType == ACCESS_ALLOWED_ACE_TYPE &&
          (!(ace->Mask & CHANGE_RIGHTS) || is_trusted_sid(sid, installer) ||
           IsWellKnownSid(sid, WinCreatorOwnerRightsSid)))
        continue;
      /* Any other kind of allowing entry is not understood here, so it is
       * not trusted either. */
      describe_sid(sid, who, sizeof(who));
      snprintf(why + strlen(why), why_len - strlen(why), "%s%s could change it",
               found ? ", and " : "", who);
      found = 1;
      break;
    }
  }
  LocalFree(sd);
  free(installer);
  return found;
}

/* Creates the folder path with the DACL of sddl, so that no one else can
 * put anything in it between its creation and secure_handle. Sets
 * *created. Returns 0, or -1 after printing why. */
static int create_folder(const wchar_t *path, const wchar_t *sddl, const char *path_utf8,
                         int *created) {
  SECURITY_ATTRIBUTES sa;
  PSECURITY_DESCRIPTOR sd = NULL;
  DWORD err = 0;
  char text[600];

  *created = 0;
  memset(&sa, 0, sizeof(sa));
  sa.nLength = sizeof(sa);
  if (!ConvertStringSecurityDescriptorToSecurityDescriptorW(sddl, SDDL_REVISION_1, &sd, NULL)) {
    err = GetLastError();
  } else {
    sa.lpSecurityDescriptor = sd;
    if (CreateDirectoryW(path, &sa))
      *created = 1;
    else if (GetLastError() != ERROR_ALREADY_EXISTS)
      err = GetLastError();
  }
  LocalFree(sd);
  if (err == 0) return 0;
  snprintf(text, sizeof(text), "cannot create %s", path_utf8);
  install_print_error(text, err);
  return -1;
}

/* Makes the folder path (or takes over the one there) with the owner
 * Administrators and the DACL of sddl. who_text says who may do what, for
 * the messages. Returns 0, or -1 after printing why. */
static int secure_folder(const wchar_t *path, const wchar_t *sddl, const char *who_text) {
  char *path_utf8 = iocpd__utf16_to_utf8(path);
  const char *shown = path_utf8 != NULL ? path_utf8 : "the folder";
  char why[700];
  int created, untrusted = 0, rc = -1;
  HANDLE h;

  if (create_folder(path, sddl, shown, &created) != 0) goto out;
  h = open_secured_object(path, shown, 1);
  if (h == INVALID_HANDLE_VALUE) goto out;
  if (!created) untrusted = find_untrusted(h, shown, why, sizeof(why));
  if (untrusted >= 0 && secure_handle(h, sddl, shown) == 0) rc = 0;
  CloseHandle(h);
  if (rc != 0) goto out;
  if (created) {
    printf("iocpd: created %s (%s)\n", shown, who_text);
  } else if (untrusted > 0) {
    fprintf(stderr, "iocpd: warning: %s existed already, and %s: it is taken over now (%s)\n",
            shown, why, who_text);
  }
out:
  free(path_utf8);
  return rc;
}

/* ------------------------------------------------------------------------ */
/* The config file */

/* Writes the embedded example to path unless a file is there already.
 * Sets *wrote. Returns 0, or -1 after printing why. */
static int write_example(const wchar_t *path, int *wrote) {
  HANDLE h;
  DWORD done = 0;
  BOOL ok;

  *wrote = 0;
  if (install_example_config_size == 0) {
    fprintf(stderr, "iocpd: warning: this iocpd.exe has no example config built in; "
                    "write the config yourself\n");
    return 0;
  }
  /* CREATE_NEW: never replaces an existing config, even one that appears
   * between a check and the write. It inherits the folder's DACL. */
  h = CreateFileW(path, GENERIC_WRITE, 0, NULL, CREATE_NEW, FILE_ATTRIBUTE_NORMAL, NULL);
  if (h == INVALID_HANDLE_VALUE) {
    if (GetLastError() == ERROR_FILE_EXISTS) return 0;
    install_print_error("cannot write the example config", GetLastError());
    return -1;
  }
  ok = WriteFile(h, install_example_config, (DWORD)install_example_config_size, &done, NULL) &&
       done == install_example_config_size;
  if (!ok) install_print_error("cannot write the example config", GetLastError());
  CloseHandle(h);
  if (!ok) {
    DeleteFileW(path);
    return -1;
  }
  *wrote = 1;
  return 0;
}

/* Gives the config at path the owner Administrators and CONFIG_FILE_SDDL.
 * One that the install did not write (wrote 0) is checked first; if it
 * may be anyone's, it is still locked down, but refused. Returns 0, or -1
 * after reporting why. */
static int secure_config(const wchar_t *path, int wrote) {
  char *path_utf8 = iocpd__utf16_to_utf8(path);
  const char *shown = path_utf8 != NULL ? path_utf8 : "the config";
  char why[700], text[1600];
  int untrusted = 0, rc = -1;
  HANDLE h = open_secured_object(path, shown, 0);

  if (h == INVALID_HANDLE_VALUE) goto out;
  if (!wrote) untrusted = find_untrusted(h, shown, why, sizeof(why));
  if (untrusted >= 0 && secure_handle(h, CONFIG_FILE_SDDL, shown) == 0) rc = 0;
  CloseHandle(h);
  if (rc == 0 && untrusted > 0) {
    snprintf(text, sizeof(text),
             "%s existed before this install, and %s: anyone could have written what it says, "
             "and the service would run it. It is locked down now (owner Administrators; "
             "administrators may change it, users and services may read it) and otherwise left "
             "as it was: review it, then run the install again (or delete it, and the install "
             "writes the example config).",
             shown, why);
    install_report_error(text);
    rc = -1;
  }
out:
  free(path_utf8);
  return rc;
}

/* ------------------------------------------------------------------------ */
/* The logs folder */

/* The ACEs that let the service's accounts write the logs folder, into
 * aces (len units): its service SID (also written to sid, 64 units), and
 * LocalService when local_service. Returns 0, or -1 after printing why. */
static int log_writer_aces(const wchar_t *name, int local_service, wchar_t *sid, wchar_t *aces,
                           size_t len) {
  DWORD err = service_sid(name, sid, 64);
  int n;
  if (err != 0) {
    install_print_error("cannot compute the service SID", err);
    return -1;
  }
  n = swprintf(aces, len, LOG_WRITER_ACE, sid);
  if (n > 0 && local_service) swprintf(aces + n, len - (size_t)n, LOG_WRITER_ACE, L"LS");
  return 0;
}

/* Makes logs (a folder path) writable by the service (log_writer_aces).
 * Returns 0, or -1 after printing why. */
static int make_logs_folder(const wchar_t *logs, const wchar_t *name, int local_service) {
  wchar_t sid[64], aces[160], sddl[300];
  if (log_writer_aces(name, local_service, sid, aces, sizeof(aces) / sizeof(aces[0])) != 0)
    return -1;
  swprintf(sddl, sizeof(sddl) / sizeof(sddl[0]), LOGS_SDDL, aces);
  return secure_folder(logs, sddl, "administrators and the service may change it");
}

/* ------------------------------------------------------------------------ */

/* Returns the malloc'ed folder of path with `leaf` appended (leaf NULL:
 * the folder itself), or NULL if out of memory or path has no folder. */
static wchar_t *sibling(const wchar_t *path, const wchar_t *leaf) {
  const wchar_t *slash = wcsrchr(path, L'\\');
  size_t dir_len, leaf_len = leaf != NULL ? wcslen(leaf) + 1 : 0;
  wchar_t *out;
  if (slash == NULL) return NULL;
  dir_len = (size_t)(slash - path);
  out = malloc((dir_len + leaf_len + 1) * sizeof(*out));
  if (out == NULL) return NULL;
  memcpy(out, path, dir_len * sizeof(*out));
  out[dir_len] = L'\0';
  if (leaf != NULL) {
    out[dir_len] = L'\\';
    wcscpy(out + dir_len + 1, leaf);
  }
  return out;
}

int install_prepare_default_config(const wchar_t *config, const wchar_t *name, int local_service,
                                   int *wrote) {
  wchar_t *dir = sibling(config, NULL), *logs = sibling(config, L"logs");
  int rc = -1;

  *wrote = 0;
  if (dir == NULL || logs == NULL) {
    fprintf(stderr, "iocpd: cannot prepare the config folder of the default config\n");
    goto out;
  }
  /* Administrators hold both; they let the install take over what a
   * planter made to shut administrators out. */
  enable_privilege(L"SeTakeOwnershipPrivilege"); /* SE_TAKE_OWNERSHIP_NAME, always wide */
  enable_privilege(L"SeRestorePrivilege");       /* SE_RESTORE_NAME */
  /* The folder first: once it is locked down, nobody else can add or
   * swap the config or the logs folder in it. */
  if (secure_folder(dir, CONFIG_DIR_SDDL,
                    "administrators may change it; users and services may read it") != 0 ||
      write_example(config, wrote) != 0 || secure_config(config, *wrote) != 0 ||
      make_logs_folder(logs, name, local_service) != 0)
    goto out;
  rc = 0;
out:
  free(dir);
  free(logs);
  return rc;
}

void install_print_logs_field(const wchar_t *config, const wchar_t *name, int local_service) {
  wchar_t sid[64], aces[160];
  wchar_t *logs = sibling(config, L"logs");
  char *logs_utf8 = logs != NULL ? iocpd__utf16_to_utf8(logs) : NULL;
  char *name_utf8 = iocpd__utf16_to_utf8(name);
  char *sid_utf8 = NULL;

  if (log_writer_aces(name, local_service, sid, aces, sizeof(aces) / sizeof(aces[0])) == 0)
    sid_utf8 = iocpd__utf16_to_utf8(sid);
  if (logs_utf8 != NULL && name_utf8 != NULL && sid_utf8 != NULL) {
    printf("  %-14s%s\n  %-14swritable by NT SERVICE\\%s (%s)%s\n", "logs:", logs_utf8, "",
           name_utf8, sid_utf8, local_service ? " and LocalService (S-1-5-19)" : "");
  }
  free(logs);
  free(logs_utf8);
  free(name_utf8);
  free(sid_utf8);
}
