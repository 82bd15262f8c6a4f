"""Stack descriptions (YAML files in this folder) and their idempotent registration."""

from pathlib import Path

from stacks.registry import (
    STACK_DIR,
    StackError,
    StackSpec,
    ensure_stack,
    load_stack_spec,
    select_stack_for_run,
)


def setup_stack(name: str, settings_file: Path | None = None, activate: bool = True) -> list[str]:
    """Register the stack `stacks/NAME.yaml` idempotently (`run.py --setup-stack NAME`).

    The gcp stack's settings are read and checked first (`stacks.gcp`); the team stack's come from its
    servers' settings and generated credentials (`stacks.team`); the other stacks' placeholders, if any,
    come from the environment.

    Args:
        name: the stack description's name.
        settings_file: the gcp stack's YAML settings file (`--gcp-settings`).
        activate: make it the active stack.

    Returns:
        What was created or updated; empty when everything was already registered as described.

    Raises:
        StackError: the description, its settings or what is registered is wrong; the message says how to fix it.
    """
    from stacks.gcp import STACK_NAME as GCP_STACK
    from stacks.gcp import setup_gcp_stack
    from stacks.team import STACK_NAME as TEAM_STACK
    from stacks.team import setup_team_stack

    if name == GCP_STACK:
        return setup_gcp_stack(settings_file, activate=activate)
    if name == TEAM_STACK and settings_file is None:
        return setup_team_stack(activate=activate)
    if settings_file is not None:
        raise StackError(f"a settings file only applies to the {GCP_STACK} stack, not to '{name}'")
    return ensure_stack(name, activate=activate)


__all__ = [
    "STACK_DIR",
    "StackError",
    "StackSpec",
    "ensure_stack",
    "load_stack_spec",
    "select_stack_for_run",
    "setup_stack",
]
