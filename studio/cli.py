"""The `studio` command: serve, generate, models, verify — the same path as the web studio.

Exit status: 0 on success, 2 for bad input or a missing model (the message says what to do),
1 for a failed verification (Invalid), 3 for an internal error.
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import sys
from pathlib import Path

from pipelines.errors import StudioError

log = logging.getLogger("studio")


def configure_logging(level: int = logging.INFO) -> None:
    """Plain logs on stderr; the ML libraries only say what matters (we report truncation ourselves)."""
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    os.environ.setdefault("DIFFUSERS_VERBOSITY", "error")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")


def _studio(args):
    from studio.service import Studio
    from studio.settings import load_settings

    overrides = {"data_dir": args.data_dir} if getattr(args, "data_dir", None) else {}
    return Studio(load_settings(**overrides))


def write_outcome(outcome, out: str) -> int:
    """Copy the signed files into `out` (with the `.c2pa` sidecar of a file that has one, e.g. a
    transcript); one JSON line per file on stdout, notices on stderr."""
    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    for notice in outcome.notices:
        print(f"note: {notice}", file=sys.stderr)
    for item in outcome.items:
        dest = folder / f"{item.id}{Path(item.path).suffix}"
        shutil.copyfile(item.path, dest)
        line = {"file": str(dest), "id": item.id, "seed": item.params.get("seed")}
        sidecar = Path(item.path).with_name(Path(item.path).name + ".c2pa")
        if sidecar.is_file():  # verify reads it beside the file, under the file's own name
            line["sidecar"] = str(shutil.copyfile(sidecar, dest.with_name(dest.name + ".c2pa")))
        print(json.dumps(line))
    return 0


# `studio generate <name>`: one subcommand per registered task a visitor can ask for, built from its
# contract (pipelines/contract.py): the text option, a file option per declared upload (its flag,
# title and C2PA relationship), an option per settable field, and --set. A new task needs no edit
# here. Its name is the task's, except these short names kept from before (name -> task); the
# task's own name works too.
GENERATORS = {"image": "text_to_image", "sound": "sound_effects"}
# Artifact kinds `studio generate` writes out (a "report" is the detectors' answer, not a file).
WRITTEN = {"image", "audio", "video", "text"}
# Older spellings of a field's option, kept working (field -> extra option).
OPTION_ALIASES = {"negative_prompt": "--negative", "clone_attested": "--attest"}
# What an upload implies for another field, so that the file alone says it (task, upload) -> fields.
# TODO(contract): declare this in the video contract instead of here.
IMPLIED = {("video", "image_path"): {"mode": "image"}}


def generators() -> dict[str, str]:
    """Subcommand name -> task for every registered task that writes files and takes a text or a file."""
    from pipelines import registry

    short = {task: name for name, task in GENERATORS.items()}
    named = {}
    for task in registry.TASKS:
        contract = registry.contract(task)
        if WRITTEN & set(contract.artifacts) and (contract.text_field or contract.uploads()):
            named[short.get(task, task)] = task
    return named


def parse_sets(request_type, pairs: list[str]) -> dict:
    """--set KEY=VALUE pairs as request fields, each converted to its field's type."""
    import dataclasses

    fields = {f.name: f for f in dataclasses.fields(request_type) if f.init}
    values = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        key = key.strip().replace("-", "_")
        if not sep or key not in fields:
            raise StudioError(f"--set {pair!r}: use KEY=VALUE with one of: {', '.join(sorted(fields))}.")
        default = fields[key].default
        try:
            if isinstance(default, bool):
                value = raw.lower() in ("1", "true", "yes", "on")
            elif isinstance(default, (int, float)):
                value = type(default)(float(raw)) if isinstance(default, int) and float(raw).is_integer() \
                    else float(raw)
            elif default is None:
                value = None if raw.lower() in ("", "none") else float(raw)
            else:
                value = raw
        except ValueError:
            raise StudioError(f"--set {key}={raw!r}: {key} takes a number.") from None
        values[key] = value
    return values


def upload_values(contract, args) -> tuple[dict, list]:
    """The request fields the file options set (absolute paths), and the files used as ingredients."""
    from pipelines.media import InputFile

    fields, inputs = {}, []
    for upload in contract.uploads():
        path = getattr(args, upload_dest(upload))
        if not path:
            continue
        if not Path(path).is_file():
            raise StudioError(f"--{upload.flag} {path}: no such file.")
        fields[upload.name] = str(Path(path).resolve())
        fields.update(IMPLIED.get((contract.name, upload.name), {}))
        if upload.relationship:
            inputs.append(InputFile(fields[upload.name], upload.relationship, upload.title))
    return fields, inputs


