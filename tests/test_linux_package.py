"""iocpd as a Linux package (cmake/linux_package.cmake, packaging/linux/):

  Install.runtime          `cmake --install --component runtime` with the
                           prefix /usr (in a DESTDIR) installs exactly
                           usr/bin/iocpd, etc/iocpd/iocpd.ini and
                           usr/lib/systemd/system/iocpd.service; the unit
                           runs that binary on that config; the config
                           passes check-config, also with its access_log
                           line (in /var/log/iocpd) turned on
  Install.config_kept      an iocpd.ini already there is left as it was
  Install.other_prefix     another prefix: PREFIX/etc/iocpd/iocpd.ini, and
                           the unit names PREFIX's binary and config
  Unit.settings            Type=notify, ExecReload, DynamicUser,
                           NoNewPrivileges, ProtectSystem=strict, the
                           capability, and a LogsDirectory= that is where
                           the example config's access log goes
  Unit.verify              `systemd-analyze verify` of the installed unit
                           prints nothing (it exits 0 on warnings, so the
                           output is what counts; a planted unknown key
                           must be reported, to prove that)
  Deb.install_remove       (root) the .deb from CPack: its fields, its
                           files (the service's only), conffiles and
                           maintainer scripts; `dpkg -i` puts the files in
                           place and iocpd runs check-config on
                           /etc/iocpd/iocpd.ini, systemd-analyze verifies
                           the installed unit; an edited config survives a
                           reinstall; `dpkg -r` removes all but the config
                           (and the link `systemctl enable` made),
                           `dpkg --purge` the config too

Deb runs only as root, and only where no iocpd is installed (it never
touches an installation of the machine's); it removes what it installed,
also when it fails. Native builds only: exits 77 under Wine.

Environment: IOCPD_BUILD_DIR (the build), IOCPD_PLATFORM, IOCPD_VERSION
(the project's), CMAKE_COMMAND and CPACK_COMMAND (default cmake, cpack).
Run: IOCPD_BUILD_DIR=build IOCPD_VERSION=0.1.0 python3
tests/test_linux_package.py."""

import sys

sys.dont_write_bytecode = True

import os
import shutil
import stat
import subprocess
import tempfile
import unittest

BUILD = os.path.abspath(os.environ.get("IOCPD_BUILD_DIR", "build"))
CMAKE = os.environ.get("CMAKE_COMMAND", "cmake")
CPACK = os.environ.get("CPACK_COMMAND", "cpack")
VERSION = os.environ.get("IOCPD_VERSION", "")

CONFIG = "etc/iocpd/iocpd.ini"
UNIT = "usr/lib/systemd/system/iocpd.service"
BINARY = "usr/bin/iocpd"
LOG_LINE = ";access_log = /var/log/iocpd/access.log"


def run(args, check=True, **kw):
    """Runs args with no input; returns (exit code, stdout and stderr)."""
    r = subprocess.run(args, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, text=True, timeout=120, **kw)
    if check and r.returncode != 0:
        raise AssertionError("exit %d: %s\n%s" % (r.returncode, " ".join(args), r.stdout))
    return r.returncode, r.stdout


def install(prefix, destdir=None):
    """cmake --install of the runtime component; returns the root under
    which the files are (destdir, or / without one)."""
    env = dict(os.environ)
    env.pop("DESTDIR", None)
    if destdir is not None:
        env["DESTDIR"] = destdir
    run([CMAKE, "--install", BUILD, "--prefix", prefix, "--component", "runtime"], env=env)
    return destdir or "/"


def files_under(root):
    """Every file and link under root, as paths relative to it."""
    found = []
    for top, dirs, names in os.walk(root):
        for n in names:
            found.append(os.path.relpath(os.path.join(top, n), root))
    return sorted(found)


def unit_settings(path):
    """The unit's settings as {(section, key): [values, in order]}."""
    values = {}
    section = None
    with open(path) as f:
        for line in f:
            line = line.strip()
            if not line or line[0] in "#;":
                continue
            if line.startswith("["):
                section = line.strip("[]")
                continue
            key, _, value = line.partition("=")
            values.setdefault((section, key), []).append(value)
    return values


def read(path):
    with open(path) as f:
        return f.read()


def verify_unit(test, path):
    """systemd-analyze verify: the unit must load with nothing to say."""
    tool = shutil.which("systemd-analyze")
    test.assertIsNotNone(tool, "systemd-analyze not found: scripts/deps.sh installs systemd")
    rc, out = run([tool, "verify", "--man=no", path], check=False)
    test.assertEqual((rc, out.strip()), (0, ""), "systemd-analyze verify %s" % path)


def check_config(test, binary, config):
    rc, out = run([binary, "check-config", "-c", config], check=False)
    test.assertEqual(rc, 0, out)
    test.assertIn(": OK", out)


