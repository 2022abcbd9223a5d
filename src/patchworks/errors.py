"""Errors that name what is wrong and how to fix it."""


class PatchworksError(Exception):
    """Base class for errors meant to be read by the user."""


class ConfigError(PatchworksError, ValueError):
    """A config value is invalid; the message names the key and what it accepts."""


class InputError(PatchworksError, ValueError):
    """The input image cannot be used as given."""


class MethodError(PatchworksError, RuntimeError):
    """A segmentation method returned something that is not a label image."""
