"""Model providers behind one async interface (see ``core.providers.base``)."""

from core.providers.base import Capabilities, ChatRequest, Completion, Provider

__all__ = ["Capabilities", "ChatRequest", "Completion", "Provider"]
