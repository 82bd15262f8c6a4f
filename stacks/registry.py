"""Register the stacks described in `stacks/*.yaml`, idempotently, and pick the stack a run uses.

A description may hold `${VAR}` (required) and `${VAR:-default}` (optional) placeholders in component
configurations and secret values; they are resolved from the variables the caller passes (the gcp
stack's settings: `stacks.gcp`), else from the environment. A `secrets:` section describes ZenML
secrets that the components reference as `{{secret_name.key}}` (credentials never live in a
component's configuration). A component given as `use: KEY` takes its flavor and configuration from
`stacks/components.yaml` (one definition for the stacks that share it), its parameters bound by `with:`.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

STACK_DIR = Path(__file__).resolve().parent
#: ZenML creates this stack in every store; a run on it is upgraded to our `local` stack.
ZENML_DEFAULT_STACK = "default"
LOCAL_STACK = "local"

#: Component definitions shared by several stacks (`use:` in a stack description).
SHARED_COMPONENTS = STACK_DIR / "components.yaml"

#: `${VAR}` (required) or `${VAR:-default}` (optional; `${VAR:-}` defaults to nothing).
_PLACEHOLDER = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


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
class SecretSpec:
    """A ZenML secret the stack's components reference as `{{name.key}}` (e.g. MLflow credentials)."""

    name: str
    values: dict[str, str]


@dataclass
class StackSpec:
    name: str
    description: str
    components: list[ComponentSpec]
    flavors: list[FlavorSpec] = field(default_factory=list)
    secrets: list[SecretSpec] = field(default_factory=list)


def _spec_path(name: str) -> Path:
    path = STACK_DIR / f"{name}.yaml"
    if not path.is_file():
        known = sorted(p.stem for p in STACK_DIR.glob("*.yaml"))
        raise StackError(f"no stack description {path.name}; known stacks: {known}")
    return path


def _read_raw(name: str) -> dict[str, Any]:
    """The description with its `use:` components expanded from stacks/components.yaml."""
    raw = yaml.safe_load(_spec_path(name).read_text())
    if not isinstance(raw, dict) or not isinstance(raw.get("components"), dict):
        raise StackError(f"stacks/{name}.yaml must be a mapping with a `components` section")
    shared: dict[str, Any] | None = None
    flavors = list(raw.get("flavors") or [])
    for ctype, comp in raw["components"].items():
        if not isinstance(comp, dict) or "use" not in comp:
            continue
        if shared is None:
            shared = yaml.safe_load(SHARED_COMPONENTS.read_text()) or {}
        raw["components"][ctype] = _shared_component(name, ctype, comp, shared)
        source = shared[comp["use"]].get("source")
        if source and not any(f.get("source") == source for f in flavors):
            flavors.append({"type": ctype, "source": source})
    raw["flavors"] = flavors
    return raw


def _shared_component(stack: str, ctype: str, comp: dict[str, Any], shared: dict[str, Any]) -> dict[str, Any]:
    """A `use: KEY` component: the shared definition, its `${PARAM}`s replaced by the stack's `with:` values."""
    key, bound = comp["use"], dict(comp.get("with") or {})
    where = f"stacks/{stack}.yaml ({ctype})"
    if key not in shared:
        raise StackError(f"{where} uses '{key}', which stacks/components.yaml does not define; it has {sorted(shared)}")
    if "name" not in comp:
        raise StackError(f"{where} uses '{key}' but gives the component no `name`")
    definition = shared[key]
    params = {p for p, _ in _placeholders(definition.get("configuration") or {})}
    if missing := sorted(params - set(bound)):
        raise StackError(f"{where}: the shared component '{key}' needs `with:` values for {', '.join(missing)}")
    if unknown := sorted(set(bound) - params):
        raise StackError(f"{where}: the shared component '{key}' has no parameter {', '.join(unknown)}")

    def bind(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: bind(v) for k, v in value.items()}
        if isinstance(value, str):
            return _PLACEHOLDER.sub(lambda m: str(bound.get(m.group(1), m.group(0))), value)
        return value

    configuration = bind(definition.get("configuration") or {})
    return {"name": comp["name"], "flavor": definition["flavor"], "configuration": configuration}


def _templated(raw: dict[str, Any]) -> list[Any]:
    """The parts of a description where placeholders are resolved."""
    return [
        *((c or {}).get("configuration") or {} for c in raw["components"].values()),
        *(raw.get("secrets") or {}).values(),
    ]


def _placeholders(value: Any) -> list[tuple[str, bool]]:
    """(variable, optional) for every placeholder in a YAML value."""
    if isinstance(value, dict):
        return [p for v in value.values() for p in _placeholders(v)]
    if isinstance(value, list):
        return [p for v in value for p in _placeholders(v)]
    if isinstance(value, str):
        return [(m.group(1), m.group(2) is not None) for m in _PLACEHOLDER.finditer(value)]
    return []


def stack_variables(name: str) -> tuple[list[str], list[str]]:
    """The `${VAR}`s a stack description uses: (required, optional), each sorted."""
    found = _placeholders(_templated(_read_raw(name)))
    required = sorted({n for n, optional in found if not optional})
    optional = sorted({n for n, opt in found if opt} - set(required))
    return required, optional


