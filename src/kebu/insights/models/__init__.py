"""The insights' tables, one module per area; the run log is shared by all of them. Each module lists
what it exports in ``__all__``."""

from kebu.insights.models.baskets import *  # noqa: F403
from kebu.insights.models.dashboard import *  # noqa: F403
from kebu.insights.models.runs import InsightKind, InsightRun, RunStatus
from kebu.insights.models.scores import *  # noqa: F403

__all__ = ["InsightKind", "InsightRun", "RunStatus"]
