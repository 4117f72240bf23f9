"""Storyboard sessions: a script becomes a board of panels, then an animatic with voice and music.

The service layer (no Gradio):
- script.py: the script and shot-list parser;
- board.py: the board model and the edits a visitor makes;
- store.py: boards in the studio's SQLite database, per visitor, with read-only share tokens;
- events.py: the task names, the events a run yields, what a run may use of the service;
- service.py: `BoardService`, the one entry point the tab (and tests, and the CLI) use;
- panels.py and making.py: the runs that make panels, voice-over takes, the music bed and exports
  (imported by the service, importing only events.py back);
- exports.py: the PDF contact sheet, the ZIP of panels and the animatic from a board;
- sharing.py: what a shared board shows to whoever opens its link;
- templates.py: starting scripts from presets/storyboard_templates.toml.

The tab's side (Gradio): view.py (how a board looks, plain values), tab_parts.py (the layout's
parts), handlers.py (the event handlers); studio/tabs/storyboard.py lays them out and wires them.
"""
