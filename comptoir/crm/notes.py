"""Notes on an organization, a person or an opportunity, with ``@mentions`` that notify colleagues.

Mention syntax: ``@`` followed by letters, digits, dots, dashes or underscores, not preceded by a
letter, digit or dot (so e-mail addresses in the text are not mentions). The token names a user of
the same company by the part of their e-mail before the ``@`` (``@sales`` for sales@example.fr) or
by their full name with dots for spaces (``@camille.martin`` for "Camille Martin"); case and
accents do not matter. Unknown tokens are left as text. Each mentioned colleague gets one
notification per note; the author never notifies themself.

Record rules: a note is visible when the row it is attached to is (organization and person rules
of the contacts, opportunity rule of the CRM).
"""

from __future__ import annotations

import re
from typing import Any

from django.db import transaction
from django.db.models import QuerySet
from django.urls import reverse
from django.utils.translation import gettext_lazy as _

from comptoir.contacts import selectors as contact_selectors
from comptoir.contacts.normalize import fold
from comptoir.crm import selectors
from comptoir.crm.models import Note
from comptoir.kernel import audit, events, notifications
from comptoir.kernel.authz import require
from comptoir.kernel.context import Actor
from comptoir.kernel.errors import NotFound, ValidationFailed
from comptoir.org.models import User

BODY_MAX = 10_000
TARGETS = ("organization_id", "person_id", "opportunity_id")
MENTION = re.compile(r"(?<![\w.])@([\w][\w.\-]*)")


def mentions(body: str) -> list[str]:
    """The folded ``@tokens`` of a text, in order, without duplicates (trailing dots are punctuation)."""
    found: list[str] = []
    for match in MENTION.finditer(body or ""):
        token = fold(match.group(1).rstrip(".-"))
        if token and token not in found:
            found.append(token)
    return found


def mentioned_users(company_id: int, body: str) -> list[int]:
    """Ids of the active users of the company whom the text mentions."""
    tokens = set(mentions(body))
    if not tokens:
        return []
    users = User.objects.filter(memberships__company_id=company_id, is_active=True).distinct()
    ids = []
    for user in users.only("pk", "email", "full_name"):
        local = fold(user.email.split("@", 1)[0])
        name = fold(user.full_name).replace(" ", ".")
        if local in tokens or (name and name in tokens):
            ids.append(user.pk)
    return sorted(ids)


def _visible(actor: Actor, name: str) -> QuerySet[Any]:
    if name == "organization_id":
        return contact_selectors.visible_organizations(actor)
    if name == "person_id":
        return contact_selectors.visible_people(actor)
    return selectors.opportunity_list(actor)


def _target(actor: Actor, targets: dict[str, Any]) -> tuple[str, int]:
    """The one (field, id) the note is attached to; 422 unless exactly one is given, 404 if not visible."""
    given = {name: value for name, value in targets.items() if value is not None}
    if set(given) - set(TARGETS) or len(given) != 1:
        message = _("Attach the note to one organization, person or opportunity.")
        raise ValidationFailed(fields={"target": [str(message)]})
    name, value = next(iter(given.items()))
    if not (contact_selectors.exists_id(value) and _visible(actor, name).filter(pk=value).exists()):
        raise NotFound("note_target_not_found")
    return name, value


def note_list(actor: Actor, **target: Any) -> QuerySet[Note]:
    """Notes of one visible organization, person or opportunity, newest first."""
    require(actor, "crm.view_opportunity")
    name, value = _target(actor, target)
    return Note.objects.filter(company_id=actor.company_id, **{name: value}).select_related("author")


_DETAIL_PAGES = {
    "opportunity_id": "crm:opportunity",
    "organization_id": "contacts:organization_detail",
    "person_id": "contacts:person_detail",
}


def detail_url(name: str, value: int) -> str:
    """The page the notification links to: the record the note is about."""
    return reverse(_DETAIL_PAGES[name], args=[value])


@transaction.atomic
def note_create(*, actor: Actor, body: Any, **target: Any) -> Note:
    require(actor, "crm.change_opportunity")
    name, value = _target(actor, target)
    company_id = int(actor.company_id or 0)  # require() passed: the actor works in a company
    text = str(body or "").strip()
    if not text:
        raise ValidationFailed(fields={"body": [str(_("This field is required."))]})
    if len(text) > BODY_MAX:
        raise ValidationFailed(fields={"body": [str(_("At most %(n)s characters.") % {"n": BODY_MAX})]})
    note = Note.objects.create(company_id=actor.company_id, author_id=actor.user_id, body=text, **{name: value})
    mentioned = [pk for pk in mentioned_users(company_id, text) if pk != actor.user_id]
    if mentioned:
        author = User.objects.filter(pk=actor.user_id).values_list("full_name", "email").first()
        label = (author[0] or author[1]) if author else str(_("A colleague"))
        notifications.notify(
            company_id=company_id,
            user_ids=mentioned,
            message=str(_("%(author)s mentioned you in a note.") % {"author": label}),
            url=detail_url(name, value),
        )
    audit.record(actor, "note.create", note, changes={name: [None, value], "mentioned": [None, mentioned]})
    events.publish(
        "crm.note_created",
        company_id=actor.company_id,
        payload={"id": note.pk, name: value, "author_id": actor.user_id, "mentioned_ids": mentioned},
    )
    return note
