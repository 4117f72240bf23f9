"""What a shared board shows to whoever opens its link.

The board's owner (the session that made it; a signed-in team shares one) always sees their own
words. Anyone else sees them only while the operator discloses prompts (`disclose_prompt`,
STUDIO_DISCLOSE_PROMPT): with disclosure off, every text the visitor wrote or named (title, look
notes, scenes, camera notes, shots, speakers, dialogue, the music prompt, the reference's file
name, messages that may quote them) is replaced by its SHA-256, as in the signed files' manifests,
and only the exports whose content holds none of those words are offered.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass, field

from provenance.manifest import withheld
from studio.gallery import GalleryItem
from studio.storyboard.board import NARRATOR, Board


def holds_no_words(export: GalleryItem) -> bool:
    """Whether an export's content carries none of the owner's words. An allow-list: only an animatic
    without voice-over (its takes speak the dialogue and carry it as subtitles); the contact sheet and
    the panels ZIP print the script, and a new kind of export is withheld until it is listed here."""
    return export.params.get("export") == "animatic" and export.params.get("voice_takes") == 0


@dataclass
class SharedBoard:
    """A shared board as one viewer may see it."""

    board: Board
    exports: list[GalleryItem] = field(default_factory=list)
    withheld: bool = False          # the visitor's words are shown as their SHA-256
    exports_left_out: int = 0       # exports not offered because they print the visitor's words


def hashed(text: str) -> str:
    """A visitor's text as a shared board shows it with disclosure off: "sha256:<hex>" (empty stays empty)."""
    return withheld(text, False)


def without_words(board: Board) -> Board:
    """A copy of `board` with every text the visitor wrote or named replaced by its SHA-256."""
    out = copy.deepcopy(board)
    out.title, out.look, out.music_prompt = hashed(out.title), hashed(out.look), hashed(out.music_prompt)
    out.reference_name = hashed(out.reference_name)
    out.voices = {_speaker(k): v for k, v in out.voices.items()}
    for shot in out.shots:
        shot.prompt, shot.camera, shot.scene, shot.error = (hashed(shot.prompt), hashed(shot.camera),
                                                             hashed(shot.scene), hashed(shot.error))
        for line in shot.dialogue:
            line.speaker, line.text, line.error = _speaker(line.speaker), hashed(line.text), hashed(line.error)
    return out


def for_viewer(board: Board, exports: list[GalleryItem], viewer_id: str | None, disclose: bool) -> SharedBoard:
    """The shared board as `viewer_id` (None: not known) may see it; the owner sees it whole."""
    if disclose or (viewer_id is not None and viewer_id == board.session_id):
        return SharedBoard(board, exports)
    shown = [i for i in exports if holds_no_words(i)]
    return SharedBoard(without_words(board), shown, withheld=True, exports_left_out=len(exports) - len(shown))


def _speaker(name: str) -> str:
    return name if name == NARRATOR else hashed(name)
