#!/usr/bin/env python3
"""bench/powercut/run.py: does every write tesserad acknowledged survive a power cut?

Each round: mount LazyFS (a FUSE file system that loses every un-fsynced byte on
command) over a fresh backing directory, start tesserad with its data dir inside the
mount, register an OAuth client with `tessera client add`, drive a concurrent workload
that makes every kind of acknowledged write (accounts, sessions, API tokens, RFC 7009
revocation, operator changes over the admin socket with the real `tessera` CLI, and the
authorization code flow with a browser's cookies, consent and PKCE), and record every
acknowledged effect. At a random moment: freeze the daemon (SIGSTOP), drop LazyFS's
un-fsynced data (lazyfs::clear-cache: the power cut), SIGKILL the daemon, unmount and
remount LazyFS, start the daemon again on the same data dir, and probe every
acknowledged effect.

  bench/powercut/run.py --rounds 50      the power-cut test
  bench/powercut/run.py --kill-only      control: SIGKILL only (no clear-cache): must lose 0
  bench/powercut/run.py --rollback       control: restart on the store as a power cut at
                                         mid-load left it, while the load went on: the
                                         probes must catch the writes acknowledged after
                                         that moment, and only those
  bench/powercut/run.py --selftest       both controls; passes only if each comes out right

Standard library only. Exit: 0 nothing lost; 1 acknowledged writes lost (for
--selftest: the selftest failed); 3 the store did not reopen after a cut (the worst
outcome); 2 the harness could not run a round. See README.md beside this file.
"""

import argparse
import base64
import hashlib
import html
import http.client
import json
import os
import random
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from lazyfs_ctl import DEFAULT_BIN as LAZYFS_BIN, LazyFS, LazyFSError  # noqa: E402

REPO = os.path.dirname(os.path.dirname(HERE))
DEFAULT_TESSERAD = os.path.join(REPO, "target", "release", "tesserad")
EXIT_OK, EXIT_LOST, EXIT_HARNESS, EXIT_NO_REOPEN = 0, 1, 2, 3
CLIENT_ID = "powercut-app"
ROLLBACK_MIN = 15   # --rollback: a kind must be caught once it has this many writes after the snapshot

# Every kind of acknowledged write, in report order. The last two happen once per round,
# before the load: the OAuth client the code flow uses, and the signing key.
KINDS = ["register", "login", "refresh", "logout",
         "api-token-create", "api-token-delete",
         "revoke-refresh", "revoke-access", "revoke-api-token",
         "user-disable", "user-delete", "user-set-password",
         "browser-login", "consent", "authorize", "code-exchange",
         "client-add", "signing-key", "store-files"]

# Relative weights of what a client thread does next. "code-flow" is a sign-in at the
# login page (browser-login, consent; later sign-ins of the same browser: authorize)
# followed by the code exchange. The operator kinds each spawn the `tessera` CLI.
WEIGHTS = [("register", 10), ("login", 7), ("refresh", 20), ("logout", 4),
           ("api-token-create", 7), ("api-token-delete", 3),
           ("revoke-refresh", 3), ("revoke-access", 3), ("revoke-api-token", 3),
           ("user-disable", 1), ("user-delete", 1), ("user-set-password", 1),
           ("code-flow", 8)]

_live_daemons = []   # Daemon objects not yet stopped, for cleanup on any exit path
_live_mounts = []    # LazyFS objects not yet unmounted


def log(msg=""):
    print(msg, flush=True)


# ---------------------------------------------------------------------------------
# HTTP

class Unreachable(Exception):
    """No HTTP response arrived (connection refused/reset, timeout)."""


class Resp:
    __slots__ = ("status", "headers", "raw", "obj")

    def __init__(self, status, headers, raw):
        self.status, self.headers, self.raw = status, headers, raw
        try:
            self.obj = json.loads(raw) if raw and raw[:1] in (b"{", b"[") else None
        except ValueError:
            self.obj = None

    def header(self, name):
        name = name.lower()
        for k, v in self.headers:
            if k.lower() == name:
                return v
        return None

    def set_cookies(self):
        return [v for k, v in self.headers if k.lower() == "set-cookie"]

    @property
    def text(self):
        return self.raw.decode(errors="replace")

    def get(self, key):
        return self.obj.get(key) if isinstance(self.obj, dict) else None

    def brief(self):
        err = self.get("error")
        return f"{self.status}" + (f" {err}" if isinstance(err, str) else "")


class Client:
    """One keep-alive HTTP/1.1 connection; reconnects after any failure."""

    def __init__(self, port, timeout=30.0):
        self.port = port
        self.timeout = timeout
        self.conn = None

    def close(self):
        if self.conn is not None:
            self.conn.close()
            self.conn = None

    def call(self, method, path, body=None, token=None, form=None, cookies=None):
        """body: a JSON body; form: a form body (dict or list of pairs). Raises Unreachable."""
        headers = {"Accept": "application/json"}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        elif form is not None:
            data = urllib.parse.urlencode(form).encode()
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        if token:
            headers["Authorization"] = "Bearer " + token
        if cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in cookies.items())
        try:
            if self.conn is None:
                self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=self.timeout)
            self.conn.request(method, path, body=data, headers=headers)
            resp = self.conn.getresponse()
            raw = resp.read()
            if resp.getheader("Connection", "").lower() == "close":
                self.close()
        except (OSError, http.client.HTTPException) as e:
            self.close()
            raise Unreachable(f"{type(e).__name__}: {e}") from None
        return Resp(resp.status, resp.getheaders(), raw)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def settle(op, r, subject, ok, what):
    """Ends `op` on its subject (a session or an API token): in flight when no answer came
    (`r` is None), rejected when the answer was not the success `ok` says (the subject is
    then left out of the checks), else acknowledged. True when acknowledged."""
    if r is None:
        subject.inflight = op
        return False
    if not ok:
        op.state = "rejected"
        subject.tainted = f"{what} answered {r.brief()} before the cut"
        return False
    op.state = "acked"
    subject.ops.append(op)
    return True


def token_response(r, want):
    """(user id, access token, refresh token) of a TokenResponse, or None."""
    if r.status != want or not isinstance(r.obj, dict):
        return None
    uid = (r.obj.get("user") or {}).get("id") if isinstance(r.obj.get("user"), dict) else None
    at, rt = r.obj.get("accessToken"), r.obj.get("refreshToken")
    if not (uid and at and rt):
        return None
    return uid, at, rt


# ---------------------------------------------------------------------------------
# The browser side of the authorization code flow (RFC 6749 §4.1, RFC 7636 PKCE)

HIDDEN = re.compile(r'<input type="hidden" name="([^"]+)" value="([^"]*)"')


def pkce():
    verifier = secrets.token_urlsafe(48)   # 64 characters of A-Z a-z 0-9 - _
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


def authorize_path(redirect_uri, challenge, state):
    return "/oauth/authorize?" + urllib.parse.urlencode({
        "response_type": "code", "client_id": CLIENT_ID, "redirect_uri": redirect_uri,
        "scope": "read", "state": state,
        "code_challenge": challenge, "code_challenge_method": "S256"})


def absorb_cookies(jar, r):
    for set_cookie in r.set_cookies():
        name, _, value = set_cookie.split(";")[0].strip().partition("=")
        if not value or "max-age=0" in set_cookie.lower():
            jar.pop(name, None)
        else:
            jar[name] = value


def page_kind(r, redirect_uri):
    """("login"|"consent"|"code"|"error-redirect"|"other", query params of a redirect)."""
    if r.status in (302, 303):
        loc = r.header("Location") or ""
        q = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(loc).query))
        if loc.startswith(redirect_uri + "?") and q.get("code"):
            return "code", q
        return "error-redirect", q
    if r.status == 200:
        t = r.text
        if 'name="action" value="login"' in t:
            return "login", {}
        if 'name="action" value="consent"' in t:
            return "consent", {}
    return "other", {}