def cmd_generate(args) -> int:
    """Make the task's request from the preset's defaults and the options given; publish, write out."""
    from pipelines import registry
    from studio.sessions import random_seed

    contract = registry.contract(args.task)
    names = contract.field_names()
    studio = _studio(args)
    preset = studio.models.preset(args.task, args.preset or next(iter(studio.models.presets(args.task))))
    fields = {**preset.defaults, "model": preset.name}
    if "seed" in names:
        fields["seed"] = random_seed() if args.seed is None else args.seed
    if contract.text_field and (args.text is not None or contract.text_field not in fields):
        fields[contract.text_field] = args.text or ""
    uploaded, inputs = upload_values(contract, args)
    fields.update(uploaded)
    fields.update(parse_sets(contract.request, args.set))
    fields.update({f.name: getattr(args, field_dest(f)) for f in field_options(contract)
                   if getattr(args, field_dest(f)) is not None})
    request = contract.request(**{k: v for k, v in fields.items() if k in names})
    return write_outcome(studio.produce(args.task, request, session_id="cli", inputs=inputs, confirmed=args.confirm),
                         args.out)


def cmd_models_list(args) -> int:
    """Every preset with tier, state, download size, size on disk, licence and access (the Models tab's table)."""
    from pipelines.model_files import ROW_HEADERS
    from pipelines.registry import TASKS

    studio = _studio(args)
    rows = [studio.models.weights_state(p).row() for task in ([args.task] if args.task else TASKS)
            for p in studio.models.presets(task).values()]
    widths = [max(len(str(r[i])) for r in [ROW_HEADERS, *rows]) for i in range(len(ROW_HEADERS))]
    for row in [ROW_HEADERS, *rows]:
        print("  ".join(str(v).ljust(w) for v, w in zip(row, widths)).rstrip())
    return 0


def _preset_tasks(studio, args) -> list[str]:
    from pipelines.registry import TASKS

    tasks = [args.task] if args.task else [t for t in TASKS if args.name in studio.models.presets(t)]
    if not tasks:
        raise StudioError(f"No preset named {args.name!r}; see `studio models list`.")
    return tasks


def cmd_models_pull(args) -> int:
    """Download the files a preset's loader reads, printing bytes done and the time left."""
    import time

    from pipelines.downloads import DownloadControl

    studio = _studio(args)
    shown = [0.0]

    def report(progress) -> None:  # at most one line a second, and the last
        if time.monotonic() - shown[0] >= 1 or progress.done >= progress.total:
            shown[0] = time.monotonic()
            print(f"  {progress.describe()}", file=sys.stderr, flush=True)

    for task in _preset_tasks(studio, args):
        where = studio.models.pull(task, args.name, DownloadControl(on_progress=report))
        print(f"{task}: {args.name} -> {studio.models.weights_state(studio.models.preset(task, args.name)).state} ({where})")
    return 0


def cmd_models_remove(args) -> int:
    """Delete a preset's files that no other ready preset reads, after showing the space it frees."""
    from pipelines.downloads import format_bytes

    studio = _studio(args)
    for task in _preset_tasks(studio, args):
        files, freed = studio.models.removal(task, args.name)
        print(f"{task}: removing {args.name} deletes {len(files)} files and frees {format_bytes(freed)} "
              "(files other ready presets read are kept).")
        if not files:
            continue
        if not args.yes and input("Remove them? [y/N] ").strip().lower() not in ("y", "yes"):
            print("Nothing removed.")
            continue
        print(f"{task}: freed {format_bytes(studio.models.remove(task, args.name))}.")
    return 0


def cmd_verify(args) -> int:
    """One JSON line per file (or the text report with --text). Reading credentials and the
    watermark loads no model and imports no torch; --detect starts the studio to score files too."""
    from provenance.config import PublishConfig
    from provenance.identity import trust_anchors
    from provenance.ledger import Ledger
    from provenance.verify import verify_file
    from studio.settings import load_settings

    settings = load_settings(**({"data_dir": args.data_dir} if args.data_dir else {}))
    files = verify_targets(args.paths)
    if args.detect:
        studio = _studio(args)
        check = studio.publisher.verify
    else:
        cfg = PublishConfig.from_env(settings.data_dir, **settings.publish_overrides())
        ledger = Ledger(cfg.database_path) if cfg.database_path.is_file() else None
        anchors = trust_anchors(cfg)
        check = lambda path: verify_file(path, ledger, anchors, remote=cfg.remote)  # noqa: E731
    failed = False
    for path in files:
        report = check(path)
        failed |= report.state in ("Invalid", "Unreadable")
        if args.text:
            print("\n".join(report.summary_lines()), flush=True)
        else:
            print(json.dumps({"path": str(path), **report.to_dict()}, default=str), flush=True)
    return 1 if failed else 0


