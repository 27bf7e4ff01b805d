"""The online half of the platform: search over the published index and the HTTP service.

`from serving import Retriever, Result`; the service is `serving.api` (`make serve`).
"""

from search.results import Result
from search.retriever import Retriever

__all__ = ["Result", "Retriever"]