def form_of(r, extra):
    """The page's form: (action path, hidden fields + extra)."""
    t = r.text
    fields = [(k, html.unescape(v)) for k, v in HIDDEN.findall(t) if k not in extra]
    fields += list(extra.items())
    m = re.search(r'<form method="post" action="([^"]+)"', t)
    return (html.unescape(m.group(1)) if m else "/oauth/authorize"), fields


# ---------------------------------------------------------------------------------
# Daemon process

class Daemon:
    def __init__(self, argv, log_path, cwd):
        self.argv, self.log_path, self.cwd = argv, log_path, cwd
        self.proc = None

    def start(self):
        env = {k: v for k, v in os.environ.items()
               if k not in ("TESSERA_LISTEN", "TESSERA_DATA_DIR")}  # env beats the config file
        env.setdefault("TESSERA_LOG", "info")
        with open(self.log_path, "ab") as lf:
            self.proc = subprocess.Popen(self.argv, stdin=subprocess.DEVNULL, stdout=lf,
                                         stderr=subprocess.STDOUT, cwd=self.cwd, env=env,
                                         start_new_session=True)
        _live_daemons.append(self)
        return self.proc.pid

    def wait_healthy(self, port, timeout):
        """(True, seconds) once GET /healthz is 200; (False, reason) otherwise."""
        t0 = time.monotonic()
        c = Client(port, timeout=2.0)
        last = "no answer"
        try:
            while time.monotonic() - t0 < timeout:
                rc = self.proc.poll()
                if rc is not None:
                    return False, f"exited with status {rc} before /healthz answered 200"
                try:
                    r = c.call("GET", "/healthz")
                    if r.status == 200:
                        return True, time.monotonic() - t0
                    last = f"/healthz answered {r.status} {r.text[:200]}"
                except Unreachable as e:
                    last = str(e)
                time.sleep(0.05)
        finally:
            c.close()
        return False, f"no /healthz 200 within {timeout:.0f} s (last: {last})"

    def signal(self, sig):
        if self.proc is not None and self.proc.poll() is None:
            try:
                os.kill(self.proc.pid, sig)
            except ProcessLookupError:
                pass

    def kill(self):
        # SIGKILL ends a stopped process where it stands. Never SIGCONT it first: the
        # frozen daemon would run again for a few milliseconds after the cut, finish the
        # fsync it was in (now against the emptied cache) and answer requests whose data
        # the cut has already dropped: losses the harness itself made.
        self.signal(signal.SIGKILL)
        self.reap(10)

    def stop(self):
        """SIGTERM, then SIGKILL after 10 s."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.signal(signal.SIGCONT)
            self.signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.signal(signal.SIGKILL)
        self.reap(10)

    def reap(self, timeout):
        if self.proc is not None:
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                pass
            if self.proc.poll() is not None and self in _live_daemons:
                _live_daemons.remove(self)

    def log_tail(self, n=20):
        try:
            with open(self.log_path, "rb") as f:
                lines = f.read().decode(errors="replace").splitlines()
            return "\n".join("    | " + l for l in lines[-n:]) or "    | (the daemon's log is empty)"
        except OSError:
            return "    | (no log)"


def cleanup_all():
    for d in list(_live_daemons):
        try:
            d.kill()
        except Exception:
            pass
    for fs in list(_live_mounts):
        try:
            fs.kill()
        except Exception:
            pass
        if fs in _live_mounts:
            _live_mounts.remove(fs)


def cli_env():
    env = {k: v for k, v in os.environ.items() if k != "TESSERA_SOCKET"}
    env["NO_COLOR"] = "1"
    return env


# ---------------------------------------------------------------------------------
# The record of acknowledged effects
#
# Each op ends in one of three states: "acked" (the success answer arrived), "inflight"
# (no answer came: it may or may not have been applied) or "rejected" (any other
# answer: not acknowledged; the subject it touched is left out of the checks).

class Op:
    __slots__ = ("kind", "who", "t_sent", "t_done", "state", "status", "claims",
                 "inflight_outcome", "note", "target")

    def __init__(self, kind, who):
        self.kind, self.who = kind, who
        self.t_sent = time.monotonic()
        self.t_done = None
        self.state = "sent"       # acked | rejected | inflight
        self.status = None
        self.claims = []          # (description, ok, observed)
        self.inflight_outcome = None
        self.note = None          # why an acked op without claims was not checked directly
        self.target = None        # what an in-flight op acted on


class User:
    def __init__(self, username, password):
        self.username = username
        self.email = username + "@example.com"
        self.password = password
        self.new_password = None    # set by an acked or in-flight user-set-password
        self.id = None
        self.register_op = None
        self.admin_op = None        # the acked operator op (disable, delete, set-password)
        self.admin_inflight = None
        self.retired = False        # no op after an operator op
        self.tainted = None
        self.sessions = []
        self.tokens = []
        self.browser = None
        self.ops = []               # every op on this user or anything of theirs


class Session:
    def __init__(self, user, create_op, access, refresh):
        self.user = user
        self.refresh = [refresh]    # acknowledged refresh tokens, oldest first
        self.access = access        # latest acknowledged access token (None once revoked)
        self.ops = [create_op]      # acknowledged ops on this session, in order
        self.dead = None            # "logout" | "revoke-refresh"
        self.revoked_access = []    # (access token, the acked revoke-access op)
        self.inflight = None
        self.tainted = None

    @property
    def latest_op(self):
        return self.ops[-1]


class ApiToken:
    def __init__(self, user, tid, secret, create_op):
        self.user, self.id, self.secret = user, tid, secret
        self.ops = [create_op]
        self.deleted = False
        self.inflight = None
        self.tainted = None


class Browser:
    """One browser's cookie jar, for one user; its sign-ins (flows) in order."""

    def __init__(self, user, redirect_uri):
        self.user = user
        self.redirect_uri = redirect_uri
        self.jar = {}
        self.login_op = None
        self.consent_op = None
        self.inflight = None
        self.tainted = None
        self.flows = []

    def ready(self):
        return (self.login_op is not None and self.consent_op is not None
                and not self.inflight and not self.tainted)


class Flow:
    def __init__(self, browser, verifier):
        self.browser, self.verifier = browser, verifier
        self.code = None
        self.issue_op = None      # the consent or authorize op that issued the code
        self.exchange_op = None
        self.access = None
        self.refresh = None


class Recorder:
    def __init__(self):
        self.lock = threading.Lock()
        self.ops = []
        self.users = []
        self.errors = []   # unexpected exceptions in client threads

    def add(self, op, user=None):
        with self.lock:
            self.ops.append(op)
        if user is not None:
            user.ops.append(op)


# ---------------------------------------------------------------------------------
# The workload: one thread per client, each with its own users, sessions, tokens and
# browsers, so no two threads race on one subject.