def verify_targets(paths: list[str]) -> list[Path]:
    """The files to verify: each file given, and the files of each folder given (sorted, not
    hidden, without `.c2pa` sidecars, which are read beside their file)."""
    files = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            files.extend(sorted(p for p in path.rglob("*") if p.is_file() and not p.name.startswith(".")
                                and p.suffix.lower() != ".c2pa"))
        elif path.exists():
            files.append(path)
        else:
            raise StudioError(f"{raw}: no such file or folder.")
    return files


def cmd_users_add(args) -> int:
    import getpass

    from studio.auth import add_user
    from studio.settings import load_settings

    path = args.file or load_settings().auth_file
    if not path:
        raise StudioError("Give the password file with --file or STUDIO_AUTH_FILE.")
    path = Path(path)
    password = sys.stdin.readline().rstrip("\n") if args.password_stdin else getpass.getpass(f"Password for {args.name}: ")
    try:
        add_user(path, args.name, password)
    except ValueError as e:
        raise StudioError(str(e)) from None
    print(f"{args.name} can sign in ({path}).")
    return 0


def cmd_library_search(args) -> int:
    """Search the CLI's own outputs (session "cli") as the Library tab does: JSON lines or a table."""
    from studio.gallery import GalleryStore
    from studio.library import Filters, Library
    from studio.settings import load_settings

    settings = load_settings(**({"data_dir": args.data_dir} if args.data_dir else {}))
    library = Library(GalleryStore(settings.db_path))
    page = library.search("cli", args.query, Filters(kind=args.kind or "", task=args.task or "", model=args.model or "",
                                                     date_from=args.since or "", date_to=args.until or ""),
                          sort=args.sort, page=args.page, page_size=args.limit)
    for hit in page.hits:
        shown = hit.to_dict()
        print(json.dumps(shown, ensure_ascii=False) if args.json else
              f"{shown['id']}  {shown['created'][:16]}  {shown['task']:<14} {shown['prompt'][:60]}")
    if not args.json:
        print(f"{page.total} found; page {page.page + 1} of {page.pages}", file=sys.stderr)
    return 0


def cmd_serve(args) -> int:
    from studio.ui import launch

    launch(_studio(args))
    return 0


def upload_dest(upload) -> str:
    """The argparse name of an upload's file option (never one of the fixed options)."""
    return f"upload_{upload.name}"


# Request fields with a dedicated option: --preset, --seed (the text option and uploads have theirs too).
_OWN_OPTIONS = {"model", "seed"}
_TYPES = {"whole": int, "number": float, "text": str, "choice": str}


def field_options(contract) -> list:
    """The request fields that get an option of their own (`--steps 8`), by their declared kind."""
    return [f for f in contract.fields() if f.name not in _OWN_OPTIONS and f.name != contract.text_field
            and (f.kind in _TYPES or f.kind == "flag")]


def field_dest(f) -> str:
    return f"field_{f.name}"


def add_field_options(g: argparse.ArgumentParser, contract) -> None:
    """One option per settable request field: numbers typed, flags as --x/--no-x, defaults from the preset."""
    for f in field_options(contract):
        extra = {"action": argparse.BooleanOptionalAction} if f.kind == "flag" else \
            {"type": _TYPES[f.kind], **({"choices": f.choices} if f.choices else {"metavar": f.kind.upper()})}
        bounds = f", {f.lo:g} to {f.hi:g}" if f.lo is not None and f.hi is not None else ""
        flags = [f"--{f.flag}", *([OPTION_ALIASES[f.name]] if f.name in OPTION_ALIASES else [])]
        g.add_argument(*flags, dest=field_dest(f), default=None, help=f"{f.title}{bounds} (request field {f.name})",
                       **extra)


def first_sentence(doc: str) -> str:
    """The first sentence of a docstring, on one line (a task module's says what it makes)."""
    paragraph = " ".join(doc.strip().split("\n\n")[0].split())
    head, dot, _ = paragraph.partition(". ")
    return head + dot.strip()


