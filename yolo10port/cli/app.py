"""The Typer application, its two consoles, and how every command ends: exit 0 pass, 1 parity breach, 2 input.

Kept free of torch, the runtimes and ultralytics: `--help` and usage errors must be instant, and `diff` must run
from the light install (numpy + safetensors).
"""

from __future__ import annotations

import functools
import inspect
import os
import signal
import sys

import typer
from rich.console import Console

from yolo10port.errors import InputError
from yolo10port.shown import literal, printable

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    rich_markup_mode="rich",
    help="Port YOLOv10 out of ultralytics and prove the port right, layer by layer.",
)


class SafeConsole(Console):
    """A console that never lets a control character through (an ESC in a key or a path would reach the terminal
    raw): every string it renders, table cells and titles included, has them shown as escapes (`\\x1b`). Markup
    in text from inputs is escaped where that text is put into a message (`shown.literal`); a `[/]` that still got
    through is printed as written instead of raising."""

    def render_str(self, text: str, *args, **kwargs):
        from rich.errors import MarkupError

        text = printable(text)
        try:
            return super().render_str(text, *args, **kwargs)
        except MarkupError:
            return super().render_str(text, *args, **{**kwargs, "markup": False})


# Not a terminal (CI logs, pipes): rich would wrap at 80 columns, too narrow for the error table.
out_console = SafeConsole(width=None if sys.stdout.isatty() else 200)
err_console = SafeConsole(stderr=True, soft_wrap=True)  # one message, one line, however long


def progress_bar(time_column):
    """The bar long commands (val, quantize) draw on stderr: description, bar, n/total, then `time_column` (rich's
    TimeElapsedColumn or TimeRemainingColumn); transient, so a finished run leaves only its result."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        time_column,
        console=err_console,
        transient=True,
    )


def print_error(message: object, label: str = "error") -> None:
    """The one red line of an exit 2: the message shown literally (no markup, no escapes, no newline)."""
    err_console.print(f"[red]{label}:[/] {literal(message, one_line=True)}", highlight=False, soft_wrap=True)


EXIT_PASS, EXIT_BREACH, EXIT_INPUT, EXIT_INTERRUPTED = 0, 1, 2, 130
# What the light install (numpy, safetensors, typer, rich: enough to compare dumps) leaves out.
FULL_INSTALL = {
    "torch",
    "torchvision",
    "ultralytics",
    "cv2",
    "onnx",
    "onnxruntime",
    "ncnn",
    "pnnx",
    "ai_edge_litert",
    "onnxslim",
    "openvino",
    "matplotlib",
}


def reflow(doc: str | None) -> str:
    """Join the source lines of each prose paragraph of a docstring, so `--help` wraps it to the terminal instead
    of breaking where the source line ended; example paragraphs keep their lines."""
    paragraphs = inspect.cleandoc(doc or "").split("\n\n")
    return "\n\n".join(
        p if p.lstrip().startswith("[b]Example") else " ".join(line.strip() for line in p.splitlines())
        for p in paragraphs
    )


def command(func):
    """Expected failures → one red line on stderr and exit 2; never a traceback. Also reflows the help text."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except InputError as error:
            print_error(error)
        except KeyboardInterrupt:
            err_console.print("[red]interrupted[/]: no output written")
            raise typer.Exit(EXIT_INTERRUPTED) from None
        except ModuleNotFoundError as error:
            package = (error.name or "").split(".")[0]
            if package not in FULL_INSTALL:
                raise
            from yolo10port.install import full_install_line

            print_error(
                f"this command needs {package}, which the light install leaves out; "
                f"install the full tool: {full_install_line()}"
            )
        except OSError as error:
            if error.filename is None:
                raise
            # A path the system refuses (longer than PATH_MAX, a loop of links) wherever it was first touched.
            from yolo10port.safe_io import describe_os_error

            print_error(f"{error.filename}: {describe_os_error(error)}")
        except Exception as error:
            # A LoadError can only come from yolo10port.model.loading if it was imported: never import it (and
            # torch with it) here, or every command, `diff` in the light install included, would pay for it.
            loading = sys.modules.get("yolo10port.model.loading")
            if loading is None or not isinstance(error, loading.LoadError):
                raise
            print_error(error)
        raise typer.Exit(EXIT_INPUT)

    wrapper.__doc__ = reflow(func.__doc__)
    return wrapper


def main() -> None:
    """Entry point. Usage errors (a non-integer `--batch`, an unknown option) also end as one line, exit 2."""
    # Like cat or grep: a reader that goes away (`yolo10port diff … | head -1`) ends this process by SIGPIPE, never
    # with a BrokenPipeError that would end as exit 1 (which means a parity breach) or a traceback.
    if hasattr(signal, "SIGPIPE"):
        signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    if len(sys.argv) == 1:
        sys.argv.append("--help")
    try:
        code = app(standalone_mode=False)
    except typer.TyperException as error:  # click's UsageError and friends, vendored by typer
        context = getattr(error, "ctx", None)
        hint = f" (see '{context.command_path} --help')" if context is not None else ""
        print_error(f"{error.format_message()}{hint}")
        code = getattr(error, "exit_code", EXIT_INPUT)
    except typer.Abort:
        err_console.print("[red]aborted[/]")
        code = EXIT_INTERRUPTED
    except Exception as error:
        if os.environ.get("YOLO10PORT_TRACEBACK"):
            raise
        # A bug, or an input nobody anticipated: still one line, and the way to the traceback.
        message = str(error).splitlines()[0] if str(error) else ""
        print_error(
            f"{type(error).__name__}: {message} (set YOLO10PORT_TRACEBACK=1 to see where; please report it)",
            label="unexpected error",
        )
        code = EXIT_INPUT
    sys.exit(code or 0)