class Worker:
    def __init__(self, tid, port, rec, stop, rng, round_no, tessera, sock, redirect_uri):
        self.tid, self.rec, self.stop, self.rng, self.round_no = tid, rec, stop, rng, round_no
        self.c = Client(port)
        self.tessera, self.sock, self.redirect_uri = tessera, sock, redirect_uri
        self.env = cli_env()
        self.n = 0
        # Selection pools; an entry is dropped for good once it stops qualifying.
        self.user_pool = []      # login and operator ops
        self.flow_pool = []      # code flows
        self.session_pool = []
        self.token_pool = []
        self.kinds = [k for k, _ in WEIGHTS]
        self.weights = [w for _, w in WEIGHTS]

    # --- helpers

    def name(self):
        self.n += 1
        return f"pc{self.round_no}t{self.tid}n{self.n}{secrets.token_hex(3)}"

    def new_op(self, kind, who, user):
        op = Op(kind, who)
        self.rec.add(op, user)
        return op

    def send(self, op, method, path, **kw):
        """The answer, or None after marking the op in flight."""
        try:
            r = self.c.call(method, path, **kw)
        except Unreachable as e:
            op.state, op.status = "inflight", str(e)
            self.stop.wait(0.01)  # no busy loop if the daemon is gone
            return None
        op.t_done, op.status = time.monotonic(), r.brief()
        return r

    def pick(self, pool, ok):
        while pool:
            i = self.rng.randrange(len(pool))
            x = pool[i]
            if ok(x):
                return x
            pool[i] = pool[-1]
            pool.pop()
        return None

    @staticmethod
    def user_ok(u):
        return u.id is not None and not u.retired and not u.tainted

    @staticmethod
    def session_ok(s):
        return not s.dead and not s.inflight and not s.tainted and not s.user.retired

    @staticmethod
    def token_ok(t):
        return not t.deleted and not t.inflight and not t.tainted and not t.user.retired

    def flow_user_ok(self, u):
        return self.user_ok(u) and (u.browser is None or u.browser.ready())

    def add_session(self, u, op, access, refresh):
        s = Session(u, op, access, refresh)
        u.sessions.append(s)
        self.session_pool.append(s)

    # --- the loop

    def run(self):
        try:
            while not self.stop.is_set():
                kind = self.rng.choices(self.kinds, self.weights)[0]
                if not self.do(kind):
                    self.op_register()
        except Exception as e:  # noqa: BLE001 -- surfaced as a harness error
            self.rec.errors.append(f"client {self.tid}: {type(e).__name__}: {e}\n{traceback.format_exc()}")
        finally:
            self.c.close()

    def do(self, kind):
        """Runs one op of this kind; False when there is nothing to run it on."""
        if kind == "register":
            self.op_register()
            return True
        if kind in ("login", "user-disable", "user-delete", "user-set-password"):
            u = self.pick(self.user_pool, self.user_ok)
            if u is None:
                return False
            if kind == "login":
                self.op_login(u)
            else:
                self.op_admin(kind, u)
            return True
        if kind == "code-flow":
            u = self.pick(self.flow_pool, self.flow_user_ok)
            if u is None:
                return False
            self.op_code_flow(u)
            return True
        if kind in ("refresh", "logout", "revoke-refresh", "revoke-access", "api-token-create"):
            s = self.pick(self.session_pool, self.session_ok)
            if s is None:
                return False
            if s.access is None and kind in ("logout", "revoke-access", "api-token-create"):
                kind = "refresh"   # its access token was revoked: a rotation gives a new one
            getattr(self, "op_" + kind.replace("-", "_"))(s)
            return True
        if kind in ("api-token-delete", "revoke-api-token"):
            t = self.pick(self.token_pool, self.token_ok)
            if t is None:
                return False
            if kind == "api-token-delete":
                return self.op_api_token_delete(t)
            self.op_revoke_api_token(t)
            return True
        raise ValueError(kind)

    # --- accounts and sessions

    def op_register(self):
        u = User(self.name(), secrets.token_urlsafe(12))
        with self.rec.lock:
            self.rec.users.append(u)
        op = self.new_op("register", u.username, u)
        u.register_op = op
        r = self.send(op, "POST", "/api/auth/register",
                      body={"username": u.username, "email": u.email, "password": u.password})
        if r is None:
            return
        tr = token_response(r, 201)
        if tr is None:
            op.state = "rejected"
            return
        op.state = "acked"
        u.id = tr[0]
        self.user_pool.append(u)
        self.flow_pool.append(u)
        self.add_session(u, op, tr[1], tr[2])

    def op_login(self, u):
        op = self.new_op("login", u.username, u)
        r = self.send(op, "POST", "/api/auth/token", body={"username": u.username, "password": u.password})
        if r is None:
            return
        tr = token_response(r, 200)
        if tr is None or tr[0] != u.id:
            op.state = "rejected"
            return
        op.state = "acked"
        self.add_session(u, op, tr[1], tr[2])

    def op_refresh(self, s):
        op = self.new_op("refresh", s.user.username, s.user)
        r = self.send(op, "POST", "/api/auth/token/refresh", body={"refreshToken": s.refresh[-1]})
        tr = token_response(r, 200) if r is not None else None
        if settle(op, r, s, tr is not None, "refresh"):
            s.refresh.append(tr[2])
            s.access = tr[1]

    def op_logout(self, s):
        op = self.new_op("logout", s.user.username, s.user)
        r = self.send(op, "POST", "/api/auth/logout", token=s.access)
        if settle(op, r, s, r is not None and r.status == 204, "logout"):
            s.dead = "logout"

    # --- RFC 7009 revocation (no client authentication: the holder revokes its token)

    def op_revoke_refresh(self, s):
        op = self.new_op("revoke-refresh", s.user.username, s.user)
        r = self.send(op, "POST", "/oauth/revoke",
                      form={"token": s.refresh[-1], "token_type_hint": "refresh_token"})
        if settle(op, r, s, r is not None and r.status == 200, "revoke of its refresh token"):
            s.dead = "revoke-refresh"

    def op_revoke_access(self, s):
        op = self.new_op("revoke-access", s.user.username, s.user)
        op.target = s.access
        r = self.send(op, "POST", "/oauth/revoke",
                      form={"token": s.access, "token_type_hint": "access_token"})
        if settle(op, r, s, r is not None and r.status == 200, "revoke of its access token"):
            s.revoked_access.append((s.access, op))
            s.access = None

    # --- API tokens

    def op_api_token_create(self, s):
        u = s.user
        op = self.new_op("api-token-create", u.username, u)
        r = self.send(op, "POST", "/api/auth/api-tokens", body={"name": f"pc{self.n}"}, token=s.access)
        if r is None:
            return
        tid, secret = r.get("id"), r.get("token")
        if r.status != 201 or not tid or not isinstance(secret, str) or not secret.startswith("tsr_at_"):
            op.state = "rejected"
            return
        op.state = "acked"
        t = ApiToken(u, tid, secret, op)
        u.tokens.append(t)
        self.token_pool.append(t)

    def op_api_token_delete(self, t):
        u = t.user
        s = next((s for s in u.sessions if self.session_ok(s) and s.access), None)
        if s is None:
            return False   # no session of the owner to do it with
        op = self.new_op("api-token-delete", u.username, u)
        r = self.send(op, "DELETE", f"/api/auth/api-tokens/{urllib.parse.quote(t.id)}", token=s.access)
        if settle(op, r, t, r is not None and r.status == 204, "delete"):
            t.deleted = True
        return True

    def op_revoke_api_token(self, t):
        op = self.new_op("revoke-api-token", t.user.username, t.user)
        r = self.send(op, "POST", "/oauth/revoke", form={"token": t.secret})
        if settle(op, r, t, r is not None and r.status == 200, "revoke"):
            t.deleted = True

    # --- operator writes over the admin socket, with the real CLI

    def op_admin(self, kind, u):
        op = self.new_op(kind, u.username, u)
        u.retired = True   # nothing more on this user, whatever the answer
        stdin = None
        if kind == "user-set-password":
            op.target = secrets.token_urlsafe(12)
            stdin = op.target + "\n"
            args = ["user", "set-password", u.username, "--password-stdin"]
        else:
            args = ["user", kind.split("-")[1], u.username]
        argv = [self.tessera, "--socket", self.sock, "--json"] + args
        try:
            p = subprocess.run(argv, input=stdin, capture_output=True, text=True, timeout=60, env=self.env)
        except subprocess.TimeoutExpired:
            op.state, op.status = "inflight", "the CLI timed out"
            u.admin_inflight = op
            return
        op.t_done = time.monotonic()
        out = (p.stdout or "").strip()
        err = (p.stderr or "").strip().splitlines()
        op.status = f"exit {p.returncode}" + (f": {err[-1]}" if err else "")
        if p.returncode != 0:
            # 3: the daemon went away mid-request (the cut); any refusal during the cut
            # counts as in flight too (it is never counted as lost).
            if p.returncode == 3 or self.stop.is_set():
                op.state = "inflight"
                u.admin_inflight = op
            else:
                op.state = "rejected"
                u.tainted = f"{kind} answered {op.status} before the cut"
            return
        try:
            obj = json.loads(out)
        except ValueError:
            obj = None
        good = isinstance(obj, dict) and (
            (kind == "user-disable" and obj.get("disabled") is True) or
            (kind == "user-delete" and obj.get("status") == "ok") or
            (kind == "user-set-password" and "count" in obj))
        if not good:
            op.state = "rejected"
            u.tainted = f"{kind} printed {out[:100]!r}"
            return
        op.state = "acked"
        u.admin_op = op
        if kind == "user-set-password":
            u.new_password = op.target

    # --- the authorization code flow, as a browser and a public client would

    def op_code_flow(self, u):
        b = u.browser
        verifier, challenge = pkce()
        state = secrets.token_urlsafe(8)
        path = authorize_path(self.redirect_uri, challenge, state)
        if b is None:
            # First sign-in of this browser: login page, sign in, consent.
            b = u.browser = Browser(u, self.redirect_uri)
            try:
                page = self.c.call("GET", path, cookies=b.jar)   # reads only: not an op
            except Unreachable:
                b.tainted = "login page unreachable"
                return
            absorb_cookies(b.jar, page)
            if page_kind(page, self.redirect_uri)[0] != "login":
                b.tainted = f"authorization request answered {page.brief()}, not the login page"
                return
            if self.stop.is_set():
                b.tainted = "stopped before signing in"
                return
            op = self.new_op("browser-login", u.username, u)
            action, fields = form_of(page, {"username": u.username, "password": u.password})
            r = self.send(op, "POST", action, form=fields, cookies=b.jar)
            if r is None:
                b.inflight = op
                return
            absorb_cookies(b.jar, r)
            if page_kind(r, self.redirect_uri)[0] != "consent" or not b.jar.get("tessera_browser"):
                op.state = "rejected"
                b.tainted = f"sign-in answered {r.brief()}, not the consent page"
                return
            op.state = "acked"
            b.login_op = op
            if self.stop.is_set():
                return
            op = self.new_op("consent", u.username, u)
            action, fields = form_of(r, {"decision": "allow"})
            f = Flow(b, verifier)
            r = self.send(op, "POST", action, form=fields, cookies=b.jar)
            if r is None:
                b.inflight = op
                return
            absorb_cookies(b.jar, r)
            kind, q = page_kind(r, self.redirect_uri)
            if kind != "code" or q.get("state") != state:
                op.state = "rejected"
                b.tainted = f"consent answered {r.brief()} {r.header('Location')}"
                return
            op.state = "acked"
            b.consent_op = op
        else:
            # The browser is signed in and the consent stored: straight back with a code.
            op = self.new_op("authorize", u.username, u)
            f = Flow(b, verifier)
            r = self.send(op, "GET", path, cookies=b.jar)
            if r is None:
                b.inflight = op
                return
            absorb_cookies(b.jar, r)
            kind, q = page_kind(r, self.redirect_uri)
            if kind != "code" or q.get("state") != state:
                op.state = "rejected"
                b.tainted = f"authorization request answered {r.brief()} ({kind}), not a redirect with a code"
                return
            op.state = "acked"
        f.code = q["code"]
        f.issue_op = op
        b.flows.append(f)
        if self.stop.is_set() or self.rng.random() < 0.3:
            return   # sometimes the app never comes back: the code stays unredeemed
        op = self.new_op("code-exchange", u.username, u)
        f.exchange_op = op
        r = self.send(op, "POST", "/oauth/token", form=exchange_form(f))
        if r is None:
            return
        at, rt = r.get("access_token"), r.get("refresh_token")
        if r.status != 200 or not at or not rt:
            op.state = "rejected"
            return
        op.state = "acked"
        f.access, f.refresh = at, rt


