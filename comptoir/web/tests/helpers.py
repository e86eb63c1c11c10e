"""Shared helpers of the web tests: sign in through the real form, compute TOTP codes."""

from __future__ import annotations

import datetime as dt

import pyotp
from django.test import Client
from django.utils import timezone

from comptoir.org.models import User
from comptoir.org.testing import PASSWORD


def post_login(client: Client, email: str, password: str = PASSWORD, **extra: str):  # type: ignore[no-untyped-def]
    return client.post("/login/", {"email": email, "password": password, **extra})


def fresh_code(user: User) -> str:
    """A TOTP code the server has not seen yet (the next time step if the current one was used)."""
    user.refresh_from_db()
    totp = pyotp.TOTP(user.totp_secret)
    now = timezone.now()
    for step in (0, 1):
        at = now + dt.timedelta(seconds=30 * step)
        if totp.timecode(at) > user.totp_last_counter:
            return totp.at(at)
    raise AssertionError("no unused TOTP step left in the accepted window")


def enable_totp(user: User) -> str:
    """Give ``user`` a confirmed second factor directly in the database; returns the secret."""
    secret = pyotp.random_base32()
    User.objects.filter(pk=user.pk).update(totp_secret=secret, totp_confirmed_at=timezone.now(), totp_last_counter=0)
    user.refresh_from_db()
    return secret
