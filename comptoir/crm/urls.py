"""CRM pages, mounted at /crm/."""

from django.urls import path, register_converter

from comptoir.crm import views, views_activities, views_followups, views_notes


class IdConverter:
    """A database id: at most 18 digits, so it always fits a bigint (longer → 404, never 500)."""

    regex = "[1-9][0-9]{0,17}"

    def to_python(self, value: str) -> int:
        return int(value)

    def to_url(self, value: int) -> str:
        return str(value)


register_converter(IdConverter, "crmid")

app_name = "crm"

urlpatterns = [
    path("", views.board, name="board"),
    path("board/stages/<crmid:stage_id>/cards/", views.board_cards, name="board_cards"),
    path("opportunities/", views.opportunities, name="opportunities"),
    path("opportunities/new/", views.opportunity_create, name="opportunity_create"),
    path("opportunities/<crmid:opportunity_id>/", views.opportunity, name="opportunity"),
    path("opportunities/<crmid:opportunity_id>/edit/", views.opportunity_edit, name="opportunity_edit"),
    path("opportunities/<crmid:opportunity_id>/move/", views.move, name="move"),
    path("opportunities/<crmid:opportunity_id>/<str:action>/", views.opportunity_action, name="opportunity_action"),
    path("leads/", views.leads, name="leads"),
    path("leads/new/", views.lead_create, name="lead_create"),
    path("leads/<crmid:lead_id>/qualify/", views.lead_qualify, name="lead_qualify"),
    path("leads/<crmid:lead_id>/discard/", views.lead_discard, name="lead_discard"),
    path("settings/", views.pipeline_settings, name="pipeline_settings"),
    path("settings/save/", views.settings_save, name="settings_save"),
    path("stages/<crmid:stage_id>/edit/", views.stage_edit, name="stage_edit"),
    path("stages/<crmid:stage_id>/delete/", views.stage_delete, name="stage_delete"),
]

urlpatterns += [
    path("my-day/", views_activities.my_day, name="my_day"),
    path("my-day/team/", views_activities.team_day, name="team_day"),
    path("activities/panel/<str:target>/<crmid:target_id>/", views_activities.panel, name="activities_panel"),
    path("activities/new/", views_activities.activity_create, name="activity_create"),
    path("activities/<crmid:activity_id>/edit/", views_activities.activity_edit, name="activity_edit"),
    path("activities/<crmid:activity_id>/complete/", views_activities.activity_complete, name="activity_complete"),
]

urlpatterns += [
    path("notes/opportunity/<crmid:opportunity_id>/", views_notes.opportunity_notes, name="opportunity_notes"),
    path("notes/organization/<crmid:organization_id>/", views_notes.organization_notes, name="organization_notes"),
    path("notes/person/<crmid:person_id>/", views_notes.person_notes, name="person_notes"),
]

urlpatterns += [
    path("settings/followups/", views_followups.rules, name="followup_rules"),
    path("settings/followups/run/", views_followups.rules_run, name="followup_rules_run"),
    path("settings/followups/<crmid:rule_id>/edit/", views_followups.rule_edit, name="followup_rule_edit"),
    path("settings/followups/<crmid:rule_id>/toggle/", views_followups.rule_toggle, name="followup_rule_toggle"),
    path("settings/followups/<crmid:rule_id>/delete/", views_followups.rule_delete, name="followup_rule_delete"),
]