def exchange_form(f):
    return {"grant_type": "authorization_code", "code": f.code, "redirect_uri": f.browser.redirect_uri,
            "client_id": CLIENT_ID, "code_verifier": f.verifier}


# ---------------------------------------------------------------------------------
# Checks after the restart

def refused(st, o):
    """A token presentation that did not work (and was not a server error)."""
    return st is not None and st != 200 and st < 500


def login_failed(st, r):
    """Exactly 401 LOGIN_FAILED: a throttled 429 must not pass for a refused password."""
    return st == 401 and r.get("error") == "LOGIN_FAILED"


def _keys(obj):
    keys = obj.get("keys") if isinstance(obj, dict) else None
    return [k for k in keys if isinstance(k, dict)] if isinstance(keys, list) else []


class Checker:
    """Probes every acknowledged effect, on one connection, one request at a time.

    Phase 0: the signing key and the OAuth client. Phase 1: probes that change nothing a
    later probe reads. Phase 2: refresh tokens that must be alive (this rotates them,
    harmlessly) or dead. Phase 3, only after every phase-2 probe: presentations that
    revoke what they touch (a retired refresh token revokes its session; a redeemed
    code, replayed, revokes the tokens issued from it), one per session, last.
    In-flight ops (no answer before the cut) may or may not have been applied: their
    probes are tallied as applied / not applied / unclear and never count as lost.
    """

    def __init__(self, port, redirect_uri):
        self.c = Client(port)
        self.redirect_uri = redirect_uri
        self.phase2 = []
        self.phase3 = []

    def close(self):
        self.c.close()

    def req(self, method, path, **kw):
        try:
            r = self.c.call(method, path, **kw)
            return r.status, r, r.brief()
        except Unreachable as e:
            return None, None, f"no answer ({e})"

    def probe(self, op, desc, ok_fn, method, path, **kw):
        st, r, obs = self.req(method, path, **kw)
        ok = bool(ok_fn(st, r))
        if op is not None:
            op.claims.append((desc, ok, obs))
        return ok, st, r

    def login(self, op, desc, username, password, ok_fn):
        return self.probe(op, desc, ok_fn, "POST", "/api/auth/token",
                          body={"username": username, "password": password})

    @staticmethod
    def outcome(op, applied, not_applied, obs):
        op.inflight_outcome = "applied" if applied else ("not applied" if not_applied else f"unclear ({obs})")

    # --- phase 0

    def setup_effects(self, keys_before, key_op, client_op):
        st, r, obs = self.req("GET", "/api/auth/keys")
        kids_after = {k.get("kid"): k.get("status") for k in _keys(r.obj)} if st == 200 else {}
        missing = [k for k in keys_before if kids_after.get(k) != "active"]
        key_op.claims.append(("the signing key active before the cut is still active",
                              bool(keys_before) and not missing,
                              f"kids before {sorted(keys_before)}; after {kids_after}" if missing or not keys_before
                              else f"kid {sorted(keys_before)[0]} still active"))
        if client_op is not None:
            _, challenge = pkce()
            self.probe(client_op, f"client {CLIENT_ID} is registered: its authorization request gets the login page",
                       lambda st, r: st == 200 and page_kind(r, self.redirect_uri)[0] == "login",
                       "GET", authorize_path(self.redirect_uri, challenge, "probe"))

    # --- per user

    def user(self, u):
        reg = u.register_op
        if reg is None:
            return
        if reg.state == "inflight":
            _, st, r = self.login(None, "", u.username, u.password, lambda st, r: True)
            self.outcome(reg, st == 200, st == 401, r.brief() if r else st)
            return
        if reg.state != "acked":
            return
        if u.tainted:
            for op in u.ops:
                op.note = op.note or "excluded"
            return
        if u.admin_inflight is not None:
            self.admin_inflight(u)
            for op in u.ops:
                op.note = op.note or "unclear"
            return
        if u.admin_op is not None:
            self.admin_acked(u)
            return
        self.login(reg, f"user {u.username} logs in with its id",
                   u.username, u.password,
                   lambda st, r: st == 200 and token_response(r, 200) is not None
                   and token_response(r, 200)[0] == u.id)
        for s in u.sessions:
            self.session(s)
        for t in u.tokens:
            self.api_token(t, u)
        if u.browser is not None:
            self.browser(u.browser)

    def admin_inflight(self, u):
        op = u.admin_inflight
        if op.kind == "user-set-password":
            _, st_new, _ = self.login(None, "", u.username, op.target, lambda st, r: True)
            _, st_old, r = self.login(None, "", u.username, u.password, lambda st, r: True)
            self.outcome(op, st_new == 200 and st_old != 200, st_old == 200 and st_new != 200,
                         f"new {st_new}, old {st_old}")
        else:
            _, st, r = self.login(None, "", u.username, u.password, lambda st, r: True)
            err = r.get("error") if r else None
            applied = (st == 403 and err == "ACCOUNT_DISABLED") if op.kind == "user-disable" else st == 401
            self.outcome(op, applied, st == 200, r.brief() if r else st)

    def admin_acked(self, u):
        """Everything of the user is now the operator op's effect."""
        op = u.admin_op
        if op.kind == "user-disable":
            self.login(op, "disabled user cannot log in (403 ACCOUNT_DISABLED)", u.username, u.password,
                       lambda st, r: st == 403 and r.get("error") == "ACCOUNT_DISABLED")
            what = "disabled"
        elif op.kind == "user-delete":
            self.login(op, "deleted user cannot log in (401 LOGIN_FAILED)", u.username, u.password, login_failed)
            what = "deleted"
        else:
            self.login(op, "the password set by the operator works", u.username, u.new_password,
                       lambda st, r: st == 200 and token_response(r, 200) is not None
                       and token_response(r, 200)[0] == u.id)
            self.login(op, "the password before set-password fails (401 LOGIN_FAILED)", u.username, u.password,
                       login_failed)
            what = "re-passworded"
        for s in u.sessions:
            if s.tainted:
                continue
            if s.access:
                self.probe(op, f"a session of the {what} user: its access token is 401 on /me",
                           lambda st, r: st == 401, "GET", "/api/auth/me", token=s.access)
            self.phase2.append(lambda s=s: self.probe(
                op, f"a session of the {what} user: its refresh token is refused", refused,
                "POST", "/api/auth/token/refresh", body={"refreshToken": s.refresh[-1]}))
        b = u.browser
        for f in (b.flows if b else []):
            if f.exchange_op is not None and f.exchange_op.state == "acked":
                self.probe(op, f"an app session of the {what} user: its access token is 401 on /me",
                           lambda st, r: st == 401, "GET", "/api/auth/me", token=f.access)
                self.phase2.append(lambda f=f: self.probe(
                    op, f"an app session of the {what} user: its refresh token is refused", refused,
                    "POST", "/oauth/token",
                    form={"grant_type": "refresh_token", "refresh_token": f.refresh, "client_id": CLIENT_ID}))
        for t in u.tokens:
            if t.tainted or t.inflight:
                continue
            if op.kind == "user-set-password":
                self.api_token(t, u)   # API tokens outlive a password change
            else:
                self.probe(op, f"an API token of the {what} user is refused on /me",
                           lambda st, r: st == 401, "GET", "/api/auth/me", token=t.secret)

    def session(self, s):
        if s.tainted:
            for op in s.ops:
                op.note = op.note or "excluded"
            return
        op = s.latest_op
        inf = s.inflight
        if inf is not None:
            for o in s.ops:
                o.note = o.note or "unclear"
        # Phase 1: the latest access token, and access tokens revoked one by one.
        if s.access:
            if inf is not None and inf.kind in ("logout", "revoke-refresh", "revoke-access"):
                _, st, r = self.probe(None, "", lambda st, r: True, "GET", "/api/auth/me", token=s.access)
                if inf.kind != "revoke-refresh":
                    self.outcome(inf, st == 401, st == 200, st)
            elif s.dead:
                self.probe(op, f"the access token of a session ended by {s.dead} is 401 on /me",
                           lambda st, r: st == 401, "GET", "/api/auth/me", token=s.access)
            else:
                self.probe(op, "access token from before the cut is 200 on /me",
                           lambda st, r: st == 200, "GET", "/api/auth/me", token=s.access)
        for tok, rop in s.revoked_access:
            if s.dead or (inf is not None and inf.kind in ("logout", "revoke-refresh")):
                rop.note = rop.note or ("superseded" if s.dead else "unclear")
                continue
            self.probe(rop, "access token revoked with /oauth/revoke is 401 on /me",
                       lambda st, r: st == 401, "GET", "/api/auth/me", token=tok)
        # Phase 2: the latest refresh token.
        self.phase2.append(lambda: self.session_refresh(s))
        # Phase 3: the refresh token retired by the latest acknowledged rotation.
        if inf is None and op.kind == "refresh" and not s.dead and len(s.refresh) >= 2:
            self.phase3.append(lambda: self.probe(
                op, "refresh token retired by the rotation is refused", refused,
                "POST", "/api/auth/token/refresh", body={"refreshToken": s.refresh[-2]}))

    def session_refresh(self, s):
        op, inf = s.latest_op, s.inflight
        body = {"refreshToken": s.refresh[-1]}
        if inf is not None:
            _, st, r = self.probe(None, "", lambda st, r: True, "POST", "/api/auth/token/refresh", body=body)
            if inf.kind == "refresh":
                # Refused: applied (a lost earlier rotation looks the same, and is caught by
                # that rotation's own dead probe... which cannot run here: see README).
                self.outcome(inf, st == 401, st == 200, st)
            elif inf.kind in ("logout", "revoke-refresh"):
                self.outcome(inf, st == 401, st == 200, st)
            return
        if s.dead:
            self.probe(op, f"the refresh token of a session ended by {s.dead} is refused", refused,
                       "POST", "/api/auth/token/refresh", body=body)
        else:
            self.probe(op, "latest refresh token is alive", lambda st, r: st == 200,
                       "POST", "/api/auth/token/refresh", body=body)

    def api_token(self, t, u):
        if t.tainted:
            for op in t.ops:
                op.note = op.note or "excluded"
            return
        op = t.ops[-1]
        if t.inflight is not None:
            _, st, r = self.probe(None, "", lambda st, r: True, "GET", "/api/auth/me", token=t.secret)
            self.outcome(t.inflight, st == 401, st == 200, st)
            for o in t.ops:
                o.note = o.note or "unclear"
        elif t.deleted:
            self.probe(op, f"API token removed by {op.kind} is refused on /me",
                       lambda st, r: st == 401, "GET", "/api/auth/me", token=t.secret)
        else:
            self.probe(op, "API token authenticates on /me as its user",
                       lambda st, r: st == 200 and r.get("id") == u.id,
                       "GET", "/api/auth/me", token=t.secret)

    def browser(self, b):
        if b.tainted:
            for op in (b.login_op, b.consent_op):
                if op is not None:
                    op.note = op.note or "excluded"
        u = b.user
        inf = b.inflight
        if b.login_op is not None and not b.tainted:
            # Its cookie: the browser session survived if the login page is skipped, and
            # the consent survived if there is no consent page either.
            _, challenge = pkce()
            path = authorize_path(b.redirect_uri, challenge, "probe")
            st, r, obs = self.req("GET", path, cookies=dict(b.jar))
            kind = page_kind(r, b.redirect_uri)[0] if r is not None else "no answer"
            b.login_op.claims.append(("browser session survived: authorize with its cookie skips the login page",
                                      kind in ("consent", "code"), f"{obs} ({kind})"))
            if kind == "login":
                # Sign in again in a fresh browser, to see the consent on its own.
                jar = {}
                st, r, obs = self.req("GET", path, cookies=jar)
                if r is not None:
                    absorb_cookies(jar, r)
                    action, fields = form_of(r, {"username": u.username, "password": u.password})
                    st, r, obs = self.req("POST", action, form=fields, cookies=jar)
                kind = page_kind(r, b.redirect_uri)[0] if r is not None else "no answer"
                obs = f"after a fresh sign-in: {obs} ({kind})"
            else:
                obs = f"{obs} ({kind})"
            if b.consent_op is not None:
                b.consent_op.claims.append(("consent remembered: authorization goes straight to the redirect "
                                            "(no consent page)", kind == "code", obs))
            elif inf is not None and inf.kind == "consent":
                self.outcome(inf, kind == "code", kind == "consent", obs)
        for f in b.flows:
            self.flow(f)
        if inf is not None and inf.kind in ("authorize", "browser-login"):
            inf.inflight_outcome = "(nothing to probe)"

    def flow(self, f):
        ex = f.exchange_op
        if ex is not None and ex.state == "acked":
            self.probe(ex, "access token from the code exchange is 200 on /me",
                       lambda st, r: st == 200, "GET", "/api/auth/me", token=f.access)
            self.phase2.append(lambda: self.probe(
                ex, "refresh token from the code exchange is alive (at /oauth/token, as its client)",
                lambda st, r: st == 200 and r.get("refresh_token"), "POST", "/oauth/token",
                form={"grant_type": "refresh_token", "refresh_token": f.refresh, "client_id": CLIENT_ID}))
            self.phase3.append(lambda: self.probe(
                ex, "the redeemed code is refused on replay (invalid_grant)",
                lambda st, r: st == 400 and r.get("error") == "invalid_grant",
                "POST", "/oauth/token", form=exchange_form(f)))
        elif ex is not None and ex.state == "inflight":
            f.issue_op.note = f.issue_op.note or "unclear"

            def replay():
                _, st, r = self.probe(None, "", lambda st, r: True, "POST", "/oauth/token", form=exchange_form(f))
                self.outcome(ex, st == 400 and r.get("error") == "invalid_grant", st == 200, r.brief() if r else st)
            self.phase3.append(replay)
        elif ex is not None:
            f.issue_op.note = f.issue_op.note or "excluded"   # the exchange was refused
        elif f.issue_op is not None and f.issue_op.state == "acked":
            # Issued before the cut, never exchanged: it must still be redeemable.
            self.phase2.append(lambda: self.probe(
                f.issue_op, "a code issued before the cut and not yet exchanged is redeemable",
                lambda st, r: st == 200 and r.get("access_token"), "POST", "/oauth/token", form=exchange_form(f)))

    def run(self, rec, keys_before, key_op, client_op):
        try:
            self.setup_effects(keys_before, key_op, client_op)
            for u in list(rec.users):
                self.user(u)
            for fn in self.phase2:
                fn()
            for fn in self.phase3:
                fn()
        finally:
            self.close()


