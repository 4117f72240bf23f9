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


def weights_missing(error: Exception, load_kwargs: dict) -> bool:
    """Whether a loader's OSError/ValueError means the weights are not on this machine (offline,
    or absent from the HF cache), as opposed to weights that are there but broken."""
    text = str(error).lower()
    return "local_files_only" in load_kwargs or "not found" in text or "does not appear" in text


class Cancelled(StudioError):
    """The visitor cancelled the job."""

    def __init__(self, message: str = "Cancelled."):
        super().__init__(message)


class OutOfMemory(StudioError):
    """The device ran out of memory; the message says what to lower."""


class ProvenanceError(StudioError):
    """A file could not be signed or read as it should; it is not handed out."""
