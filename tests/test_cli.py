"""Command line: --version, --help, usage errors (exit 2), check-config
(exit 0 for a valid file, 1 for an invalid one), and help-config, whose
key reference must agree with README's."""

import sys

sys.dont_write_bytecode = True

import os
import re
import unittest

import harness as t


class CliTest(unittest.TestCase):
    def setUp(self):
        self.workdir = t.Workdir()

    def tearDown(self):
        self.workdir.cleanup()

    def run_iocpd(self, *args):
        return t.run_cli(list(args), self.workdir)

    def test_version(self):
        r = self.run_iocpd("--version")
        self.assertEqual(r.rc, 0, r)
        self.assertRegex(r.stdout, r"(?m)^iocpd 0\.1\.0\r?$")

    def test_help(self):
        r = self.run_iocpd("--help")
        self.assertEqual(r.rc, 0, r)
        self.assertRegex(r.stdout, r"\brun\b")
        self.assertRegex(r.stdout, r"\bcheck-config\b")
        self.assertRegex(r.stdout, r"-c\b")

    def test_no_arguments_is_usage_error(self):
        r = self.run_iocpd()
        self.assertEqual(r.rc, 2, r)
        self.assertRegex(r.stderr, r"(?i)usage")

    def test_unknown_command_is_usage_error(self):
        r = self.run_iocpd("frobnicate")
        self.assertEqual(r.rc, 2, r)
        self.assertRegex(r.stderr, r"frobnicate|(?i:usage)")

    def test_unknown_option_is_usage_error(self):
        r = self.run_iocpd("run", "--no-such-option")
        self.assertEqual(r.rc, 2, r)

    def test_config_option_without_file_is_usage_error(self):
        r = self.run_iocpd("run", "-c")
        self.assertEqual(r.rc, 2, r)
        r = self.run_iocpd("check-config", "-c")
        self.assertEqual(r.rc, 2, r)

    def test_check_config_good(self):
        port = t.free_ports(1)[0]
        self.workdir.write("good.ini", t.config_text(
            [("echo", t.addr(port), "echo")],
            service={"workers": 0, "drain_timeout": "30s", "log_level": "info"}))
        r = self.run_iocpd("check-config", "-c", "good.ini")
        self.assertEqual(r.rc, 0, r)
        # Checking must not start anything.
        self.assertFalse(t.port_accepts(port))

    def test_check_config_bad_value(self):
        self.workdir.write("bad.ini", t.config_text(
            [("echo", "127.0.0.1:7007", "echo")],
            service={"workers": 0, "drain_timeout": "soon"}))
        r = self.run_iocpd("check-config", "-c", "bad.ini")
        self.assertEqual(r.rc, 1, r)
        # The problem is reported against the file and the offending line.
        self.assertRegex(r.stderr, r"bad\.ini:3\b")

    def test_check_config_missing_file(self):
        r = self.run_iocpd("check-config", "-c", "missing.ini")
        self.assertEqual(r.rc, 1, r)
        self.assertIn("missing.ini", r.stderr)

    def test_example_udp_section(self):
        # The example config is valid as shipped (echo on loopback only), and
        # so is its commented UDP relay once uncommented; TCP and UDP
        # listeners may share its address.
        example = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..",
                               "iocpd.ini.example")
        with open(example, encoding="utf-8") as f:
            text = f.read()
        start = text.index(";[listener:dns]")
        self.assertNotIn("\n[listener:dns]", text)
        lines = [line[1:] if line.startswith(";") else line
                 for line in text[start:].splitlines()]
        self.assertIn("protocol = udp           ; tcp (the default) or udp", lines)
        udp = text[:start] + "\n".join(lines) + "\n"
        self.workdir.write("shipped.ini", text)
        self.workdir.write("udp.ini", udp)
        self.workdir.write("both.ini", udp + "[listener:dns-tcp]\nlisten = 127.0.0.1:5353\n"
                           "handler = echo\n")
        for name in ("shipped.ini", "udp.ini", "both.ini"):
            r = self.run_iocpd("check-config", "-c", name)
            self.assertEqual(r.rc, 0, (name, r))
            self.assertNotIn("%s:" % name, r.stderr)  # no problem, no warning
        # A UDP listener refuses a key of connections, with its line.
        self.workdir.write("bad.ini", udp + "buffer_size = 4k\n")
        r = self.run_iocpd("check-config", "-c", "bad.ini")
        self.assertEqual(r.rc, 1, r)
        self.assertIn("bad.ini:%d: buffer_size: means nothing for a UDP listener (protocol = udp)"
                      % (len(udp.splitlines()) + 1), r.stderr)

    def test_help_config_matches_readme(self):
        r = self.run_iocpd("help-config")
        self.assertEqual(r.rc, 0, r)
        lines = r.stdout.replace("\r\n", "\n").splitlines()
        self.assertRegex(lines[0], r"^section\s+key\s+default\s+meaning$")
        table = []
        section = None
        for line in lines[1:]:
            m = re.match(r"^(\S*)\s+(\S+)\s+(\S+)\s+(.*)$", line)
            self.assertIsNotNone(m, "unexpected help-config line %r" % line)
            section = m.group(1) or section
            table.append((section, m.group(2), m.group(3), m.group(4)))
        self.assertGreaterEqual(len(table), 19)
        # README's "Key reference": | [section] | `key` | `default` | meaning |
        readme = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "README.md")
        with open(readme, encoding="utf-8") as f:
            text = f.read()
        part = text.split("### Key reference", 1)[1].split("\n#", 1)[0]
        documented = []
        for row in re.findall(r"^\|(.*)\|\s*$", part, re.M):
            cells = [c.strip() for c in row.split("|")]
            if cells[0] in ("section", "") or set(cells[0]) <= set("-: "):
                if cells[0] == "":
                    cells[0] = documented[-1][0] if documented else ""
                else:
                    continue
            documented.append((cells[0], cells[1].strip("`"), cells[2].strip("`"), cells[3]))
        self.assertEqual(documented, table, "README's key reference and `iocpd help-config` "
                         "disagree")

    def test_run_bad_config_exits_1(self):
        self.workdir.write("bad.ini", t.config_text(
            [("echo", "127.0.0.1:99999", "echo")]))
        r = self.run_iocpd("run", "-c", "bad.ini")
        self.assertEqual(r.rc, 1, r)
        self.assertIn("bad.ini", r.stderr)


if __name__ == "__main__":
    t.main(time_limit=(60, 300))