# ---------------------------------------------------------------------------------
# One round

class RoundResult:
    def __init__(self, n):
        self.n = n
        self.acked_ops = []
        self.lost_ops = []          # (op, failed claims, seconds acked before the cut)
        self.inflight = {}
        self.reopen_failed = None   # reason
        self.harness_error = None   # reason
        self.t_snapshot = None      # --rollback: monotonic time of the freeze that was copied
        self.t_cut = None

    @property
    def lost(self):
        return len(self.lost_ops)

    @property
    def acknowledged(self):
        return len(self.acked_ops)

    def by_kind(self):
        """{kind: (lost, acknowledged)}"""
        acked = {k: 0 for k in KINDS}
        lost = {k: 0 for k in KINDS}
        for o in self.acked_ops:
            acked[o.kind] += 1
        for o, _, _ in self.lost_ops:
            lost[o.kind] += 1
        return {k: (lost[k], acked[k]) for k in KINDS}


def by_kind_text(results):
    tot = {k: [0, 0] for k in KINDS}
    for r in results:
        for k, (l, a) in r.by_kind().items():
            tot[k][0] += l
            tot[k][1] += a
    return ", ".join(f"{k} {l}/{a}" for k, (l, a) in tot.items())


def write_config(path, port, data_dir, socket_path):
    with open(path, "w") as f:
        f.write(f"""# written by bench/powercut/run.py
[server]
listen = "127.0.0.1:{port}"

[storage]
data_dir = "{data_dir}"

[admin]
socket = "{socket_path}"

[registration]
mode = "open"

[oauth]
# codes issued before the cut are redeemed after the restart
code_ttl = "10m"

[argon2]
memory_kib = 1024
iterations = 1
parallelism = 1

[throttle]
# the highest the daemon accepts: post-cut probes fail logins on purpose (deleted
# users, old passwords, lost writes); keep throttling out of the way
max_failures = 1000
""")


