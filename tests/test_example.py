"""examples/upper_echo: the embedding example serves a client and drains.

Runs the example binary (natively, or under Wine through IOCPD_WRAPPER),
sends mixed-case text, expects it back upper-cased, then lets the example's
timer run out and checks that it drains and exits 0.
"""
import os
import shlex
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402


def main():
    exe = os.environ["IOCPD_EXAMPLE_BIN"]
    wrapper = shlex.split(os.environ.get("IOCPD_WRAPPER", ""))
    port = harness.free_ports(1)[0]
    wine = os.environ.get("IOCPD_PLATFORM") == "wine"
    proc = subprocess.Popen(wrapper + [exe, str(port), "8" if wine else "3"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.time() + (30 if wine else 10)
        sock = None
        while time.time() < deadline:
            try:
                sock = socket.create_connection(("127.0.0.1", port), timeout=5)
                break
            except OSError:
                time.sleep(0.1)
        assert sock is not None, "example never listened"
        text = b"Hello, iocpd! 123 abc" * 500
        sock.sendall(text)
        sock.shutdown(socket.SHUT_WR)
        got = b""
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                break
            got += chunk
        sock.close()
        assert got == text.upper(), "got %d bytes, not the upper-cased text" % len(got)
        out, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, "exit %r: %s" % (proc.returncode, err)
        assert b"drained 0, aborted 0" in out, out
        print("upper_echo: %d bytes upper-cased, clean exit" % len(text))
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


if __name__ == "__main__":
    main()
