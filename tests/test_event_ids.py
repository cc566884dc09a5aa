"""Event ids are a contract: admins alert on them, so an id never changes
meaning, and the three places that define them agree.

  sources_agree         service/win/messages.mc (the message table the
                        Event Log shows), service/log.h (the ids the code
                        logs with) and README's "Event ids" table list the
                        same ids, with the same level (Informational/info,
                        Warning/warning, Error/error)
  ids_keep_their_meaning
                        every id that ever shipped keeps its symbolic name
                        (FROZEN below): an id may be added, never renamed,
                        reused or removed
  checker_sees_a_mismatch
                        the comparison reports a changed level, a missing
                        id and a renamed id in altered copies of the
                        sources (so that a checker that reads nothing
                        cannot pass)

Run: python3 tests/test_event_ids.py (reads the sources; no iocpd needed).
"""

import sys

sys.dont_write_bytecode = True

import os
import re
import unittest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# Every event id that has shipped, with its message table name. Add new
# ones here when they are added; never change or remove a line.
FROZEN = {
    1000: "MSG_STARTING",
    1001: "MSG_LISTENER_STARTED",
    1002: "MSG_RUNNING",
    1003: "MSG_STOP_REQUESTED",
    1004: "MSG_DRAIN_PROGRESS",
    1005: "MSG_DRAIN_FINISHED",
    1006: "MSG_STOPPED",
    1007: "MSG_RELOADED",
    1008: "MSG_UPSTREAM_UP",
    1100: "MSG_INFO",
    2000: "MSG_WARNING",
    2001: "MSG_UPSTREAM_DOWN",
    2002: "MSG_PROXY_REFUSED",
    3000: "MSG_CONFIG_ERROR",
    3001: "MSG_START_FAILED",
    3002: "MSG_ERROR",
    3003: "MSG_RELOAD_FAILED",
}

MC_LEVEL = {"Informational": "info", "Success": "info", "Warning": "warning", "Error": "error"}


def read(path):
    with open(os.path.join(ROOT, path), encoding="utf-8") as f:
        return f.read()


def message_table(text):
    """{id: (symbolic name, level)} from a .mc file."""
    out = {}
    for block in re.split(r"\n\s*\n", text):
        m_id = re.search(r"^MessageId=(\d+)", block, re.M)
        if m_id is None:
            continue
        sev = re.search(r"^Severity=(\w+)", block, re.M)
        sym = re.search(r"^SymbolicName=(\w+)", block, re.M)
        out[int(m_id.group(1))] = (sym.group(1) if sym else None,
                                   MC_LEVEL.get(sev.group(1) if sev else "", "?"))
    return out


def code_ids(text):
    """{id: EV_ name} from the enum in service/log.h."""
    return {int(n): name for name, n in re.findall(r"\b(EV_[A-Z_]+)\s*=\s*(\d+)", text)}


def readme_table(text):
    """{id: level} from README's "### Event ids" table; its first level
    word ("info/debug" is info)."""
    section = text.split("### Event ids", 1)[1].split("\n## ", 1)[0]
    out = {}
    for m in re.finditer(r"^\|\s*(\d+)\s*\|\s*([a-z]+)[^|]*\|", section, re.M):
        out[int(m.group(1))] = m.group(2)
    return out


def disagreements(mc_text, log_h_text, readme_text):
    """Every way the three sources and FROZEN disagree, as sentences."""
    mc, code, doc = message_table(mc_text), code_ids(log_h_text), readme_table(readme_text)
    problems = []
    for i in sorted(set(mc) | set(code) | set(doc)):
        where = [name for name, ids in (("messages.mc", mc), ("service/log.h", code),
                                        ("README", doc)) if i not in ids]
        if where:
            problems.append("event %d is missing from %s" % (i, ", ".join(where)))
            continue
        if mc[i][1] != doc[i]:
            problems.append("event %d: messages.mc says %s, README says %s"
                            % (i, mc[i][1], doc[i]))
    for i, name in sorted(FROZEN.items()):
        if i not in mc:
            problems.append("event %d (%s) was removed: ids are never removed" % (i, name))
        elif mc[i][0] != name:
            problems.append("event %d is now %s, was %s: an id never changes meaning"
                            % (i, mc[i][0], name))
    for i in sorted(set(mc) - set(FROZEN)):
        problems.append("event %d (%s) is new: add it to FROZEN in this test"
                        % (i, mc[i][0]))
    return problems


class EventIdsTest(unittest.TestCase):

    def setUp(self):
        self.mc = read("service/win/messages.mc")
        self.log_h = read("service/log.h")
        self.readme = read("README.md")

    def test_sources_agree(self):
        self.assertEqual(len(message_table(self.mc)), len(FROZEN))
        self.assertEqual(disagreements(self.mc, self.log_h, self.readme), [])

    def test_ids_keep_their_meaning(self):
        table = message_table(self.mc)
        for i, name in FROZEN.items():
            self.assertEqual(table.get(i, (None,))[0], name, "event %d" % i)

    def test_checker_sees_a_mismatch(self):
        level = self.readme.replace("| 2000 | warning |", "| 2000 | error |")
        self.assertIn("event 2000: messages.mc says warning, README says error",
                      disagreements(self.mc, self.log_h, level))
        missing = self.readme.replace("| 1007 | info |", "| 1070 | info |")
        found = disagreements(self.mc, self.log_h, missing)
        self.assertIn("event 1007 is missing from README", found)
        self.assertIn("event 1070 is missing from messages.mc, service/log.h", found)
        renamed = self.mc.replace("SymbolicName=MSG_RELOADED", "SymbolicName=MSG_REREAD")
        self.assertIn("event 1007 is now MSG_REREAD, was MSG_RELOADED: an id never changes "
                      "meaning", disagreements(renamed, self.log_h, self.readme))


if __name__ == "__main__":
    unittest.main(verbosity=2)