def run_cli(tessera, sock, args, timeout=60):
    return subprocess.run([tessera, "--socket", sock, "--json"] + args, capture_output=True, text=True,
                          timeout=timeout, env=cli_env(), stdin=subprocess.DEVNULL)


def run_round(n, total, opts, rng, cut=True, rollback=False):
    """One round. cut=False is the kill-only control (SIGKILL, no clear-cache, same mount);
    rollback=True restarts on a copy of the store taken at a freeze in mid-load."""
    res = RoundResult(n)
    work = tempfile.mkdtemp(prefix=f"powercut_r{n}_", dir=opts.tmpdir)
    root, mnt = os.path.join(work, "backing"), os.path.join(work, "mnt")
    fs = LazyFS(root, mnt, work)
    port = free_port()
    cbport = free_port()   # nothing listens there: the redirects are read, never followed
    redirect_uri = f"http://127.0.0.1:{cbport}/cb"
    cfg = os.path.join(work, "daemon.toml")
    sock = os.path.join(work, "admin.sock")
    write_config(cfg, port, os.path.join(mnt, "data"), sock)
    argv = [opts.tesserad, "--config", cfg]
    daemon = None
    keep = opts.keep
    stop = threading.Event()   # set on every way out, so client threads always end
    mode = "power cut" if cut and not rollback else ("kill -9 only" if not cut else "rollback control")
    try:
        fs.mount()
        _live_mounts.append(fs)
        daemon = Daemon(argv, os.path.join(work, "daemon-1.log"), work)
        pid = daemon.start()
        log(f"round {n}/{total} [{mode}]: LazyFS pid {fs.proc.pid} at {mnt}; "
            f"tesserad pid {pid} on 127.0.0.1:{port}; work dir {work}")
        ok, how = daemon.wait_healthy(port, opts.start_timeout)
        if not ok:
            res.harness_error = f"first start failed: {how}\n{daemon.log_tail()}"
            keep = True
            return res
        c = Client(port)
        r = c.call("GET", "/api/auth/keys")
        c.close()
        keys_before = {k.get("kid") for k in _keys(r.obj) if k.get("status") == "active"} \
            if r.status == 200 else set()
        key_op = Op("signing-key", sorted(keys_before)[0] if keys_before else "?")
        key_op.state, key_op.t_done = "acked", time.monotonic()
        # The store's own files, written when the daemon created it (sled's conf).
        files_op = Op("store-files", "conf")
        files_op.state, files_op.t_done = "acked", key_op.t_done
        client_op = Op("client-add", CLIENT_ID)
        p = run_cli(opts.tessera, sock, ["client", "add", CLIENT_ID, "--scopes", "read", "--public",
                                         "--redirect-uri", redirect_uri])
        client_op.t_done = time.monotonic()
        if p.returncode != 0:
            res.harness_error = (f"`tessera client add` failed (exit {p.returncode}): "
                                 f"{(p.stderr or p.stdout).strip()}")
            keep = True
            return res
        client_op.state = "acked"
        log(f"  setup: signing key {key_op.who}; `tessera client add {CLIENT_ID} --public "
            f"--redirect-uri {redirect_uri}` done")

        # --- load, then the cut at a random moment
        rec = Recorder()
        workers = [Worker(t, port, rec, stop, random.Random(rng.random()), n, opts.tessera, sock, redirect_uri)
                   for t in range(opts.clients)]
        threads = [threading.Thread(target=w.run, name=f"client{w.tid}", daemon=True) for w in workers]
        t_start = time.monotonic()
        for t in threads:
            t.start()
        cut_at = rng.uniform(min(0.5, opts.duration), opts.duration)
        snapshot = None
        if rollback:
            time.sleep(cut_at / 2)
            daemon.signal(signal.SIGSTOP)
            res.t_snapshot = time.monotonic()
            time.sleep(0.3)   # LazyFS finishes any fsync that was under way
            snapshot = os.path.join(work, "snapshot")
            shutil.copytree(root, snapshot, symlinks=True)
            daemon.signal(signal.SIGCONT)
            log(f"  rollback: froze the daemon at {res.t_snapshot - t_start:.2f} s and copied the backing "
                f"directory (what a power cut then would have left); the load goes on")
        time.sleep(max(0.0, cut_at - (time.monotonic() - t_start)))
        if not fs.alive():
            raise LazyFSError(f"LazyFS died under load; log tail:\n{fs.log_tail()}")
        if daemon.proc.poll() is not None:
            raise RuntimeError(f"the daemon exited under load, before any cut (status "
                               f"{daemon.proc.returncode}):\n{daemon.log_tail()}")
        stop.set()                                  # clients send nothing new
        daemon.signal(signal.SIGSTOP)               # freeze: nothing after this point
        t_cut = res.t_cut = time.monotonic()
        usage = fs.cache_usage_percent()
        unsynced = fs.unsynced_bytes()
        if cut:
            fs.clear_cache()                        # the power cut
        daemon.kill()                               # SIGKILL by PID, reaped
        for t in threads:
            t.join(timeout=90)
        if any(t.is_alive() for t in threads):
            raise RuntimeError("a client thread did not finish after the cut")
        if cut:
            fs.unmount()                            # LazyFS exits; its cache is gone
            _live_mounts.remove(fs)
            if snapshot:
                shutil.rmtree(root)
                os.rename(snapshot, root)
            fs.mount()                              # "reboot": only synced data is there
            _live_mounts.append(fs)

        if rec.errors:
            raise RuntimeError("client thread failed: " + "; ".join(rec.errors))
        unfinished = [o for o in rec.ops if o.state == "sent"]
        if unfinished:
            raise RuntimeError(f"{len(unfinished)} ops neither answered nor failed, e.g. {unfinished[0].kind}")
        acked = [o for o in rec.ops if o.state == "acked"]
        inflight = [o for o in rec.ops if o.state == "inflight"]
        rejected = [o for o in rec.ops if o.state == "rejected"]
        counts = {k: sum(1 for o in acked if o.kind == k) for k in KINDS[:-2]}
        rate = len(acked) / max(cut_at, 1e-9)
        log(f"  load: {opts.clients} clients, cut at {cut_at:.2f} s: {len(acked)} acknowledged "
            f"({', '.join(f'{k} {v}' for k, v in counts.items())}; {rate:.0f}/s), "
            f"{len(inflight)} in flight, {len(rejected)} rejected")
        if rejected:
            hist = {}
            for o in rejected:
                key = f"{o.kind} {o.status}"
                hist[key] = hist.get(key, 0) + 1
            log(f"  rejected before the cut (not acknowledged, excluded): {hist}")
        held = (f"LazyFS held {unsynced if unsynced is not None else '?'} un-fsynced bytes "
                f"(cache {f'{usage:.2f}' if usage is not None else '?'}% used)")
        if cut:
            log(f"  cut: SIGSTOP; {held}; clear-cache; SIGKILL (no SIGCONT); unmount; "
                f"{'backing directory replaced by the mid-load copy; ' if snapshot else ''}remount")
        else:
            log(f"  kill -9 only (control, no power cut): SIGSTOP; {held}; SIGKILL; same mount")
        if usage is not None and usage >= 99.0:
            res.harness_error = ("LazyFS cache was full: writes went straight to the backing "
                                 "directory, so this round cannot see losses; raise LAZYFS_CACHE")
            keep = True
            return res

        # --- restart on the same data dir
        daemon = Daemon(argv, os.path.join(work, "daemon-2.log"), work)
        pid = daemon.start()
        ok, how = daemon.wait_healthy(port, opts.restart_timeout)
        if not ok:
            res.reopen_failed = how
            res.acked_ops = acked + [key_op, client_op, files_op]
            keep = True
            log(f"  RESTART FAILED: the daemon (pid {pid}) did not reopen its store after the "
                f"{'power cut' if cut else 'kill -9'}: {how}\n{daemon.log_tail()}")
            return res
        log(f"  restart: pid {pid} healthy after {how:.2f} s")

        # --- checks
        Checker(port, redirect_uri).run(rec, keys_before, key_op, client_op)
        # sled rewrites a conf file it finds empty, with a warning: a file it wrote when
        # the store was created had not been fsynced.
        with open(os.path.join(work, "daemon-2.log"), errors="replace") as f:
            conf_lost = "empty/corrupt configuration file" in f.read()
        files_op.claims.append(("the store's conf file, written at creation, survived",
                                not conf_lost, "sled found it empty or corrupt" if conf_lost else "intact"))
        res.acked_ops = acked + [client_op, key_op, files_op]
        for o in res.acked_ops:
            failed = [cl for cl in o.claims if not cl[1]]
            if failed:
                res.lost_ops.append((o, failed, t_cut - (o.t_done or t_cut)))
        for o in inflight:
            outcome = o.inflight_outcome or "(nothing to probe)"
            res.inflight[f"{o.kind} {outcome}"] = res.inflight.get(f"{o.kind} {outcome}", 0) + 1
        direct = [o for o in res.acked_ops if o.claims]
        probes = sum(len(o.claims) for o in direct)
        rest = [o for o in res.acked_ops if not o.claims]
        unclear = sum(1 for o in rest if o.note == "unclear")
        excluded = sum(1 for o in rest if o.note == "excluded")
        superseded = len(rest) - unclear - excluded
        log(f"  check: {probes} probes on {len(direct)} acknowledged writes whose effect is the latest on its "
            f"subject; {superseded} earlier writes were superseded by later acknowledged ones (covered "
            f"through them)" + (f"; {unclear} left unclear by an in-flight op on the same subject" if unclear else "")
            + (f"; {excluded} excluded (an op on the same subject was refused)" if excluded else ""))
        if inflight:
            log(f"  in flight at the cut (either outcome allowed): {res.inflight}")
        log(f"  round {n}: {res.lost} lost of {res.acknowledged} acknowledged; by kind: {by_kind_text([res])}")
        for o, failed, before in res.lost_ops[:opts.show]:
            if res.t_snapshot is not None and o.t_done is not None:
                after = o.t_done - res.t_snapshot
                when = f"acked {abs(after) * 1000:6.1f} ms {'after' if after >= 0 else 'BEFORE'} the snapshot"
            else:
                when = f"acked {before * 1000:6.1f} ms before the cut" if before >= 0 else \
                    f"acked at the cut (answer read {-before * 1000:.1f} ms after SIGSTOP: sent before the freeze)"
            for desc, _, obs in failed:
                log(f"    LOST {o.kind:17} {o.who:24} {when}: {desc}: got {obs}")
        if len(res.lost_ops) > opts.show:
            log(f"    ... and {len(res.lost_ops) - opts.show} more")
        if res.lost_ops and res.t_snapshot is None:
            ages = sorted(max(0.0, b) for _, _, b in res.lost_ops)
            log(f"    lost writes were acknowledged {ages[0] * 1000:.0f} to {ages[-1] * 1000:.0f} ms "
                f"before the cut")
        daemon.stop()
        if res.lost and not rollback:
            keep = keep or opts.keep_on_loss
        return res
    except Exception as e:  # noqa: BLE001 -- any failure of the harness itself
        res.harness_error = f"{type(e).__name__}: {e}"
        if opts.verbose:
            traceback.print_exc()
        keep = True
        return res
    finally:
        stop.set()
        if daemon is not None:
            daemon.stop()
        for d in list(_live_daemons):
            d.kill()
        if fs in _live_mounts:
            try:
                fs.unmount()
            except LazyFSError as e:
                log(f"  warning: {e}")
                fs.kill()
            _live_mounts.remove(fs)
        if keep:
            log(f"  kept {work} (backing dir with the post-cut store, daemon and LazyFS logs)")
        else:
            shutil.rmtree(work, ignore_errors=True)


