"""Start the studio: read settings, build it, launch on http://127.0.0.1:7860 by default."""
from studio.cli import configure_logging
from studio.service import Studio
from studio.settings import load_settings
from studio.ui import launch

if __name__ == "__main__":
    configure_logging()
    launch(Studio(load_settings()))