class Install(unittest.TestCase):

    def setUp(self):
        self.work = tempfile.mkdtemp(prefix="iocpd-linux-install-")

    def tearDown(self):
        shutil.rmtree(self.work, ignore_errors=True)

    def test_runtime(self):
        root = install("/usr", os.path.join(self.work, "root"))
        self.assertEqual(files_under(root), sorted([BINARY, CONFIG, UNIT]))
        unit = unit_settings(os.path.join(root, UNIT))
        self.assertEqual(unit[("Service", "ExecStart")],
                         ["/usr/bin/iocpd run -c /etc/iocpd/iocpd.ini"])
        config = os.path.join(root, CONFIG)
        text = read(config)
        self.assertIn("\n" + LOG_LINE, text,
                      "the example's access_log line points to /var/log/iocpd")
        binary = os.path.join(root, BINARY)
        self.assertTrue(os.access(binary, os.X_OK))
        check_config(self, binary, config)
        on = os.path.join(self.work, "on.ini")
        with open(on, "w") as f:
            f.write(text.replace(LOG_LINE, LOG_LINE[1:]))
        self.assertNotEqual(read(on), text)
        check_config(self, binary, on)

    def test_config_kept(self):
        root = os.path.join(self.work, "root")
        os.makedirs(os.path.join(root, "etc/iocpd"))
        mine = "; the administrator's own\n[listener:x]\nlisten = 127.0.0.1:1\nhandler = echo\n"
        with open(os.path.join(root, CONFIG), "w") as f:
            f.write(mine)
        install("/usr", root)
        self.assertEqual(read(os.path.join(root, CONFIG)), mine)
        self.assertEqual(files_under(root), sorted([BINARY, CONFIG, UNIT]))

    def test_other_prefix(self):
        prefix = os.path.join(self.work, "opt")
        install(prefix)
        self.assertEqual(files_under(prefix),
                         sorted(["bin/iocpd", "etc/iocpd/iocpd.ini",
                                 "lib/systemd/system/iocpd.service"]))
        unit = unit_settings(os.path.join(prefix, "lib/systemd/system/iocpd.service"))
        self.assertEqual(unit[("Service", "ExecStart")],
                         ["%s/bin/iocpd run -c %s/etc/iocpd/iocpd.ini" % (prefix, prefix)])


class Unit(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        # Installed under a prefix of its own (no DESTDIR), so that the
        # unit names a binary that exists, which verify checks.
        cls.work = tempfile.mkdtemp(prefix="iocpd-linux-unit-")
        cls.prefix = os.path.join(cls.work, "usr")
        install(cls.prefix)
        cls.unit = os.path.join(cls.prefix, "lib/systemd/system/iocpd.service")

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.work, ignore_errors=True)

    def test_settings(self):
        u = unit_settings(self.unit)
        expected = {
            "Type": "notify",
            "ExecReload": "/bin/kill -HUP $MAINPID",
            "DynamicUser": "yes",
            "NoNewPrivileges": "yes",
            "ProtectSystem": "strict",
            "AmbientCapabilities": "CAP_NET_BIND_SERVICE",
            "CapabilityBoundingSet": "CAP_NET_BIND_SERVICE",
        }
        for key, value in expected.items():
            self.assertEqual(u.get(("Service", key)), [value], key)
        self.assertEqual(u.get(("Install", "WantedBy")), ["multi-user.target"])
        # The one place the service may write, and where the example
        # config puts the access log: /var/log/ + LogsDirectory.
        logs = u.get(("Service", "LogsDirectory"))
        self.assertEqual(logs, ["iocpd"])
        self.assertIn("\n" + LOG_LINE, read(os.path.join(self.prefix, "etc/iocpd/iocpd.ini")))
        self.assertTrue(LOG_LINE.split("= ")[1].startswith("/var/log/%s/" % logs[0]))
        self.assertNotIn(("Service", "ReadWritePaths"), u)

    def test_verify(self):
        verify_unit(self, self.unit)
        # The check notices a problem: verify exits 0 on an unknown key,
        # saying so.
        bad = os.path.join(self.work, "iocpd.service")
        with open(bad, "w") as f:
            f.write(read(self.unit).replace("[Service]\n", "[Service]\nNoSuchKey=1\n"))
        rc, out = run(["systemd-analyze", "verify", "--man=no", bad], check=False)
        self.assertIn("NoSuchKey", out)


def dpkg_status(package):
    rc, out = run(["dpkg-query", "-W", "-f=${db:Status-Abbrev}", package], check=False)
    return out.strip() if rc == 0 else ""