def add_generator(gen, name: str, task: str) -> None:
    """`studio generate <name>` (or <task>), its options read from the task's contract."""
    from pipelines import registry

    contract = registry.contract(task)
    about = first_sentence(registry.task_module(task).__doc__ or task.replace("_", " "))
    g = gen.add_parser(name, aliases=[task] if task != name else [], help=about, description=about)
    if contract.text_field:
        text = next(f for f in contract.fields() if f.name == contract.text_field)
        g.add_argument(f"--{text.flag}", dest="text", help=f"the {text.title}")
    for upload in contract.uploads():  # a file the request declares as an upload
        g.add_argument(f"--{upload.flag}", dest=upload_dest(upload), metavar="FILE", help=f"the {upload.title}",
                       required=upload.required)
    g.add_argument("--preset", help=f"model preset (default: the first; see `studio models list --task {task}`)")
    if "seed" in contract.field_names():
        g.add_argument("--seed", type=int, help="the seed (default: a random one)")
    add_field_options(g, contract)
    g.add_argument("--out", required=True, help="folder to write the signed files to")
    g.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="any request field, e.g. --set steps=8 --set duration_s=4")
    g.add_argument("--confirm", action="store_true",
                   help="use an input file even if the AI-content check flags it (you hold the rights)")
    g.set_defaults(func=cmd_generate, task=task)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="studio", description="GenMedia Studio: generate, verify and manage models.")
    p.add_argument("--data-dir", help="data folder (default: $STUDIO_DATA_DIR or ./data)")
    sub = p.add_subparsers(dest="command", required=True)
    sub.add_parser("serve", help="start the web studio").set_defaults(func=cmd_serve)

    gen = sub.add_parser("generate", help="make media headlessly").add_subparsers(dest="kind", required=True)
    for name, task in generators().items():
        add_generator(gen, name, task)

    models = sub.add_parser("models", help="list or download model presets").add_subparsers(dest="action", required=True)
    ls = models.add_parser("list")
    ls.add_argument("--task")
    ls.set_defaults(func=cmd_models_list)
    pull = models.add_parser("pull", help="download the files a preset's loader reads into the HF cache (needs "
                                          "the hub; continues a stopped download)")
    pull.add_argument("name")
    pull.add_argument("--task")
    pull.set_defaults(func=cmd_models_pull)
    rm = models.add_parser("remove", help="delete a preset's files that no other ready preset reads")
    rm.add_argument("name")
    rm.add_argument("--task")
    rm.add_argument("--yes", action="store_true", help="do not ask before deleting")
    rm.set_defaults(func=cmd_models_remove)

    users = sub.add_parser("users", help="manage sign-in").add_subparsers(dest="action", required=True)
    add = users.add_parser("add", help="add or change a user in the password file")
    add.add_argument("name")
    add.add_argument("--file", help="password file (default: $STUDIO_AUTH_FILE)")
    add.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    add.set_defaults(func=cmd_users_add)

    ver = sub.add_parser("verify", help="check files' Content Credentials, watermark and ledger record "
                                        "(one JSON line per file)")
    ver.add_argument("paths", nargs="+", metavar="PATH", help="files, or folders of files")
    ver.add_argument("--detect", action="store_true", help="also score each file with the AI-content detector "
                                                           "(loads its model)")
    ver.add_argument("--text", action="store_true", help="a readable report instead of JSON lines")
    ver.add_argument("--json", action="store_true", help=argparse.SUPPRESS)  # the default; kept for old scripts
    ver.set_defaults(func=cmd_verify)

    lib = sub.add_parser("library", help="search what the CLI made").add_subparsers(dest="action", required=True)
    find = lib.add_parser("search", help='words, "a phrase", prefix*; empty: everything')
    find.add_argument("query", nargs="?", default="")
    for flag in ("kind", "task", "model", "since", "until"):
        find.add_argument(f"--{flag}", help="YYYY-MM-DD" if flag in ("since", "until") else None)
    find.add_argument("--sort", default="newest", choices=("newest", "oldest", "relevance"))
    find.add_argument("--page", type=int, default=0)
    find.add_argument("--limit", type=int, default=24, help="items per page (at most 100)")
    find.add_argument("--json", action="store_true", help="one JSON object per item")
    find.set_defaults(func=cmd_library_search)

    from studio.grid_cli import add_grid_command  # `studio grid`: a parameter grid (studio/grid_cli.py)
    add_grid_command(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    configure_logging(logging.WARNING if args.command != "serve" else logging.INFO)
    try:
        return args.func(args)
    except StudioError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except Exception:
        log.exception("internal error")
        print("error: internal error; see the log above.", file=sys.stderr)
        return 3


if __name__ == "__main__":
    sys.exit(main())
