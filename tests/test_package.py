"""The engine as an embedding program gets it: `cmake --install` of this
build into a fresh prefix, then examples/ configured on its own against
that prefix with find_package(iocpd), built, and run (tests/test_example.py
drives the binary). Also checks that only the public headers are
installed.

Native builds only (exits 77 under Wine: the cross build's install would
need a Windows CMake to consume it).

Environment: IOCPD_BUILD_DIR (the build to install), IOCPD_SOURCE_DIR,
IOCPD_PLATFORM, CMAKE_COMMAND (default cmake), IOCPD_C_COMPILER (the
compiler of that build, so that a sanitizer build links the same runtime).
"""
import os
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))


def run(args, **kw):
    print("$ " + " ".join(args), flush=True)
    r = subprocess.run(args, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, text=True, timeout=300, **kw)
    if r.returncode != 0:
        print(r.stdout)
        raise SystemExit("failed with exit %d: %s" % (r.returncode, " ".join(args)))
    return r.stdout


def main():
    if os.environ.get("IOCPD_PLATFORM") == "wine":
        print("native builds only")
        return 77
    cmake = os.environ.get("CMAKE_COMMAND", "cmake")
    build = os.environ["IOCPD_BUILD_DIR"]
    source = os.environ["IOCPD_SOURCE_DIR"]
    work = tempfile.mkdtemp(prefix="iocpd-package-")
    try:
        prefix = os.path.join(work, "prefix")
        run([cmake, "--install", build, "--prefix", prefix])
        include = sorted(os.listdir(os.path.join(prefix, "include")))
        print("installed headers: %s" % include)
        if include != ["iocpd.h", "iocpd_sys.h"]:
            raise SystemExit("expected exactly the public headers, got %s" % include)
        args = [cmake, "-S", os.path.join(source, "examples"), "-B", os.path.join(work, "ex"),
                "-DCMAKE_PREFIX_PATH=" + prefix, "-DCMAKE_BUILD_TYPE=RelWithDebInfo"]
        cc = os.environ.get("IOCPD_C_COMPILER")
        if cc:
            args.append("-DCMAKE_C_COMPILER=" + cc)
        flags = os.environ.get("IOCPD_C_FLAGS")
        if flags:
            args += ["-DCMAKE_C_FLAGS=" + flags, "-DCMAKE_EXE_LINKER_FLAGS=" + flags]
        run(args)
        run([cmake, "--build", os.path.join(work, "ex")])
        exe = os.path.join(work, "ex", "upper_echo")
        env = dict(os.environ, IOCPD_EXAMPLE_BIN=exe, IOCPD_WRAPPER="")
        r = subprocess.run([sys.executable, os.path.join(HERE, "test_example.py")], env=env,
                           stdin=subprocess.DEVNULL, timeout=120)
        return r.returncode
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
