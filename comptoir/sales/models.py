"""Sales models: quotes (models_quotes) and sales orders (models_orders)."""

from comptoir.sales.models_kpis import *  # noqa: F403
from comptoir.sales.models_orders import *  # noqa: F403
from comptoir.sales.models_quotes import *  # noqa: F403
