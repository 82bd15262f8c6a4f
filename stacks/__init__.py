"""Stack descriptions (YAML files in this folder) and their idempotent registration."""

from stacks.registry import (
    STACK_DIR,
    StackError,
    StackSpec,
    ensure_stack,
    load_stack_spec,
    select_stack_for_run,
)

__all__ = ["STACK_DIR", "StackError", "StackSpec", "ensure_stack", "load_stack_spec", "select_stack_for_run"]
