"""Exception types shared by every layer. The studio turns them into the message a user sees.

Only `StudioError` subclasses carry a message meant for users; anything else is a bug and is
reported as "internal error" with the details in the server log.
"""


class StudioError(Exception):
    """Base of all errors whose message is written for the person using the studio."""


class InputError(StudioError, ValueError):
    """A request or an uploaded file that cannot be used as it is."""


class PresetError(StudioError):
    """A preset file or preset name that is wrong."""


class ModelMissingError(StudioError):
    """The weights of a model are not on this machine and cannot be fetched."""


class Cancelled(StudioError):
    """The visitor cancelled the job."""

    def __init__(self, message: str = "Cancelled."):
        super().__init__(message)


class OutOfMemory(StudioError):
    """The device ran out of memory; the message says what to lower."""


class ProvenanceError(StudioError):
    """A file could not be signed or read as it should; it is not handed out."""
