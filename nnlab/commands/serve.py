"""``nnlab serve [FILE]``: the lab in a web browser, served by textual-serve.

Every browser tab that opens the page starts its own ``nnlab`` process (textual-serve
runs the command once per connection), so each tab is its own session. The page is
textual-serve's own, with one change so it works offline: its font comes from the
package's static files instead of a font CDN. Needs the optional extra
``pip install 'nnlab[web]'``.
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys

HELP = "serve the lab to a web browser (needs nnlab[web])"
FONT_CDN = '<link\n      rel="stylesheet"\n      href="https://fonts.googleapis.com/css?family=Roboto%20Mono"\n    />'
LOCAL_FONT = ('<style>@font-face { font-family: "Roboto Mono"; '
              'src: url("{{ config.static.url }}fonts/RobotoMono-VariableFont_wght.ttf"); }</style>')


def configure(parser: argparse.ArgumentParser) -> None:
    """The arguments of ``nnlab serve``."""
    parser.add_argument("file", nargs="?", help="a scenario (default: the home screen)")
    parser.add_argument("--host", default="127.0.0.1", help="the address to listen on (default 127.0.0.1: "
                                                           "this machine only)")
    parser.add_argument("--port", type=int, default=8000, help="the port (default 8000)")


def command(file: str | None) -> str:
    """The shell command textual-serve runs for each browser tab."""
    parts = [sys.executable, "-m", "nnlab.commands.serve", "--lab"] + ([os.path.abspath(file)] if file else [])
    return shlex.join(parts)


def offline_page(template: str) -> str:
    """textual-serve's page with its font CDN link replaced by the font it ships.

    Raises:
        ValueError: The page refers to another host (a textual-serve that changed its page).
    """
    page = template.replace(FONT_CDN, LOCAL_FONT)
    if "fonts.googleapis.com" in page or "https://" in page.replace("http://www.w3.org", ""):
        raise ValueError("textual-serve's page loads something from the internet")
    return page


def make_server(file: str | None, host: str, port: int):
    """A textual-serve server for the lab whose page needs nothing from the network."""
    import aiohttp_jinja2
    import jinja2
    from textual_serve.server import Server

    class LabServer(Server):
        async def _make_app(self):
            app = await super()._make_app()
            page = offline_page((self.templates_path / "app_index.html").read_text(encoding="utf-8"))
            aiohttp_jinja2.setup(app, loader=jinja2.DictLoader({"app_index.html": page}))
            return app

    title = f"nnlab — {os.path.basename(file)}" if file else "nnlab"
    return LabServer(command(file), host=host, port=port, title=title)


def run(args: argparse.Namespace) -> int:
    """Serve until Ctrl+C; print the URL first."""
    from nnlab.commands.export import resolve
    from nnlab.errors import NnlabError

    if not 1 <= args.port <= 65535:
        raise NnlabError(f"--port {args.port}: use a port from 1 to 65535")
    file = None
    if args.file is not None:
        file = resolve(args.file)
        if not os.path.exists(file):
            raise NnlabError(f"no such file: {args.file}", hint="`nnlab list` shows the bundled scenarios.")
    try:
        server = make_server(file, args.host, args.port)
    except ImportError as exc:
        raise NnlabError(f"serving needs textual-serve ({exc.name or exc} is missing)",
                         hint="install it with pip install 'nnlab[web]'.") from None
    print(f"nnlab serves the lab at http://{args.host}:{args.port}/  (Ctrl+C to stop)", flush=True)
    server.serve()
    return 0


def _lab(argv: list[str]) -> int:
    """One browser tab's lab (textual-serve runs this with its web driver)."""
    from nnlab.tui.app import run_app

    return run_app(argv[0] if argv else None, None)


if __name__ == "__main__":
    if sys.argv[1:2] == ["--lab"]:
        raise SystemExit(_lab(sys.argv[2:]))
