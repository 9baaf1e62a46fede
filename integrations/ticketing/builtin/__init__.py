"""minhu's built-in work-order service, mounted at ``/open311/v2/``.

- :mod:`.catalogue` (+ ``catalogue.yml``): services, departments, routing, deadlines;
- :mod:`.service`: ``WorkOrderService``, the closed loop over the database;
- :mod:`.webhooks`: ``WebhookDispatcher``, which posts status changes to the bot;
- :mod:`.api`: ``build_open311_router``, the Open311 GeoReport v2 interface.

Nothing is imported here, so that registering the tables (``.models``, from
``integrations.storage.all_models``) pulls in no web framework.
"""

__all__: list[str] = []
