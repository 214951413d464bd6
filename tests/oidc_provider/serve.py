#!/usr/bin/env python
"""Run a throwaway django-oidc-provider OP in one process (no manage.py, no autoreloader).

  python serve.py --port 0 --db /tmp/x.sqlite3 --client-id app --client-secret s3cret \
      --redirect-uri http://127.0.0.1:5000/callback

Prints exactly one line "READY <issuer>" on stdout once the socket is listening
(--port 0 picks a free port; the real one is in that line). Ctrl-C / SIGTERM to stop.
"""

import argparse
import contextlib
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--db", required=True, help="SQLite file path (created/migrated)")
    p.add_argument(
        "--public-host", default=None, help="host used in SITE_URL/issuer (default: --host)"
    )
    p.add_argument(
        "--user",
        action="append",
        default=[],
        help="name:password:email:group1,group2 (repeatable; groups may be empty)",
    )
    p.add_argument("--client-id", default="test-client")
    p.add_argument("--client-secret", default="test-secret")
    p.add_argument("--client-type", choices=["confidential", "public"], default="confidential")
    p.add_argument("--redirect-uri", action="append", required=True, help="repeatable")
    p.add_argument("--post-logout-redirect-uri", action="append", default=[])
    a = p.parse_args()

    sys.path.insert(0, HERE)
    os.environ["DJANGO_SETTINGS_MODULE"] = "op_settings"
    os.environ["OP_DB_PATH"] = os.path.abspath(a.db)

    import django

    django.setup()

    from django.conf import settings
    from django.contrib.auth.models import Group, User
    from django.core.management import call_command
    from django.core.servers.basehttp import run
    from django.core.wsgi import get_wsgi_application
    from oidc_provider.models import Client, ResponseType, RSAKey

    call_command("migrate", verbosity=0, interactive=False)

    if not RSAKey.objects.exists():
        # 2048-bit RSA -> RS256 id_tokens + JWKS. The command prints to stdout and swallows
        # errors, so route its output to stderr (stdout carries READY) and check the result.
        call_command("creatersakey", stdout=sys.stderr)
        assert RSAKey.objects.exists(), "creatersakey failed"

    for spec in a.user:
        name, password, email, group_names = spec.split(":", 3)
        user, _ = User.objects.get_or_create(username=name)
        user.email = email
        user.set_password(password)
        user.save()
        names = [g for g in group_names.split(",") if g]
        user.groups.set([Group.objects.get_or_create(name=g)[0] for g in names])

    client, _ = Client.objects.get_or_create(client_id=a.client_id)
    client.name = a.client_id
    client.client_type = a.client_type
    client.client_secret = a.client_secret if a.client_type == "confidential" else ""
    client.jwt_alg = "RS256"
    client.redirect_uris = a.redirect_uri
    client.post_logout_redirect_uris = a.post_logout_redirect_uri
    client.require_consent = False  # only honoured for confidential clients (see notes)
    client.reuse_consent = True
    client.scope = [
        "openid",
        "email",
        "profile",
        "groups",
    ]  # only used by password/client_credentials
    client.save()
    client.response_types.set(
        [ResponseType.objects.get(value="code")]
    )  # rows come from migration 0026

    app = get_wsgi_application()

    def on_bind(port):
        # SITE_URL is read lazily per request, so it can be set after binding port 0.
        settings.SITE_URL = f"http://{a.public_host or a.host}:{port}"
        print(f"READY {settings.SITE_URL}/openid", flush=True)

    with contextlib.suppress(KeyboardInterrupt):
        run(a.host, a.port, app, threading=True, on_bind=on_bind)


if __name__ == "__main__":
    main()
