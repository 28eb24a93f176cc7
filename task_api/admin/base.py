"""What the task and batch admins share: read-only pages, live progress bars, and the
share links of each object with the view that revokes one."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import URLPattern, path, reverse
from django.views.decorators.http import require_POST

from task_api.admin import live
from task_api.admin.sharing import ShareLinkInline, revoke_url_name
from task_api.engine import sharing

if TYPE_CHECKING:
    _ModelAdmin = admin.ModelAdmin[Any]
else:
    _ModelAdmin = admin.ModelAdmin


class TaskAPIAdmin(_ModelAdmin):
    """Objects that only the engine changes: nothing is added or edited here (actions go
    through the service); pages and lists show their progress live."""

    inlines = [ShareLinkInline]
    list_per_page = 50
    #: The WebSocket URL of the JS client: where ``task_api.routing`` is routed.
    ws_url = "/ws/tasks/"

    class Media:
        js = live.SCRIPTS
        css = {"all": live.STYLES}

    def live_options(self) -> dict[str, str] | None:
        """What the progress bars tell the JS client; ``None`` makes them static."""
        return live.client_options(self.ws_url)

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # ``change`` on the model allows the actions; no object is ever edited in a form,
        # whose save would write over what the worker is writing.
        return obj is None and super().has_change_permission(request)

    def get_urls(self) -> list[URLPattern]:
        revoke = self.admin_site.admin_view(require_POST(self.revoke_share_link_view))
        own = [
            path(
                "<path:object_id>/share-links/<int:link_id>/revoke/",
                revoke,
                name=revoke_url_name(self.model),
            )
        ]
        return own + super().get_urls()

    def revoke_share_link_view(
        self, request: HttpRequest, object_id: str, link_id: int
    ) -> HttpResponse:
        """Revoke one share link of the object (POST), and go back to its page."""
        obj = self.get_object(request, unquote(object_id))
        if obj is None:
            raise Http404(f"No {self.opts.verbose_name} with the key {object_id!r}.")
        if not self.has_change_permission(request):
            raise PermissionDenied
        if sharing.revoke(obj, link_id=link_id):
            self.message_user(request, "The share link was revoked.", messages.SUCCESS)
        else:
            self.message_user(request, "That share link was no longer live.", messages.WARNING)
        name = f"{self.admin_site.name}:{self.opts.app_label}_{self.opts.model_name}_change"
        return HttpResponseRedirect(reverse(name, args=[object_id]))
