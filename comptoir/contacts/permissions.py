from django.utils.translation import gettext_lazy as _

PERMISSIONS = {
    "contacts.view_contact": _("View organizations and people"),
    "contacts.change_contact": _("Create and change organizations and people"),
    "contacts.view_all_contacts": _("See every contact of the company, not only one's own and one's team's"),
    "contacts.import_contacts": _("Import contacts"),
    "contacts.export_contacts": _("Export contacts"),
    "contacts.merge_contacts": _("Merge duplicate contacts"),
    "contacts.manage_tags": _("Rename and delete the company's tags"),
    "contacts.erase_personal_data": _("Export or erase a person's personal data (GDPR)"),
}

_WORK_WITH_CONTACTS = ["contacts.view_contact", "contacts.change_contact", "contacts.export_contacts"]

MATRIX = {
    "sales": _WORK_WITH_CONTACTS,
    "marketing": [
        *_WORK_WITH_CONTACTS,
        "contacts.view_all_contacts",
        "contacts.import_contacts",
        "contacts.manage_tags",
    ],
    "service": [*_WORK_WITH_CONTACTS, "contacts.view_all_contacts"],
    "finance": ["contacts.view_contact", "contacts.view_all_contacts", "contacts.export_contacts"],
    "operations": ["contacts.view_contact", "contacts.view_all_contacts"],
    "management": [
        *_WORK_WITH_CONTACTS,
        "contacts.view_all_contacts",
        "contacts.import_contacts",
        "contacts.merge_contacts",
        "contacts.erase_personal_data",
        "contacts.manage_tags",
    ],
}
