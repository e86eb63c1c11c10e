"""Test settings: the same settings, with tests' needs (cheap hasher, N+1 raising)."""

import os
import tempfile

os.environ["COMPTOIR_TESTING"] = "1"
os.environ.setdefault("COMPTOIR_DATA_DIR", tempfile.mkdtemp(prefix="comptoir-test-"))
os.environ.setdefault("COMPTOIR_DB_POOL", "0")
os.environ.setdefault("COMPTOIR_TASKS_BACKEND", "immediate")

from comptoir.config.settings import *  # noqa: F403

# Argon2 costs ~100 MiB per hash in Django 6.1: tests use a fast hasher.
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

# A test-only module proves that switching modules hides nav, API and search.
INSTALLED_APPS = [*INSTALLED_APPS, "tests.modapp"]  # noqa: F405
ROOT_URLCONF = "tests.urls"

# Test-only models exercising kernel fields (MoneyField, QuantityField).
INSTALLED_APPS = [*INSTALLED_APPS, "tests.kerneltest"]

# SQLite tests use a file, not the shared-cache in-memory database: there, concurrent
# connections fail at once with "database table is locked" instead of queueing on the busy
# timeout, so concurrency tests (threads with their own connections) could not run.
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":  # noqa: F405
    DATABASES["default"].setdefault("TEST", {})["NAME"] = str(DATA_DIR / "test.sqlite3")  # noqa: F405
