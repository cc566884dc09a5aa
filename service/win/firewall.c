/*
 * The Windows Firewall rule of a service, through INetFwPolicy2 (see
 * firewall.h). COM is initialised and released around each call: install
 * and uninstall are short command-line runs, and the MSI runs them as
 * custom actions in a process of their own.
 */
#define COBJMACROS
#include <windows.h>
#include <initguid.h>
#include <netfw.h>
#include <stdio.h>
#include <stdlib.h>
#include <wchar.h>

#include "firewall.h"
#include "utf8_files.h"

#define RULE_GROUP L"iocpd"

wchar_t *firewall_rule_name(const wchar_t *service, int udp) {
  size_t n = wcslen(service) + 16;
  wchar_t *name = malloc(n * sizeof(*name));
  if (name != NULL) swprintf(name, n, udp ? L"iocpd (%ls) UDP" : L"iocpd (%ls)", service);
  return name;
}

/* The HRESULT's text, or its number. */
static void describe(HRESULT hr, const char *what, char *why, size_t why_len) {
  wchar_t text[256];
  char *utf8;
  DWORD n = FormatMessageW(FORMAT_MESSAGE_FROM_SYSTEM | FORMAT_MESSAGE_IGNORE_INSERTS, NULL,
                           (DWORD)hr, 0, text, sizeof(text) / sizeof(text[0]), NULL);
  while (n > 0 && (text[n - 1] == L'\r' || text[n - 1] == L'\n' || text[n - 1] == L'.')) n--;
  text[n] = L'\0';
  utf8 = n > 0 ? iocpd__utf16_to_utf8(text) : NULL;
  snprintf(why, why_len, "%s: %s (0x%08lx)", what, utf8 != NULL ? utf8 : "error",
           (unsigned long)hr);
  free(utf8);
}

/* The firewall's rules collection, COM initialised; NULL after filling why. */
static INetFwRules *open_rules(INetFwPolicy2 **policy, int *com, char *why, size_t why_len) {
  INetFwRules *rules = NULL;
  HRESULT hr = CoInitializeEx(NULL, COINIT_APARTMENTTHREADED);
  *policy = NULL;
  *com = SUCCEEDED(hr);
  if (FAILED(hr) && hr != RPC_E_CHANGED_MODE) {
    describe(hr, "cannot start COM", why, why_len);
    return NULL;
  }
  hr = CoCreateInstance(&CLSID_NetFwPolicy2, NULL, CLSCTX_INPROC_SERVER, &IID_INetFwPolicy2,
                        (void **)policy);
  if (FAILED(hr)) {
    describe(hr, "cannot reach the Windows Firewall", why, why_len);
    return NULL;
  }
  hr = INetFwPolicy2_get_Rules(*policy, &rules);
  if (FAILED(hr)) {
    describe(hr, "cannot read the firewall rules", why, why_len);
    return NULL;
  }
  return rules;
}

static void close_rules(INetFwPolicy2 *policy, INetFwRules *rules, int com) {
  if (rules != NULL) INetFwRules_Release(rules);
  if (policy != NULL) INetFwPolicy2_Release(policy);
  if (com) CoUninitialize();
}

/* Sets the rule's fields; returns the first failing HRESULT or S_OK. */
static HRESULT describe_rule(INetFwRule *rule, BSTR name, BSTR exe, BSTR service, BSTR group,
                             BSTR text, LONG protocol) {
  HRESULT hr;
  if (FAILED(hr = INetFwRule_put_Name(rule, name))) return hr;
  if (FAILED(hr = INetFwRule_put_Description(rule, text))) return hr;
  if (FAILED(hr = INetFwRule_put_Grouping(rule, group))) return hr;
  if (FAILED(hr = INetFwRule_put_ApplicationName(rule, exe))) return hr;
  if (FAILED(hr = INetFwRule_put_ServiceName(rule, service))) return hr;
  /* The protocol first: ports and ICMP settings depend on it. */
  if (FAILED(hr = INetFwRule_put_Protocol(rule, protocol))) return hr;
  if (FAILED(hr = INetFwRule_put_Direction(rule, NET_FW_RULE_DIR_IN))) return hr;
  if (FAILED(hr = INetFwRule_put_Action(rule, NET_FW_ACTION_ALLOW))) return hr;
  if (FAILED(hr = INetFwRule_put_Profiles(rule, NET_FW_PROFILE2_ALL))) return hr;
  return INetFwRule_put_Enabled(rule, VARIANT_TRUE);
}

/* Adds (or replaces) one rule of service for protocol udp (0 TCP, 1 UDP)
 * to rules. Returns S_OK, or the failing HRESULT with its text in why. */