def _substitute(value: Any, variables: Mapping[str, str], missing: set[str]) -> Any:
    """Resolve the placeholders in a YAML value; unset required variables are added to `missing`.

    A string that is a single optional placeholder resolving to nothing becomes None (YAML null).
    """
    if isinstance(value, dict):
        return {k: _substitute(v, variables, missing) for k, v in value.items()}
    if isinstance(value, list):
        return [_substitute(v, variables, missing) for v in value]
    if not isinstance(value, str) or "${" not in value:
        return value

    def repl(match: re.Match[str]) -> str:
        name, default = match.group(1), match.group(2)
        given = variables.get(name)
        if given not in (None, ""):
            return str(given)
        if default is None:
            missing.add(name)
            return ""
        return default

    resolved = _PLACEHOLDER.sub(repl, value)
    if resolved == "" and _PLACEHOLDER.fullmatch(value):
        return None
    return resolved


def load_stack_spec(name: str, variables: Mapping[str, str] | None = None) -> StackSpec:
    """Read `stacks/NAME.yaml` and resolve its placeholders.

    Args:
        name: the description's file name without `.yaml`.
        variables: values of the placeholders; default: the environment.

    Raises:
        StackError: the file is missing, or required variables are unset (all of them are named).
    """
    raw = _read_raw(name)
    values: Mapping[str, str] = {}
    if _placeholders(_templated(raw)):
        values = variables if variables is not None else dict(os.environ)
    missing: set[str] = set()
    secrets = []
    for secret_name, entries in (raw.get("secrets") or {}).items():
        resolved = _substitute(dict(entries or {}), values, missing)
        secrets.append(SecretSpec(secret_name, {k: str(v) for k, v in resolved.items() if v not in (None, "")}))
    components = [
        ComponentSpec(
            type=ctype,
            name=c["name"],
            flavor=c["flavor"],
            configuration=_substitute(dict(c.get("configuration") or {}), values, missing),
        )
        for ctype, c in raw["components"].items()
    ]
    if missing:
        raise StackError(
            f"stacks/{name}.yaml needs these variables, which are not set: {', '.join(sorted(missing))} "
            "(the file's header says what each one is)."
        )
    _null_references_to_absent_secret_values(components, secrets)
    flavors = [FlavorSpec(type=f["type"], source=f["source"]) for f in raw.get("flavors") or []]
    return StackSpec(
        name=raw["name"],
        description=raw.get("description", ""),
        components=components,
        flavors=flavors,
        secrets=[s for s in secrets if s.values],
    )


def secret_reference(value: Any) -> tuple[str, str] | None:
    """`(secret name, key)` when `value` is a ZenML secret reference `{{name.key}}`, else None.

    ZenML's own parser, so that what counts as a reference here is what ZenML resolves.
    """
    from zenml.utils.secret_utils import is_secret_reference, parse_secret_reference

    if not is_secret_reference(value):
        return None
    ref = parse_secret_reference(value)
    return ref.name, ref.key


def _null_references_to_absent_secret_values(components: list[ComponentSpec], secrets: list[SecretSpec]) -> None:
    """A `{{secret.key}}` to a secret of this description whose value was not given: the setting becomes null."""
    defined = {s.name: s.values for s in secrets}
    for comp in components:
        for key, value in comp.configuration.items():
            ref = secret_reference(value)
            if ref and ref[0] in defined and ref[1] not in defined[ref[0]]:
                comp.configuration[key] = None


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


def ensure_secret(secret: SecretSpec) -> str | None:
    """Create the ZenML secret, or set the values that differ. Returns what was done (None: nothing)."""
    from zenml.client import Client

    client = Client()
    try:
        existing = client.get_secret(secret.name, allow_partial_name_match=False, allow_partial_id_match=False)
    except KeyError:
        client.create_secret(name=secret.name, values=secret.values)
        return f"secret '{secret.name}' ({', '.join(sorted(secret.values))})"
    current = existing.secret_values
    changed = {k: v for k, v in secret.values.items() if current.get(k) != v}
    removed = sorted(set(current) - set(secret.values))
    if not changed and not removed:
        return None
    client.update_secret(existing.id, add_or_update_values=changed or None, remove_values=removed or None)
    return f"secret '{secret.name}' (new values for {', '.join(sorted([*changed, *removed]))})"


def _normalized(comp: ComponentSpec) -> dict[str, Any]:
    """The configuration as ZenML stores it: validated by the flavor's config class, JSON values."""
    from zenml.enums import StackComponentType
    from zenml.stack.utils import validate_stack_component_config

    if not comp.configuration:
        return {}
    try:
        config = validate_stack_component_config(
            configuration_dict=comp.configuration,
            flavor=comp.flavor,
            component_type=StackComponentType(comp.type),
            validate_custom_flavors=True,
        )
    except (ValueError, ImportError, KeyError) as exc:
        raise StackError(f"invalid configuration of the {comp.type} '{comp.name}' ({comp.flavor}): {exc}") from exc
    if config is None:  # only for custom flavors that cannot be imported, which validation above raises on
        raise StackError(f"cannot load the flavor '{comp.flavor}' of the {comp.type} '{comp.name}'")
    return dict(config.model_dump(mode="json", exclude_unset=True))


