#!/usr/bin/env python
"""Django's command-line utility for kvstore."""

import os
import sys


def main() -> None:
    """Run an administrative task."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "kvproject.settings")
    from django.core.management import execute_from_command_line

    from kvproject.env import refusing_bad_environment

    with refusing_bad_environment():
        execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
