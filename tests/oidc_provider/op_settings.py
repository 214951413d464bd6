"""Minimal Django settings for a throwaway django-oidc-provider 0.9.0 OP (tests only).

serve.py sets OP_DB_PATH before django.setup() and settings.SITE_URL once the port is bound.
"""

import os

DEBUG = False
SECRET_KEY = "test-only-not-secret"
ALLOWED_HOSTS = ["*"]  # DEBUG=False => must be set, else 400 Bad Request
USE_TZ = True
DEFAULT_AUTO_FIELD = "django.db.models.AutoField"  # oidc_provider migrations use AutoField

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "oidc_provider",
]
MIDDLEWARE = [
    "django.middleware.common.CommonMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
]
ROOT_URLCONF = "op_urls"
DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": os.environ.get("OP_DB_PATH", "/tmp/oidc-op.sqlite3"),
    }
}

# Test-only speed-up: default PBKDF2 (1M iterations) costs ~0.3 s per set_password and per login.
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

LOGIN_URL = "/accounts/login/"  # oidc_provider redirects here (OIDC_LOGIN_URL defaults to it)

_LOGIN_HTML = """<!doctype html><title>Login</title>
<form method="post" action="{{ request.get_full_path }}">{% csrf_token %}
{{ form.as_p }}<input type="hidden" name="next" value="{{ next }}">
<button type="submit">Log in</button></form>"""

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": False,  # must be False when "loaders" is given
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
            ],
            "loaders": [
                ("django.template.loaders.locmem.Loader", {"op/login.html": _LOGIN_HTML}),
                # oidc_provider/authorize.html and the other pages it ships
                "django.template.loaders.app_directories.Loader",
            ],
        },
    }
]

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "loggers": {
        "django.request": {"handlers": ["console"], "level": "ERROR"},
        "oidc_provider": {"handlers": ["console"], "level": "DEBUG"},
    },
}

# ---- django-oidc-provider ----
SITE_URL = os.environ.get(
    "OP_SITE_URL"
)  # issuer = SITE_URL + "/openid"; serve.py overrides after bind
OIDC_USERINFO = "op_hooks.userinfo"  # fills standard claims (/userinfo, scope-based)
OIDC_EXTRA_SCOPE_CLAIMS = "op_hooks.GroupsScopeClaims"  # "groups" scope for /userinfo
OIDC_IDTOKEN_PROCESSING_HOOK = "op_hooks.idtoken_hook"  # email + groups in EVERY id_token
OIDC_IDTOKEN_EXPIRE = 600
