"""Router (older name Asym): send each batch through one of several module lists, chosen by task."""

from __future__ import annotations

import ast
import logging
from collections.abc import Iterable
from pathlib import Path
from typing import Any, ClassVar, cast

from torch import nn

from sentkit.errors import ConfigurationError, InputError, ModelFormatError
from sentkit.io.files import read_json_object, write_json
from sentkit.modules.base import Features, InputModule, LoadOptions, Module
from sentkit.modules.registry import module_class_for_type, register, type_string_for

logger = logging.getLogger(__name__)

RouteKey = tuple[str | None, str | None]
"""A ``route_mappings`` key: (task, modality); None matches any."""

TEXT = "text"


@register("router", reference=("Router", "Asym"))
class Router(InputModule):
    """Run the module list of one route, chosen per batch by the task (``"query"``, ``"document"``, ...).

    The task comes from ``encode(..., task=...)``, ``encode_query`` / ``encode_document``, or inputs
    written as ``{"query": text}``. Resolution, as in sentence-transformers: ``route_mappings`` for
    (task, "text"), (task, any), (any, "text"), (any, any); then a route named like the task; then
    ``default_route``. A task that matches nothing is an error.

    Args:
        sub_modules: route name -> modules applied in order.
        default_route: route for batches without a task; with ``allow_empty_key`` it defaults to the
            first route.
        allow_empty_key: allow batches without a task (routed to ``default_route``).
        route_mappings: (task, modality) -> route name.

    Raises:
        ConfigurationError: no routes, or a default or mapped route that does not exist.
    """

    config_keys: ClassVar[tuple[str, ...]] = ("default_route", "allow_empty_key", "route_mappings")
    config_file_name: ClassVar[str] = "router_config.json"

    def __init__(
        self,
        sub_modules: dict[str, Iterable[Module]],
        default_route: str | None = None,
        allow_empty_key: bool = True,
        route_mappings: dict[RouteKey, str] | None = None,
    ) -> None:
        super().__init__()
        if not sub_modules:
            raise ConfigurationError("A Router needs at least one route in sub_modules.")
        self.sub_modules = nn.ModuleDict({name: nn.Sequential(*modules) for name, modules in sub_modules.items()})
        routes = list(self.sub_modules)
        for route in [default_route, *(route_mappings or {}).values()]:
            if route is not None and route not in self.sub_modules:
                raise ConfigurationError(f"Route {route!r} is not among the routes {routes}.")
        if allow_empty_key and default_route is None:
            default_route = routes[0]
        self.default_route = default_route
        self.allow_empty_key = allow_empty_key
        self.route_mappings: dict[RouteKey, str] = dict(route_mappings or {})

    @classmethod
    def for_query_document(
        cls,
        query_modules: Iterable[Module],
        document_modules: Iterable[Module],
        default_route: str | None = "document",
        allow_empty_key: bool = True,
    ) -> Router:
        """A Router with a ``query`` and a ``document`` route, for ``encode_query`` / ``encode_document``."""
        return cls({"query": query_modules, "document": document_modules}, default_route, allow_empty_key)

    def route(self, task: str | None) -> str:
        """The route for ``task`` (None: no task given).

        Raises:
            InputError: no route for the task, or no task where one is required.
        """
        for key in ((task, TEXT), (task, None), (None, TEXT), (None, None)):
            if key in self.route_mappings:
                return self.route_mappings[key]
        if task is not None and task in self.sub_modules:
            return task
        if task is not None:
            raise InputError(f"No route for task {task!r}; the routes are {list(self.sub_modules)}.")
        if self.default_route is None:
            raise InputError(
                f"This Router needs a task (routes {list(self.sub_modules)}): pass task=..., use "
                "encode_query / encode_document, or write inputs as {route: text}."
            )
        return self.default_route

    def tokenize(self, texts: list[Any], task: str | None = None, **kwargs: Any) -> Features:
        first: Any = self.routes()[self.route(task)][0]
        features: Features = first.tokenize(texts, **kwargs)
        features["task"] = task
        return features

    def forward(self, features: Features) -> Features:
        for module in self.routes()[self.route(features.get("task"))]:
            features = module(features)
        return features

    def routes(self) -> dict[str, list[Module]]:
        """Route name -> its modules, in order."""
        return {name: cast(list[Module], list(cast(nn.Sequential, route))) for name, route in self.sub_modules.items()}

    def get_embedding_dimension(self) -> int | None:
        route = self.default_route or next(iter(self.sub_modules))
        for module in reversed(self.routes()[route]):
            dimension = module.get_embedding_dimension()
            if dimension is not None:
                return int(dimension)
        return None

    @property
    def max_seq_length(self) -> int | None:
        lengths = {getattr(route[0], "max_seq_length", None) for route in self.routes().values()}
        lengths.discard(None)
        return max(lengths) if lengths else None  # type: ignore[type-var]

    @max_seq_length.setter
    def max_seq_length(self, value: int) -> None:
        for route in self.routes().values():
            if hasattr(route[0], "max_seq_length"):
                setattr(route[0], "max_seq_length", value)  # noqa: B010 - a property on some modules

    def get_config_dict(self) -> dict[str, Any]:
        return {
            "default_route": self.default_route,
            "allow_empty_key": self.allow_empty_key,
            "route_mappings": {str(key): route for key, route in self.route_mappings.items()},
        }

    def save(self, folder: str | Path, safe_serialization: bool = True) -> None:
        """Each distinct module in ``<route>_<index>_<Class>/``, the layout in ``router_config.json``."""
        folder = Path(folder)
        ids: dict[int, str] = {}
        types: dict[str, str] = {}
        structure: dict[str, list[str]] = {}
        for name, route in self.routes().items():
            structure[name] = []
            for index, module in enumerate(route):
                if id(module) not in ids:
                    module_id = f"{name}_{index}_{type(module).__name__}"
                    ids[id(module)] = module_id
                    types[module_id] = type_string_for(module)
                    (folder / module_id).mkdir(parents=True, exist_ok=True)
                    module.save(folder / module_id, safe_serialization=safe_serialization)
                structure[name].append(ids[id(module)])
        write_json(
            folder / self.config_file_name,
            {"types": types, "structure": structure, "parameters": self.get_config_dict()},
        )

    @classmethod
    def load(cls, folder: str | Path, options: LoadOptions | None = None) -> Module:
        """Read ``router_config.json`` (or the older Asym ``config.json``) and the modules it names."""
        folder = Path(folder)
        path = folder / cls.config_file_name
        if not path.is_file():
            path = folder / "config.json"
        config = read_json_object(path)
        if not isinstance(config.get("types"), dict) or not isinstance(config.get("structure"), dict):
            raise ModelFormatError(f"{path} needs 'types' and 'structure' objects.")
        modules: dict[str, Module] = {}
        for module_id, type_string in config["types"].items():
            if Path(module_id).is_absolute() or ".." in Path(module_id).parts:
                raise ModelFormatError(f"{path} names module folder {module_id!r} outside the model folder.")
            modules[module_id] = module_class_for_type(type_string).load(folder / module_id, options)
        try:
            sub_modules: dict[str, Iterable[Module]] = {
                name: [modules[i] for i in ids] for name, ids in config["structure"].items()
            }
        except KeyError as exc:
            raise ModelFormatError(f"{path}: 'structure' names module {exc} that 'types' does not list.") from exc
        parameters = dict(config.get("parameters", {}))
        mappings = parameters.pop("route_mappings", None) or {}
        parsed = {_parse_route_key(key, path): route for key, route in mappings.items()}
        return cls(sub_modules, route_mappings=parsed, **parameters)


class Asym(Router):
    """The older name of :class:`Router`, with its signature: ``Asym(sub_modules, allow_empty_key=True)``."""

    def __init__(self, sub_modules: dict[str, Iterable[Module]], allow_empty_key: bool = True) -> None:
        super().__init__(sub_modules, allow_empty_key=allow_empty_key)


def _parse_route_key(key: str, source: Path) -> RouteKey:
    try:
        parsed = ast.literal_eval(key)
    except (ValueError, SyntaxError) as exc:
        raise ModelFormatError(f"{source}: route mapping key {key!r} is not a (task, modality) pair.") from exc
    if not (isinstance(parsed, tuple) and len(parsed) == 2):
        raise ModelFormatError(f"{source}: route mapping key {key!r} is not a (task, modality) pair.")
    return parsed[0], parsed[1]
