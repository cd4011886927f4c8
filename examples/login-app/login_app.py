#!/usr/bin/env python3
"""Your own login page, for scopegate's login delegation ([sign_in] delegate_to).

scopegate sends the browser here with ?login_challenge=C. This app signs its user
in however it does (here: a password checked against USERS; yours checks your
database), answers the challenge through scopegate's admin API with a token that
holds admin:sign-in, and sends the browser to the redirect_to it gets back.
scopegate then shows its own consent page. Python's standard library only.

    SCOPEGATE_URL=http://127.0.0.1:8080 SCOPEGATE_ADMIN_TOKEN=sgadm_... \
        python3 examples/login-app/login_app.py      # listens on 127.0.0.1:8090
"""
import html
import json
import os
import urllib.parse
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

SCOPEGATE = os.environ["SCOPEGATE_URL"].rstrip("/")
TOKEN = os.environ["SCOPEGATE_ADMIN_TOKEN"]
PORT = int(os.environ.get("PORT", "8090"))
# Your users and the roles your admin console gives them.
USERS = {
    "ana": {"password": "ana-password", "id": "u-123", "name": "Ana", "roles": ["Orders", "OrderStatuses"]},
    "ben": {"password": "ben-password", "id": "u-456", "name": "Ben", "roles": []},
}


def admin(method, path, body=None):
    request = urllib.request.Request(
        SCOPEGATE + path,
        method=method,
        data=None if body is None else json.dumps(body).encode(),
        headers={"Authorization": "Bearer " + TOKEN, "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=5) as answer:
        return json.load(answer)


class LoginPage(BaseHTTPRequestHandler):
    def do_GET(self):
        query = urllib.parse.parse_qs(urllib.parse.urlsplit(self.path).query)
        challenge = query.get("login_challenge", [""])[0]
        try:
            info = admin("GET", "/admin/api/sign-in/" + urllib.parse.quote(challenge, safe=""))
        except urllib.error.HTTPError as e:
            return self.page(e.code, "<p>This sign-in has expired. Go back to the app and start again.</p>")
        self.page(200, f"""<h1>Sign in to Example Store</h1>
<p>{html.escape(info["app_name"])} asks for: {html.escape(" ".join(info["scopes"])) or "your account"}</p>
<form method="post"><input type="hidden" name="login_challenge" value="{html.escape(challenge)}">
<label>Login <input name="login"></label> <label>Password <input type="password" name="password"></label>
<button name="action" value="sign-in">Sign in</button> <button name="action" value="cancel">Cancel</button></form>""")

    def do_POST(self):
        length = int(self.headers.get("Content-Length", "0"))
        form = {k: v[0] for k, v in urllib.parse.parse_qs(self.rfile.read(length).decode()).items()}
        challenge = urllib.parse.quote(form.get("login_challenge", ""), safe="")
        user = USERS.get(form.get("login", ""))
        if form.get("action") == "cancel":
            answer = admin("PUT", f"/admin/api/sign-in/{challenge}/reject",
                           {"error": "access_denied", "description": "the user cancelled"})
        elif user and form.get("password") == user["password"]:
            answer = admin("PUT", f"/admin/api/sign-in/{challenge}/accept",
                           {"subject": user["id"], "permissions": user["roles"], "name": user["name"]})
        else:
            return self.page(401, "<p>Wrong login or password. Go back and try again.</p>")
        self.send_response(303)
        self.send_header("Location", answer["redirect_to"])
        self.end_headers()

    def page(self, status, body):
        data = f"<!doctype html><title>Example Store</title>{body}".encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


if __name__ == "__main__":
    ThreadingHTTPServer(("127.0.0.1", PORT), LoginPage).serve_forever()
