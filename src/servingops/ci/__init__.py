"""servingops in CI: the GitHub REST calls the action makes, the bodies it posts, and the
workflow templates `servingops init --ci` writes into a user's repository."""

from __future__ import annotations
