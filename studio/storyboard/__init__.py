"""Storyboard sessions: a script becomes a board of panels, then an animatic with voice and music.

- script.py: the script and shot-list parser;
- board.py: the board model and the edits a visitor makes;
- store.py: boards in the studio's SQLite database, per visitor, with read-only share tokens;
- service.py: `BoardService`, the one entry point the tab (and tests, and the CLI) use;
- making.py: the runs that make panels, voice-over takes, the music bed and exports;
- exports.py: the PDF contact sheet, the ZIP of panels and the animatic from a board;
- templates.py: starting scripts from presets/storyboard_templates.toml.
"""