def run_rounds(opts, rng, cut=True, rollback=False):
    results = []
    for n in range(1, opts.rounds + 1):
        r = run_round(n, opts.rounds, opts, rng, cut, rollback)
        if r.harness_error:
            log(f"  round {n}: HARNESS ERROR: {r.harness_error}")
        results.append(r)
    return results


def tally(results):
    checked = [r for r in results if not r.reopen_failed and not r.harness_error]
    lost = sum(r.lost for r in checked)
    acked = sum(r.acknowledged for r in checked)
    no_reopen = [r.n for r in results if r.reopen_failed]
    errors = [r.n for r in results if r.harness_error]
    return lost, acked, no_reopen, errors, checked


def verdict_line(results, what):
    lost, acked, no_reopen, errors, checked = tally(results)
    rounds = f"{len(results)} rounds" + (f", {what}" if what else "")
    line = f"powercut: {lost} lost of {acked} acknowledged ({rounds}); by kind: {by_kind_text(checked)}"
    if no_reopen:
        gone = sum(r.acknowledged for r in results if r.reopen_failed)
        line = (f"powercut: STORE DID NOT REOPEN after the cut in round(s) {no_reopen} "
                f"({gone} acknowledged writes unreachable); {lost} lost of {acked} acknowledged "
                f"in the other rounds ({rounds}); by kind: {by_kind_text(checked)}")
    if errors:
        line += f"; harness error in round(s) {errors}"
    return line


