"""The registry's record of :class:`~requests_multiauth.GitHubAppJwtAuth` (``github-app-jwt``).

The class lives with the installation tokens in :mod:`.github_app`, which shares its
key handling; the registry reads one record per module, so this module names it.
"""

from __future__ import annotations

from .github_app import JWT_PROVIDER as PROVIDER

__all__ = ["PROVIDER"]