static HRESULT add_rule(INetFwRules *rules, const wchar_t *service, const wchar_t *exe, int udp,
                        char *why, size_t why_len) {
  INetFwRule *rule = NULL;
  wchar_t *name = firewall_rule_name(service, udp);
  BSTR b_name = NULL, b_exe = NULL, b_service = NULL, b_group = NULL, b_text = NULL;
  HRESULT hr = E_OUTOFMEMORY;

  if (name != NULL) {
    b_name = SysAllocString(name);
    b_exe = SysAllocString(exe);
    b_service = SysAllocString(service);
    b_group = SysAllocString(RULE_GROUP);
    b_text =
        SysAllocString(udp ? L"Inbound UDP datagrams to the listeners of this iocpd service"
                           : L"Inbound TCP connections to the listeners of this iocpd service");
  }
  if (b_name == NULL || b_exe == NULL || b_service == NULL || b_group == NULL || b_text == NULL) {
    describe(hr, "cannot make the rule", why, why_len);
    goto out;
  }
  hr = CoCreateInstance(&CLSID_NetFwRule, NULL, CLSCTX_INPROC_SERVER, &IID_INetFwRule,
                        (void **)&rule);
  if (FAILED(hr)) {
    describe(hr, "cannot make a firewall rule", why, why_len);
    goto out;
  }
  hr = describe_rule(rule, b_name, b_exe, b_service, b_group, b_text,
                     udp ? NET_FW_IP_PROTOCOL_UDP : NET_FW_IP_PROTOCOL_TCP);
  if (FAILED(hr)) {
    describe(hr, "cannot set up the firewall rule", why, why_len);
    goto out;
  }
  /* One rule per service and protocol: an earlier one of that name is
   * replaced. */
  INetFwRules_Remove(rules, b_name);
  hr = INetFwRules_Add(rules, rule);
  if (FAILED(hr)) describe(hr, "cannot add the firewall rule", why, why_len);
out:
  if (rule != NULL) INetFwRule_Release(rule);
  SysFreeString(b_name);
  SysFreeString(b_exe);
  SysFreeString(b_service);
  SysFreeString(b_group);
  SysFreeString(b_text);
  free(name);
  return hr;
}

long firewall_add(const wchar_t *service, const wchar_t *exe, char *why, size_t why_len) {
  INetFwPolicy2 *policy;
  INetFwRules *rules;
  HRESULT hr;
  int com;

  rules = open_rules(&policy, &com, why, why_len);
  if (rules == NULL) {
    close_rules(policy, NULL, com);
    return -1;
  }
  hr = add_rule(rules, service, exe, 0, why, why_len);
  if (SUCCEEDED(hr)) hr = add_rule(rules, service, exe, 1, why, why_len);
  close_rules(policy, rules, com);
  return FAILED(hr) ? (long)hr : 0;
}

/* Removes rule `name` from rules if it is there: 1 removed, 0 not there
 * (or the firewall cannot say), or the failing HRESULT with its text in
 * why. */
static long remove_rule(INetFwRules *rules, const wchar_t *name, char *why, size_t why_len) {
  INetFwRule *rule = NULL;
  BSTR b_name = SysAllocString(name);
  HRESULT hr = S_OK;
  long removed = 0;

  if (b_name == NULL) {
    describe(E_OUTOFMEMORY, "cannot name the rule", why, why_len);
    return (long)E_OUTOFMEMORY;
  }
  if (SUCCEEDED(INetFwRules_Item(rules, b_name, &rule)) && rule != NULL) {
    INetFwRule_Release(rule);
    hr = INetFwRules_Remove(rules, b_name);
    if (FAILED(hr)) describe(hr, "cannot remove the firewall rule", why, why_len);
    removed = SUCCEEDED(hr);
  }
  SysFreeString(b_name);
  return FAILED(hr) ? (long)hr : removed;
}

long firewall_remove(const wchar_t *service, char *why, size_t why_len) {
  INetFwPolicy2 *policy;
  INetFwRules *rules;
  wchar_t *tcp = firewall_rule_name(service, 0), *udp = firewall_rule_name(service, 1);
  long r = 0, r_udp;
  int com;

  if (tcp == NULL || udp == NULL) {
    free(tcp);
    free(udp);
    describe(E_OUTOFMEMORY, "cannot name the rule", why, why_len);
    return (long)E_OUTOFMEMORY;
  }
  rules = open_rules(&policy, &com, why, why_len);
  /* Only a rule that is there is removed: a firewall that cannot be read
   * (or says it has no such rule) leaves nothing to undo. A service
   * installed before the UDP rule existed has the TCP one only. */
  if (rules != NULL) {
    r = remove_rule(rules, tcp, why, why_len);
    if (r >= 0) {
      r_udp = remove_rule(rules, udp, why, why_len);
      r = r_udp < 0 ? r_udp : (r || r_udp);
    }
  }
  free(tcp);
  free(udp);
  close_rules(policy, rules, com);
  return r;
}