def _cli_value(value: Any) -> str:
    text = str(value)
    return f"'{text}'" if any(c in text for c in " {}$") else text


def ensure_stack(name: str, activate: bool = False, variables: Mapping[str, str] | None = None) -> list[str]:
    """Register the stack `name` with its secrets and components where missing. Re-running changes nothing.

    Components and the stack are checked before any is registered: when one exists but differs from
    the description, none changes and the error lists every difference with the command that
    reconciles it. (Custom flavors and the secrets' values are written first: ZenML needs them to
    validate configurations.)

    Args:
        name: the stack description `stacks/NAME.yaml`.
        activate: make it the active stack.
        variables: values of the description's placeholders (see `load_stack_spec`).

    Returns:
        What was created or updated (empty when everything already existed as described).

    Raises:
        StackError: a variable is missing, a configuration is invalid, or a component or the stack
            exists with another flavor, configuration or composition.
    """
    from zenml.client import Client
    from zenml.enums import StackComponentType

    client = Client()
    spec = load_stack_spec(name, variables)
    created: list[str] = []
    # Custom flavors and secrets first: validating the configurations needs them (ZenML resolves
    # `{{secret.key}}` references while validating, e.g. MLflow's credential pair).
    for flavor in spec.flavors:
        if ensure_flavor(flavor):
            created.append(f"flavor {flavor.source}")
    for secret in spec.secrets:
        done = ensure_secret(secret)
        if done:
            created.append(done)

    to_create: list[tuple[ComponentSpec, dict[str, Any]]] = []
    conflicts: list[str] = []
    for comp in spec.components:
        ctype = StackComponentType(comp.type)
        wanted_config = _normalized(comp)
        cli = f"zenml {comp.type.replace('_', '-')}"
        try:
            existing = client.get_stack_component(ctype, comp.name, allow_name_prefix_match=False)
        except KeyError:
            to_create.append((comp, wanted_config))
            continue
        if existing.flavor_name != comp.flavor:
            conflicts.append(
                f"the {comp.type} '{comp.name}' has flavor '{existing.flavor_name}', stacks/{name}.yaml wants "
                f"'{comp.flavor}': rename or delete it (`{cli} delete {comp.name}`)"
            )
            continue
        registered = dict(existing.configuration)
        differing = {k: v for k, v in wanted_config.items() if registered.get(k) != v}
        if differing:
            what = "; ".join(f"{k} is {registered.get(k)!r}, wanted {v!r}" for k, v in differing.items())
            settable = " ".join(f"--{k}={_cli_value(v)}" for k, v in differing.items() if v is not None)
            conflicts.append(
                f"the {comp.type} '{comp.name}' differs: {what}"
                + (f" (update it: `{cli} update {comp.name} {settable}`)" if settable else "")
            )

    wanted = {StackComponentType(c.type): c.name for c in spec.components}
    try:
        stack = client.get_stack(spec.name, allow_name_prefix_match=False)
    except KeyError:
        stack = None
    if stack is not None:
        for ctype, comp_name in wanted.items():
            in_stack = stack.components.get(ctype)
            if in_stack and in_stack[0].name != comp_name:
                conflicts.append(
                    f"the stack '{spec.name}' uses the {ctype.value} '{in_stack[0].name}', stacks/{name}.yaml "
                    f"says '{comp_name}' (`zenml stack update {spec.name} --{ctype.value.replace('_', '-')}="
                    f"{comp_name}`)"
                )
    if conflicts:
        raise StackError(
            f"what is registered differs from stacks/{name}.yaml, so nothing was changed:\n  - "
            + "\n  - ".join(conflicts)
            + f"\nReconcile as above, or delete the stack '{spec.name}' and those components and run "
            f"`python run.py --setup-stack {name}` again."
        )

    for comp, config in to_create:
        client.create_stack_component(
            name=comp.name, flavor=comp.flavor, component_type=StackComponentType(comp.type), configuration=config
        )
        created.append(f"{comp.type} '{comp.name}' ({comp.flavor})")
    if stack is None:
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

    from stacks import doctor

    _refuse(None, [doctor.check_zenml_server()])
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
    _refuse(str(active.name), doctor.preflight(check_tracker=require_experiment_tracker))
    print(f"Running on stack '{active.name}' (the active stack; change it with `zenml stack set NAME`).")
    return str(active.name)


def _refuse(stack: str | None, findings: list[Any]) -> None:
    """Stop a run before its first step when the stack has errors (`stacks.doctor` findings), saying the fixes."""
    errors = [f for f in findings if f.severity == "error"]
    if not errors:
        return
    lines = [f"  - {f.message}\n    fix: {f.fix}" for f in errors]
    where = f"on the stack '{stack}'" if stack else "here"
    raise StackError(
        f"the run cannot start {where}; nothing was run:\n" + "\n".join(lines) + "\n(`python run.py --doctor` checks "
        "the whole stack.)"
    )
