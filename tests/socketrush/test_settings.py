"""The settings types: one field per option, the table's defaults, webhook targets."""

from __future__ import annotations

from dataclasses import fields

import pytest

from socketrush.options import OPTIONS, Scope
from socketrush.settings import AppSettings, ServerSettings, WebhookTarget


def test_settings_classes_have_one_field_per_option() -> None:
    server = {o.field for o in OPTIONS if o.scope is Scope.SERVER and not o.bootstrap}
    assert {f.name for f in fields(ServerSettings)} == server | {"apps"}
    assert {f.name for f in fields(AppSettings)} == {
        o.field for o in OPTIONS if o.scope is Scope.APP
    }


def test_app_settings_defaults_match_the_table() -> None:
    app = AppSettings(id="1", key="k", secret="s")
    for option in OPTIONS:
        if option.scope is Scope.APP and option.default is not None:
            assert getattr(app, option.field) == option.default, option.name


def test_a_webhook_target_has_exactly_one_destination() -> None:
    assert WebhookTarget(url="http://a").destination == "http://a"
    topic = "arn:aws:sns:eu-west-1:123456789012:hooks"
    assert WebhookTarget(sns_topic_arn=topic).destination == topic
    with pytest.raises(ValueError) as refused:
        WebhookTarget()
    assert str(refused.value) == "a webhook target needs exactly one of url, sns_topic_arn, not 0"
    with pytest.raises(ValueError) as refused:
        WebhookTarget("http://a", sns_topic_arn=topic)
    assert str(refused.value) == "a webhook target needs exactly one of url, sns_topic_arn, not 2"


def test_a_webhook_target_filters_by_type_and_channel_name() -> None:
    target = WebhookTarget("http://a", frozenset({"member_added"}), "presence-", "-room")
    assert target.accepts("member_added", "presence-a-room")
    assert not target.accepts("member_removed", "presence-a-room")
    assert not target.accepts("member_added", "private-a-room")
    assert not target.accepts("member_added", "presence-a")
    assert WebhookTarget("http://all").accepts("cache_miss", "")


def test_webhook_targets_are_the_urls_then_the_objects() -> None:
    app = AppSettings(
        id="1",
        key="k",
        secret="s",
        webhook_urls=("http://a", "http://b"),
        webhooks=(WebhookTarget("http://c", frozenset({"cache_miss"})),),
    )
    assert app.webhook_targets == (
        WebhookTarget("http://a"),
        WebhookTarget("http://b"),
        WebhookTarget("http://c", frozenset({"cache_miss"})),
    )
