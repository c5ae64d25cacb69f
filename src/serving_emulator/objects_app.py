"""HTTP routes of the workspace objects: Unity Catalog models, versions and aliases, secret
scopes and secrets, and SCIM users, groups and service principals.

The handlers are the serving routes' own (`reader` and `writer` in `app.py`: latency, faults,
authentication, reads on the event loop, writes off it); they hand the work to the services in
`workspace_objects`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from .workspace_objects import WorkspaceObjectServices

if TYPE_CHECKING:
    from .app import Handler, _Api

UC_MODELS = "/api/2.1/unity-catalog/models"
SECRETS = "/api/2.0/secrets"
SCIM = "/api/2.0/preview/scim/v2"


def objects_routes(api: _Api, services: WorkspaceObjectServices) -> list[Route]:
    """The routes for `services`, answered through `api`'s request pipeline."""
    registry, scopes, scim = services.registry, services.scopes, services.scim

    def read(fn: Callable[..., Any], *params: str) -> Handler:
        """A GET handler: fn(caller, *path params, query)."""
        return api.reader(fn, *params, query=True)

    write = api.writer

    def by_method(**handlers: Handler) -> Handler:
        async def handler(request: Request) -> Response:
            return await handlers[request.method](request)

        return handler

    model = f"{UC_MODELS}/{{full_name}}"
    alias = f"{model}/aliases/{{alias}}"
    return [
        # Unity Catalog registered models, versions and aliases
        Route(
            UC_MODELS,
            by_method(GET=read(registry.list_models), POST=write(registry.create_model)),
            methods=["GET", "POST"],
        ),
        Route(
            model,
            by_method(
                GET=read(registry.get_model, "full_name"),
                DELETE=write(registry.delete_model, "full_name", body=False),
            ),
            methods=["GET", "DELETE"],
        ),
        Route(f"{model}/versions", read(registry.list_versions, "full_name"), methods=["GET"]),
        Route(
            f"{model}/versions/{{version}}",
            read(registry.get_version, "full_name", "version"),
            methods=["GET"],
        ),
        Route(
            alias,
            by_method(
                GET=read(registry.get_by_alias, "full_name", "alias"),
                PUT=write(registry.set_alias, "full_name", "alias"),
                DELETE=write(registry.delete_alias, "full_name", "alias", body=False),
            ),
            methods=["GET", "PUT", "DELETE"],
        ),
        # secret scopes and secrets
        Route(f"{SECRETS}/scopes/create", write(scopes.create_scope), methods=["POST"]),
        Route(f"{SECRETS}/scopes/delete", write(scopes.delete_scope), methods=["POST"]),
        Route(f"{SECRETS}/scopes/list", api.reader(scopes.list_scopes), methods=["GET"]),
        Route(f"{SECRETS}/put", write(scopes.put_secret), methods=["POST"]),
        Route(f"{SECRETS}/delete", write(scopes.delete_secret), methods=["POST"]),
        Route(f"{SECRETS}/list", read(scopes.list_secrets), methods=["GET"]),
        Route(f"{SECRETS}/get", read(scopes.get_secret), methods=["GET"]),
        # SCIM principals
        Route(f"{SCIM}/Users", read(scim.list_users), methods=["GET"]),
        Route(f"{SCIM}/Users/{{id}}", read(scim.get_user, "id"), methods=["GET"]),
        Route(
            f"{SCIM}/Groups",
            by_method(GET=read(scim.list_groups), POST=write(scim.create_group, status=201)),
            methods=["GET", "POST"],
        ),
        Route(
            f"{SCIM}/Groups/{{id}}",
            by_method(
                GET=read(scim.get_group, "id"),
                DELETE=write(scim.delete_group, "id", body=False),
            ),
            methods=["GET", "DELETE"],
        ),
        Route(f"{SCIM}/ServicePrincipals", read(scim.list_service_principals), methods=["GET"]),
        Route(
            f"{SCIM}/ServicePrincipals/{{id}}",
            read(scim.get_service_principal, "id"),
            methods=["GET"],
        ),
    ]
