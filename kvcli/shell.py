"""The interactive shell: a ``cmd.Cmd`` whose commands are the ones in ``kvcli.commands``."""

from __future__ import annotations

import cmd
from collections.abc import Callable

from kvcli.commands import COMMANDS, Commands
from kvcli.environment import Environment
from kvcli.errors import UsageError
from kvcli.history import readline_history
from kvcli.status import report

INTRO = "Welcome to the KV store shell. Type help or ? to list commands.\n"
PROMPT = "kvstore> "


class KVShell(cmd.Cmd):
    """``kvstore> `` prompt; a failed command prints one line and the prompt comes back."""

    intro = INTRO
    prompt = PROMPT

    def __init__(self, commands: Commands, env: Environment) -> None:
        super().__init__(stdin=env.stdin, stdout=env.stdout)
        self.commands = commands
        self.env = env
        # input() (and so readline editing) only makes sense on a terminal; else read the stream.
        self.use_rawinput = env.stdin_isatty

    def run(self) -> None:
        """Run until quit/EOF; Ctrl+C at the prompt discards the line instead of ending the shell."""
        with readline_history(self.env.history_path, enabled=self.env.stdin_isatty):
            intro = self.intro
            while True:
                try:
                    self.cmdloop(intro)
                    return
                except KeyboardInterrupt:
                    self.stdout.write("^C\n")
                    intro = ""

    def emptyline(self) -> bool:
        """Called for an empty line: do nothing (cmd's default repeats the last command, e.g. a put)."""
        return False

    def default(self, line: str) -> bool:
        """Called for an unknown command: one usage line, and the prompt again."""
        name = line.split(maxsplit=1)[0]  # cmd strips the line and sends an empty one to emptyline()
        report(UsageError(f"unknown command {name!r}; type help to list commands"), self.env.stderr)
        return False

    def do_quit(self, line: str) -> bool:
        """quit: leave the shell."""
        return True

    def do_EOF(self, line: str) -> bool:
        """EOF: leave the shell (Ctrl+D)."""
        self.stdout.write("\n")
        return True


def _command_method(name: str) -> Callable[[KVShell, str], bool]:
    """A ``do_<name>`` method running the shared command; its docstring is the command's help."""

    def method(self: KVShell, line: str) -> bool:
        self.commands.run_line(name, line)
        return False

    method.__name__ = f"do_{name}"
    method.__doc__ = COMMANDS[name].help
    return method


# Generated rather than written out, so usage and help live once, in COMMANDS.
for _name in COMMANDS:
    setattr(KVShell, f"do_{_name}", _command_method(_name))