def exit_code(results):
    lost, acked, no_reopen, errors, _ = tally(results)
    if no_reopen:
        return EXIT_NO_REOPEN
    if lost:
        return EXIT_LOST
    if errors:
        return EXIT_HARNESS
    return EXIT_OK


def rollback_verdict(results):
    """(passed, text): losses found, none acknowledged before the snapshot; per kind."""
    lost, acked, no_reopen, errors, checked = tally(results)
    early = [(r.n, o) for r in checked for o, _, _ in r.lost_ops
             if o.t_done is not None and r.t_snapshot is not None and o.t_done < r.t_snapshot]
    per = {k: [0, 0] for k in KINDS}   # lost, acknowledged after the snapshot
    for r in checked:
        for o in r.acked_ops:
            if r.t_snapshot is not None and o.t_done is not None and o.t_done >= r.t_snapshot:
                per[o.kind][1] += 1
        for o, _, _ in r.lost_ops:
            per[o.kind][0] += 1
    caught = ", ".join(f"{k} {l}/{a}" for k, (l, a) in per.items() if a or l)
    # A kind whose probes never fail is not tested. Some writes after the snapshot are
    # legitimately not caught (a logout of a session made after it: the session is gone
    # anyway), so a kind counts only with enough writes to go by.
    never = [k for k, (l, a) in per.items() if a >= ROLLBACK_MIN and not l]
    thin = [k for k, (l, a) in per.items() if k in KINDS[:-2] and a < ROLLBACK_MIN and not l]
    passed = lost > 0 and not early and not no_reopen and not errors and not never
    text = (f"{lost} lost of {acked} acknowledged; of those acknowledged after the snapshot, "
            f"caught per kind: {caught}")
    if never:
        text += f"; KINDS NEVER CAUGHT: {', '.join(never)}"
    if thin:
        text += f"; too few after the snapshot to judge (< {ROLLBACK_MIN}): {', '.join(thin)}"
    if early:
        text += (f"; {len(early)} LOST WRITES WERE ACKNOWLEDGED BEFORE THE SNAPSHOT (e.g. round "
                 f"{early[0][0]} {early[0][1].kind} {early[0][1].who})")
    return passed, text


def main():
    ap = argparse.ArgumentParser(description="Power-cut simulation for tesserad under LazyFS.",
                                 formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    g = ap.add_mutually_exclusive_group()
    g.add_argument("--kill-only", action="store_true",
                   help="control run: SIGKILL without the power cut (no clear-cache, same mount), "
                        "i.e. what a kill -9 test sees; must lose nothing")
    g.add_argument("--rollback", action="store_true",
                   help="control run: restart on a copy of the store taken at a freeze in mid-load; "
                        "the probes must catch writes acknowledged after it, and only those")
    g.add_argument("--selftest", action="store_true", help="--kill-only, then --rollback; PASS or FAIL")
    ap.add_argument("--tesserad", default=os.environ.get("TESSERAD", DEFAULT_TESSERAD))
    ap.add_argument("--tessera", default=os.environ.get("TESSERA"),
                    help="the operator CLI (default: tessera next to the tesserad binary)")
    ap.add_argument("--rounds", type=int, default=int(os.environ.get("ROUNDS", "3")))
    ap.add_argument("--duration", type=float, default=float(os.environ.get("DURATION", "4")),
                    help="seconds of load; the cut comes at a random moment in [0.5, duration]")
    ap.add_argument("--clients", type=int, default=int(os.environ.get("CLIENTS", "4")))
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--start-timeout", type=float, default=30)
    ap.add_argument("--restart-timeout", type=float, default=120)
    ap.add_argument("--tmpdir", default=os.environ.get("POWERCUT_TMP", "/tmp"),
                    help="where work dirs go (must be a normal disk file system)")
    ap.add_argument("--keep", action="store_true", help="keep every round's work dir")
    ap.add_argument("--no-keep-on-loss", dest="keep_on_loss", action="store_false",
                    help="delete work dirs of rounds that lost writes too")
    ap.add_argument("--show", type=int, default=10, help="lost writes listed per round")
    ap.add_argument("-v", "--verbose", action="store_true")
    opts = ap.parse_args()
    opts.tesserad = os.path.abspath(opts.tesserad)
    opts.tessera = os.path.abspath(opts.tessera or os.path.join(os.path.dirname(opts.tesserad), "tessera"))
    seed = opts.seed if opts.seed is not None else secrets.randbelow(2 ** 31)
    rng = random.Random(seed)

    def on_signal(signum, frame):
        raise KeyboardInterrupt(f"signal {signum}")

    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):  # SIGINT too: "&" ignores it
        signal.signal(sig, on_signal)
    if not os.path.exists("/dev/fuse"):
        log("powercut: /dev/fuse does not exist: FUSE (and so LazyFS) cannot work here")
        return EXIT_HARNESS
    for what, path in (("tesserad", opts.tesserad), ("tessera", opts.tessera)):
        if not os.access(path, os.X_OK):
            log(f"powercut: no {what} at {path} (build it with `cargo build --release`, or pass --{what})")
            return EXIT_HARNESS
    log(f"powercut: seed {seed}, {opts.rounds} rounds x {opts.duration:g} s load, {opts.clients} clients; "
        f"{opts.tesserad}; {opts.tessera}; LazyFS {LAZYFS_BIN}")
    try:
        if opts.selftest:
            opts.keep_on_loss = False
            ctrl = run_rounds(opts, rng, cut=False)
            back = run_rounds(opts, rng, cut=True, rollback=True)
            cl, ca, cnr, ce, _ = tally(ctrl)
            passed_back, text = rollback_verdict(back)
            log()
            log(f"selftest: kill -9 only : {verdict_line(ctrl, 'kill -9 only: no power cut')}")
            log(f"selftest: rollback     : {text}")
            passed = cl == 0 and not cnr and not ce and passed_back
            log(f"powercut selftest: {'PASS' if passed else 'FAIL'}: kill -9 only: {cl} lost of {ca} "
                f"(want 0); rollback: {tally(back)[0]} lost (want > 0, every one acknowledged after the "
                f"snapshot) ({opts.rounds} rounds each)")
            return EXIT_OK if passed else EXIT_LOST
        results = run_rounds(opts, rng, cut=not opts.kill_only, rollback=opts.rollback)
        log()
        for r in results:
            status = ("STORE DID NOT REOPEN" if r.reopen_failed else
                      "harness error" if r.harness_error else f"{r.lost} lost of {r.acknowledged}")
            log(f"  round {r.n}: {status}" + (f"; in flight: {r.inflight}" if r.inflight else ""))
        what = "kill -9 only: no power cut" if opts.kill_only else (
            "rollback control: restarted on a mid-load copy" if opts.rollback else "")
        if opts.rollback:
            # Losses are wanted here: exit 0 when the control came out as it should.
            passed, text = rollback_verdict(results)
            log(verdict_line(results, what))
            log(f"powercut rollback control: {'PASS' if passed else 'FAIL'}: {text}")
            return EXIT_OK if passed else (EXIT_NO_REOPEN if tally(results)[2] else EXIT_LOST)
        log(verdict_line(results, what))
        return exit_code(results)
    except KeyboardInterrupt as e:
        log(f"powercut: interrupted ({e}); cleaning up")
        return EXIT_HARNESS
    finally:
        cleanup_all()


if __name__ == "__main__":
    sys.exit(main())
