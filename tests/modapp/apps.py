from django.apps import AppConfig


class ModappConfig(AppConfig):
    name = "tests.modapp"
    label = "modapp"

    def ready(self) -> None:
        from comptoir.kernel.modules import Module, NavEntry, registry

        def search(actor, query, limit):  # type: ignore[no-untyped-def]
            items = [{"label": f"Demo note {i}", "url": "/modapp/", "kind": "note"} for i in range(3)]
            return [item for item in items if query.lower() in item["label"].lower()][:limit]

        registry.register(
            Module(
                code="modapp",
                label="Demo module",
                description="Test-only module",
                nav=(NavEntry(label="Demo notes", url_name="modapp:index"),),
                search=search,
            )
        )
