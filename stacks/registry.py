"""Register the stacks described in `stacks/*.yaml`, idempotently, and pick the stack a run uses."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

STACK_DIR = Path(__file__).resolve().parent
#: ZenML creates this stack in every store; a run on it is upgraded to our `local` stack.
ZENML_DEFAULT_STACK = "default"
LOCAL_STACK = "local"


class StackError(RuntimeError):
    """A stack cannot be registered or used; the message says what to do."""


@dataclass
class ComponentSpec:
    type: str
    name: str
    flavor: str
    configuration: dict[str, Any] = field(default_factory=dict)


@dataclass
class FlavorSpec:
    """A custom flavor the stack needs: the component type and the flavor class's import path."""

    type: str
    source: str


@dataclass
class StackSpec:
    name: str
    description: str
    components: list[ComponentSpec]
    flavors: list[FlavorSpec] = field(default_factory=list)


def load_stack_spec(name: str) -> StackSpec:
    path = STACK_DIR / f"{name}.yaml"
    if not path.is_file():
        known = sorted(p.stem for p in STACK_DIR.glob("*.yaml"))
        raise StackError(f"no stack description {path.name}; known stacks: {known}")
    raw = yaml.safe_load(path.read_text())
    components = [
        ComponentSpec(type=ctype, name=c["name"], flavor=c["flavor"], configuration=dict(c.get("configuration") or {}))
        for ctype, c in raw["components"].items()
    ]
    flavors = [FlavorSpec(type=f["type"], source=f["source"]) for f in raw.get("flavors") or []]
    return StackSpec(name=raw["name"], description=raw.get("description", ""), components=components, flavors=flavors)


def ensure_flavor(flavor: FlavorSpec) -> bool:
    """Register a custom flavor if the store does not know it yet. Returns True when it was created."""
    from zenml.client import Client
    from zenml.enums import StackComponentType
    from zenml.stack.flavor import validate_flavor_source

    ctype = StackComponentType(flavor.type)
    _, flavor_obj = validate_flavor_source(source=flavor.source, component_type=ctype)
    try:
        Client().get_flavor_by_name_and_type(flavor_obj.name, ctype)
        return False
    except KeyError:
        Client().create_flavor(source=flavor.source, component_type=ctype)
        return True


def ensure_stack(name: str, activate: bool = False) -> list[str]:
    """Register the stack `name` and its components if they are missing. Re-running changes nothing.

    Returns:
        What was created (empty when everything already existed).

    Raises:
        StackError: a component of that name exists with another flavor.
    """
    from zenml.client import Client
    from zenml.enums import StackComponentType

    client = Client()
    spec = load_stack_spec(name)
    created: list[str] = []
    for flavor in spec.flavors:
        if ensure_flavor(flavor):
            created.append(f"flavor {flavor.source}")
    for comp in spec.components:
        ctype = StackComponentType(comp.type)
        try:
            existing = client.get_stack_component(ctype, comp.name, allow_name_prefix_match=False)
        except KeyError:
            client.create_stack_component(
                name=comp.name, flavor=comp.flavor, component_type=ctype, configuration=comp.configuration
            )
            created.append(f"{comp.type} '{comp.name}' ({comp.flavor})")
            continue
        if existing.flavor_name != comp.flavor:
            raise StackError(
                f"a {comp.type} named '{comp.name}' exists with flavor '{existing.flavor_name}', "
                f"but stacks/{name}.yaml wants '{comp.flavor}'. Rename or delete it: "
                f"zenml {comp.type.replace('_', '-')} delete {comp.name}"
            )
    wanted = {StackComponentType(c.type): c.name for c in spec.components}
    try:
        stack = client.get_stack(spec.name, allow_name_prefix_match=False)
    except KeyError:
        client.create_stack(name=spec.name, components=wanted)
        created.append(f"stack '{spec.name}'")
    else:
        # A stack registered by an earlier version of this project may lack a component: add it.
        missing = {t: n for t, n in wanted.items() if t not in stack.components}
        if missing:
            client.update_stack(spec.name, component_updates=missing)
            created.extend(f"{t.value} '{n}' added to stack '{spec.name}'" for t, n in missing.items())
    if activate and client.active_stack_model.name != spec.name:
        client.activate_stack(spec.name)
    return created


def select_stack_for_run(require_experiment_tracker: bool = True, require_model_deployer: bool = False) -> str:
    """Decide which stack a run uses and say so.

    ZenML's own `default` stack has no experiment tracker, so a run there is moved to the project's
    `local` stack (registered when missing). Any other active stack was chosen by the user with
    `zenml stack set` and is kept as it is.
    """
    from zenml.client import Client

    client = Client()
    active = client.active_stack_model
    if active.name == ZENML_DEFAULT_STACK:
        created = ensure_stack(LOCAL_STACK, activate=True)
        note = f" (registered: {', '.join(created)})" if created else ""
        print(f"Running on stack '{LOCAL_STACK}'{note}; ZenML's 'default' stack has no experiment tracker.")
        return LOCAL_STACK
    if require_experiment_tracker:
        from zenml.enums import StackComponentType

        if not active.components.get(StackComponentType.EXPERIMENT_TRACKER):
            raise StackError(
                f"the active stack '{active.name}' has no experiment tracker, which the training pipeline "
                f"logs to. Switch with `zenml stack set {LOCAL_STACK}` (register it with "
                f"`python run.py --setup-stack {LOCAL_STACK}`) or add an MLflow tracker to '{active.name}'."
            )
    if require_model_deployer:
        from zenml.enums import StackComponentType

        if not active.components.get(StackComponentType.MODEL_DEPLOYER):
            if active.name == LOCAL_STACK:
                ensure_stack(LOCAL_STACK)  # a `local` stack registered before the deployer existed
            else:
                raise StackError(
                    f"the active stack '{active.name}' has no model deployer. Switch with `zenml stack set "
                    f"{LOCAL_STACK}` or add one to '{active.name}' (`zenml stack update -d <deployer>`)."
                )
    print(f"Running on stack '{active.name}' (the active stack; change it with `zenml stack set NAME`).")
    return str(active.name)
