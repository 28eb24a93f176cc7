"""The share links of a task or batch on its admin page, read-only, each with a button that
revokes it; and the list action that revokes every link of the selected objects.

Only a token's hash is stored, so no page can show a token: a link is known by when it was
made, by whom, until when, and what it allows.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html

from task_api.engine import sharing
from task_api.models import ShareLink, TaskBatch, TaskRecord

if TYPE_CHECKING:
    _Inline = admin.TabularInline[ShareLink, Any]
else:
    _Inline = admin.TabularInline


def revoke_url_name(model: type[TaskRecord] | type[TaskBatch]) -> str:
    """The URL name, in the admin site's namespace, of the view that revokes one link."""
    return f"{model._meta.app_label}_{model._meta.model_name}_revoke_share_link"


LINK_FIELDS = (
    "created",
    "created_by",
    "expires",
    "revoked",
    "can_cancel",
    "state",
    "revoke",
)


class ShareLinkInline(_Inline):
    """The links to a task or a batch: who may see them follows the page, revoking needs
    ``change`` on its model."""

    model = ShareLink
    fields = readonly_fields = LINK_FIELDS
    ordering = ["-created"]
    extra = 0
    can_delete = False
    #: Whether the user may revoke links here; set per request by :meth:`get_formset`.
    can_revoke = False

    def _parent(self) -> admin.ModelAdmin[Any]:
        return self.admin_site.get_model_admin(self.parent_model)

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self._parent().has_view_permission(request, obj)

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def get_formset(self, request: HttpRequest, obj: Any = None, **kwargs: Any) -> Any:
        self.can_revoke = self._parent().has_change_permission(request)
        return super().get_formset(request, obj, **kwargs)

    @admin.display(description="state")
    def state(self, link: ShareLink) -> str:
        if link.revoked is not None:
            return "revoked"
        return "expired" if link.expires <= timezone.now() else "live"

    @admin.display(description="")
    def revoke(self, link: ShareLink) -> str:
        if not self.can_revoke or self.state(link) != "live":
            return ""
        name = f"{self.admin_site.name}:{revoke_url_name(self.parent_model)}"
        url = reverse(name, args=[link.task_id or link.batch_id, link.pk])
        # The page's form (and its CSRF token) posted to the revoke view.
        return format_html(
            '<button type="submit" class="button" formaction="{}" formmethod="post">'
            "Revoke</button>",
            url,
        )


@admin.action(
    description="Revoke the share links of the selected %(verbose_name_plural)s",
    permissions=["change"],
)
def revoke_share_links(
    modeladmin: admin.ModelAdmin[Any], request: HttpRequest, queryset: QuerySet[Any]
) -> None:
    """Revoke every live link of each selected task or batch."""
    revoked = sum(sharing.revoke(obj) for obj in queryset)
    noun = "link" if revoked == 1 else "links"
    modeladmin.message_user(request, f"Revoked {revoked} live share {noun}.", messages.SUCCESS)
