"""Mount, control and unmount one LazyFS instance (standard library only).

LazyFS (github.com/dsrhaslab/lazyfs) is a FUSE file system that keeps written data in
its own page cache until the writer fsyncs/fdatasyncs the file. Its control FIFO takes
one command per line; "lazyfs::clear-cache" drops every byte that was not synced,
which is what a power cut does to the kernel's page cache. Metadata operations
(create, rename, unlink, mkdir) pass straight through to the backing directory.
"""

import os
import re
import signal
import subprocess
import time

DEFAULT_BIN = os.environ.get(
    "LAZYFS_BIN", os.path.join(os.environ.get("LAZYFS_BUILD", "/tmp/lazyfs-build"), "lazyfs/build/lazyfs"))
# LazyFS pre-allocates the whole cache at mount (1 GiB takes ~4 s here). With
# apply_eviction=false a *full* cache writes new data straight through to the backing
# file, where clear-cache can no longer drop it, so the harness checks usage at the cut.
DEFAULT_CACHE = os.environ.get("LAZYFS_CACHE", "256mb")


class LazyFSError(RuntimeError):
    pass


def is_mounted(path):
    path = os.path.realpath(path)
    with open("/proc/self/mountinfo") as f:
        for line in f:
            fields = line.split()
            mnt = fields[4].replace("\\040", " ")
            if mnt == path:
                return True
    return False


