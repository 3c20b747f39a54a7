"""Search errors: what the search API and engine adapters raise (mapped to HTTP by the gateway).

    AwsmError
    ├── InvalidRequest → InvalidQuery (400 invalid_query)
    └── ServiceUnavailable → EngineUnavailable (503 engine_unavailable)
"""

from __future__ import annotations

from awsm.errors import InvalidRequest, ServiceUnavailable

__all__ = ["EngineUnavailable", "InvalidQuery"]


class InvalidQuery(InvalidRequest):
    code, message = "invalid_query", "The search query is not valid."


class EngineUnavailable(ServiceUnavailable):
    code, message = "engine_unavailable", "The search engine is temporarily unavailable."
