"""The shell: a ``cmd.Cmd`` whose commands are the ones in ``kvcli.commands``.

On a terminal it is interactive (``KVShell``); reading a pipe or a file it runs the lines as
a script (``KVScript``), whose output is only what the commands print.
"""

from __future__ import annotations

import cmd
from collections.abc import Callable

from kvcli.commands import Commands, Mode
from kvcli.environment import Environment
from kvcli.errors import UsageError
from kvcli.history import readline_history
from kvcli.status import ExitStatus, report
from kvcli.usage import COMMANDS

INTRO = "Welcome to the KV store shell. Type help or ? to list commands.\n"
PROMPT = "kvstore> "


class KVShell(cmd.Cmd):
    """``kvstore> `` prompt; a failed command prints one line and the prompt comes back."""

    intro = INTRO
    prompt = PROMPT

    def __init__(self, commands: Commands, env: Environment) -> None:
        super().__init__(stdin=env.stdin, stdout=env.stdout)
        self.commands = commands
        self.commands.mode = Mode.SHELL
        self.env = env
        # input() (and so readline editing) only makes sense on a terminal; else read the stream.
        self.use_rawinput = env.stdin_isatty

    def run(self) -> int:
        """Run until quit/EOF; Ctrl+C at the prompt discards the line instead of ending the shell."""
        with readline_history(self.env.history_path, enabled=self.env.stdin_isatty):
            intro = self.intro
            while True:
                try:
                    self.cmdloop(intro)
                    return ExitStatus.OK  # a failed command was reported, and the user saw it
                except KeyboardInterrupt:
                    self.stdout.write("^C\n")
                    intro = ""

    def finished(self, status: int) -> bool:
        """Called after each command line with its status; True ends the shell (here: never)."""
        return False

    def emptyline(self) -> bool:
        """Called for an empty line: do nothing (cmd's default repeats the last command, e.g. a put)."""
        return False

    def default(self, line: str) -> bool:
        """Called for an unknown command: one usage line, and the prompt again."""
        name = line.split(maxsplit=1)[0]  # cmd strips the line and sends an empty one to emptyline()
        error = UsageError(f"unknown command {name!r}; type help to list commands")
        return self.finished(report(error, self.env.stderr))

    def do_quit(self, line: str) -> bool:
        """quit: leave the shell."""
        return True

    def do_EOF(self, line: str) -> bool:
        """EOF: leave the shell (Ctrl+D)."""
        if self.prompt:
            self.stdout.write("\n")  # end the prompt's line
        return True


class KVScript(KVShell):
    """Lines from a pipe or a file (``printf 'put a 1\\nget a\\n' | kvcli``), like redis-cli's pipe mode.

    No banner and no prompts: stdout holds only results and stderr only errors. The exit
    status is the worst of the commands' (not found 1 < error 2), so a script can be checked.
    """

    intro = ""
    prompt = ""

    def __init__(self, commands: Commands, env: Environment) -> None:
        super().__init__(commands, env)
        self.commands.mode = Mode.SCRIPT
        self.use_rawinput = False
        self.status: int = ExitStatus.OK

    def run(self) -> int:
        """Run the lines until quit or the end of input; Ctrl+C ends the script."""
        try:
            self.cmdloop()
        except KeyboardInterrupt:
            self.finished(report(KeyboardInterrupt(), self.env.stderr))
        return self.status

    def finished(self, status: int) -> bool:
        """Keep the worst status so far (the codes rise with severity); a command stopped by Ctrl+C ends it."""
        self.status = max(self.status, status)
        return status == ExitStatus.INTERRUPTED


def _command_method(name: str) -> Callable[[KVShell, str], bool]:
    """A ``do_<name>`` method running the shared command; its docstring is the command's help."""

    def method(self: KVShell, line: str) -> bool:
        return self.finished(self.commands.run_line(name, line))

    method.__name__ = f"do_{name}"
    method.__doc__ = COMMANDS[name].help
    return method


# Generated rather than written out, so usage and help live once, in COMMANDS.
for _name in COMMANDS:
    setattr(KVShell, f"do_{_name}", _command_method(_name))
