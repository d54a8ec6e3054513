"""The connection form for Airflow before 3.2, which asks the hook class (3.2+ reads provider info)."""

from __future__ import annotations

from typing import Any

from airflow_aimlapi import CONN_FIELDS, UI_FIELD_BEHAVIOUR


def ui_field_behaviour() -> dict[str, Any]:
    """Return the hidden, relabelled and placeholder fields, as ``get_ui_field_behaviour`` does."""
    return {
        "hidden_fields": UI_FIELD_BEHAVIOUR["hidden-fields"],
        "relabeling": UI_FIELD_BEHAVIOUR["relabeling"],
        "placeholders": UI_FIELD_BEHAVIOUR["placeholders"],
    }


def connection_form_widgets() -> dict[str, Any]:
    """Return the extra fields' WTForms widgets, as ``get_connection_form_widgets`` does."""
    from flask_appbuilder.fieldwidgets import BS3TextFieldWidget
    from flask_babel import lazy_gettext
    from wtforms import IntegerField, StringField
    from wtforms.validators import NumberRange, Optional

    timeout, retries = CONN_FIELDS["timeout"], CONN_FIELDS["max_retries"]
    return {
        "timeout": StringField(
            lazy_gettext(timeout["label"]),
            description=timeout["description"],
            widget=BS3TextFieldWidget(),
        ),
        "max_retries": IntegerField(
            lazy_gettext(retries["label"]),
            description=retries["description"],
            validators=[Optional(), NumberRange(min=0)],
            widget=BS3TextFieldWidget(),
        ),
    }
