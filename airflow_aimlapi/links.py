"""Extra links shown on AIML API tasks in the Airflow UI."""

from __future__ import annotations

from typing import TYPE_CHECKING

from airflow.providers.common.compat.sdk import BaseOperatorLink

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import BaseOperator, TaskInstanceKey

#: The account's billing page, where a balance is topped up and auto top-up is set.
AIMLAPI_BILLING_URL = "https://aimlapi.com/app/billing/"


class AimlApiBillingLink(BaseOperatorLink):
    """An "AIML API billing" button on the task: opens the account's billing page.

    The page is the same for every account (the site shows the signed-in user's billing), so the
    link needs nothing from the task's connection: no key or base URL goes into the link's XCom.
    """

    name = "AIML API billing"

    def get_link(self, operator: BaseOperator, *, ti_key: TaskInstanceKey) -> str:
        """Return the billing page URL.

        :param operator: The task the link belongs to.
        :param ti_key: The task instance the link is asked for.
        """
        return AIMLAPI_BILLING_URL