class LazyFS:
    """One LazyFS process serving `mnt` from backing directory `root`.

    All control files (config, FIFOs, log) live in `ctl_dir`, on normal disk.
    """

    def __init__(self, root, mnt, ctl_dir, binary=DEFAULT_BIN, cache_size=DEFAULT_CACHE, tag="lazyfs"):
        self.root = os.path.realpath(root)
        self.mnt = os.path.realpath(mnt)
        self.ctl_dir = os.path.realpath(ctl_dir)
        self.binary = binary
        self.cache_size = cache_size
        self.tag = tag
        self.fifo = os.path.join(self.ctl_dir, tag + ".faults.fifo")
        self.done_fifo = os.path.join(self.ctl_dir, tag + ".done.fifo")
        self.config = os.path.join(self.ctl_dir, tag + ".toml")
        self.log_path = os.path.join(self.ctl_dir, tag + ".log")
        self.proc = None
        self._done_fd = None
        self._log_f = None
        self._log_pos = 0
        self.mounts = 0

    # ---- lifecycle -------------------------------------------------------------

    def mount(self, timeout=60.0):
        if not os.access(self.binary, os.X_OK):
            raise LazyFSError(f"LazyFS binary not found at {self.binary}: run bench/powercut/setup.sh")
        if self.proc is not None:
            raise LazyFSError("already mounted")
        if "-o" in self.config.lower():
            # LazyFS's main() ignores a --config-path argument containing "-o" (any case)
            # and falls back to ./config/default.toml.
            raise LazyFSError(f"LazyFS cannot take a config path containing '-o': {self.config}")
        if is_mounted(self.mnt):
            raise LazyFSError(f"{self.mnt} is already a mount point")
        os.makedirs(self.root, exist_ok=True)
        os.makedirs(self.mnt, exist_ok=True)
        with open(self.config, "w") as f:
            f.write(
                "[faults]\n"
                f'fifo_path="{self.fifo}"\n'
                f'fifo_path_completed="{self.done_fifo}"\n'
                "[cache]\n"
                "apply_eviction=false\n"
                "[cache.simple]\n"
                f'custom_size="{self.cache_size}"\n'
                "blocks_per_page=1\n"
                "[filesystem]\n"
                "log_all_operations=false\n"
                'logfile=""\n'
            )
        for p in (self.fifo, self.done_fifo):
            if os.path.exists(p):
                os.unlink(p)
            os.mkfifo(p, 0o600)
        # LazyFS's fault worker opens the "completed" FIFO for writing with a blocking
        # open(); holding a reader open first lets that open succeed at once.
        self._done_fd = os.open(self.done_fifo, os.O_RDONLY | os.O_NONBLOCK)
        self._log_f = open(self.log_path, "ab")
        self._log_pos = self._log_f.tell()
        self.proc = subprocess.Popen(
            [self.binary, self.mnt, "--config-path", self.config,
             "-o", "allow_other", "-o", "modules=subdir", "-o", f"subdir={self.root}", "-f"],
            stdin=subprocess.DEVNULL, stdout=self._log_f, stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.mounts += 1
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise LazyFSError(f"LazyFS exited with {self.proc.returncode} while mounting; "
                                  f"log tail:\n{self.log_tail()}")
            if is_mounted(self.mnt) and "waiting for fault commands" in self._log_since_mount():
                return
            time.sleep(0.05)
        raise LazyFSError(f"LazyFS did not come up within {timeout}s; log tail:\n{self.log_tail()}")

    def unmount(self, timeout=20.0):
        """fusermount3 -u (lazy -z as a last resort), then reap the LazyFS process."""
        err = ""
        deadline = time.monotonic() + timeout
        while is_mounted(self.mnt) and time.monotonic() < deadline:
            r = subprocess.run(["fusermount3", "-u", self.mnt], capture_output=True, text=True)
            if r.returncode == 0:
                break
            err = r.stderr.strip()
            time.sleep(0.2)
        if is_mounted(self.mnt):
            subprocess.run(["fusermount3", "-u", "-z", self.mnt], capture_output=True)
            err += " (lazy unmount used)"
        if self.proc is not None:
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._signal(signal.SIGTERM)
                try:
                    self.proc.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    self._signal(signal.SIGKILL)
                    self.proc.wait(timeout=5)
            self.proc = None
        if self._done_fd is not None:
            os.close(self._done_fd)
            self._done_fd = None
        if self._log_f is not None:
            self._log_f.close()
            self._log_f = None
        if is_mounted(self.mnt):
            raise LazyFSError(f"could not unmount {self.mnt}: {err}")
        return err

    def kill(self):
        """Emergency stop: used only on cleanup paths."""
        if self.proc is not None and self.proc.poll() is None:
            self._signal(signal.SIGKILL)
        try:
            self.unmount(timeout=5)
        except LazyFSError:
            pass

    def _signal(self, sig):
        try:
            os.kill(self.proc.pid, sig)
        except ProcessLookupError:
            pass

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    # ---- fault commands --------------------------------------------------------

    def _send(self, command, timeout=5.0):
        deadline = time.monotonic() + timeout
        while True:
            try:
                fd = os.open(self.fifo, os.O_WRONLY | os.O_NONBLOCK)
                break
            except OSError as e:  # ENXIO: no reader yet
                if time.monotonic() > deadline:
                    raise LazyFSError(f"cannot open {self.fifo}: {e}")
                time.sleep(0.01)
        try:
            # LazyFS reads up to 100 bytes per read() and treats each read as one
            # command, so send one short line per write.
            os.write(fd, (command + "\n").encode())
        finally:
            os.close(fd)

    def clear_cache(self, timeout=30.0):
        """Drop all un-fsynced data; returns once LazyFS reports it done."""
        self._drain_done()
        self._send("lazyfs::clear-cache")
        buf = b""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                chunk = os.read(self._done_fd, 4096)
            except BlockingIOError:
                chunk = b""
            buf += chunk
            if b"finished::clear-cache" in buf:
                return
            if not self.alive():
                raise LazyFSError(f"LazyFS died during clear-cache; log tail:\n{self.log_tail()}")
            time.sleep(0.002)
        raise LazyFSError("no finished::clear-cache from LazyFS within %ss" % timeout)

    def _drain_done(self):
        try:
            while os.read(self._done_fd, 4096):
                pass
        except BlockingIOError:
            pass

    def _query(self, command, pattern, timeout=5.0):
        start = len(self._log_since_mount())
        self._send(command)
        rx = re.compile(pattern)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            m = rx.search(self._log_since_mount()[start:])
            if m:
                return m
            time.sleep(0.01)
        return None

    def cache_usage_percent(self):
        """Percentage of cache pages in use (None if LazyFS did not answer)."""
        m = self._query("lazyfs::display-cache-usage", r"cache usage \(%pages\) is ([0-9.]+)%")
        return float(m.group(1)) if m else None

    def unsynced_bytes(self):
        """Total bytes LazyFS holds that were never fsynced (None if no answer)."""
        m = self._query("lazyfs::unsynced-data-report",
                        r"total number of bytes un-fsynced: (\d+) bytes|(all data blocks are synced)")
        if m is None:
            return None
        return 0 if m.group(2) else int(m.group(1))

    # ---- logs ------------------------------------------------------------------

    def _log_since_mount(self):
        try:
            with open(self.log_path, "rb") as f:
                f.seek(self._log_pos)
                return f.read().decode(errors="replace")
        except FileNotFoundError:
            return ""

    def log_tail(self, n=15):
        return "\n".join(self._log_since_mount().splitlines()[-n:])
