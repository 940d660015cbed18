"""`engage users create|list|safeguarding|disable`: officer console accounts."""

from __future__ import annotations

import argparse
import sys


def _new_password(from_stdin: bool) -> str | None:
    """A password typed twice (or one line of stdin when it is not a terminal)."""
    from bot.cli.common import ask

    if from_stdin or not sys.stdin.isatty():
        return sys.stdin.readline().rstrip("\r\n")
    first = ask("Password (at least 12 characters): ", secret=True)
    if ask("The same password again: ", secret=True) != first:
        print("The two passwords differ: nothing created.", file=sys.stderr)
        return None
    return first


def cmd_users(args: argparse.Namespace) -> int:
    """Officer console accounts: create, list, disable (each change is audited)."""
    from bot.db import default_database
    from bot.services.audit import cli_actor
    from bot.services.users import (
        InvalidUser,
        create_user,
        disable_user,
        list_users,
        set_safeguarding,
        user_by_email,
    )

    database = default_database()
    if args.action == "list":
        with database.transaction() as session:
            for account in list_users(session):
                state = (
                    f"disabled {account.disabled_at:%Y-%m-%d}" if account.disabled_at else "active"
                )
                sees = "safeguarding" if account.safeguarding else ""
                print(
                    f"{account.email:40s} {account.role:8s} {state:20s} {sees:13s} {account.name}"
                )
        return 0
    try:
        with database.transaction() as session:
            if args.action == "disable":
                user = user_by_email(session, args.email)
                if user is None:
                    raise InvalidUser(f"there is no account {args.email}")
                disable_user(session, user.id, actor=cli_actor())
                print(f"Disabled {user.email}: they can no longer sign in.")
                return 0
            if args.action == "safeguarding":
                user = user_by_email(session, args.email)
                if user is None:
                    raise InvalidUser(f"there is no account {args.email}")
                set_safeguarding(session, user.id, args.allow, actor=cli_actor())
                verb = "may now see" if args.allow else "can no longer see"
                print(f"{user.email} {verb} safeguarding messages.")
                return 0
            password = _new_password(args.password_stdin)
            if password is None:
                return 2
            user = create_user(
                session, email=args.email, name=args.name, role=args.role,
                password=password, actor=cli_actor(),
            )  # fmt: skip
            if args.safeguarding:
                set_safeguarding(session, user.id, True, actor=cli_actor())
            print(f"Created {user.role} account {user.email}.")
    except InvalidUser as exc:
        print(f"Not done: {exc}.", file=sys.stderr)
        return 2
    return 0


def add_commands(commands: argparse._SubParsersAction) -> None:
    """Add `engage users create|list|safeguarding|disable`."""
    users = commands.add_parser("users", help="officer console accounts")
    user_actions = users.add_subparsers(dest="action", required=True)
    create = user_actions.add_parser("create", help="add an account (asks for its password)")
    create.add_argument("--email", required=True)
    create.add_argument("--name", required=True)
    create.add_argument("--role", required=True, choices=["officer", "analyst", "admin"])
    create.add_argument(
        "--password-stdin", action="store_true", help="read the password from one line of stdin"
    )
    create.add_argument(
        "--safeguarding", action="store_true", help="may see residents' safeguarding messages"
    )
    user_actions.add_parser("list", help="every account, its role and state")
    guard = user_actions.add_parser(
        "safeguarding", help="allow or stop an account seeing safeguarding messages"
    )
    guard.add_argument("--email", required=True)
    allow = guard.add_mutually_exclusive_group(required=True)
    allow.add_argument("--allow", dest="allow", action="store_true")
    allow.add_argument("--deny", dest="allow", action="store_false")
    disable = user_actions.add_parser("disable", help="stop an account from signing in")
    disable.add_argument("--email", required=True)
    users.set_defaults(func=cmd_users)