class Deb(unittest.TestCase):

    def setUp(self):
        if os.geteuid() != 0:
            raise unittest.SkipTest("installs a package: root only")
        if shutil.which("dpkg") is None:
            raise unittest.SkipTest("no dpkg")
        taken = [p for p in ("/etc/iocpd", "/" + BINARY, "/" + UNIT,
                             "/lib/systemd/system/iocpd.service") if os.path.lexists(p)]
        if dpkg_status("iocpd") or taken:
            raise unittest.SkipTest("an iocpd is installed on this machine (%s); not touching it"
                                    % (dpkg_status("iocpd") or ", ".join(taken)))
        self.work = tempfile.mkdtemp(prefix="iocpd-linux-deb-")
        self.installed = False
        self.wants = None

    def tearDown(self):
        try:
            if self.installed or dpkg_status("iocpd"):
                run(["dpkg", "--purge", "iocpd"], check=False)
            # The link this test made, if a broken prerm left it.
            if self.wants is not None and os.path.islink(self.wants):
                os.unlink(self.wants)
        finally:
            shutil.rmtree(self.work, ignore_errors=True)

    def build_deb(self):
        run([CPACK, "--config", os.path.join(BUILD, "CPackConfig.cmake"), "-B", self.work])
        debs = [n for n in os.listdir(self.work) if n.endswith(".deb")]
        self.assertEqual(len(debs), 1, debs)
        return os.path.join(self.work, debs[0])

    def check_fields(self, deb):
        _, arch = run(["dpkg", "--print-architecture"])
        _, control = run(["dpkg-deb", "-f", deb])
        fields = dict(line.split(": ", 1) for line in control.splitlines()
                      if ": " in line and not line.startswith(" "))
        self.assertEqual(fields.get("Package"), "iocpd")
        self.assertEqual(fields.get("Version"), VERSION + "-1")
        self.assertEqual(fields.get("Architecture"), arch.strip())
        self.assertEqual(fields.get("Section"), "net")
        self.assertRegex(fields.get("Maintainer", ""), r"\S+ <[^>]+@[^>]+>")
        self.assertEqual(fields.get("Description"), "TCP echo and port-forwarding service")
        depends = [d.split()[0] for d in fields.get("Depends", "").split(", ")]
        self.assertIn("libc6", depends)
        if "IOCPD_INIH_SOURCE_DIR:PATH=\n" in read(os.path.join(BUILD, "CMakeCache.txt")):
            self.assertIn("libinih1", depends, "linked against the system's libinih")

    def check_contents(self, deb):
        _, listing = run(["dpkg-deb", "-c", deb])
        files = sorted(line.split()[-1].lstrip("./") for line in listing.splitlines()
                       if not line.startswith("d"))
        self.assertEqual(files, sorted([BINARY, CONFIG, UNIT]), "the package's files")
        control = os.path.join(self.work, "control")
        run(["dpkg-deb", "-e", deb, control])
        self.assertEqual(read(os.path.join(control, "conffiles")).split(), ["/" + CONFIG])
        for script in ("postinst", "prerm", "postrm"):
            mode = os.stat(os.path.join(control, script)).st_mode
            self.assertEqual(stat.S_IMODE(mode), 0o755, script)
        self.assertEqual(sorted(os.listdir(control)),
                         ["conffiles", "control", "md5sums", "postinst", "postrm", "prerm"])

    def test_install_remove(self):
        deb = self.build_deb()
        self.check_fields(deb)
        self.check_contents(deb)

        self.installed = True
        run(["dpkg", "-i", deb])
        self.assertEqual(dpkg_status("iocpd"), "ii")
        for path in (BINARY, CONFIG, UNIT):
            self.assertTrue(os.path.isfile("/" + path), path)
        _, out = run(["/usr/bin/iocpd", "--version"])
        self.assertEqual(out.strip(), "iocpd " + VERSION)
        rc, out = run(["/usr/bin/iocpd", "check-config"], check=False)
        self.assertEqual((rc, out.strip()), (0, "/etc/iocpd/iocpd.ini: OK"))
        verify_unit(self, "/" + UNIT)
        wants = "/etc/systemd/system/multi-user.target.wants/iocpd.service"
        enabled = shutil.which("systemctl") is not None
        if enabled:
            self.wants = wants
            run(["systemctl", "enable", "iocpd.service"])
            self.assertTrue(os.path.islink(wants))

        # An edited conffile survives a reinstall, without a question.
        with open("/" + CONFIG, "a") as f:
            f.write("; edited by the administrator\n")
        run(["dpkg", "-i", deb])
        self.assertTrue(read("/" + CONFIG).endswith("; edited by the administrator\n"))

        run(["dpkg", "-r", "iocpd"])
        self.assertEqual(dpkg_status("iocpd"), "rc")
        for path in (BINARY, UNIT):
            self.assertFalse(os.path.lexists("/" + path), path)
        self.assertTrue(os.path.isfile("/" + CONFIG), "the config stays until a purge")
        if enabled:
            self.assertFalse(os.path.lexists(wants), "the link `systemctl enable` made")

        run(["dpkg", "--purge", "iocpd"])
        self.assertEqual(dpkg_status("iocpd"), "")
        self.assertFalse(os.path.lexists("/etc/iocpd"))
        self.installed = False


if __name__ == "__main__":
    if os.environ.get("IOCPD_PLATFORM") == "wine":
        print("test_linux_package.py: skipped: the Linux package comes from native builds")
        sys.exit(77)
    if not VERSION:
        sys.exit("IOCPD_VERSION is not set")
    prog = unittest.main(exit=False, verbosity=2)
    sys.exit(0 if prog.result.wasSuccessful() else 1)
