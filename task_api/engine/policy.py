"""Who may see, watch and cancel a task or a batch: one policy for every door.

REST, polling, WebSocket subscriptions and batches all ask the policy named
by ``TASK_API_ACCESS_POLICY`` (default :class:`OwnerOrStaff`). The actor is
a user, or an anonymous visitor's session (:class:`Actor`). Tasks and
batches have the same ownership fields, so one rule serves both.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, TypeVar

from django.db.models import Q, QuerySet

from task_api.conf import task_api_settings
from task_api.engine import sharing
from task_api.engine.dispatch import configured

Rows = TypeVar("Rows", bound="QuerySet[Any]")


@dataclass(frozen=True, kw_only=True)
class Actor:
    """Who is asking: a user, or an anonymous visitor known by their session."""

    user: Any = None
    session_key: str = ""
    #: The share links the actor presented (:mod:`task_api.engine.sharing`).
    links: tuple[Any, ...] = ()

    @classmethod
    def of(cls, user: Any, session: Any, links: tuple[Any, ...] = ()) -> Actor:
        """The actor of a request's (or a WebSocket scope's) ``user`` and ``session``."""
        session_key = getattr(session, "session_key", None) or ""
        return cls(user=user, session_key=session_key, links=links)

    @property
    def is_authenticated(self) -> bool:
        return self.user is not None and bool(self.user.is_authenticated)

    @property
    def is_staff(self) -> bool:
        return self.is_authenticated and bool(self.user.is_staff)


class AccessPolicy:
    """The rules about :class:`~task_api.models.TaskRecord` and
    :class:`~task_api.models.TaskBatch` rows (or querysets of them); subclass and name
    yours in ``TASK_API_ACCESS_POLICY``."""

    #: Whether ``can_see`` reads only the actor and the object, so the WebSocket consumer
    #: need not call it in a thread. A subclass that overrides ``can_see`` is taken to
    #: query, unless it sets this again.
    in_memory: ClassVar[bool] = False

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "can_see" in cls.__dict__ and "in_memory" not in cls.__dict__:
            cls.in_memory = False

    def own(self, actor: Actor, objects: Rows) -> Rows:
        """The objects the actor started (lists show these)."""
        raise NotImplementedError

    def visible(self, actor: Actor, objects: Rows) -> Rows:
        """The objects the actor may see and watch."""
        raise NotImplementedError

    def can_see(self, actor: Actor, obj: Any) -> bool:
        """Whether the actor may read and watch ``obj``."""
        raise NotImplementedError

    def can_cancel(self, actor: Actor, obj: Any) -> bool:
        """Whether the actor may cancel ``obj``; by default whoever may see it."""
        return self.can_see(actor, obj)


class OwnerOrStaff(AccessPolicy):
    """A task belongs to the user who started it, or to an anonymous visitor's session;
    staff may see every task (lists show their own), including those of nobody."""

    in_memory = True

    def own(self, actor: Actor, objects: Rows) -> Rows:
        if actor.is_authenticated:
            return objects.filter(owner=actor.user)
        if actor.session_key:
            return objects.filter(Q(owner__isnull=True) & Q(session_key=actor.session_key))
        return objects.none()

    def visible(self, actor: Actor, objects: Rows) -> Rows:
        return objects if actor.is_staff else self.own(actor, objects)

    def can_see(self, actor: Actor, obj: Any) -> bool:
        return actor.is_staff or _owns(actor, obj)


class DjangoPermissions(AccessPolicy):
    """Django's permission framework decides, object by object: the owner (a user, or an
    anonymous visitor's session) and whoever ``user.has_perm`` allows. ``view`` on the
    model (``task_api.view_taskrecord``, ``task_api.view_taskbatch``) or on the object lets
    a user see and watch it, ``change`` lets them cancel it; object-permission backends
    (django-guardian, django-rules) answer for one object. Lists show the caller's own."""

    def own(self, actor: Actor, objects: Rows) -> Rows:
        return OWNER.own(actor, objects)

    def visible(self, actor: Actor, objects: Rows) -> Rows:
        if _has_perm(actor, "view", objects.model):
            return objects
        return self.own(actor, objects)

    def can_see(self, actor: Actor, obj: Any) -> bool:
        return _owns(actor, obj) or _has_perm(actor, "view", type(obj), obj)

    def can_cancel(self, actor: Actor, obj: Any) -> bool:
        return _owns(actor, obj) or _has_perm(actor, "change", type(obj), obj)


def _owns(actor: Actor, obj: Any) -> bool:
    if actor.is_authenticated:
        return bool(obj.owner_id == actor.user.pk)
    return bool(actor.session_key) and obj.owner_id is None and obj.session_key == actor.session_key


def _has_perm(actor: Actor, action: str, model: Any, obj: Any = None) -> bool:
    """Whether the user has ``action`` on the model, or on ``obj``."""
    if not actor.is_authenticated:
        return False
    name = f"{model._meta.app_label}.{action}_{model._meta.model_name}"
    return bool(actor.user.has_perm(name) or (obj is not None and actor.user.has_perm(name, obj)))


OWNER = OwnerOrStaff()


def get_policy() -> AccessPolicy:
    """The configured policy (one instance per dotted path)."""
    path = task_api_settings.access_policy
    policy: AccessPolicy = configured("TASK_API_ACCESS_POLICY", path, AccessPolicy)
    return policy


def can_see(actor: Actor, obj: Any) -> bool:
    """Whether the actor may read and watch ``obj``: a share link it holds opens it, or the
    configured policy allows it. Every door asks this."""
    if any(sharing.opens(link, obj) for link in actor.links):
        return True
    return get_policy().can_see(actor, obj)


def can_cancel(actor: Actor, obj: Any) -> bool:
    """Whether the actor may cancel ``obj`` (a share link with ``can_cancel``, or the policy)."""
    if any(sharing.opens(link, obj, cancel=True) for link in actor.links):
        return True
    return get_policy().can_cancel(actor, obj)


def sees_in_memory() -> bool:
    """Whether :func:`can_see` reads only the actor and the object (no query)."""
    return get_policy().in_memory
